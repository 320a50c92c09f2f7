"""The validate stage's library against a real Postgres and real Great Expectations.

Server: COMMITLAKE_TEST_DATABASE_URL (set by the lead's conftest, or by CI), else the development scratch server
postgresql://postgres@127.0.0.1:5433/postgres. The URL must be allowed to CREATE DATABASE: this module creates
its own fresh database on that server for the session and drops it at the end.

Data: the raw layer holds real commits (commitizen/cz-cli from ../shared/data/commits, 396 commits); the staging
and analytics tables are built from them here with plain SQL that follows the contract columns (dbt is not run:
these tests are about the checks, not the models). Each test gets the layers rebuilt, then breaks one thing.
"""

from __future__ import annotations

import gzip
import os
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import psycopg
import pytest
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from commitlake.contracts import commit_types
from commitlake.errors import QualityGateFailed
from commitlake.quality import QualityReport, QualitySpec, enforce, load_spec, validate_warehouse

ROOT = Path(__file__).resolve().parents[1]
COMMITS_DIR = ROOT.parent / "shared" / "data" / "commits"
SCHEMA_SQL = ROOT / "src" / "commitlake" / "warehouse" / "sql" / "schema.sql"
SCRATCH_URL = "postgresql://postgres@127.0.0.1:5433/postgres"
SMALL_REPO = "commitizen__cz-cli"
SPEC = load_spec(ROOT / "dbt" / "quality")
CHECKS = SPEC.checks
COMMIT_TYPES = commit_types(ROOT / "dbt")
RAW = "raw.github_commits"
REJECTED = "raw.rejected_records"
STG = "staging.stg_github__commits"
FCT = "analytics.fct_commits"
DIM = "analytics.dim_repositories"
ML = "analytics.ml_commit_features"

RAW_COLUMNS = "repo_full_name, sha, authored_at, committed_at, payload, source_kind, lake_key, line_no, run_id"

# The contract columns of the models the checks read, built the way the dbt models define them.
MODELS_SQL = r"""
drop schema if exists staging cascade;
drop schema if exists analytics cascade;
create schema staging;
create schema analytics;

create table staging.stg_github__commits as
select
    repo_full_name || '@' || sha                                   as commit_id,
    repo_full_name,
    sha,
    payload -> 'commit' -> 'tree' ->> 'sha'                        as tree_sha,
    payload -> 'commit' -> 'author' ->> 'name'                     as author_name,
    payload -> 'commit' -> 'author' ->> 'email'                    as author_email,
    authored_at,
    payload -> 'commit' -> 'committer' ->> 'name'                  as committer_name,
    payload -> 'commit' -> 'committer' ->> 'email'                 as committer_email,
    committed_at,
    payload -> 'commit' ->> 'message'                              as message,
    jsonb_array_length(coalesce(payload -> 'parents', '[]'))       as parent_count,
    (payload -> 'stats' ->> 'additions')::int                      as additions,
    (payload -> 'stats' ->> 'deletions')::int                      as deletions,
    case when payload ? 'files' then jsonb_array_length(payload -> 'files') end as files_changed,
    source_kind,
    lake_key,
    loaded_at
from raw.github_commits;

create table staging.stg_github__commit_files as
select repo_full_name || '@' || sha as commit_id, repo_full_name, sha, file.ordinality::int as file_index,
       file.value ->> 'filename' as filename
from raw.github_commits
cross join lateral jsonb_array_elements(payload -> 'files') with ordinality as file (value, ordinality)
where jsonb_typeof(payload -> 'files') = 'array';

create table staging.stg_github__commit_parents as
select repo_full_name || '@' || sha as commit_id, repo_full_name, sha, parent.ordinality::int as parent_index,
       parent.value ->> 'sha' as parent_sha
from raw.github_commits
cross join lateral jsonb_array_elements(payload -> 'parents') with ordinality as parent (value, ordinality);

create table analytics.fct_commits as
with parsed as (
    select
        s.*,
        split_part(s.message, E'\n', 1)                                          as subject,
        regexp_match(split_part(s.message, E'\n', 1), '^(\w+)(\(([^)]*)\))?(!)?: ') as cc
    from staging.stg_github__commits as s
)
select
    commit_id,
    repo_full_name,
    sha,
    md5(lower(author_email))                                                      as author_id,
    authored_at,
    committed_at,
    (committed_at at time zone 'UTC')::date                                       as committed_date,
    subject,
    case when lower(cc[1]) = any(:commit_types) then lower(cc[1]) end                 as commit_type,
    case when lower(cc[1]) = any(:commit_types) then cc[3] end                        as commit_scope,
    coalesce(cc[4] = '!', false) or message like '%BREAKING CHANGE%'            as is_breaking,
    coalesce(lower(cc[1]) = any(:commit_types), false)                                as is_conventional,
    parent_count > 1                                                              as is_merge,
    author_name like '%[bot]%'                                                  as is_bot,
    additions,
    deletions,
    files_changed,
    loaded_at
from parsed;

create table analytics.dim_repositories as
select
    repo_full_name,
    split_part(repo_full_name, '/', 1)                as owner,
    split_part(repo_full_name, '/', 2)                as name,
    count(*)                                          as commit_count,
    count(distinct author_id)                         as author_count,
    min(committed_at)                                 as first_commit_at,
    max(committed_at)                                 as last_commit_at,
    avg(case when is_conventional then 1.0 else 0.0 end) as conventional_share
from analytics.fct_commits
group by repo_full_name;

create table analytics.ml_commit_features as
select
    f.commit_id,
    f.repo_full_name,
    f.sha,
    f.committed_at,
    f.commit_type,
    lower(trim(regexp_replace(f.subject, '^\w+(\([^)]*\))?!?:\s*', '')))  as text,
    f.is_bot,
    coalesce(f.files_changed, 0)                                          as files_changed,
    f.additions,
    f.deletions,
    0 as n_test_files, 0 as n_doc_files, 0 as n_ci_files, 0 as n_build_files, 0 as n_src_files,
    length(s.message)                                                     as message_length,
    position(E'\n' in trim(s.message)) > 0                                as has_body
from analytics.fct_commits as f
join staging.stg_github__commits as s using (commit_id)
where not f.is_merge;
"""


def _server_url() -> str:
    return os.environ.get("COMMITLAKE_TEST_DATABASE_URL") or SCRATCH_URL


def _read_commits(name: str) -> list[dict[str, Any]]:
    path = COMMITS_DIR / f"{name}.jsonl.gz"
    if not path.is_file():
        pytest.skip(f"shared commit data not found at {path}")
    with gzip.open(path, "rb") as handle:
        return [orjson.loads(line) for line in handle]


def _raw_rows(name: str, commits: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    repo = name.replace("__", "/")
    lake_key = f"raw/github/commits/repo={name}/part-0.jsonl.gz"
    return [
        (
            repo,
            c["sha"],
            c["commit"]["author"]["date"],
            c["commit"]["committer"]["date"],
            orjson.dumps(c).decode(),
            "jsonl",
            lake_key,
            line_no,
            "test-load",
        )
        for line_no, c in enumerate(commits, start=1)
    ]


def _load_warehouse(url: str, rows: list[tuple[Any, ...]]) -> None:
    """Rebuild raw (with the project's own DDL), staging and analytics from `rows`."""
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("drop schema if exists raw cascade")
        conn.execute(SCHEMA_SQL.read_text())
        conn.execute("truncate ops.data_quality_results, ops.loaded_objects")
        with conn.cursor() as cur, cur.copy(f"copy raw.github_commits ({RAW_COLUMNS}) from stdin") as copy:
            for row in rows:
                copy.write_row(row)
        # The ledger the loader would have written: every record inserted, none rejected.
        conn.execute(
            "insert into ops.loaded_objects (lake_key, run_id, records, inserted, duplicates, rejected)"
            " select lake_key, min(run_id), count(*), count(*), 0, 0 from raw.github_commits group by lake_key"
        )
        types = "array[" + ", ".join(f"'{t}'" for t in COMMIT_TYPES) + "]"
        conn.execute(MODELS_SQL.replace(":commit_types", types))


@pytest.fixture(scope="module")
def database_url() -> Iterator[str]:
    """A fresh database on the test server for this module; dropped afterwards."""
    server = _server_url()
    name = f"commitlake_quality_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(server, autocommit=True) as conn:
        conn.execute(sql.SQL("create database {}").format(sql.Identifier(name)))
    yield make_conninfo(server, dbname=name)
    with psycopg.connect(server, autocommit=True) as conn:
        conn.execute(sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(name)))


@pytest.fixture(scope="module")
def small_rows() -> list[tuple[Any, ...]]:
    return _raw_rows(SMALL_REPO, _read_commits(SMALL_REPO))


@pytest.fixture
def warehouse(database_url: str, small_rows: list[tuple[Any, ...]]) -> str:
    """Every layer rebuilt from the real commits: all checks should pass on it."""
    _load_warehouse(database_url, small_rows)
    return database_url


def _execute(url: str, statement: str) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(statement)


def _failed(report: QualityReport) -> set[tuple[str, str, str | None, str]]:
    return {(r.suite, r.expectation, r.column_name, r.severity) for r in report.results if not r.success}


def _stored(url: str, run_id: str) -> list[tuple[Any, ...]]:
    with psycopg.connect(url) as conn:
        return conn.execute(
            "select suite, expectation, column_name, layer, severity, success, observed"
            " from ops.data_quality_results where run_id = %s order by suite, expectation, column_name",
            [run_id],
        ).fetchall()


def _checks_only(rows: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    return [row for row in rows if not row[1].endswith("_anomaly")]


#: Real rare classes of cz-cli (build, perf: 1 example; test: 2): a warning on the clean data, by design.
RARE_CLASSES = (ML, "no_class_below_3_examples", None, "warning")


def test_good_data_passes_every_check_and_records_each_result(warehouse: str) -> None:
    report = validate_warehouse(warehouse, "run-good", spec=SPEC)

    assert report.passed, [(r.describe(), r.observed) for r in report.critical_failures]
    assert report.critical_failures == ()
    assert _failed(report) == {RARE_CLASSES}
    rare = next(r for r in report.warnings)
    assert sorted(row["commit_type"] for row in rare.observed["unexpected_sample"]) == ["build", "perf", "test"]
    checks = [r for r in report.results if not r.expectation.endswith("_anomaly")]
    assert len(checks) == len(CHECKS)
    monitors = [r for r in report.results if r.expectation.endswith("_anomaly")]
    assert monitors and all(r.success and r.learning for r in monitors)  # cold start: learning, never a failure
    expected_counts: dict[str, int] = {}
    for result in report.results:
        expected_counts[result.layer] = expected_counts.get(result.layer, 0) + 1
    assert {layer: c["checks"] for layer, c in report.counts.items()} == expected_counts
    assert set(expected_counts) == {"raw", "staging", "analytics", "features"}

    stored = _stored(warehouse, "run-good")
    expected = sorted(
        ((r.suite, r.expectation, r.column_name, r.layer, r.severity, r.success, r.observed) for r in report.results),
        key=lambda row: (row[0], row[1], row[2] is None, row[2] or ""),  # the SQL order: nulls last
    )
    assert stored == expected
    with psycopg.connect(warehouse) as conn:
        raw_rows = conn.execute("select count(*) from raw.github_commits").fetchone()[0]
        labelled = conn.execute(
            "select count(commit_type)::float / count(*) from analytics.ml_commit_features"
        ).fetchone()[0]
        thresholds = dict(
            conn.execute(
                "select expectation, threshold from ops.data_quality_results where run_id = 'run-good' and suite = %s",
                [RAW],
            ).fetchall()
        )
    observed = {(row[0], row[1], row[2]): row[6] for row in stored}
    # The observed values are what GX measured on the real tables, not echoes of the spec.
    assert observed[(RAW, "expect_column_values_to_match_regex", "sha")] == {"unexpected_count": 0}
    in_range = observed[(RAW, "committed_at_after_1990", "committed_at")]
    assert (in_range["element_count"], in_range["unexpected_count"]) == (raw_rows, 0)
    assert observed[(STG, "row_count_equals_raw", None)] == {"observed_value": 0}
    share = observed[(ML, "labelled_share_above_zero", "commit_type")]["observed_value"]
    assert share == pytest.approx(labelled)
    assert 0.5 < share < 1  # cz-cli is mostly Conventional Commits, and not entirely
    assert thresholds["committed_at_after_1990"] == {"min_value": "1990-01-01T00:00:00+00:00", "mostly": 0.999}


_ONE_FCT_ROW = "(select commit_id from analytics.fct_commits where commit_type is not null order by commit_id limit 1)"
_ONE_ML_ROW = "(select commit_id from analytics.ml_commit_features order by commit_id limit 1)"
_ONE_RAW_SHA = "(select sha from raw.github_commits order by sha limit 1)"
_ONE_STG_ROW = f"(select min(commit_id) from {STG})"
FILES = "staging.stg_github__commit_files"
PARENTS = "staging.stg_github__commit_parents"
LEDGER = "ops.loaded_objects"

BREAKAGES = {
    "duplicate key in raw, unique index dropped": (
        f"alter table {RAW} drop constraint github_commits_pkey;"
        f" insert into {RAW} select * from {RAW} where sha = {_ONE_RAW_SHA}",
        {
            (RAW, "repo_sha_unique", None, "critical"),
            (STG, "row_count_equals_raw", None, "critical"),
        },
    ),
    "duplicated commit in fct_commits": (
        f"insert into {FCT} select * from {FCT} where commit_id = {_ONE_FCT_ROW}",
        {
            (FCT, "expect_column_values_to_be_unique", "commit_id", "critical"),
            (FCT, "row_count_equals_staging", None, "critical"),
        },
    ),
    "null key in staging": (
        f"update {STG} set commit_id = null where commit_id = {_ONE_STG_ROW}",
        {
            (STG, "expect_column_values_to_not_be_null", "commit_id", "critical"),
            # its file and parent rows now point at no commit: caught too
            (FILES, "no_orphan_files", None, "critical"),
            (PARENTS, "no_orphan_parents", None, "critical"),
        },
    ),
    "commit_type outside the dbt var's list": (
        f"update {FCT} set commit_type = 'feature' where commit_id = {_ONE_FCT_ROW}",
        {(FCT, "expect_column_values_to_be_in_set", "commit_type", "critical")},
    ),
    "uppercase label in features": (
        f"update {ML} set commit_type = 'FIX' where commit_id = {_ONE_ML_ROW}",
        {(ML, "expect_column_values_to_be_in_set", "commit_type", "critical")},
    ),
    "null text": (
        f"update {ML} set text = null where commit_id = {_ONE_ML_ROW}",
        {(ML, "expect_column_values_to_not_be_null", "text", "critical")},
    ),
    "abbreviated sha": (
        f"update {RAW} set sha = left(sha, 7) where sha = {_ONE_RAW_SHA}",
        {(RAW, "expect_column_value_lengths_to_be_between", "sha", "critical")},
    ),
    "upper-case sha": (
        f"update {RAW} set sha = upper(sha) where sha = {_ONE_RAW_SHA}",
        {(RAW, "expect_column_values_to_match_regex", "sha", "critical")},
    ),
    "commit dated at the epoch": (
        f"update {RAW} set committed_at = '1970-01-01T00:00:00Z' where sha = {_ONE_RAW_SHA}",
        {(RAW, "committed_at_after_1990", "committed_at", "critical")},
    ),
    "future date": (
        f"update {RAW} set committed_at = now() + interval '1 year' where sha = {_ONE_RAW_SHA}",
        {(RAW, "committed_at_not_in_future", "committed_at", "critical")},
    ),
    "negative deletions": (
        f"update {STG} set deletions = -1 where commit_id = {_ONE_STG_ROW}",
        {(STG, "expect_column_values_to_be_between", "deletions", "critical")},
    ),
    "orphan file row": (
        f"insert into {FILES} (commit_id, repo_full_name, sha, file_index, filename)"
        f" values ('{SMALL_REPO}@{'0' * 40}', 'x/y', '{'0' * 40}', 1, 'README.md')",
        {(FILES, "no_orphan_files", None, "critical")},
    ),
    "orphan parent row": (
        f"insert into {PARENTS} (commit_id, repo_full_name, sha, parent_index, parent_sha)"
        f" values ('x/y@{'0' * 40}', 'x/y', '{'0' * 40}', 1, '{'1' * 40}')",
        {(PARENTS, "no_orphan_parents", None, "critical")},
    ),
    "broken reconciliation: staging lost a commit": (
        f"delete from {STG} where commit_id = {_ONE_STG_ROW}",
        {
            (STG, "row_count_equals_raw", None, "critical"),
            (FCT, "row_count_equals_staging", None, "critical"),
            (FILES, "no_orphan_files", None, "critical"),
            (PARENTS, "no_orphan_parents", None, "critical"),
        },
    ),
    "broken reconciliation: features lost a commit": (
        f"delete from {ML} where commit_id = {_ONE_ML_ROW}",
        {(ML, "row_count_equals_non_merge_commits", None, "critical")},
    ),
    "broken reconciliation: rejected records not in quarantine": (
        f"update {LEDGER} set records = records + 2, rejected = 2",
        {(LEDGER, "rejected_count_matches_quarantine", None, "critical")},
    ),
    "broken reconciliation: ledger does not add up": (
        f"update {LEDGER} set records = records + 1",
        {(LEDGER, "records_equal_inserted_duplicates_rejected", None, "critical")},
    ),
    "a single class left with enough examples": (
        f"update {ML} set commit_type = null where commit_type <> 'chore'",
        {(ML, "training_set_has_two_classes_of_10", None, "critical")},
    ),
    "no labels at all": (  # train skips under COMMITLAKE_MIN_LABELLED: the class gate waits, the share does not
        f"update {ML} set commit_type = null",
        {(ML, "labelled_share_above_zero", "commit_type", "critical")},
    ),
    "dim_repositories missing": (
        f"drop table {DIM}",
        {
            (DIM, "expect_column_values_to_not_be_null", "repo_full_name", "critical"),
            (DIM, "expect_column_values_to_be_unique", "repo_full_name", "critical"),
        },
    ),
    "contract column dropped": (
        f"alter table {ML} drop column text",
        {(ML, "expect_column_values_to_not_be_null", "text", "critical")},
    ),
}


@pytest.mark.parametrize("breakage", list(BREAKAGES))
def test_each_breakage_fails_exactly_its_check(warehouse: str, breakage: str) -> None:
    statement, expected_failures = BREAKAGES[breakage]
    _execute(warehouse, statement)

    # The layers the defect should show in (the clean-data test covers every layer passing together).
    layers = {c.layer for c in CHECKS if (c.table, c.label, c.column, c.severity) in expected_failures}
    report = validate_warehouse(warehouse, f"run-{breakage}", spec=SPEC, layers=sorted(layers))

    assert _failed(report) - {RARE_CLASSES} == expected_failures
    assert not report.passed
    assert {(r.suite, r.expectation, r.column_name, r.severity) for r in report.critical_failures} == expected_failures
    stored_failures = {(s[0], s[1], s[2], s[4]) for s in _stored(warehouse, f"run-{breakage}") if not s[5]}
    assert stored_failures - {RARE_CLASSES} == expected_failures
    with pytest.raises(QualityGateFailed) as caught:
        enforce(report)
    message = str(caught.value)
    assert "\n" not in message
    for suite, expectation, column, _ in expected_failures:
        assert f"{suite} {expectation}{f'({column})' if column else ''}" in message


def test_a_class_with_too_few_examples_is_a_warning_naming_it(warehouse: str) -> None:
    """docs has 66 real examples; leave 2 and the rare-class check names it, without blocking training."""
    _execute(
        warehouse,
        f"update {ML} set commit_type = null where commit_type = 'docs'"
        f" and commit_id not in (select commit_id from {ML} where commit_type = 'docs'"
        " order by commit_id limit 2)",
    )

    report = validate_warehouse(warehouse, "run-rare", spec=SPEC, layers=["features"])

    assert report.passed
    (warning,) = report.warnings
    assert (warning.suite, warning.expectation, warning.severity) == (ML, "no_class_below_3_examples", "warning")
    assert {"commit_type": "docs", "examples": 2} in warning.observed["unexpected_sample"]


def test_failure_records_what_was_observed(warehouse: str) -> None:
    _execute(warehouse, f"update {RAW} set sha = left(sha, 7) where sha = {_ONE_RAW_SHA}")
    _execute(warehouse, f"drop table {DIM}")
    _execute(warehouse, f"alter table {ML} drop column text")
    with psycopg.connect(warehouse) as conn:
        short = conn.execute(f"select sha from {RAW} where length(sha) = 7").fetchone()[0]

    report = validate_warehouse(warehouse, "run-observed", spec=SPEC)

    by_key = {(r.suite, r.expectation, r.column_name): r.observed for r in report.results}
    length = by_key[(RAW, "expect_column_value_lengths_to_be_between", "sha")]
    assert length["unexpected_count"] == 1
    assert length["unexpected_sample"] == [short]
    assert "does not exist" in by_key[(DIM, "expect_column_values_to_be_unique", "repo_full_name")]["error"]
    assert "text" in by_key[(ML, "expect_column_values_to_not_be_null", "text")]["error"]


def test_rejected_share_is_only_a_warning(warehouse: str) -> None:
    with psycopg.connect(warehouse, autocommit=True) as conn:
        loaded = conn.execute("select count(*) from raw.github_commits").fetchone()[0]
        allowed = int(loaded * 0.01)
        with conn.cursor() as cur:
            cur.executemany(
                "insert into raw.rejected_records (lake_key, line_no, reason, original_text, run_id)"
                " values ('raw/bad.jsonl.gz', %s, 'invalid_json', '{', 'test-load')",
                [(n,) for n in range(allowed)],
            )
    at_limit = validate_warehouse(warehouse, "run-rejected", spec=SPEC, layers=["raw"])
    assert at_limit.passed and not at_limit.warnings

    _execute(
        warehouse,
        "insert into raw.rejected_records (lake_key, line_no, reason, original_text, run_id)"
        " values ('raw/bad.jsonl.gz', 100000, 'invalid_json', '{', 'test-load')",
    )
    over = validate_warehouse(warehouse, "run-rejected", spec=SPEC, layers=["raw"])

    assert over.passed  # a warning never stops the pipeline
    enforce(over)
    assert _failed(over) == {(REJECTED, "rejected_share_at_most_1_percent_of_loaded", None, "warning")}
    assert over.counts["raw"]["warning_failed"] == 1
    assert [w.observed for w in over.warnings] == [
        {"observed_value": allowed + 1, "parameters": {"max_rejected_rows": pytest.approx(loaded * 0.01)}}
    ]


def test_one_layer_replaces_only_its_own_rows(warehouse: str) -> None:
    validate_warehouse(warehouse, "run-a", spec=SPEC)
    validate_warehouse(warehouse, "run-b", spec=SPEC)
    first = _checks_only(_stored(warehouse, "run-a"))
    assert len(first) == len(CHECKS)

    _execute(warehouse, f"update {ML} set text = null where commit_id = {_ONE_ML_ROW}")
    _execute(warehouse, f"update {RAW} set sha = left(sha, 7) where sha = {_ONE_RAW_SHA}")
    features = validate_warehouse(warehouse, "run-a", spec=SPEC, layers=["features"])

    assert {r.layer for r in features.results} == {"features"}
    rerun = _checks_only(_stored(warehouse, "run-a"))
    assert len(rerun) == len(CHECKS)  # nothing appended
    assert [(row[0], row[1], row[2]) for row in rerun if not row[5] and row[4] == "critical"] == [
        (ML, "expect_column_values_to_not_be_null", "text")
    ]  # the raw defect is not seen: raw was not validated again, and its rows of run-a are kept
    assert all(row[5] for row in _stored(warehouse, "run-b") if row[4] == "critical")  # other runs untouched


@pytest.fixture()
def unix_socket_dir(warehouse: str) -> Iterator[tuple[str, int]]:
    """(directory, port): `<directory>/.s.PGSQL.<port>` is a Unix socket forwarded to the test server's TCP port.
    Nothing listens on that port over TCP, so a URL that loses its socket directory fails instead of reaching
    the server some other way.

    Why a forwarder: the embedded server listens on 127.0.0.1 only (socket paths under deep checkouts exceed
    the 107-byte limit), but users point DATABASE_URL at a local server's socket; this makes that URL shape
    reach a real server on every machine, CI included, instead of skipping where the server has no socket."""
    import selectors
    import shutil
    import socket
    import socketserver
    import tempfile
    import threading

    params = conninfo_to_dict(warehouse)
    target = (str(params.get("host") or "127.0.0.1"), int(params.get("port") or 5432))

    class Forward(socketserver.BaseRequestHandler):
        def handle(self) -> None:
            with socket.create_connection(target) as upstream, selectors.DefaultSelector() as sel:
                sel.register(self.request, selectors.EVENT_READ, upstream)
                sel.register(upstream, selectors.EVENT_READ, self.request)
                while True:
                    for key, _ in sel.select():
                        data = key.fileobj.recv(65536)  # type: ignore[union-attr]
                        if not data:
                            return
                        key.data.sendall(data)

    with socket.socket() as probe:  # a port with no TCP listener
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    directory = tempfile.mkdtemp(prefix="pgs", dir="/tmp")  # short: the socket path must stay under 107 bytes
    server = socketserver.ThreadingUnixStreamServer(f"{directory}/.s.PGSQL.{port}", Forward)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield directory, port
    server.shutdown()
    server.server_close()
    shutil.rmtree(directory, ignore_errors=True)


def test_socket_url_validates_for_real(warehouse: str, unix_socket_dir: tuple[str, int]) -> None:
    """A socket DATABASE_URL (`postgresql://user@/db?host=/dir&port=N`) must reach the database through GX too."""
    params = conninfo_to_dict(warehouse)
    directory, port = unix_socket_dir
    query = f"host={directory}&port={port}"
    if params.get("password"):
        query += f"&password={params['password']}"
    url = f"postgresql://{params.get('user', 'postgres')}@/{params['dbname']}?{query}"
    with psycopg.connect(url) as conn:  # the URL really goes through the socket
        assert conn.info.host == directory

    report = validate_warehouse(url, "run-socket", spec=SPEC, layers=["raw"])

    assert report.passed
    assert len(_checks_only(_stored(warehouse, "run-socket"))) == sum(1 for c in CHECKS if c.layer == "raw")


def test_data_docs_are_built_by_gx(warehouse: str, tmp_path: Path) -> None:
    _execute(warehouse, f"update {RAW} set sha = left(sha, 7) where sha = {_ONE_RAW_SHA}")

    validate_warehouse(warehouse, "run-docs", spec=SPEC, layers=["raw"], docs_dir=tmp_path)

    index = (tmp_path / "index.html").read_text()
    assert "raw.github_commits" in index
    pages = [p.read_text() for p in (tmp_path / "validations").rglob("*.html")]
    assert pages and any("expect_column_values_to_match_regex" in p or "match_regex" in p for p in pages)


@pytest.mark.slow
def test_thirty_thousand_commits_pass_in_bounded_time(database_url: str) -> None:
    """electron/electron: 30k real commits, a quarter of them labelled. Prints the validate runtime."""
    rows = _raw_rows("electron__electron", _read_commits("electron__electron"))
    _load_warehouse(database_url, rows)

    started = time.perf_counter()
    report = validate_warehouse(database_url, "run-30k", spec=SPEC)
    elapsed = time.perf_counter() - started

    print(f"\nvalidate_warehouse on {len(rows)} raw commits: {elapsed:.1f} s ({report.duration_s:.1f} s inside)")
    assert report.passed, [(r.describe(), r.observed) for r in report.critical_failures]
    assert len(_checks_only(_stored(database_url, "run-30k"))) == len(CHECKS)


def test_null_rate_drift_is_an_anomaly_once_history_exists(warehouse: str) -> None:
    """Six validations of the same real data teach the monitors; then the labels vanish from fct_commits."""
    monitors = QualitySpec(checks=(), monitors=SPEC.monitors, parameters={})
    history = [validate_warehouse(warehouse, f"run-h{n}", spec=monitors) for n in range(6)]
    assert all(r.learning for r in history[0].results)
    assert not history[-1].warnings and all(r.observed["status"] == "ok" for r in history[-1].results)

    _execute(warehouse, f"update {FCT} set commit_type = null")
    report = validate_warehouse(warehouse, "run-drift", spec=monitors)

    assert report.passed
    assert {(w.suite, w.expectation, w.column_name, w.severity) for w in report.warnings} == {
        (FCT, "null_rate_anomaly", "commit_type", "warning")
    }
    (drift,) = report.warnings
    assert drift.observed["value"] == 1.0 and drift.observed["median"] < 0.2 and drift.threshold["high"] < 1.0
