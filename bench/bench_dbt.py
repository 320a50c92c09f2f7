"""Benchmark: full `dbt build` on ~1M real-shaped commits vs the build after +1 % new commits.

The 13 shared histories are replicated as `owner/name-rNN` repositories with altered shas (sha1 of replica and
original sha, parents rewritten the same way), until 1,000,000 rows. The +1 % batch is the newest 1 % of every
replica's history, re-keyed with a fresh salt and moved 30 days forward. Both go the real way into raw: gzip
JSON-lines lake objects (`encode_batch`) and a manifest per repository, as `commitlake ingest` writes them, then
`load_lake`, as `commitlake load` runs (so the new batch gets later loaded_at values); `load_seconds` covers both.
dbt runs in-process through dbtRunner, as the transform stage runs it.

    python bench/bench_dbt.py [--rows 1000000] [--db bench_dbt]
    PGHOST=127.0.0.1 PGPORT=5433 PGUSER=postgres python bench/bench_dbt.py   # an existing server instead

Writes bench/results/dbt.json and bench/results/dbt.png. Without PGHOST it starts commitlake's embedded
PostgreSQL in a temporary directory and removes it at the end.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import itertools
import json
import os
import subprocess
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
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


def _item(item: dict[str, Any], salt: str, shift: bool) -> dict[str, Any]:
    item = dict(item)
    item["sha"] = _sha(salt, item["sha"])
    item["parents"] = [{"sha": _sha(salt, p["sha"])} for p in item.get("parents") or []]
    commit = dict(item["commit"])
    if shift:
        commit["author"] = {**commit["author"], "date": _shift(commit["author"]["date"])}
        commit["committer"] = {**commit["committer"], "date": _shift(commit["committer"]["date"])}
    item["commit"] = commit
    return item


def base_rows(hist: list[tuple[str, list[dict[str, Any]]]], total: int) -> Iterator[tuple[str, dict[str, Any]]]:
    n, replica = 0, 0
    while True:
        for repo, items in hist:
            name = f"{repo}-r{replica:02d}"
            for item in items:
                if n >= total:
                    return
                yield name, _item(item, f"r{replica}", shift=False)
                n += 1
        replica += 1


def new_rows(
    hist: list[tuple[str, list[dict[str, Any]]]], total: int, share: float
) -> Iterator[tuple[str, dict[str, Any]]]:
    """The newest `share` of each replica repository's history, as new commits 30 days later."""
    n, replica = 0, 0
    while n < total:
        for repo, items in hist:
            name = f"{repo}-r{replica:02d}"
            k = min(len(items), total - n)
            take = max(1, round(k * share)) if k > 0 else 0
            for item in items[:take]:
                yield name, _item(item, f"new{replica}", shift=True)
            n += k
            if n >= total:
                return
        replica += 1


def write_lake(lake: Any, rows: Iterator[tuple[str, dict[str, Any]]], run_id: str) -> int:
    """What `commitlake ingest` leaves: per repository, gzip JSON-lines objects of 10,000 records (encode_batch)
    and a manifest written last. Rows arrive grouped by repository."""
    from commitlake.lake import Manifest, ManifestObject, manifest_key, part_key, run_prefix
    from commitlake.sources.jsonl import CHUNK_RECORDS
    from commitlake.stages.ingest import encode_batch

    today = datetime.now(UTC).date()
    count = 0
    for repo, group in itertools.groupby(rows, key=lambda row: row[0]):
        prefix = run_prefix("jsonl", repo, today, run_id)
        started = datetime.now(UTC).isoformat()
        objects: list[ManifestObject] = []
        items = (item for _, item in group)
        while chunk := list(itertools.islice(items, CHUNK_RECORDS)):
            data = encode_batch(chunk)
            key = part_key(prefix, len(objects))
            lake.put_bytes(key, data, replace=True)
            objects.append(ManifestObject(key, len(chunk), hashlib.sha256(data).hexdigest(), len(data)))
            count += len(chunk)
        manifest = Manifest(run_id=run_id, source_uri=f"jsonl:bench/{repo}", source_kind="jsonl", repo=repo,
                            branch=None, started_at=started, finished_at=datetime.now(UTC).isoformat(),
                            objects=objects, stats={"status": "ingested"})
        lake.put_bytes(manifest_key(prefix), manifest.to_bytes())
    return count


def load(dsn: str, lake_dir: Path, rows: Iterator[tuple[str, dict[str, Any]]], run_id: str,
         now: datetime | None = None) -> int:
    """Lake objects + manifests, then the real loader (`commitlake load`): one transaction per ~10,000 records,
    each with its own loaded_at. `now` moves the loader's date window for the shifted (future) batch."""
    from commitlake.lake import LocalLake
    from commitlake.warehouse.load import load_lake

    lake = LocalLake(lake_dir)
    written = write_lake(lake, rows, run_id)
    report = load_lake(dsn, lake, run_id, now=now)
    if report.objects_failed or report.rows_inserted != written:
        raise SystemExit(f"load lost rows: wrote {written}, {report.as_dict()}")
    return report.rows_inserted


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
    if os.environ.get("PGHOST"):
        run(args)
        return
    import shutil

    from commitlake.transform import dbt_env
    from commitlake.warehouse.embedded import EmbeddedPostgres

    home = Path(tempfile.mkdtemp(prefix="bench-dbt-pg-"))
    server = EmbeddedPostgres(home / "postgres")
    server.ensure_running()
    try:
        env = dbt_env(server.url("postgres", "postgres"))
        os.environ.update({k: v for k, v in env.items() if k.startswith("PG")})
        run(args)
    finally:
        server.stop()
        shutil.rmtree(home, ignore_errors=True)


def run(args: argparse.Namespace) -> None:
    os.environ["DBT_SEND_ANONYMOUS_USAGE_STATS"] = "false"
    os.environ["PGDATABASE"] = args.db
    subprocess.run(["dropdb", "--if-exists", args.db], check=True)
    subprocess.run(["createdb", args.db], check=True)
    dsn = f"dbname={args.db}"
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute((ROOT / "src/commitlake/warehouse/sql/schema.sql").read_text())

    load_start = os.getloadavg()
    hist = histories()
    with tempfile.TemporaryDirectory(prefix="bench-dbt-") as tmp:
        state = Path(tmp)
        t0 = time.perf_counter()
        base = load(dsn, state / "lake", base_rows(hist, args.rows), "bench-base")
        load_s = time.perf_counter() - t0
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute("vacuum analyze raw.github_commits")
        print(f"ingested and loaded {base} base rows in {load_s:.0f}s", flush=True)
        full_s, full_nodes = dbt_build(state)
        print(f"full build: {full_s:.1f}s", flush=True)
        noop_s, _ = dbt_build(state)
        print(f"no-op build: {noop_s:.1f}s", flush=True)
        added = load(dsn, state / "lake", new_rows(hist, args.rows, args.share), "bench-new",
                     now=datetime.now(UTC) + SHIFT)
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute("analyze raw.github_commits")
        print(f"added {added} rows", flush=True)
        inc_s, inc_nodes = dbt_build(state)
        print(f"incremental build: {inc_s:.1f}s ({100 * inc_s / full_s:.1f} % of full)", flush=True)
        # Data tests re-check the latest batch when a run writes nothing: right after the full build that is every
        # row, after an incremental build only its rows. The second no-op shows the fixed cost of a quiet run.
        noop2_s, _ = dbt_build(state)
        print(f"no-op build after the incremental: {noop2_s:.1f}s", flush=True)
        with psycopg.connect(dsn) as conn:
            counts = {
                t: conn.execute(f"select count(*) from {t}").fetchone()[0]  # type: ignore[index]
                for t in ("raw.github_commits", "staging.stg_github__commits", "staging.stg_github__commit_files",
                          "analytics.fct_commits", "analytics.ml_commit_features", "analytics.dim_authors")
            }

    result = {
        "base_rows": base, "added_rows": added, "load_seconds": round(load_s, 1),
        "full_build_seconds": round(full_s, 1), "noop_build_seconds": round(noop_s, 1),
        "noop_after_incremental_seconds": round(noop2_s, 1),
        "incremental_build_seconds": round(inc_s, 1), "incremental_share_of_full": round(inc_s / full_s, 4),
        "target_share": 0.20, "passed": inc_s / full_s < 0.20, "row_counts": counts,
        "slowest_full": sorted(full_nodes, key=lambda n: -n["seconds"])[:12],
        "slowest_incremental": sorted(inc_nodes, key=lambda n: -n["seconds"])[:12],
        # The machine is shared: the 1/5/15-minute load averages when the bench started and ended.
        "machine": {"cpus": os.cpu_count(), "load_average_start": [round(x, 2) for x in load_start],
                    "load_average_end": [round(x, 2) for x in os.getloadavg()]},
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
