"""Benchmark: dbt incremental runs stay proportional to the new data, HASH-partitioned raw vs plain, up to 10M commits.

For each case (N commits, plain or partitioned raw) a fresh database gets the real histories in
../shared/data/commits through the real loader once (`load_lake`, repositories `owner/name-r00`), then
replicates them inside PostgreSQL up to N rows as `owner/name-rKK` repositories (every sha and parent sha
re-keyed as sha256(k:sha)[:40], messages, files, stats and dates kept): generating 10M rows through the lake
would time the loader, which bench_load.py measures, not the incremental path. The partitioned case runs
`partition_raw` (16 HASH partitions on repo_full_name) on the empty table first, as a new scale warehouse does.

Then one full `dbt build` (in-process dbtRunner, as the transform stage runs it), and for each share of N
(+0.1 %, +1 %, +10 %) a new batch is inserted into existing repositories with new shas, dated after every
and a later loaded_at, and `dbt build` runs again: the wall time of that incremental build and the rows its
models processed are recorded. A last build with no new rows gives the fixed cost. Results are written after
every case, so a run stopped early keeps what it measured.

    nice -n 15 python bench/bench_partition.py [--cases 1000000:plain 1000000:hash 10000000:hash]

Disk: a case needs about 6 GB per million commits after the full build (raw ~1.7 GB of it) plus WAL, so 10M
needs ~75 GB free (measured: 61.1 GB after the full build, and ml_commit_features spills 12 GB of sort files while it
builds). Cases can run side by side (`--out partition-<x>.json` each, then `--combine` them).

Writes bench/results/partition.json and bench/results/partition.png (log-log: incremental time vs new rows,
full builds as references). Starts commitlake's embedded PostgreSQL in a temporary directory (or uses PGHOST).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_dbt import base_rows, dbt_build, histories, load

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
SHARES = (0.001, 0.01, 0.1)
SEED_SUFFIX = "-r00"
STAGING = "model.commitlake.stg_github__commits"

_NEW_SHA = "substr(encode(sha256(convert_to({salt} || ':' || {sha}, 'UTF8')), 'hex'), 1, 40)"
_PARENTS = (
    "coalesce((select jsonb_agg(jsonb_set(p, '{{sha}}', to_jsonb("
    + _NEW_SHA.format(salt="{salt}", sha="(p->>'sha')")
    + "))) from jsonb_array_elements(case when jsonb_typeof(payload->'parents') = 'array' "
    "then payload->'parents' end) p), '[]'::jsonb)"
)

REPLICATE = """
insert into raw.github_commits
    (repo_full_name, sha, authored_at, committed_at, payload, source_kind, lake_key, line_no, run_id)
select left(repo_full_name, -length(%(seed)s)) || %(suffix)s, {new_sha}, authored_at, committed_at,
       jsonb_set(jsonb_set(payload, '{{sha}}', to_jsonb({new_sha})), '{{parents}}', {parents}),
       source_kind, lake_key, line_no, 'bench-replica'
from raw.github_commits where run_id = 'bench-seed' limit %(limit)s
""".format(new_sha=_NEW_SHA.format(salt="%(salt)s", sha="sha"), parents=_PARENTS.format(salt="%(salt)s"))

# A new batch: `limit` commits of existing repositories, picked by a salted hash, re-dated after every commit
# already there (`after`, order kept): new work, not late arrivals (those recompute their authors' later
# feature rows by design, a different cost).
NEW_BATCH = """
insert into raw.github_commits
    (repo_full_name, sha, authored_at, committed_at, payload, source_kind, lake_key, line_no, run_id)
select repo_full_name, {new_sha}, %(after)s + (authored_at - timestamptz '2000-01-01') / 1000,
       %(after)s + (committed_at - timestamptz '2000-01-01') / 1000,
       jsonb_set(jsonb_set(payload, '{{sha}}', to_jsonb({new_sha})), '{{parents}}', {parents}),
       source_kind, 'bench/new', line_no, %(salt)s
from raw.github_commits
where run_id in ('bench-seed', 'bench-replica') and abs(hashtext(sha || %(salt)s)) %% %(every)s = 0
limit %(limit)s
""".format(new_sha=_NEW_SHA.format(salt="%(salt)s", sha="sha"), parents=_PARENTS.format(salt="%(salt)s"))


def _load() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def _count(conn: psycopg.Connection[Any], query: str) -> int:
    row = conn.execute(query).fetchone()
    return int(row[0]) if row else 0


def _build(state: Path) -> dict[str, Any]:
    load_before = _load()
    seconds, nodes = dbt_build(state)
    models = [n for n in nodes if n["node"].startswith("model.")]
    staged = next((n["rows"] for n in models if n["node"] == STAGING), None)
    return {
        "seconds": round(seconds, 1),
        "staging_rows": staged,
        "model_rows": sum(n["rows"] or 0 for n in models),
        "load_average_before": load_before,
        "load_average_after": _load(),
        "slowest": sorted(nodes, key=lambda n: -n["seconds"])[:5],
    }


def run_case(dsn: str, url: str, rows: int, layout: str, hist: list[Any], out: dict[str, Any]) -> Iterator[None]:
    """One case; `out` is filled as it goes (the caller writes it after every step)."""
    from commitlake.warehouse.partitioning import partition_raw

    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute((ROOT / "src/commitlake/warehouse/sql/schema.sql").read_text())
    if layout == "hash":
        partition_raw(url)
    out.update(rows=rows, layout=layout, load_average_start=_load())
    with tempfile.TemporaryDirectory(prefix="bench-partition-") as tmp:
        state = Path(tmp)
        seed_total = sum(len(items) for _, items in hist)
        t0 = time.perf_counter()
        seed = load(dsn, state / "lake", base_rows(hist, min(rows, seed_total)), "bench-seed")
        with psycopg.connect(dsn, autocommit=True) as conn:
            total, replica = seed, 1
            while total < rows:
                cur = conn.execute(
                    REPLICATE,
                    {"seed": SEED_SUFFIX, "suffix": f"-r{replica:02d}", "salt": f"r{replica}", "limit": rows - total},
                )
                total += cur.rowcount
                replica += 1
                if replica % 10 == 0:
                    print(f"  {total:,} rows ({time.perf_counter() - t0:.0f}s)", flush=True)
            conn.execute("vacuum analyze raw.github_commits")
            out["raw_rows"] = _count(conn, "select count(*) from raw.github_commits")
            out["raw_bytes"] = _count(
                conn,
                "select sum(pg_total_relation_size(c.oid)) from pg_class c "
                "join pg_namespace n on n.oid = c.relnamespace "
                "where n.nspname = 'raw' and c.relname like 'github_commits%%'",
            )
        out["generate_seconds"] = round(time.perf_counter() - t0, 1)
        print(f"{layout} {rows:,}: raw has {out['raw_rows']:,} rows after {out['generate_seconds']}s", flush=True)
        out["full"] = _build(state)
        with psycopg.connect(dsn) as conn:
            out["database_bytes_after_full"] = _count(conn, "select pg_database_size(current_database())")
        print(f"  full build {out['full']['seconds']}s, staged {out['full']['staging_rows']}", flush=True)
        steps = out.setdefault("incremental", [])
        for share in SHARES:
            batch = max(1, round(rows * share))
            with psycopg.connect(dsn, autocommit=True) as conn:
                every = max(1, int(out["raw_rows"] / batch / 1.5))
                after = conn.execute(
                    "select max(greatest(authored_at, committed_at)) + interval '1 day' from raw.github_commits"
                ).fetchone()
                params = {"salt": f"new-{share}", "every": every, "limit": batch, "after": after[0] if after else None}
                added = conn.execute(NEW_BATCH, params).rowcount
                conn.execute("analyze raw.github_commits")
            step = {"share": share, "new_rows": added, **_build(state)}
            steps.append(step)
            print(f"  +{added:,} rows: {step['seconds']}s, staged {step['staging_rows']}", flush=True)
            yield  # the caller writes the results so far
        out["noop"] = _build(state)
        print(f"  no new rows: {out['noop']['seconds']}s", flush=True)
    out["load_average_end"] = _load()
    yield


def plot(cases: list[dict[str, Any]]) -> None:
    """Left: wall time of each incremental build vs its new rows, full builds dashed, no-op runs dotted.
    Right: the same as shares of the full build and of raw, against the diagonal (cost = share of new data)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax, ax2) = plt.subplots(1, 2, figsize=(12, 5))
    colors = iter(["#4c72b0", "#dd8452", "#55a868", "#c44e52", "#8172b2", "#937860", "#da8bc3"])
    shares: list[float] = []
    for case in cases:
        steps = case.get("incremental") or []
        if not steps:
            continue
        color = next(colors)
        size = f"{case['rows'] / 1e6:g}M" if case["rows"] >= 1_000_000 else f"{case['rows'] / 1e3:g}k"
        label = f"{size} commits, {'16 hash partitions' if case['layout'] == 'hash' else 'plain'}"
        style = "o-" if case["layout"] == "hash" else "s--"
        xs = [s["new_rows"] for s in steps]
        ax.plot(xs, [s["seconds"] for s in steps], style, color=color, label=f"incremental, {label}")
        ax.axhline(case["full"]["seconds"], color=color, linestyle="--", linewidth=1, label=f"full build, {label}")
        if "noop" in case:
            ax.axhline(case["noop"]["seconds"], color=color, linestyle=":", linewidth=1)
        share = [x / case["rows"] for x in xs]
        ax2.plot(share, [s["seconds"] / case["full"]["seconds"] for s in steps], style, color=color, label=label)
        shares.extend(share)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("new commits in the run")
    ax.set_ylabel("dbt build wall time (s)")
    ax.set_title(
        "incremental dbt build vs new data (dashed: full build;\n"
        "dotted: no new rows, its tests re-check the last batch)",
        fontsize=9,
    )
    ax.legend(fontsize=6)
    ax.grid(True, which="both", alpha=0.3)
    if shares:
        line = [min(shares), 1.0]
        ax2.plot(line, line, color="#999999", linewidth=1, label="time share = data share")
    ax2.set_xscale("log")
    ax2.set_yscale("log")
    ax2.set_xlabel("new commits / commits already in raw")
    ax2.set_ylabel("incremental build time / full build time")
    ax2.set_title("incremental cost as a share of the full build", fontsize=9)
    ax2.legend(fontsize=6)
    ax2.grid(True, which="both", alpha=0.3)
    fig.tight_layout()
    fig.savefig(RESULTS / "partition.png", dpi=120)
    plt.close(fig)


def combine(paths: list[Path]) -> None:
    """Cases of runs made side by side (one process per size) into partition.json and its plot."""
    results = [json.loads(p.read_text()) for p in paths]
    cases = sorted((c for r in results for c in r["cases"]), key=lambda c: (c["rows"], c["layout"]))
    merged = {**results[0], "cases": cases, "combined_from": [p.name for p in paths]}
    (RESULTS / "partition.json").write_text(json.dumps(merged, indent=2) + "\n")
    plot(cases)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--cases",
        nargs="+",
        default=["100000:plain", "1000000:plain", "1000000:hash", "2000000:hash"],
        help="ROWS:plain|hash, run in order",
    )
    parser.add_argument("--out", default="partition.json", help="results file name under bench/results")
    parser.add_argument("--combine", nargs="+", metavar="JSON", help="only merge these results into partition.*")
    args = parser.parse_args()
    if args.combine:
        combine([Path(p) for p in args.combine])
        return
    home = None
    if not os.environ.get("PGHOST"):
        from commitlake.transform import dbt_env
        from commitlake.warehouse.embedded import EmbeddedPostgres

        home = Path(tempfile.mkdtemp(prefix="bench-partition-pg-"))
        server = EmbeddedPostgres(home / "postgres")
        server.ensure_running()
        os.environ.update({k: v for k, v in dbt_env(server.url("postgres", "postgres")).items() if k.startswith("PG")})
    os.environ["DBT_SEND_ANONYMOUS_USAGE_STATS"] = "false"
    base_env = {k: os.environ[k] for k in ("PGHOST", "PGPORT", "PGUSER") if k in os.environ}
    result: dict[str, Any] = {"cpus": os.cpu_count(), "shares": list(SHARES), "cases": []}
    hist = histories()
    try:
        for spec in args.cases:
            size, layout = spec.split(":")
            rows = int(size)
            db = f"bench_part_{rows}_{layout}"
            os.environ["PGDATABASE"] = db
            subprocess.run(["dropdb", "--if-exists", db], check=True)
            subprocess.run(["createdb", db], check=True)
            password = os.environ.get("PGPASSWORD", "")
            url = (
                f"postgresql://{base_env.get('PGUSER', 'postgres')}:{password}@{base_env.get('PGHOST', '127.0.0.1')}"
                f":{base_env.get('PGPORT', '5432')}/{db}"
            )
            case: dict[str, Any] = {}
            result["cases"].append(case)
            for _ in run_case(f"dbname={db}", url, rows, layout, hist, case):
                RESULTS.mkdir(parents=True, exist_ok=True)
                (RESULTS / args.out).write_text(json.dumps(result, indent=2) + "\n")
                if args.out == "partition.json":
                    plot(result["cases"])
            subprocess.run(["dropdb", db], check=True)  # disk: the next case starts from nothing
    finally:
        if home is not None:
            server_dir = server.server_dir  # may live outside `home` (/var/lib/commitlake-pg when run as root)
            server.stop()
            shutil.rmtree(server_dir, ignore_errors=True)
            shutil.rmtree(home, ignore_errors=True)
    print(f"wrote {RESULTS / args.out}")


if __name__ == "__main__":
    main()
