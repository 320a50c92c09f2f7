"""`make chaos`: kill -9 the pipeline at random points in every stage, restart its database once, feed it GitHub
faults; each round reruns to completion and must end exactly where a clean run ends.

One clean run first (its own home), then ROUNDS rounds, each in a fresh COMMITLAKE_HOME (embedded Postgres,
local lake, local MLflow store), on the same sources: two real `jsonl:` histories from ../shared and one
repository served by the fake GitHub (tests/fake_github) with transient faults (5xx, cut and truncated bodies,
dropped connections). A round picks a stage (cycling, so every stage is hit), starts `commitlake run`, waits
for that stage's first log line, sleeps a random fraction of the stage's clean duration and sends SIGKILL; one
round stops the database instead (`commitlake db stop`, mid-stage). Then it reruns `commitlake run` until one
succeeds and compares:

- rows per table in raw, staging and analytics; the sha set of raw and fct_commits;
- a content checksum per table over every column except run bookkeeping (run ids, lake keys, *_at stamps
  other than the commit's own dates, model versions);
- the lake: every part object is listed by a manifest (no orphans) and matches its sha256;
- MLflow: every registered version of the model is READY, its run FINISHED (no half-registered version);
- the run ledger (ops.pipeline_runs) holds a `run` row for every attempt, killed ones included;
- no process is left behind: a killed run must take its stage processes and their search workers with it.

Speed: rounds that do not kill `train` start with an empty MLflow store already at the head revision (built
once, as an earlier run would have left it), which saves MLflow's ~50 migrations per round; `train` rounds
build it themselves, so a kill can land inside the store's creation (the half-migrated store bug).
A stage counts as hit only when the fault landed while that stage was running (the last stage the run's log
lines named); `landed_in` records where each fault landed, so a fault that came after its stage is not a hit.

Writes bench/results/chaos.json and chaos.png. Usage: python bench/chaos.py [--rounds N] [--seed S] [--minutes M]
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import orjson
import psycopg

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data" / "commits"
sys.path.insert(0, str(ROOT / "tests"))

from commitlake.config import Settings  # noqa: E402
from commitlake.lake import MANIFEST_NAME, LocalLake, Manifest  # noqa: E402
from commitlake.ml._store import ensure_store  # noqa: E402
from commitlake.pipeline import STAGES  # noqa: E402
from commitlake.runner import RUN_STAGE  # noqa: E402
from commitlake.stages.train import BUDGET_ENV  # noqa: E402
from fake_github import FakeGitHub, FaultPlan  # noqa: E402

RESULTS = ROOT / "bench" / "results" / "chaos.json"
PLOT = RESULTS.with_suffix(".png")
#: Every this many rounds (from round 1 on) the database is stopped mid-stage instead of a SIGKILL.
DB_RESTART_EVERY = 7
JSONL = ["commitizen__cz-cli.jsonl.gz", "conventional-changelog__conventional-changelog.jsonl.gz"]
GITHUB_REPO = ("pallets/click", "pallets__click")
TOKEN = "ghp_chaosTOKEN"
KILL_STAGES = ["ingest", "load", "transform", "validate", "train", "predict"]
SCHEMAS = ("raw", "staging", "analytics")
#: Columns that record when or in which attempt something happened, not what: left out of the checksums.
BOOKKEEPING = {"run_id", "lake_key", "line_no", "model_version", "mlflow_run_id", "model_run_id", "version"}
COMMIT_DATES = {"authored_at", "committed_at"}
ATTEMPTS_PER_ROUND = 4


def _env(home: Path, gh_url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("COMMITLAKE_", "DATABASE_URL", "MLFLOW_"))}
    env.update(
        {
            "COMMITLAKE_HOME": str(home),
            "COMMITLAKE_PROJECT_DIR": str(ROOT),
            "COMMITLAKE_LOG_FORMAT": "json",
            "GITHUB_API_URL": gh_url,
            "GITHUB_TOKEN": TOKEN,
            BUDGET_ENV: "0",  # defaults of every candidate only: a time-budgeted search depends on the load
        }
    )
    return env


def _repos() -> list[str]:
    return [f"jsonl:{SHARED / name}" for name in JSONL] + [f"github:{GITHUB_REPO[0]}"]


class Attempt:
    """One `commitlake run`, its stdout read line by line to see which stage it is in."""

    def __init__(self, env: dict[str, str], run_id: str) -> None:
        self.started = time.monotonic()
        self.stage_seen: dict[str, float] = {}
        #: The stage of the latest log line that named one: where a fault sent now lands.
        self.current: str | None = None
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "commitlake", "run", "--run-id", run_id, "--repos", *_repos()],
            env=env,
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
        )
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for raw in self.proc.stdout:
            try:
                stage = orjson.loads(raw).get("stage")
            except (orjson.JSONDecodeError, AttributeError):
                continue
            if stage:
                self.current = stage
            if stage and stage not in self.stage_seen:
                self.stage_seen[stage] = time.monotonic() - self.started

    def wait_stage(self, stage: str, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if stage in self.stage_seen:
                return True
            if self.proc.poll() is not None:
                return stage in self.stage_seen
            time.sleep(0.02)
        return False

    def finish(self, timeout: float = 1800) -> int:
        code = self.proc.wait(timeout)
        self._reader.join(5)
        return code


def _cli(env: dict[str, str], *args: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "commitlake", *args], env=env, cwd=ROOT, capture_output=True, text=True, timeout=300
    )
    if done.returncode != 0:
        raise RuntimeError(f"commitlake {' '.join(args)} failed: {done.stderr[-2000:]}")
    return done.stdout.strip()


def _columns(conn: psycopg.Connection[Any], schema: str, table: str) -> list[str]:
    rows = conn.execute(
        "select column_name, data_type from information_schema.columns where table_schema = %s and table_name = %s"
        " order by ordinal_position",
        [schema, table],
    ).fetchall()
    return [
        name
        for name, kind in rows
        if name not in BOOKKEEPING
        and not (name.endswith("_at") and name not in COMMIT_DATES)
        and not (kind.startswith("timestamp") and name not in COMMIT_DATES and "date" not in name)
    ]


def snapshot(url: str) -> dict[str, Any]:
    """Rows, content checksum per table (bookkeeping columns left out), sha sets."""
    out: dict[str, Any] = {"tables": {}}
    with psycopg.connect(url) as conn:
        tables = conn.execute(
            "select table_schema, table_name from information_schema.tables where table_schema = any(%s)"
            " and table_type = 'BASE TABLE' order by 1, 2",
            [list(SCHEMAS)],
        ).fetchall()
        for schema, table in tables:
            cols = _columns(conn, schema, table)
            listing = ", ".join(f'"{c}"' for c in cols)
            digest = hashlib.sha256()
            count = 0
            query = f'select {listing} from "{schema}"."{table}" order by {listing}'
            with conn.cursor() as cur, cur.copy(f"copy ({query}) to stdout") as copy:
                for block in copy:
                    digest.update(bytes(block))
            count = conn.execute(f'select count(*) from "{schema}"."{table}"').fetchone()[0]  # type: ignore[index]
            out["tables"][f"{schema}.{table}"] = {"rows": count, "sha256": digest.hexdigest(), "columns": cols}
        out["raw_shas"] = sorted(r[0] for r in conn.execute("select sha from raw.github_commits"))
        out["fct_shas"] = sorted(r[0] for r in conn.execute("select commit_id from analytics.fct_commits"))
    return out


def lake_problems(lake_dir: Path) -> list[str]:
    lake = LocalLake(lake_dir)
    listed: set[str] = set()
    problems: list[str] = []
    keys = list(lake.list_keys("raw/"))
    for key in keys:
        if key.endswith("/" + MANIFEST_NAME):
            for obj in Manifest.from_bytes(lake.get_bytes(key)).objects:
                listed.add(obj.key)
                if not lake.exists(obj.key):
                    problems.append(f"{key} lists missing {obj.key}")
                elif obj.sha256 and hashlib.sha256(lake.get_bytes(obj.key)).hexdigest() != obj.sha256:
                    problems.append(f"{obj.key} differs from its manifest's sha256")
    problems += [f"orphaned object {k}" for k in keys if not k.endswith(MANIFEST_NAME) and k not in listed]
    return problems


def model_problems(env: dict[str, str]) -> list[str]:
    from mlflow.tracking import MlflowClient

    problems = []
    try:
        client = MlflowClient(tracking_uri=Settings.from_env(env).effective_mlflow_uri)
        versions = client.search_model_versions()
    except Exception as exc:  # a store the pipeline left unreadable is the finding itself
        return [f"MLflow store unreadable: {type(exc).__name__}: {str(exc).strip().splitlines()[0][:300]}"]
    for version in versions:
        if version.status != "READY":
            problems.append(f"model {version.name} v{version.version} is {version.status}")
        run = client.get_run(version.run_id) if version.run_id else None
        if run is None or run.info.status != "FINISHED":
            problems.append(f"model {version.name} v{version.version}: run {version.run_id} not FINISHED")
    return problems


def process_problems(home: str) -> list[str]:
    """Every attempt has exited by now, so any stage process or search worker of this round's home still alive
    was orphaned by a kill. Only this home's: a benchmark training beside chaos has live workers of its own."""
    import psutil

    orphans = []
    for proc in psutil.process_iter(["pid", "cmdline"]):
        cmdline = " ".join(proc.info["cmdline"] or [])
        if "LokyProcess" not in cmdline and "multiprocessing" not in cmdline:
            continue
        with contextlib.suppress(psutil.Error):
            if proc.environ().get("COMMITLAKE_HOME") == home:
                orphans.append(proc.info["pid"])
    return [f"orphaned process {pid}" for pid in orphans]


def ledger_problems(url: str, attempts: list[str]) -> tuple[list[str], dict[str, str]]:
    """Problems, and the ledger's `run` row status of every attempt."""
    with psycopg.connect(url) as conn:
        ledger = conn.execute("select run_id, status from ops.pipeline_runs where stage = %s", [RUN_STAGE])
        rows: dict[str, str] = dict(ledger.fetchall())
    problems = [f"attempt {a} missing from ops.pipeline_runs" for a in attempts if a not in rows]
    if attempts and rows.get(attempts[-1]) != "succeeded":
        problems.append(f"last attempt {attempts[-1]} is {rows.get(attempts[-1])}")
    return problems, {a: rows[a] for a in attempts if a in rows}


def seed_mlflow_store(template: Path, home: Path) -> None:
    """Give a round the empty, fully migrated store an earlier run would have left (see the module docstring)."""
    target = Settings.from_env({"COMMITLAKE_HOME": str(home)}).effective_mlflow_uri.removeprefix("sqlite:///")
    Path(target).parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(template, target)


def diff(clean: dict[str, Any], got: dict[str, Any]) -> list[str]:
    out = []
    for name in sorted(set(clean["tables"]) | set(got["tables"])):
        a, b = clean["tables"].get(name), got["tables"].get(name)
        if a is None or b is None:
            out.append(f"{name}: only in {'round' if a is None else 'clean run'}")
        elif a["rows"] != b["rows"]:
            out.append(f"{name}: {b['rows']} rows, clean run {a['rows']}")
        elif a["sha256"] != b["sha256"]:
            out.append(f"{name}: same rows, different content")
    for key in ("raw_shas", "fct_shas"):
        if clean[key] != got[key]:
            out.append(f"{key}: {len(set(got[key]) ^ set(clean[key]))} shas differ")
    return out


def one_run(home: Path, gh: FakeGitHub, label: str) -> tuple[dict[str, Any], dict[str, float], float]:
    env = _env(home, gh.url)
    attempt = Attempt(env, label)
    code = attempt.finish()
    if code != 0:
        raise RuntimeError(f"the clean run failed with exit code {code}")
    seconds = time.monotonic() - attempt.started
    return snapshot(_cli(env, "db", "url")), attempt.stage_seen, seconds


def chaos_round(
    index: int,
    home: Path,
    gh: FakeGitHub,
    stage: str,
    clean: dict[str, Any],
    durations: dict[str, float],
    rng: random.Random,
    restart_db: bool,
) -> dict[str, Any]:
    env = _env(home, gh.url)
    started = time.monotonic()
    attempts: list[str] = []
    events: list[str] = []
    run_id = f"chaos-{index:03d}-a0"
    attempts.append(run_id)
    first = Attempt(env, run_id)
    reached = first.wait_stage(stage, timeout=900)
    delay = rng.uniform(0.0, 0.9) * durations.get(stage, 1.0)
    time.sleep(delay)
    landed = first.current if first.proc.poll() is None else None
    hit = reached and landed == stage
    if first.proc.poll() is not None:
        events.append(f"{run_id}: finished (exit {first.proc.returncode}) before the fault could land")
    elif restart_db:
        _cli(env, "db", "stop")
        events.append(f"{run_id}: database stopped {delay:.2f} s after {stage} began, in {landed}")
    else:
        first.proc.send_signal(signal.SIGKILL)
        events.append(f"{run_id}: SIGKILL {delay:.2f} s after {stage} began, in {landed}")
    code = first.finish()
    events.append(f"{run_id}: exit {code}")
    while code != 0 and len(attempts) < ATTEMPTS_PER_ROUND:
        run_id = f"chaos-{index:03d}-a{len(attempts)}"
        attempts.append(run_id)
        code = Attempt(env, run_id).finish()
        events.append(f"{run_id}: exit {code}")
    problems: list[str] = []
    if code != 0:
        problems.append(f"no attempt succeeded in {ATTEMPTS_PER_ROUND}")
    url = _cli(env, "db", "url")
    problems += diff(clean, snapshot(url))
    problems += lake_problems(Path(Settings.from_env(env).effective_lake_uri.removeprefix("file://")))
    problems += model_problems(env)
    ledger_issues, ledger = ledger_problems(url, attempts)
    problems += ledger_issues
    problems += process_problems(env["COMMITLAKE_HOME"])
    return {
        "round": index,
        "stage": stage,
        "stage_reached": reached,
        "stage_hit": hit,
        "landed_in": landed,
        "fault": "db_restart" if restart_db else "sigkill",
        "delay_s": round(delay, 3),
        "attempts": attempts,
        "ledger": ledger,
        "events": events,
        "problems": problems,
        "seconds": round(time.monotonic() - started, 1),
    }


def _write(result: dict[str, Any], rounds: list[dict[str, Any]], began: float) -> None:
    """After every round, so an interrupted chaos run keeps what it proved."""
    result.update(
        rounds_run=len(rounds),
        rounds_clean=sum(1 for r in rounds if not r["problems"]),
        stages_hit=sorted({r["stage"] for r in rounds if r["stage_hit"]}),
        hits_per_stage={s: sum(1 for r in rounds if r["stage"] == s and r["stage_hit"]) for s in KILL_STAGES},
        landed_per_stage={s: sum(1 for r in rounds if r.get("landed_in") == s) for s in KILL_STAGES},
        db_restarts=sum(1 for r in rounds if r["fault"] == "db_restart" and r["stage_hit"]),
        differences=sum(len(r["problems"]) for r in rounds),
        attempts=sum(len(r["attempts"]) for r in rounds),
        attempts_in_ledger=sum(len(r["ledger"]) for r in rounds),
        round_seconds_mean=round(sum(r["seconds"] for r in rounds) / len(rounds), 1) if rounds else None,
        seconds=round(time.monotonic() - began, 1),
        rounds=rounds,
    )
    out = Path(result.get("out") or RESULTS)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")


def plot(rounds: list[dict[str, Any]], target: Path = PLOT) -> None:
    """Rounds per killed stage (clean vs with differences) and each round's seconds, for the README."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 3.6))
    clean = [sum(1 for r in rounds if r["stage"] == s and r["stage_hit"] and not r["problems"]) for s in KILL_STAGES]
    bad = [sum(1 for r in rounds if r["stage"] == s and r["problems"]) for s in KILL_STAGES]
    left.bar(KILL_STAGES, clean, label="fault landed, end state equal to the clean run", color="tab:green")
    left.bar(KILL_STAGES, bad, bottom=clean, label="differences", color="tab:red")
    left.set_ylabel("rounds")
    left.set_title("chaos rounds per stage the fault hit")
    left.legend(fontsize=7)
    right.plot([r["round"] for r in rounds], [r["seconds"] for r in rounds], marker=".")
    right.set_xlabel("round")
    right.set_ylabel("seconds (kill + reruns + checks)")
    right.set_title("time per round")
    fig.tight_layout()
    fig.savefig(target, dpi=80)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=50)
    parser.add_argument("--minutes", type=float, default=0, help="stop starting rounds after this long (0: no limit)")
    parser.add_argument("--seed", type=int, default=15)
    parser.add_argument("--fault-rate", type=float, default=0.05, help="share of GitHub requests that fail")
    parser.add_argument("--keep", action="store_true", help="keep every temporary home (failed rounds' are kept)")
    parser.add_argument("--out", default=str(RESULTS), help="the JSON to write (the PNG goes beside it)")
    parser.add_argument("--stages", nargs="+", choices=KILL_STAGES, default=KILL_STAGES, help="stages to cycle")
    args = parser.parse_args(argv)
    if not SHARED.is_dir():
        print(f"chaos: shared data not found at {SHARED}", file=sys.stderr)
        return 2
    assert set(KILL_STAGES) <= {s.name for s in STAGES}, "a chaos stage is not a pipeline stage"
    rng = random.Random(args.seed)
    began = time.monotonic()
    work = Path(tempfile.mkdtemp(prefix="commitlake-chaos-"))
    plan = FaultPlan(rate=args.fault_rate, kinds=("502", "503", "truncated", "cut", "drop"), seed=args.seed)
    rounds: list[dict[str, Any]] = []
    homes: list[Path] = []
    result: dict[str, Any] = {
        "seed": args.seed,
        "sources": _repos(),
        "fault_rate": args.fault_rate,
        "train_budget_seconds": 0,
        "out": args.out,
    }
    try:
        with FakeGitHub(token=TOKEN, faults=FaultPlan()) as gh:
            gh.add_real(GITHUB_REPO[1])
            home = work / "clean"
            homes.append(home)
            clean, seen, clean_seconds = one_run(home, gh, "clean")
            _cli(_env(home, gh.url), "db", "stop")
            order = sorted(seen.items(), key=lambda kv: kv[1])
            durations = {
                name: (order[i + 1][1] if i + 1 < len(order) else clean_seconds) - at
                for i, (name, at) in enumerate(order)
            }
            result.update(
                clean_seconds=round(clean_seconds, 1),
                stage_seconds=durations,
                clean_rows={k: v["rows"] for k, v in clean["tables"].items()},
            )
            stages = json.dumps({k: round(v, 1) for k, v in durations.items()})
            print(f"clean run: {clean_seconds:.1f} s, stages {stages}", flush=True)
            gh.faults = plan
            template = work / "mlflow-template" / "mlflow.db"
            ensure_store(f"sqlite:///{template}")
            result["mlflow_store_seeded"] = "every round except those killing train"
            for index in range(args.rounds):
                if args.minutes and time.monotonic() - began > args.minutes * 60:
                    break
                home = work / f"round-{index:03d}"
                homes.append(home)
                stage = args.stages[index % len(args.stages)]
                if stage != "train":
                    seed_mlflow_store(template, home)
                restart = index % DB_RESTART_EVERY == 1
                outcome = chaos_round(index, home, gh, stage, clean, durations, rng, restart_db=restart)
                with contextlib.suppress(RuntimeError):
                    _cli(_env(home, gh.url), "db", "stop")
                rounds.append(outcome)
                print(
                    f"round {index}: {stage} {outcome['fault']} after {outcome['delay_s']} s, "
                    f"{len(outcome['attempts'])} attempts, {len(outcome['problems'])} problems "
                    f"({outcome['seconds']} s)",
                    flush=True,
                )
                for problem in outcome["problems"]:
                    print(f"  - {problem}", flush=True)
                if outcome["problems"]:
                    kept = Path(tempfile.gettempdir()) / f"commitlake-chaos-failed-{os.getpid()}-{index:03d}"
                    shutil.move(home, kept)
                    outcome["kept_home"] = str(kept)
                elif not args.keep:
                    _destroy(home)
                _write(result, rounds, began)
            result["github_requests"] = len(gh.log)
            result["github_faults"] = sum(1 for r in gh.log if r.fault)
    finally:
        if not args.keep:
            for home in homes:
                if home.exists():
                    _destroy(home)
            shutil.rmtree(work, ignore_errors=True)
    _write(result, rounds, began)
    with contextlib.suppress(Exception):  # the JSON is the record; the picture is a convenience
        plot(rounds, Path(args.out).with_suffix(".png"))
    print(f"{result['rounds_clean']}/{result['rounds_run']} rounds equal to the clean run; {args.out}")
    return 0 if rounds and result["rounds_clean"] == len(rounds) else 1


def _destroy(home: Path) -> None:
    """Delete a round's home with its database: as root that lives in /var/lib/commitlake-pg, outside the home."""
    from commitlake.warehouse.embedded import EmbeddedPostgres

    with contextlib.suppress(Exception):
        EmbeddedPostgres(home / "postgres").destroy()
    shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
