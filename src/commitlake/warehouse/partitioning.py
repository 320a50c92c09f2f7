"""raw.github_commits as a HASH-partitioned table on repo_full_name, for warehouses past ~10M raw rows.

Why by repository hash and not by ingest month: the primary key (repo_full_name, sha) is what makes a load
exactly-once (a commit re-read by a later run is a duplicate), and PostgreSQL requires a partitioned table's
unique keys to include the partition key. Partitioning by loaded_at month would have to put loaded_at in the
key and so let the same commit in twice across months. Hashing repo_full_name keeps the key, the loader's
COPY and its per-repository duplicate probe (`where repo_full_name = ...` now reads one partition), and dbt's
incremental watermark on loaded_at, which every partition indexes (the parent's index is a partitioned one).

`partition_raw` converts an existing table in one transaction (copy, swap, drop) and is idempotent; nothing
else changes: schema.sql's `create ... if not exists` statements are no-ops on the partitioned table.
"""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg import sql

from commitlake.config import Settings
from commitlake.errors import ConfigError
from commitlake.logs import get_logger

__all__ = ["DEFAULT_PARTITIONS", "is_partitioned", "partition_raw", "run_partition_command"]

#: Partitions of raw.github_commits; a power of two so a later split (modulus x2) stays simple.
DEFAULT_PARTITIONS = 16
_TABLE = "github_commits"
_log = get_logger("warehouse.partitioning")


def is_partitioned(conn: psycopg.Connection[Any]) -> bool:
    row = conn.execute(
        "select c.relkind from pg_class c join pg_namespace n on n.oid = c.relnamespace "
        "where n.nspname = 'raw' and c.relname = %s", (_TABLE,)
    ).fetchone()
    return row is not None and row[0] == "p"


def partition_raw(url: str, partitions: int = DEFAULT_PARTITIONS) -> bool:
    """Make raw.github_commits HASH-partitioned on repo_full_name; False if it already was."""
    if partitions < 2 or partitions > 1024:
        raise ConfigError(f"raw partitions must be between 2 and 1024, got {partitions}")
    from commitlake.warehouse.db import connect, ensure_schema

    ensure_schema(url)  # the table (maybe empty) and the role matrix exist before the swap
    with connect(url) as conn, conn.transaction():
        conn.execute("lock table raw.github_commits in access exclusive mode")
        if is_partitioned(conn):
            return False
        conn.execute("alter table raw.github_commits rename to github_commits_unpartitioned")
        conn.execute("alter index raw.github_commits_loaded_at rename to github_commits_unpartitioned_loaded_at")
        conn.execute("alter table raw.github_commits_unpartitioned rename constraint github_commits_pkey "
                     "to github_commits_unpartitioned_pkey")
        conn.execute("create table raw.github_commits (like raw.github_commits_unpartitioned including defaults "
                     "including comments) partition by hash (repo_full_name)")
        conn.execute("alter table raw.github_commits add primary key (repo_full_name, sha)")
        conn.execute("create index github_commits_loaded_at on raw.github_commits (loaded_at)")
        for i in range(partitions):
            conn.execute(sql.SQL(
                "create table raw.{} partition of raw.github_commits for values with (modulus {}, remainder {})"
            ).format(sql.Identifier(f"{_TABLE}_p{i:03d}"), sql.Literal(partitions), sql.Literal(i)))
        moved = conn.execute("insert into raw.github_commits select * from raw.github_commits_unpartitioned")
        conn.execute("drop table raw.github_commits_unpartitioned")
    ensure_schema(url)  # grants of the role matrix on the new table
    _log.info("raw.partitioned", partitions=partitions, rows=moved.rowcount)
    return True


def run_partition_command(settings: Settings) -> str:
    """`commitlake db partition-raw` on the warehouse in use; returns a one-line outcome."""
    from commitlake.warehouse.db import open_warehouse

    with open_warehouse(settings) as warehouse:
        done = partition_raw(warehouse.url)
    return ("raw.github_commits is now HASH-partitioned" if done else "raw.github_commits was already partitioned") + (
        f" ({DEFAULT_PARTITIONS} partitions on repo_full_name)")
