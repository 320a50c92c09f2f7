"""Benchmark the load stage: 1M real-shaped commits from lake objects into raw.github_commits.

Compares, in one run on one server (each into its own fresh database, identical table):
  bare_copy   COPY of the pre-formatted rows, nothing else (the ceiling)
  staged      COPY into a staging table + INSERT ... ON CONFLICT DO NOTHING (the usual idempotent pattern)
  load_lake   commitlake's loader: gunzip, validation, quarantine, dedup, ledger, one transaction per group,
              with --streams COPY connections (default: the loader's, min(2, cpus))
  load_lake_1_stream  the same loader on one connection (what the extra streams buy)
  reload      load_lake again over the same objects (must be < 5 % of the first load)
  bare_copy_after  the bare COPY again: on a shared box the load varies, so load_lake is compared with the
              mean of the two COPY runs that bracket it (both ratios are recorded)
  dlt         dlt's postgres destination on the same records (separate venv, created if missing; recorded as
              not measured, with the reason, when that venv cannot be made, e.g. offline)

Each method runs in a fresh database after a CHECKPOINT, so none pays for the WAL an earlier one wrote.

Without --dsn (or COMMITLAKE_BENCH_DSN) the bench starts commitlake's own embedded PostgreSQL in a temporary
directory and stops it at the end, so `make bench` needs no server. Results are written after every step, so
an interrupted run still leaves what it measured.

The data: the histories in ../shared/data/commits replicated with altered shas (deterministic: replica k maps
every sha s to sha1(f"{k}:{s}"), parents too, so each replica is a consistent history), written as the ingest
stage would (gzip parts of 10,000 records under run prefixes, manifests last). Not run by `make test`.

    .venv/bin/python bench/bench_load.py [--dsn postgresql://postgres@127.0.0.1:5433/postgres] [--commits 1000000]
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from commitlake.config import DEFAULT_LOAD_STREAMS
from commitlake.lake import LocalLake, Manifest, ManifestObject, manifest_key, part_key, run_prefix
from commitlake.stages.ingest import encode_batch
from commitlake.warehouse.load import _copy_text, load_lake
from commitlake.warehouse.quarantine import Rejected, check_line, date_window

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data" / "commits"
SCHEMA = ROOT / "src" / "commitlake" / "warehouse" / "sql" / "schema.sql"
RESULTS = ROOT / "bench" / "results"
PART = 10_000
DAY = date(2026, 11, 25)
_SHA = re.compile(rb'"sha":"([0-9a-f]{40})"')

DLT_SCRIPT = r"""
import gzip, sys, time, orjson, dlt
from pathlib import Path
lake, dsn = Path(sys.argv[1]), sys.argv[2]
files = sorted(lake.rglob("part-*.jsonl.gz"))
def repo_of(path):
    return next(p for p in path.parts if p.startswith("repo="))[5:].replace("__", "/")
@dlt.resource(name="github_commits", primary_key=("repo_full_name", "sha"), write_disposition="append",
              columns={"payload": {"data_type": "json"}})
def commits():
    for path in files:
        repo = repo_of(path)
        rows = []
        for line in gzip.decompress(path.read_bytes()).splitlines():
            r = orjson.loads(line)
            c = r.get("commit") or {}
            rows.append({"repo_full_name": repo, "sha": r.get("sha"),
                         "authored_at": (c.get("author") or {}).get("date"),
                         "committed_at": (c.get("committer") or {}).get("date"), "payload": r})
        yield rows
pipe = dlt.pipeline(pipeline_name="bench_load", destination=dlt.destinations.postgres(dsn),
                    dataset_name="dlt_raw", pipelines_dir=str(lake.parent / "dlt-pipelines"))
t = time.perf_counter()
info = pipe.run(commits())
print(orjson.dumps({"seconds": time.perf_counter() - t}).decode())
"""


def replicas(limit: int) -> Iterator[tuple[str, int, list[bytes]]]:
    """(repo, replica, lines) until `limit` lines; replica 0 is the shared data as is."""
    sources = []
    for path in sorted(SHARED.glob("*.jsonl.gz")):
        lines = [line for line in gzip.decompress(path.read_bytes()).split(b"\n") if line]
        sources.append((path.name.removesuffix(".jsonl.gz").replace("__", "/"), lines))
    produced, replica = 0, 0
    while produced < limit:
        for repo, lines in sources:
            take = lines[: limit - produced]
            if replica:
                mapping: dict[bytes, bytes] = {}

                def alter(match: re.Match[bytes], k: int = replica, m: dict[bytes, bytes] = mapping) -> bytes:
                    sha = match.group(1)
                    if sha not in m:
                        m[sha] = hashlib.sha1(b"%d:%s" % (k, sha)).hexdigest().encode()
                    return b'"sha":"' + m[sha] + b'"'

                take = [_SHA.sub(alter, line) for line in take]
            yield repo, replica, take
            produced += len(take)
            if produced >= limit:
                return
        replica += 1


def build(work: Path, commits: int) -> tuple[LocalLake, Path, int, int]:
    """The lake (objects + manifests) and the pre-formatted COPY rows, cached in `work`."""
    lake_dir, rows_path, done = work / "lake", work / "rows.copy", work / f"built-{commits}"
    if done.exists():
        meta = json.loads(done.read_text())
        return LocalLake(lake_dir), rows_path, meta["raw_bytes"], meta["gz_bytes"]
    for stale in work.glob("built-*"):  # the lake and rows below are about to be rewritten for another size
        stale.unlink()
    shutil.rmtree(lake_dir, ignore_errors=True)
    lake = LocalLake(lake_dir)
    window = date_window()
    raw_bytes = gz_bytes = 0
    with rows_path.open("wb") as rows:
        for repo, replica, lines in replicas(commits):
            run_id = f"bench-{replica:02d}"
            prefix = run_prefix("jsonl", repo, DAY, run_id)
            objects = []
            for index in range(0, len(lines), PART):
                part = lines[index : index + PART]
                data = encode_batch(part)
                key = part_key(prefix, index // PART)
                lake.put_bytes(key, data)
                objects.append(ManifestObject(key, len(part), hashlib.sha256(data).hexdigest(), len(data)))
                raw_bytes += sum(map(len, part)) + len(part)
                gz_bytes += len(data)
                suffix = b"\t" + b"\t".join(_copy_text(v) for v in (repo, "jsonl", key, "bench")) + b"\n"
                seen: set[str] = set()
                for line_no, line in enumerate(part, 1):
                    res = check_line(line, window)
                    if isinstance(res, Rejected) or res[0] in seen:
                        continue  # the bare COPY gets exactly the rows the loader inserts
                    seen.add(res[0])
                    body = line.replace(b"\\", b"\\\\")
                    rows.write(f"{res[0]}\t{res[1]}\t{res[2]}\t{line_no}\t".encode() + body + suffix)
            manifest = Manifest(run_id, f"jsonl:{repo}", "jsonl", repo, None, "", "", objects)
            lake.put_bytes(manifest_key(prefix), manifest.to_bytes())
    done.write_text(json.dumps({"raw_bytes": raw_bytes, "gz_bytes": gz_bytes}))
    return lake, rows_path, raw_bytes, gz_bytes


class Databases:
    """A fresh database per method on the benchmark server, with the warehouse schema applied."""

    def __init__(self, dsn: str) -> None:
        self.dsn = dsn
        self.made: list[str] = []

    def fresh(self) -> str:
        name = f"bench_load_{uuid.uuid4().hex[:8]}"
        with psycopg.connect(self.dsn, autocommit=True) as conn:
            conn.execute(sql.SQL("create database {}").format(sql.Identifier(name)))
        self.made.append(name)
        url = make_conninfo(**{**conninfo_to_dict(self.dsn), "dbname": name})  # type: ignore[arg-type]
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(SCHEMA.read_text())
            # every method starts with no dirty buffers and no WAL owed: otherwise the checkpoint that the
            # previous method's gigabytes of WAL trigger lands in the middle of the next one
            conn.execute("checkpoint")
        return url

    def drop_all(self) -> None:
        with psycopg.connect(self.dsn, autocommit=True) as conn:
            for name in self.made:
                conn.execute(sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(name)))
        self.made.clear()


_COLUMNS = "sha, authored_at, committed_at, line_no, payload, repo_full_name, source_kind, lake_key, run_id"


def bare_copy(url: str, rows: Path) -> float:
    with psycopg.connect(url) as conn:
        conn.execute("create table raw.bare (like raw.github_commits including all)")
        conn.commit()
        started = time.perf_counter()
        with conn.cursor() as cur, cur.copy(f"copy raw.bare ({_COLUMNS}) from stdin") as copy, rows.open("rb") as f:
            while block := f.read(1 << 20):
                copy.write(block)
        conn.commit()
        return time.perf_counter() - started


def staged(url: str, rows: Path) -> float:
    with psycopg.connect(url) as conn:
        started = time.perf_counter()
        conn.execute("create temp table stage (like raw.github_commits including defaults) on commit drop")
        with conn.cursor() as cur, cur.copy(f"copy stage ({_COLUMNS}) from stdin") as copy, rows.open("rb") as f:
            while block := f.read(1 << 20):
                copy.write(block)
        conn.execute("insert into raw.github_commits select * from stage on conflict do nothing")
        conn.commit()
        return time.perf_counter() - started


def _as_url(conninfo: str) -> str:
    """dlt takes only postgresql:// URLs with a password."""
    from urllib.parse import quote

    p = conninfo_to_dict(conninfo)
    # dlt insists on a password; under trust auth (the scratch server) any one will do
    auth = quote(str(p.get("user", "postgres"))) + ":" + quote(str(p.get("password") or "unused"))
    return f"postgresql://{auth}@{p.get('host', '127.0.0.1')}:{p.get('port', 5432)}/{p['dbname']}"


def dlt_python(venv: Path) -> tuple[Path | None, str | None]:
    """The dlt venv's python, made on first use; (None, why) when it cannot be made (no network, no venv)."""
    python = venv / "bin" / "python"
    if python.exists():
        check = subprocess.run([str(python), "-c", "import dlt, orjson"], capture_output=True, check=False)
        if check.returncode == 0:
            return python, None
    try:
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, capture_output=True, text=True)
        subprocess.run(
            [str(python), "-m", "pip", "install", "-q", "dlt[postgres]", "orjson"],
            check=True,
            capture_output=True,
            text=True,
            timeout=900,
        )
    except (OSError, subprocess.SubprocessError) as exc:
        detail = getattr(exc, "stderr", None) or str(exc)
        return None, f"could not create the dlt venv {venv}: {str(detail).strip()[-500:]}"
    return python, None


def dlt(url: str, lake_dir: Path, python: Path) -> float | None:
    env = {
        **os.environ,
        "RUNTIME__LOG_LEVEL": "WARNING",
        "DLT_TELEMETRY": "false",
        "RUNTIME__DLTHUB_TELEMETRY": "false",
    }
    started = time.perf_counter()
    done = subprocess.run(
        [str(python), "-c", DLT_SCRIPT, str(lake_dir), _as_url(url)],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        print("dlt failed:", done.stderr[-2000:], file=sys.stderr)
        return None
    with psycopg.connect(url) as conn:  # make sure dlt really loaded the rows it was timed on
        row = conn.execute("select count(*), count(distinct (repo_full_name, sha)) from dlt_raw.github_commits")
        print(f"dlt loaded {row.fetchone()} rows (all, distinct)", flush=True)
    return elapsed


@contextmanager
def server(dsn: str | None) -> Iterator[str]:
    """The given server, or commitlake's embedded one in a temporary directory, stopped and removed after."""
    if dsn:
        yield dsn
        return
    from commitlake.warehouse.embedded import EmbeddedPostgres

    with tempfile.TemporaryDirectory(prefix="commitlake-bench-pg-") as tmp:
        pg = EmbeddedPostgres(Path(tmp) / "postgres")
        pg.ensure_running()
        print(f"embedded PostgreSQL on port {pg.port}", flush=True)
        try:
            yield pg.url("postgres", "postgres")
        finally:
            pg.stop()


def plot(results: dict[str, object], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    seconds: dict[str, float] = results["seconds"]  # type: ignore[assignment]
    colors = {"bare_copy": "#888", "staged": "#aaa", "load_lake": "#2a7", "reload": "#7c9", "bare_copy_after": "#888"}
    colors["load_lake_1_stream"] = "#5b9"
    order = ("bare_copy", "staged", "load_lake", "load_lake_1_stream", "reload", "bare_copy_after", "dlt")
    names = [n for n in order if seconds.get(n) is not None]
    fig, ax = plt.subplots(figsize=(7.6, 3.4))
    bars = ax.barh(names, [seconds[n] for n in names], color=[colors.get(n, "#c66") for n in names])
    for bar, name in zip(bars, names, strict=True):
        ax.text(bar.get_width(), bar.get_y() + bar.get_height() / 2, f" {seconds[name]:.1f} s", va="center")
    ax.invert_yaxis()
    ax.set_xlim(0, max(seconds[n] for n in names) * 1.15)  # room for the labels
    ax.set_xlabel("seconds (lower is better)")
    streams = results.get("load_streams")
    ax.set_title(f"{results['commits']:,} commits into raw.github_commits (load_lake: {streams} streams)")
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def summarise(args: argparse.Namespace, seconds: dict[str, float | None], meta: dict[str, object]) -> dict[str, object]:
    """What was measured so far, as bench/results/load.json holds it."""
    first = meta.get("first")
    results: dict[str, object] = {
        "commits": args.commits,
        "json_bytes": meta["raw_bytes"],
        "gzip_bytes": meta["gz_bytes"],
        "server": meta["server"],
        "load_streams": args.streams,
        "seconds": seconds,
    }
    if first is not None:
        rows = first.rows_inserted  # type: ignore[attr-defined]
        load = first.seconds  # type: ignore[attr-defined]
        results.update(
            rows_inserted=rows,
            rejected=first.rejected,  # type: ignore[attr-defined]
            duplicates=first.duplicates,  # type: ignore[attr-defined]
            rows_per_second={
                k: round(rows / v) for k, v in seconds.items() if v and k not in ("reload", "bare_copy_after")
            },
            # the throughput ratio the issue asks >= 0.9 of: bare COPY seconds / load_lake seconds, same run
            load_vs_bare_copy_rate=round((seconds["bare_copy"] or float("nan")) / load, 3),
        )
        if seconds.get("bare_copy_after"):
            bracket = ((seconds["bare_copy"] or 0) + (seconds["bare_copy_after"] or 0)) / 2
            results["load_vs_bracketing_bare_copy_rate"] = round(bracket / load, 3)
        if seconds.get("load_lake_1_stream"):
            results["load_1_stream_vs_bare_copy_rate"] = round(
                (seconds["bare_copy"] or float("nan")) / seconds["load_lake_1_stream"], 3
            )
        if seconds.get("reload") is not None:
            results["reload_share_of_first_load"] = round((seconds["reload"] or 0) / load, 4)
        if "dlt" in seconds:
            results["load_lake_beats_dlt"] = None if not seconds["dlt"] else load < seconds["dlt"]
    if meta.get("dlt_not_measured"):
        results["dlt_not_measured"] = meta["dlt_not_measured"]
    results["cpus"] = os.cpu_count()
    results["load_average_at_start"] = meta["load_at_start"]
    results["load_average_now"] = os.getloadavg()
    return results


def save(results: dict[str, object]) -> None:
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "load.json").write_text(json.dumps(results, indent=2) + "\n")
    plot(results, RESULTS / "load.png")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--dsn",
        default=os.environ.get("COMMITLAKE_BENCH_DSN"),
        help="a superuser conninfo; default: start the embedded server in a temporary directory",
    )
    parser.add_argument("--commits", type=int, default=1_000_000)
    parser.add_argument("--work", type=Path, default=Path("/tmp/commitlake-bench-load"))
    parser.add_argument("--dlt-venv", type=Path, default=Path("/tmp/commitlake-bench-dlt-venv"))
    parser.add_argument("--skip-dlt", action="store_true")
    parser.add_argument("--streams", type=int, default=DEFAULT_LOAD_STREAMS, help="load_lake's COPY connections")
    args = parser.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    meta: dict[str, object] = {"load_at_start": os.getloadavg()}
    t = time.perf_counter()
    lake, rows, meta["raw_bytes"], meta["gz_bytes"] = build(args.work, args.commits)
    print(f"data ready in {time.perf_counter() - t:.0f} s: {rows.stat().st_size / 1e9:.2f} GB of COPY rows", flush=True)
    seconds: dict[str, float | None] = {}
    with server(args.dsn) as dsn:
        meta["server"] = "given --dsn" if args.dsn else "embedded (commitlake.warehouse.embedded)"
        dbs = Databases(dsn)
        try:
            seconds["bare_copy"] = bare_copy(dbs.fresh(), rows)
            print(f"bare COPY {seconds['bare_copy']:.1f} s", flush=True)
            seconds["staged"] = staged(dbs.fresh(), rows)
            print(f"staged COPY + INSERT ON CONFLICT {seconds['staged']:.1f} s", flush=True)
            url = dbs.fresh()
            first = load_lake(url, lake, "bench-1", streams=args.streams)
            meta["first"] = first
            seconds["load_lake"] = first.seconds
            print(f"load_lake {first.seconds:.1f} s: {first.as_dict()}", flush=True)
            again = load_lake(url, lake, "bench-2")
            seconds["reload"] = again.seconds
            print(f"reload {again.seconds:.2f} s", flush=True)
            save(summarise(args, seconds, meta))
            dbs.drop_all()
            if args.streams != 1:
                seconds["load_lake_1_stream"] = load_lake(dbs.fresh(), lake, "bench-3", streams=1).seconds
                print(f"load_lake on one stream {seconds['load_lake_1_stream']:.1f} s", flush=True)
                dbs.drop_all()
            seconds["bare_copy_after"] = bare_copy(dbs.fresh(), rows)
            print(f"bare COPY again {seconds['bare_copy_after']:.1f} s", flush=True)
            save(summarise(args, seconds, meta))
            if args.skip_dlt:
                meta["dlt_not_measured"] = "--skip-dlt"
            else:
                python, why = dlt_python(args.dlt_venv)
                if python is None:
                    meta["dlt_not_measured"] = why
                    print(f"dlt not measured: {why}", flush=True)
                else:
                    dbs.drop_all()
                    seconds["dlt"] = dlt(dbs.fresh(), lake.root, python)
                    if seconds["dlt"] is None:
                        meta["dlt_not_measured"] = "dlt failed (stderr above)"
                    print(f"dlt {seconds['dlt']}", flush=True)
        finally:
            dbs.drop_all()
    results = summarise(args, seconds, meta)
    save(results)
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
