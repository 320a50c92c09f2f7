"""Benchmark: full `dbt build` on ~1M real-shaped commits vs the build after +1 % new commits.

The 13 shared histories are replicated as `owner/name-rNN` repositories with altered shas (sha1 of replica and
original sha, parents rewritten the same way), until 1,000,000 rows. The +1 % batch is the newest 1 % of every
replica's history, re-keyed with a fresh salt and moved 30 days forward, loaded in a later transaction (so a later
loaded_at), as `commitlake load` would. dbt runs in-process through dbtRunner, as the transform stage runs it.

    PGHOST=127.0.0.1 PGPORT=5433 PGUSER=postgres python bench/bench_dbt.py [--rows 1000000] [--db bench_dbt]

Writes bench/results/dbt.json and bench/results/dbt.png. Needs a Postgres server it may create a database on.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import os
import subprocess
import tempfile
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import psycopg

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data" / "commits"
DBT_DIR = ROOT / "dbt"
RESULTS = ROOT / "bench" / "results"
SHIFT = timedelta(days=30)


def _sha(salt: str, sha: str) -> str:
    return hashlib.sha1(f"{salt}:{sha}".encode()).hexdigest()


def _shift(date: str) -> str:
    return (datetime.fromisoformat(date) + SHIFT).isoformat()


def _loadable(item: dict[str, Any]) -> bool:
    """What `commitlake load` accepts (its quarantine rejects e.g. git's `+518:00` offsets): skip the rest."""
    for who in ("author", "committer"):
        try:
            offset = datetime.fromisoformat(item["commit"][who]["date"]).utcoffset()
        except (KeyError, TypeError, ValueError):
            return False
        if offset is None or abs(offset) > timedelta(hours=14):
            return False
    return True


def histories() -> list[tuple[str, list[dict[str, Any]]]]:
    out = []
    for path in sorted(DATA.glob("*.jsonl.gz")):
        repo = path.name.removesuffix(".jsonl.gz").replace("__", "/")
        with gzip.open(path) as fh:
            out.append((repo, [item for line in fh if _loadable(item := orjson.loads(line))]))
    return out


def _row(repo: str, item: dict[str, Any], salt: str, line_no: int, shift: bool) -> tuple[Any, ...]:
    item = dict(item)
    item["sha"] = _sha(salt, item["sha"])
    item["parents"] = [{"sha": _sha(salt, p["sha"])} for p in item.get("parents") or []]
    commit = dict(item["commit"])
    if shift:
        commit["author"] = {**commit["author"], "date": _shift(commit["author"]["date"])}
        commit["committer"] = {**commit["committer"], "date": _shift(commit["committer"]["date"])}
    item["commit"] = commit
    return (
        repo, item["sha"], commit["author"]["date"], commit["committer"]["date"],
        orjson.dumps(item).decode(), "jsonl", f"bench/{repo}/{salt}", line_no, "bench",
    )


def base_rows(hist: list[tuple[str, list[dict[str, Any]]]], total: int) -> Iterator[tuple[Any, ...]]:
    n, replica = 0, 0
    while True:
        for repo, items in hist:
            name = f"{repo}-r{replica:02d}"
            for i, item in enumerate(items):
                if n >= total:
                    return
                yield _row(name, item, f"r{replica}", i + 1, shift=False)
                n += 1
        replica += 1


def new_rows(hist: list[tuple[str, list[dict[str, Any]]]], total: int, share: float) -> Iterator[tuple[Any, ...]]:
    """The newest `share` of each replica repository's history, as new commits 30 days later."""
    n, replica = 0, 0
    while n < total:
        for repo, items in hist:
            name = f"{repo}-r{replica:02d}"
            k = min(len(items), total - n)
            take = max(1, round(k * share)) if k > 0 else 0
            for i, item in enumerate(items[:take]):
                yield _row(name, item, f"new{replica}", i + 1, shift=True)
            n += k
            if n >= total:
                return
        replica += 1


def copy_rows(dsn: str, rows: Iterator[tuple[Any, ...]]) -> int:
    count = 0
    sql = (
        "copy raw.github_commits (repo_full_name, sha, authored_at, committed_at, payload, source_kind, lake_key,"
        " line_no, run_id) from stdin"
    )
    with psycopg.connect(dsn) as conn, conn.cursor() as cur, cur.copy(sql) as copy:
        for row in rows:
            copy.write_row(row)
            count += 1
    return count


def dbt_build(state: Path) -> tuple[float, list[dict[str, Any]]]:
    from dbt.cli.main import dbtRunner

    started = time.perf_counter()
    result = dbtRunner().invoke([
        "build", "--project-dir", str(DBT_DIR), "--profiles-dir", str(DBT_DIR),
        "--target-path", str(state / "dbt-target"), "--log-path", str(state / "dbt-logs"), "--quiet",
    ])
    elapsed = time.perf_counter() - started
    if not result.success:
        raise SystemExit(f"dbt build failed: {result.exception or 'see ' + str(state / 'dbt-logs')}")
    run_results = json.loads((state / "dbt-target" / "run_results.json").read_text())
    nodes = [
        {"node": r["unique_id"], "status": r["status"], "seconds": round(r["execution_time"], 2),
         "rows": (r.get("adapter_response") or {}).get("rows_affected")}
        for r in run_results["results"]
    ]
    return elapsed, nodes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--share", type=float, default=0.01)
    parser.add_argument("--db", default="bench_dbt")
    args = parser.parse_args()

    os.environ["DBT_SEND_ANONYMOUS_USAGE_STATS"] = "false"
    os.environ["PGDATABASE"] = args.db
    subprocess.run(["dropdb", "--if-exists", args.db], check=True)
    subprocess.run(["createdb", args.db], check=True)
    dsn = f"dbname={args.db}"
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute((ROOT / "src/commitlake/warehouse/sql/schema.sql").read_text())

    hist = histories()
    t0 = time.perf_counter()
    base = copy_rows(dsn, base_rows(hist, args.rows))
    load_s = time.perf_counter() - t0
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("vacuum analyze raw.github_commits")
    print(f"loaded {base} base rows in {load_s:.0f}s", flush=True)

    with tempfile.TemporaryDirectory(prefix="bench-dbt-") as tmp:
        state = Path(tmp)
        full_s, full_nodes = dbt_build(state)
        print(f"full build: {full_s:.1f}s", flush=True)
        noop_s, _ = dbt_build(state)
        print(f"no-op build: {noop_s:.1f}s", flush=True)
        added = copy_rows(dsn, new_rows(hist, args.rows, args.share))
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute("analyze raw.github_commits")
        print(f"added {added} rows", flush=True)
        inc_s, inc_nodes = dbt_build(state)
        print(f"incremental build: {inc_s:.1f}s ({100 * inc_s / full_s:.1f} % of full)", flush=True)
        with psycopg.connect(dsn) as conn:
            counts = {
                t: conn.execute(f"select count(*) from {t}").fetchone()[0]  # type: ignore[index]
                for t in ("raw.github_commits", "staging.stg_github__commits", "staging.stg_github__commit_files",
                          "analytics.fct_commits", "analytics.ml_commit_features", "analytics.dim_authors")
            }

    result = {
        "base_rows": base, "added_rows": added, "load_seconds": round(load_s, 1),
        "full_build_seconds": round(full_s, 1), "noop_build_seconds": round(noop_s, 1),
        "incremental_build_seconds": round(inc_s, 1), "incremental_share_of_full": round(inc_s / full_s, 4),
        "target_share": 0.20, "passed": inc_s / full_s < 0.20, "row_counts": counts,
        "slowest_full": sorted(full_nodes, key=lambda n: -n["seconds"])[:12],
        "slowest_incremental": sorted(inc_nodes, key=lambda n: -n["seconds"])[:12],
        "machine": {"cpus": os.cpu_count()},
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "dbt.json").write_text(json.dumps(result, indent=2) + "\n")
    plot(result)
    print(json.dumps({k: v for k, v in result.items() if not k.startswith("slowest")}, indent=2))


def plot(result: dict[str, Any]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.5))
    labels = [f"full\n{result['base_rows']:,} commits", "no new rows", f"+{result['added_rows']:,} commits"]
    values = [result["full_build_seconds"], result["noop_build_seconds"], result["incremental_build_seconds"]]
    bars = ax.bar(labels, values, color=["#4c72b0", "#999999", "#55a868"])
    ax.axhline(result["full_build_seconds"] * 0.2, color="#c44e52", linestyle="--", label="20 % of full build")
    ax.bar_label(bars, fmt="%.0f s")
    ax.set_ylabel("dbt build wall time (s)")
    ax.set_title("commitlake dbt: full vs incremental build")
    ax.legend()
    fig.tight_layout()
    fig.savefig(RESULTS / "dbt.png", dpi=120)


if __name__ == "__main__":
    main()
