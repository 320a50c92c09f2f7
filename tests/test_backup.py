"""`commitlake db backup` / `restore`: a pg_dump round trip through the lake on the embedded server."""

from __future__ import annotations

import gzip
import hashlib
import os
import subprocess
import sys
from datetime import UTC, date, datetime
from pathlib import Path

import psycopg
import pytest

from commitlake.errors import ConfigError
from commitlake.lake import LocalLake, Manifest, ManifestObject, manifest_key, part_key, run_prefix
from commitlake.warehouse.backup import BACKUP_PREFIX, backup_database, list_backups, restore_database
from commitlake.warehouse.db import ensure_schema
from commitlake.warehouse.load import load_lake

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
TABLES_SQL = """
select table_schema, table_name from information_schema.tables
where table_schema in ('raw', 'ops', 'staging', 'analytics', 'ml') and table_type = 'BASE TABLE'
order by 1, 2
"""


def _load_real_commits(url: str, lake: LocalLake, commits: Path) -> int:
    """Put one real repository's history in the lake and load it with the real loader."""
    with gzip.open(commits / "commitizen__cz-cli.jsonl.gz") as handle:
        lines = [line for line in handle.read().split(b"\n") if line]
    prefix = run_prefix("jsonl", "commitizen/cz-cli", date(2026, 11, 25), "r1")
    data = gzip.compress(b"\n".join(lines) + b"\n", mtime=0)
    lake.put_bytes(part_key(prefix, 0), data)
    obj = ManifestObject(part_key(prefix, 0), len(lines), hashlib.sha256(data).hexdigest(), len(data))
    manifest = Manifest("r1", "jsonl:commitizen/cz-cli", "jsonl", "commitizen/cz-cli", None, "", "", [obj])
    lake.put_bytes(manifest_key(prefix), manifest.to_bytes())
    load_lake(url, lake, "r1", now=NOW)
    return len(lines)


def _snapshot(url: str) -> dict[str, tuple[int, str]]:
    """Every table's row count and an order-independent digest of its rows."""
    out: dict[str, tuple[int, str]] = {}
    with psycopg.connect(url) as conn:
        for schema, table in conn.execute(TABLES_SQL).fetchall():
            rows = conn.execute(f'select t::text from "{schema}"."{table}" t').fetchall()
            digest = hashlib.sha256("\n".join(sorted(r[0] for r in rows)).encode()).hexdigest()
            out[f"{schema}.{table}"] = (len(rows), digest)
    return out


@pytest.fixture
def warehouse(fresh_database: str, tmp_path: Path, shared_commits: Path) -> tuple[str, LocalLake, int]:
    ensure_schema(fresh_database)
    lake = LocalLake(tmp_path / "lake")
    n = _load_real_commits(fresh_database, lake, shared_commits)
    return fresh_database, lake, n


def test_round_trip_restores_identical_tables(warehouse: tuple[str, LocalLake, int]) -> None:
    url, lake, n = warehouse
    before = _snapshot(url)
    assert before["raw.github_commits"][0] == n > 300
    backup = backup_database(url, lake)
    assert backup.key.startswith(BACKUP_PREFIX) and backup.size > 0
    with psycopg.connect(url, autocommit=True) as conn:  # damage: lost rows, a dropped table, a stray row
        conn.execute("delete from raw.github_commits where sha in (select sha from raw.github_commits limit 100)")
        conn.execute("drop table ops.loaded_objects")
        conn.execute("update raw.github_commits set source_kind = 'changed' where sha in "
                     "(select sha from raw.github_commits limit 5)")
    assert _snapshot(url) != before
    assert restore_database(url, lake) == backup.key
    assert _snapshot(url) == before


def test_restore_picks_the_newest_backup(warehouse: tuple[str, LocalLake, int]) -> None:
    url, lake, _ = warehouse
    first = backup_database(url, lake, now=datetime(2026, 1, 1, tzinfo=UTC))
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("delete from raw.github_commits where sha in (select sha from raw.github_commits limit 10)")
    after_delete = _snapshot(url)
    second = backup_database(url, lake, now=datetime(2026, 1, 2, tzinfo=UTC))
    assert list_backups(lake) == [first.key, second.key]
    restore_database(url, lake, first.key)
    assert _snapshot(url) != after_delete
    restore_database(url, lake)
    assert _snapshot(url) == after_delete


def test_restore_without_backup_names_the_lake(fresh_database: str, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"no backup found under .*backups/warehouse/"):
        restore_database(fresh_database, LocalLake(tmp_path / "empty"))


def _cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "commitlake", *args], capture_output=True, text=True,
                          env=env, timeout=120, check=False)


def test_cli_backup_then_restore(warehouse: tuple[str, LocalLake, int], tmp_path: Path) -> None:
    url, lake, _ = warehouse
    env = {**os.environ, "DATABASE_URL": url, "COMMITLAKE_HOME": str(tmp_path / "home"),
           "COMMITLAKE_LAKE_URI": lake.uri}
    before = _snapshot(url)
    done = _cli("db", "backup", env=env)
    assert done.returncode == 0, done.stderr
    key = done.stdout.strip()
    assert key.startswith(BACKUP_PREFIX) and (lake.root / key).is_file()
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("truncate raw.github_commits")
    done = _cli("db", "restore", key, env=env)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == key
    assert _snapshot(url) == before
    missing = _cli("db", "restore", "backups/warehouse/missing.dump", env=env)
    assert missing.returncode == 1
    assert missing.stderr.strip().splitlines()[-1] == (
        f"commitlake: error: no backup backups/warehouse/missing.dump in {lake.uri}")
