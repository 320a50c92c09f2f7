"""End to end: `commitlake run` on 10k, 100k (and 1M on a quiet machine) real-shaped commits, then a rerun.

For each size: bench/gen_commits.py writes one `jsonl:` source per repository, a fresh COMMITLAKE_HOME gets
the embedded defaults (Postgres, local lake, local MLflow), and `commitlake run` runs while a sampler records
the peak memory of the commitlake process tree and of the Postgres server (postmaster and backends). RSS summed
over processes counts a shared page once per process that maps it (Postgres' shared buffers in every backend,
the training data the search workers map), so the sum is an upper bound and the largest single process is
given too; PSS (each shared page divided among the processes that map it) is what the tree really holds.
Per-stage wall time comes from the run ledger (ops.pipeline_runs); rows/s divides the commits by it.
`by_stage` gives each stage's peak RSS and PSS and the cores the machine kept busy while it ran (where a core idles).
A second `commitlake run` with no new data follows, timed the same way.

Writes bench/results/e2e.json and bench/results/e2e.png (log-log: time against commits per stage, with the
line a linear scaling from the smallest size would follow).

    python bench/bench_e2e.py [--sizes 10000 100000] [--million-if-quiet]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import psutil
import psycopg

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))

from commitlake.runner import RUN_STAGE  # noqa: E402
from gen_commits import generate  # noqa: E402

RESULTS = ROOT / "bench" / "results"
QUIET_LOAD = 3.0
TARGET_SECONDS = 300  # issue #15: 1M commits end to end in under 5 minutes


def _env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("COMMITLAKE_", "DATABASE_URL", "MLFLOW_"))}
    env.update({"COMMITLAKE_HOME": str(home), "COMMITLAKE_PROJECT_DIR": str(ROOT), "COMMITLAKE_LOG_FORMAT": "json"})
    return env


def _cli(env: dict[str, str], *args: str) -> str:
    done = subprocess.run([sys.executable, "-m", "commitlake", *args], env=env, cwd=ROOT,
                          capture_output=True, text=True, timeout=600)
    if done.returncode != 0:
        raise RuntimeError(f"commitlake {' '.join(args)} failed: {done.stderr[-2000:]}")
    return done.stdout.strip()


def _postmaster(url: str) -> psutil.Process:
    with psycopg.connect(url) as conn:
        backend = conn.execute("select pg_backend_pid()").fetchone()[0]  # type: ignore[index]
        parent = psutil.Process(backend).parent()  # while the backend lives: it exits with the connection
    assert parent is not None
    return parent


class Sampler:
    """Peak RSS and PSS of a process tree and of the Postgres server, sampled every 100 ms."""

    def __init__(self, root: psutil.Process, postmaster: psutil.Process) -> None:
        self.root, self.postmaster = root, postmaster
        self.peak: dict[str, int] = {"commitlake_tree": 0, "commitlake_max_process": 0, "commitlake_tree_pss": 0,
                                     "postgres_sum": 0, "postgres_max_process": 0, "postgres_pss": 0}
        #: (unix time, commitlake tree RSS, Postgres RSS sum, CPU seconds the machine has been busy,
        #: commitlake tree PSS, Postgres PSS)
        self.samples: list[tuple[float, int, int, float, int, int]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    @staticmethod
    def _memory(root: psutil.Process) -> list[tuple[int, int]]:
        """(RSS, PSS) of each process of the tree; PSS is RSS where the kernel does not tell it."""
        out = []
        for proc in [root, *root.children(recursive=True)]:
            with contextlib.suppress(psutil.NoSuchProcess, psutil.AccessDenied):
                info = proc.memory_full_info()
                out.append((info.rss, getattr(info, "pss", info.rss)))
        return out

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                ours, pg = self._memory(self.root), self._memory(self.postmaster)
            except psutil.NoSuchProcess:
                ours, pg = [], []
            rss, pg_rss = [m[0] for m in ours], [m[0] for m in pg]
            pss, pg_pss = sum(m[1] for m in ours), sum(m[1] for m in pg)
            for key, value in (("commitlake_tree", sum(rss)), ("commitlake_max_process", max(rss, default=0)),
                               ("commitlake_tree_pss", pss), ("postgres_sum", sum(pg_rss)),
                               ("postgres_max_process", max(pg_rss, default=0)), ("postgres_pss", pg_pss)):
                self.peak[key] = max(self.peak[key], value)
            cpu = psutil.cpu_times()
            self.samples.append((time.time(), sum(rss), sum(pg_rss), cpu.user + cpu.nice + cpu.system + cpu.iowait,
                                 pss, pg_pss))
            self._stop.wait(0.1)

    def stop(self) -> dict[str, float]:
        self._stop.set()
        self._thread.join()
        return {f"{k}_mb": round(v / 2**20, 1) for k, v in self.peak.items()}

    def by_stage(self, rows: list[tuple[Any, ...]]) -> dict[str, dict[str, float]]:
        """Per stage: the tree's and Postgres' peak RSS and PSS (which stage sets the run's peak) and the cores the
        machine kept busy on average (iowait counted as busy): below the CPU count, a stage leaves cores idle."""
        out: dict[str, dict[str, float]] = {}
        for stage, (start, end) in stage_spans(rows).items():
            inside = [s for s in self.samples if start.timestamp() <= s[0] <= end.timestamp()]
            if inside:
                span = inside[-1][0] - inside[0][0]
                out[stage] = {"commitlake_tree_mb": round(max(s[1] for s in inside) / 2**20, 1),
                              "commitlake_tree_pss_mb": round(max(s[4] for s in inside) / 2**20, 1),
                              "postgres_sum_mb": round(max(s[2] for s in inside) / 2**20, 1),
                              "postgres_pss_mb": round(max(s[5] for s in inside) / 2**20, 1),
                              "busy_cores": round((inside[-1][3] - inside[0][3]) / span, 2) if span > 0 else 0.0}
        return out


def timed_run(env: dict[str, str], repos: list[str], run_id: str, postmaster: psutil.Process) -> dict[str, Any]:
    started = time.monotonic()
    proc = subprocess.Popen([sys.executable, "-m", "commitlake", "run", "--run-id", run_id, "--repos", *repos],
                            env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    sampler = Sampler(psutil.Process(proc.pid), postmaster)
    _out, err = proc.communicate()
    wall = time.monotonic() - started
    peaks = sampler.stop()
    if proc.returncode != 0:
        raise RuntimeError(f"commitlake run {run_id} exited {proc.returncode}: {err[-3000:]}")
    with psycopg.connect(_cli(env, "db", "url")) as conn:
        rows = conn.execute(
            "select stage, duration_s, status, started_at, finished_at from ops.pipeline_runs"
            " where run_id = %s and stage <> %s order by started_at", [run_id, RUN_STAGE]).fetchall()
        raw = conn.execute("select count(*) from raw.github_commits").fetchone()[0]  # type: ignore[index]
    stages = {stage: {"seconds": round(seconds or 0.0, 2), "status": status} for stage, seconds, status, _s, _f in rows}
    return {"wall_seconds": round(wall, 2), "stages": stages, "stage_wall": stage_wall(rows), "peak_rss": peaks,
            "by_stage": sampler.by_stage(rows), "raw_rows": raw}


def _family(stage: str) -> str:
    """`ingest[<uri>]` → ingest (the fan-out items of one stage); `validate[raw]` stays its own pass."""
    return stage if stage.startswith("validate") else stage.split("[", 1)[0]


def stage_spans(rows: list[tuple[Any, ...]]) -> dict[str, list[Any]]:
    """Each stage's first start and last finish (fan-out items run concurrently)."""
    spans: dict[str, list[Any]] = {}
    for stage, _seconds, _status, started, finished in rows:
        if started is None or finished is None:
            continue
        span = spans.setdefault(_family(stage), [started, finished])
        span[0], span[1] = min(span[0], started), max(span[1], finished)
    return spans


def stage_wall(rows: list[tuple[Any, ...]]) -> dict[str, float]:
    """Wall seconds per stage, first start to last finish: fan-out items run concurrently, so their durations
    would add up to more than the stage took."""
    return {stage: round((end - start).total_seconds(), 2) for stage, (start, end) in stage_spans(rows).items()}


def _walls(result: dict[str, Any]) -> dict[str, float]:
    """stage_wall, or for results written before it existed the per-stage durations added up by family."""
    if "stage_wall" in result:
        return dict(result["stage_wall"])
    walls: dict[str, float] = {}
    for stage, value in result["stages"].items():
        walls[_family(stage)] = walls.get(_family(stage), 0.0) + value["seconds"]
    return walls


def bench_size(size: int, work: Path) -> dict[str, Any]:
    data = work / f"commits-{size}"
    files = generate(size, data)
    repos = [f"jsonl:{p}" for p in files]
    home = work / f"home-{size}"
    env = _env(home)
    url = _cli(env, "db", "url")  # starts the embedded server before the clock does
    postmaster = _postmaster(url)
    try:
        first = timed_run(env, repos, f"bench-{size}-first", postmaster)
        first["rows_per_s"] = {stage: round(size / seconds, 1) for stage, seconds in first["stage_wall"].items()
                               if seconds}  # fmt: skip
        rerun = timed_run(env, repos, f"bench-{size}-rerun", postmaster)
    finally:
        _cli(env, "db", "stop")
    return {
        "commits": size, "sources": len(files), "first": first, "rerun": rerun,
        "rerun_share": round(rerun["wall_seconds"] / first["wall_seconds"], 3),
        "load_average": os.getloadavg(),  # this machine is shared: figures are only comparable at equal load
    }


def plot(results: list[dict[str, Any]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sizes = [r["commits"] for r in results]
    walls = [_walls(r["first"]) for r in results]
    stages = [s for s in walls[-1] if s != "plan"]
    fig, ax = plt.subplots(figsize=(8, 5.5))
    for index, stage in enumerate([*stages, "total"]):
        times = [r["first"]["wall_seconds"] if stage == "total" else w.get(stage)
                 for r, w in zip(results, walls, strict=True)]
        if not all(times):
            continue
        color = f"C{index}"
        ax.plot(sizes, times, "o-", color=color, label=stage, linewidth=2.5 if stage == "total" else 1.5)
        if len(sizes) > 1:
            ax.plot(sizes, [times[0] * s / sizes[0] for s in sizes], ":", color=color, linewidth=1)
    ax.axhline(TARGET_SECONDS, color="black", linestyle="--", linewidth=0.8)
    ax.annotate(f"target at 1M: {TARGET_SECONDS} s end to end", (sizes[-1], TARGET_SECONDS), fontsize=8,
                xytext=(0, -11), textcoords="offset points", ha="right")  # clear of the legend (upper left)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("commits (one jsonl source per repository)")
    ax.set_ylabel("wall time, seconds")
    ax.set_title(f"commitlake run end to end, {os.cpu_count()} CPUs\n"
                 "solid: measured; dotted: linear scaling from the smallest size")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8, loc="upper left")
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--million-if-quiet", action="store_true", help="add 1M when the 1-min load average < 3")
    parser.add_argument("--keep", action="store_true", help="keep the generated data and COMMITLAKE_HOME to inspect")
    args = parser.parse_args(argv)
    sizes = list(args.sizes)
    load_before = os.getloadavg()
    if args.million_if_quiet and load_before[0] < QUIET_LOAD:
        sizes.append(1_000_000)
    work = Path(tempfile.mkdtemp(prefix="commitlake-e2e-"))
    results: list[dict[str, Any]] = []
    try:
        for size in sizes:
            print(f"== {size} commits", flush=True)
            outcome = bench_size(size, work)
            results.append(outcome)
            print(json.dumps({k: outcome[k] for k in ("commits", "rerun_share")} | {
                "wall": outcome["first"]["wall_seconds"], "rerun": outcome["rerun"]["wall_seconds"],
                "stages": outcome["first"]["stage_wall"],
                "peak_rss": outcome["first"]["peak_rss"],
                "by_stage": outcome["first"]["by_stage"]}), flush=True)
            # after every size: an interrupted run still leaves what it measured
            _write(results, load_before, million_skipped=args.million_if_quiet and 1_000_000 not in sizes)
    finally:
        if args.keep:
            print(f"kept {work}", flush=True)
        else:  # as root the database lives in /var/lib/commitlake-pg, outside the home: delete it too
            from commitlake.warehouse.embedded import EmbeddedPostgres

            for home in work.glob("home-*"):
                with contextlib.suppress(Exception):
                    EmbeddedPostgres(home / "postgres").destroy()
            shutil.rmtree(work, ignore_errors=True)
    return 0


def _write(results: list[dict[str, Any]], load_before: tuple[float, float, float], *, million_skipped: bool) -> None:
    RESULTS.mkdir(parents=True, exist_ok=True)
    measured = {r["commits"] for r in results}
    kept = [r for r in _earlier() if r.get("commits") not in measured]  # `--sizes 1000000` keeps 10k and 100k
    results = sorted([*kept, *results], key=lambda r: r["commits"])
    report = {"cpus": os.cpu_count(), "load_before": load_before, "load_after": os.getloadavg(),
              "million_skipped": million_skipped, "sizes": results}
    (RESULTS / "e2e.json").write_text(json.dumps(report, indent=2) + "\n")
    plot(results, RESULTS / "e2e.png")
    print(f"wrote {RESULTS / 'e2e.json'} and {RESULTS / 'e2e.png'}", flush=True)


def _earlier() -> list[dict[str, Any]]:
    """The sizes an earlier run of this benchmark measured (each keeps its own load average)."""
    try:
        sizes = json.loads((RESULTS / "e2e.json").read_text()).get("sizes", [])
    except (OSError, ValueError):
        return []
    return [r for r in sizes if isinstance(r, dict)]


if __name__ == "__main__":
    sys.exit(main())
