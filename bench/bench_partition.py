"""Benchmark: raw.github_commits at N generated commits, unpartitioned vs HASH-partitioned (16 on repository).

What is measured is the raw side of an incremental run, the part that grows with raw: dbt's incremental
models read `raw.github_commits where loaded_at > <watermark>` (the `watermark` macro), and the loader probes
the shas a repository already has (`where repo_full_name = ...`). For new batches of 0.01 %, 0.1 % and 1 % of
N, each inserted with a later loaded_at (then rolled back), the batch read and one probe are timed, first on
the plain table, then after `partition_raw` converts it (whose time is reported too). Rows are generated in
SQL (2,000 repositories, real-sized ids, a small JSON payload), not through the lake: the loader's own speed
is bench_load.py's subject.

    python bench/bench_partition.py [--rows 10000000]
    PGHOST=127.0.0.1 PGPORT=5433 PGUSER=postgres PGPASSWORD=... python bench/bench_partition.py   # existing server

Writes bench/results/partition.json.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import psycopg

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results" / "partition.json"
REPOS = 2000
SHARES = (0.0001, 0.001, 0.01)
REPEATS = 3

GENERATE = """
insert into raw.github_commits
    (repo_full_name, sha, authored_at, committed_at, payload, source_kind, lake_key, line_no, run_id, loaded_at)
select 'owner-' || (i % {repos}) || '/repo-' || (i % {repos}),
       md5(i::text || '{salt}') || substr(md5('x' || i::text), 1, 8),
       timestamptz '2020-01-01' + make_interval(mins => i),
       timestamptz '2020-01-01' + make_interval(mins => i),
       jsonb_build_object('sha', md5(i::text), 'commit', jsonb_build_object('message', 'feat: change ' || i)),
       'jsonl', 'bench/part-' || (i / 10000), i % 10000, '{run}', {loaded_at}
from generate_series({start}, {stop}) as i
"""
BATCH_READ = ("select count(*), max(loaded_at), sum(length(payload::text)) from raw.github_commits "
              "where loaded_at > %s")
PROBE = "select count(sha) from raw.github_commits where repo_full_name = 'owner-7/repo-7'"


def _timed(conn: psycopg.Connection[Any], query: str, params: tuple[Any, ...] = ()) -> tuple[float, Any]:
    t0 = time.perf_counter()
    row = conn.execute(query, params).fetchone()
    return time.perf_counter() - t0, row


def measure(dsn: str, rows: int) -> dict[str, Any]:
    """Median times of the batch read and the probe for each batch share (batches rolled back after)."""
    out: dict[str, Any] = {}
    with psycopg.connect(dsn) as conn:
        watermark = conn.execute("select max(loaded_at) from raw.github_commits").fetchone()[0]  # type: ignore[index]
        for share in SHARES:
            batch = max(1, int(rows * share))
            with conn.transaction(force_rollback=True):
                conn.execute(GENERATE.format(repos=REPOS, salt="new", run="new", start=rows + 1, stop=rows + batch,
                                             loaded_at="now() + interval '1 day'"))
                conn.execute("analyze raw.github_commits")
                reads, probes = [], []
                for _ in range(REPEATS):
                    seconds, row = _timed(conn, BATCH_READ, (watermark,))
                    assert row is not None and row[0] == batch, (row, batch)
                    reads.append(seconds)
                    probes.append(_timed(conn, PROBE)[0])
                out[str(batch)] = {"batch_rows": batch, "batch_read_ms": round(statistics.median(reads) * 1000, 2),
                                   "probe_ms": round(statistics.median(probes) * 1000, 2)}
                print(f"  batch {batch:>9,}: read {out[str(batch)]['batch_read_ms']:>9.2f} ms, "
                      f"probe {out[str(batch)]['probe_ms']:.2f} ms", flush=True)
    return out


def run(dsn: str, rows: int) -> dict[str, Any]:
    from commitlake.warehouse.db import ensure_schema
    from commitlake.warehouse.partitioning import partition_raw

    ensure_schema(dsn)
    t0 = time.perf_counter()
    step = 1_000_000
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("truncate raw.github_commits")
        for start in range(1, rows + 1, step):
            conn.execute(GENERATE.format(repos=REPOS, salt="base", run="base", start=start,
                                         stop=min(rows, start + step - 1), loaded_at="timestamptz '2026-01-01'"))
        conn.execute("vacuum analyze raw.github_commits")
    generate_s = time.perf_counter() - t0
    print(f"generated {rows:,} rows in {generate_s:.0f}s", flush=True)
    print("unpartitioned:", flush=True)
    plain = measure(dsn, rows)
    t0 = time.perf_counter()
    partition_raw(dsn)
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("vacuum analyze raw.github_commits")
    convert_s = time.perf_counter() - t0
    print(f"partition_raw (16 hash partitions) in {convert_s:.0f}s; partitioned:", flush=True)
    hashed = measure(dsn, rows)
    return {"rows": rows, "repositories": REPOS, "generate_seconds": round(generate_s, 1),
            "partition_raw_seconds": round(convert_s, 1), "unpartitioned": plain, "partitioned": hashed,
            "cpus": os.cpu_count(), "load_average_at_end": os.getloadavg()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000_000)
    args = parser.parse_args()
    if os.environ.get("PGHOST"):
        result = run(f"dbname={os.environ.get('PGDATABASE', 'postgres')}", args.rows)
    else:
        from commitlake.warehouse.embedded import EmbeddedPostgres

        home = Path(tempfile.mkdtemp(prefix="bench-partition-pg-"))
        server = EmbeddedPostgres(home / "postgres")
        server.ensure_running()
        try:
            result = run(server.url("postgres", "postgres"), args.rows)
        finally:
            server.stop()
            shutil.rmtree(home, ignore_errors=True)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {RESULTS.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
