"""raw.github_commits HASH-partitioned on repo_full_name: the loader, the ledger and dbt behave the same.

Two databases get the same real histories through the real ingest + load path in two loads (older 90 %, then
the newest 10 %), with a `dbt build` after each. One stays unpartitioned; the other is converted to 16 hash
partitions between the loads (so the conversion of existing rows is exercised too). Every dbt output and the
second build's rows_affected must be identical.
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Generator, Iterator
from pathlib import Path
from typing import Any

import orjson
import psycopg
import pytest

from commitlake.errors import ConfigError
from commitlake.transform import dbt_env
from commitlake.warehouse.partitioning import partition_raw
from test_dbt_build import NEW_SHARE, SCHEMA_SQL, _build, _items, _load, _query

TABLES = ["analytics.fct_commits", "analytics.ml_commit_features", "analytics.repo_daily_activity",
          "analytics.author_daily_activity", "analytics.dim_authors", "analytics.dim_repositories",
          "staging.int_author_identities", "staging.stg_github__commits", "ops.loaded_objects"]
INCREMENTAL = ["stg_github__commits", "fct_commits", "ml_commit_features", "int_commit_file_counts",
               "int_commit_paths", "int_commit_texts"]
VOLATILE = ("transformed_at", "max_loaded_at", "loaded_at", "lake_key", "run_id")


def _snapshot(url: str) -> dict[str, list[str]]:
    out = {}
    for table in TABLES:
        drop = "".join(f" - '{c}'" for c in VOLATILE)
        rows = _query(url, f"select to_jsonb(t){drop} from {table} t")
        out[table] = sorted(json.dumps(r[0], sort_keys=True) for r in rows)
    return out


def _pipeline(admin_url: str, shared: Path, work: Path, *, partitioned: bool) -> Generator[dict[str, Any]]:
    name = f"t_part_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'create database "{name}"')
    url = f"{admin_url.rpartition('/')[0]}/{name}"
    saved = dict(os.environ)
    os.environ.update(dbt_env(url))
    try:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(SCHEMA_SQL.read_text())
        items = _items(shared)
        split = {repo: max(1, int(len(v) * NEW_SHARE)) for repo, v in items.items()}
        old = {repo: v[split[repo]:] for repo, v in items.items()}
        new = {repo: v[: split[repo]] for repo, v in items.items()}
        _load(url, old, "run-1", work)
        _build(work)
        converted = partition_raw(url) if partitioned else None
        _load(url, new, "run-2", work)
        second = _build(work)
        yield {"url": url, "second": second, "converted": converted, "snapshot": _snapshot(url),
               "new": new, "work": work}
    finally:
        os.environ.clear()
        os.environ.update(saved)
        with psycopg.connect(admin_url, autocommit=True) as conn:
            conn.execute(f'drop database if exists "{name}" with (force)')


@pytest.fixture(scope="module")
def both(admin_url: str, shared_commits: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    plain = _pipeline(admin_url, shared_commits, tmp_path_factory.mktemp("plain"), partitioned=False)
    hashed = _pipeline(admin_url, shared_commits, tmp_path_factory.mktemp("hashed"), partitioned=True)
    # The plain database is dropped before the partitioned one is built: one at a time on a small machine.
    plain_result = next(plain)
    plain.close()
    hashed_result = next(hashed)
    yield {"plain": plain_result, "hashed": hashed_result}
    hashed.close()


def test_raw_is_hash_partitioned_and_the_rows_spread(both: dict) -> None:
    url = both["hashed"]["url"]
    assert both["hashed"]["converted"] is True
    strategy = "select partstrat from pg_partitioned_table where partrelid = 'raw.github_commits'::regclass"
    assert _query(url, strategy)[0][0] == "h"
    per_partition = _query(url, "select tableoid::regclass::text, count(*) from raw.github_commits group by 1")
    assert len(_query(url, "select inhrelid from pg_inherits where inhparent = 'raw.github_commits'::regclass")) == 16
    assert len(per_partition) == 3, "three repositories, each wholly in one partition"


def test_partitioned_and_unpartitioned_raw_give_identical_dbt_outputs(both: dict) -> None:
    plain, hashed = both["plain"]["snapshot"], both["hashed"]["snapshot"]
    for table in TABLES:
        assert len(plain[table]) > 0, table
        assert plain[table] == hashed[table], table


def test_incremental_builds_touch_the_same_rows(both: dict) -> None:
    for model in INCREMENTAL:
        key = f"model.commitlake.{model}"
        rows = [int(both[side]["second"][key]["adapter_response"]["rows_affected"]) for side in ("plain", "hashed")]
        assert rows[0] == rows[1] > 0, (model, rows)


def test_loader_stays_exactly_once_on_partitions(both: dict) -> None:
    from commitlake.lake import LocalLake
    from commitlake.sources.jsonl import JsonlSource
    from commitlake.stages.ingest import ingest_source
    from commitlake.warehouse.load import load_lake

    url, work, new = both["hashed"]["url"], both["hashed"]["work"], both["hashed"]["new"]
    before = _query(url, "select count(*) from raw.github_commits")[0][0]
    lake, files = LocalLake(work / "lake"), work / "run-3"
    files.mkdir()
    for repo, items in new.items():  # the same records again, in a new run: duplicates, nothing inserted
        path = files / f"{repo.replace('/', '__')}.jsonl"
        path.write_bytes(b"".join(orjson.dumps(item) + b"\n" for item in items))
        ingest_source(JsonlSource(f"jsonl:{path}", path), None, lake, "run-3")
    report = load_lake(url, lake, "run-3")
    assert report.rows_inserted == 0 and report.duplicates == sum(len(v) for v in new.values())
    assert _query(url, "select count(*) from raw.github_commits")[0][0] == before
    assert partition_raw(url) is False, "converting twice is a no-op"


def test_bad_partition_count_is_one_clear_error() -> None:
    with pytest.raises(ConfigError, match="between 2 and 1024, got 1"):
        partition_raw("postgresql://unused", 1)


def test_cli_partitions_the_warehouse_in_use(fresh_database: str, tmp_path: Path) -> None:
    import subprocess
    import sys

    env = {**os.environ, "DATABASE_URL": fresh_database, "COMMITLAKE_HOME": str(tmp_path)}
    with psycopg.connect(fresh_database, autocommit=True) as conn:
        conn.execute(SCHEMA_SQL.read_text())
        conn.execute("insert into raw.github_commits (repo_full_name, sha, authored_at, committed_at, payload, "
                     "source_kind, lake_key, line_no, run_id) values ('a/b', 'abc', now(), now(), '{}', 'jsonl', "
                     "'k', 1, 'r')")
    for expected in ("is now HASH-partitioned", "was already partitioned"):
        done = subprocess.run([sys.executable, "-m", "commitlake", "db", "partition-raw"], capture_output=True,
                              text=True, env=env, timeout=120, check=False)
        assert done.returncode == 0, done.stderr
        assert expected in done.stdout
    assert _query(fresh_database, "select repo_full_name, sha from raw.github_commits") == [("a/b", "abc")]
    assert _query(fresh_database, "select relkind from pg_class where oid = 'raw.github_commits'::regclass") == [("p",)]
