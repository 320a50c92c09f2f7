"""dbt/: a real `dbt build` on real histories, checked against an independent reading of the same files.

Three small repositories from ../shared/data/commits go into raw.github_commits in two loads (the older 90 %,
then the newest 10 %) through the real ingest and load code (lake objects + manifest, then `load_lake`): one row
per (repository, sha), a later loaded_at for the later load. After each `dbt build` the warehouse is compared
with what Python reads from the files; the second build must touch only the new rows, and must leave the same
tables a from-scratch build leaves.
"""

from __future__ import annotations

import gzip
import json
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import psycopg
import pytest

from commitlake.transform import dbt_env

ROOT = Path(__file__).resolve().parents[1]
DBT_DIR = ROOT / "dbt"
SCHEMA_SQL = ROOT / "src" / "commitlake" / "warehouse" / "sql" / "schema.sql"
REPOS = ("commitizen__cz-cli", "conventional-changelog__conventional-changelog", "pallets__click")
NEW_SHARE = 0.10

# The rule from the brief, written independently of the dbt macros.
TYPES = ("feat", "fix", "docs", "style", "refactor", "perf", "test", "build", "ci", "chore", "revert")
CC = re.compile(r"^(feat|fix|docs|style|refactor|perf|test|build|ci|chore|revert)(\([^():\r\n]*\))?(!)?:\s+\S", re.I)
BOT = re.compile(r"\[bot\]|(^|[^a-z0-9])bot$|renovate|dependabot|greenkeeper|semantic-release-bot", re.I)


def _items(shared: Path) -> dict[str, list[dict[str, Any]]]:
    out = {}
    for name in REPOS:
        with gzip.open(shared / f"{name}.jsonl.gz") as fh:
            out[name.replace("__", "/")] = [orjson.loads(line) for line in fh]
    return out


def _load(url: str, batch: dict[str, list[dict[str, Any]]], run_id: str, work: Path) -> None:
    """The real path into raw: one JSON-lines file per repository → `ingest_source` writes lake objects and a
    manifest → `load_lake` COPYs them, as `commitlake ingest` + `commitlake load` do. Every record must load."""
    from commitlake.lake import LocalLake
    from commitlake.sources.jsonl import JsonlSource
    from commitlake.stages.ingest import ingest_source
    from commitlake.warehouse.load import load_lake

    lake = LocalLake(work / "lake")
    files = work / run_id
    files.mkdir()
    for repo, items in batch.items():
        path = files / f"{repo.replace('/', '__')}.jsonl"
        path.write_bytes(b"".join(orjson.dumps(item) + b"\n" for item in items))
        _manifest, status = ingest_source(JsonlSource(f"jsonl:{path}", path), None, lake, run_id)
        assert status == "ingested", status
    report = load_lake(url, lake, run_id)
    assert report.rows_inserted == sum(len(v) for v in batch.values()), report.as_dict()
    assert report.rejected_total == 0 and not report.objects_failed, report.as_dict()


def _build(state: Path, *extra: str) -> dict[str, dict[str, Any]]:
    from dbt.cli.main import dbtRunner

    result = dbtRunner().invoke([
        "build", *extra, "--project-dir", str(DBT_DIR), "--profiles-dir", str(DBT_DIR),
        "--target-path", str(state / "dbt-target"), "--log-path", str(state / "dbt-logs"), "--quiet",
    ])
    run_results = json.loads((state / "dbt-target" / "run_results.json").read_text())
    by_id = {r["unique_id"]: r for r in run_results["results"]}
    failed = {k: r.get("message") for k, r in by_id.items() if r["status"] not in ("success", "pass", "no-op")}
    assert result.success and not failed, failed
    return by_id


def _query(url: str, sql: str) -> list[tuple[Any, ...]]:
    with psycopg.connect(url) as conn:
        return conn.execute(sql).fetchall()


@pytest.fixture(scope="module")
def warehouse(admin_url: str, shared_commits: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    """Build twice (older 90 %, then the newest 10 %) and keep what both builds reported."""
    import uuid

    name = f"t_dbt_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'create database "{name}"')
    url = f"{admin_url.rpartition('/')[0]}/{name}"
    saved = dict(os.environ)
    os.environ.update(dbt_env(url))
    try:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(SCHEMA_SQL.read_text())
        items = _items(shared_commits)
        # Histories are newest first: the first 10 % of each file is the "new" load.
        split = {repo: max(1, int(len(v) * NEW_SHARE)) for repo, v in items.items()}
        old = {repo: v[split[repo]:] for repo, v in items.items()}
        new = {repo: v[: split[repo]] for repo, v in items.items()}
        state = tmp_path_factory.mktemp("dbt-state")

        _load(url, old, "run-1", state)
        first = _build(state)
        fct_before = dict(_query(url, "select commit_id, transformed_at from analytics.fct_commits"))
        _load(url, new, "run-2", state)
        second = _build(state)
        yield {"url": url, "items": items, "old": old, "new": new, "first": first, "second": second,
               "fct_before": fct_before, "state": state}
    finally:
        os.environ.clear()
        os.environ.update(saved)
        with psycopg.connect(admin_url, autocommit=True) as conn:
            conn.execute(f'drop database if exists "{name}" with (force)')


def _rows_affected(results: dict[str, dict[str, Any]], model: str) -> int:
    return int(results[f"model.commitlake.{model}"]["adapter_response"]["rows_affected"])


def test_every_commit_file_and_parent_arrives_once(warehouse: dict) -> None:
    items = warehouse["items"]
    url = warehouse["url"]
    expected_commits = {f"{repo}@{i['sha']}" for repo, v in items.items() for i in v}
    assert {r[0] for r in _query(url, "select commit_id from staging.stg_github__commits")} == expected_commits
    assert {r[0] for r in _query(url, "select commit_id from analytics.fct_commits")} == expected_commits
    files = sum(len(i.get("files") or []) for v in items.values() for i in v)
    parents = sum(len(i.get("parents") or []) for v in items.values() for i in v)
    assert _query(url, "select count(*) from staging.stg_github__commit_files")[0][0] == files
    assert _query(url, "select count(*) from staging.stg_github__commit_parents")[0][0] == parents
    non_merge = sum(len(i["parents"]) <= 1 for v in items.values() for i in v)
    assert _query(url, "select count(*) from analytics.ml_commit_features")[0][0] == non_merge


def test_conventional_commits_match_an_independent_parse(warehouse: dict) -> None:
    expected: dict[str, tuple[str | None, bool]] = {}
    for repo, v in warehouse["items"].items():
        for i in v:
            subject = i["commit"]["message"].split("\n", 1)[0].strip(" \t\r")
            m = CC.match(subject)
            expected[f"{repo}@{i['sha']}"] = (m.group(1).lower() if m else None, len(i["parents"]) > 1)
    got = {r[0]: (r[1], r[2]) for r in _query(
        warehouse["url"], "select commit_id, commit_type, is_merge from analytics.fct_commits")}
    assert got == expected
    # The published share for cz-cli (README: 95.8 % of non-merge commits) within a rounding of the rule.
    share = _query(
        warehouse["url"],
        "select conventional_share from analytics.dim_repositories where repo_full_name = 'commitizen/cz-cli'",
    )
    assert 0.95 <= float(share[0][0]) <= 0.965


def test_known_real_subjects(warehouse: dict) -> None:
    rows = {r[0]: r[1:] for r in _query(warehouse["url"], """
        select subject, commit_type, commit_scope, is_breaking, is_merge from analytics.fct_commits
        where repo_full_name = 'commitizen/cz-cli'""")}
    assert rows["chore(deps): bump semantic-release to 25 for npm trusted publishing (#1029)"] == (
        "chore", "deps", False, False)
    text = _query(warehouse["url"], """
        select f.text from analytics.ml_commit_features f join analytics.fct_commits c using (commit_id)
        where c.subject = 'chore(deps): bump semantic-release to 25 for npm trusted publishing (#1029)'""")
    assert text == [("bump semantic-release to 25 for npm trusted publishing (#1029)",)]


def test_the_body_feature_carries_no_label_and_no_sha(warehouse: dict) -> None:
    """dbt's body equals the independent cleaning in tests/ml_rows.py, and no line of it starts with a type
    header (squash commits list `* feat: ...`), a sign-off or holds a commit's sha."""
    from ml_rows import clean_body

    expected = {
        f"{repo}@{i['sha']}": clean_body(i["commit"]["message"].partition("\n")[2])
        for repo, v in warehouse["items"].items()
        for i in v
        if len(i["parents"]) <= 1
    }
    got = dict(_query(warehouse["url"], "select commit_id, body from analytics.ml_commit_features"))
    assert got == expected
    shas = {i["sha"][:7] for v in warehouse["items"].values() for i in v}
    header = re.compile(rf"^\s*[*-]?\s*({'|'.join(TYPES)})(\([^)]*\))?!?:", re.M)
    assert any("squash" in b or "\n" in b for b in got.values())  # bodies are really there
    for commit_id, body in got.items():
        assert not header.search(body), (commit_id, body)
        assert not re.search(r"^signed-off-by:", body, re.M), (commit_id, body)
        assert not any(sha in body for sha in shas if sha.isalnum()), (commit_id, body)


def test_bots_and_authors(warehouse: dict) -> None:
    url = warehouse["url"]
    identities = {(i["commit"]["author"]["name"], i["commit"]["author"]["email"])
                  for v in warehouse["items"].values() for i in v}
    flagged = {(r[0], r[1]): r[2] for r in _query(
        url, "select author_name, author_email, is_identity_bot from staging.int_author_map")}
    assert set(flagged) == identities
    for (name, email), is_bot in flagged.items():
        if BOT.search(name) or "[bot]@" in email:
            assert is_bot, (name, email)
    # Every e-mail address (case-insensitively) belongs to exactly one author.
    assert _query(url, """select count(*) from (select lower(author_email) from staging.int_author_map
                          group by 1 having count(distinct author_id) > 1) x""")[0][0] == 0
    # dim_authors adds up to the commits.
    assert _query(url, "select sum(commit_count) from analytics.dim_authors")[0][0] == sum(
        len(v) for v in warehouse["items"].values())


def test_second_build_processes_only_the_new_rows(warehouse: dict) -> None:
    new = sum(len(v) for v in warehouse["new"].values())
    second = warehouse["second"]
    assert _rows_affected(second, "stg_github__commits") == new
    assert _rows_affected(second, "fct_commits") == new
    new_non_merge = sum(len(i["parents"]) <= 1 for v in warehouse["new"].values() for i in v)
    # Author history must stay exact when a new commit is older than an author's stored ones (merged branches
    # keep their dates): those later rows of the same author are recomputed too, and nothing else.
    new_shas = [i["sha"] for v in warehouse["new"].values() for i in v]
    with psycopg.connect(warehouse["url"]) as conn:
        recomputed = conn.execute("""
            with batch as (select author_id, min(committed_at) as since from analytics.fct_commits
                           where not is_merge and sha = any(%(new)s) group by author_id)
            select count(*) from analytics.fct_commits f join batch using (author_id)
            where not f.is_merge and f.committed_at >= batch.since and not f.sha = any(%(new)s)""",
            {"new": new_shas}).fetchone()[0]
    assert _rows_affected(second, "ml_commit_features") == new_non_merge + recomputed
    # Files are classified once, when their commit arrives.
    with_files = sum(bool(i.get("files")) for v in warehouse["new"].values() for i in v)
    assert _rows_affected(second, "int_commit_file_counts") == with_files
    assert _rows_affected(second, "int_commit_paths") == with_files
    # A message is read once, when its commit arrives (merges are never classified).
    assert _rows_affected(second, "int_commit_texts") == new_non_merge
    # Old fct rows were not rewritten.
    after = dict(_query(warehouse["url"], "select commit_id, transformed_at from analytics.fct_commits"))
    assert all(after[k] == v for k, v in warehouse["fct_before"].items())


def test_unit_tests_ran_and_passed(warehouse: dict) -> None:
    unit = {k: r["status"] for k, r in warehouse["second"].items() if k.startswith("unit_test.")}
    assert len(unit) >= 8 and set(unit.values()) == {"pass"}, unit


def test_incremental_result_equals_a_full_refresh(warehouse: dict) -> None:
    tables = ["analytics.fct_commits", "analytics.ml_commit_features", "analytics.repo_daily_activity",
              "analytics.author_daily_activity", "analytics.dim_authors", "analytics.dim_repositories",
              "staging.int_author_identities"]

    def snapshot() -> dict[str, list[Any]]:
        out = {}
        for table in tables:
            rows = _query(warehouse["url"], f"select to_jsonb(t) - 'transformed_at' - 'max_loaded_at' from {table} t")
            out[table] = sorted(json.dumps(r[0], sort_keys=True) for r in rows)
        return out

    incremental = snapshot()
    _build(warehouse["state"], "--full-refresh")
    full = snapshot()
    for table in tables:
        assert incremental[table] == full[table], table
