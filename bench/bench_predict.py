"""Benchmark: batch scoring of N unlabelled commits into analytics.commit_type_predictions (issue 11 item 5).

Target: 1,000,000 commits in under 5 minutes on the 2-core machine. The scored rows are the feature rows of
the shared histories (tests/ml_rows.py, the ml_commit_features contract) replicated the way bench/gen_commits.py
scales histories: replica k > 0 of a repository is `OWNER/NAME-rK` with every sha replaced by sha1("k:sha"), so
every commit_id is unique and texts, paths and sizes stay real. The model is the product's: `train` (the
champion's candidate, defaults) on commitizen/cz-cli, registered in a temporary MLflow store; `predict` is
timed end to end (read through the server-side cursor, predict_proba, COPY, upsert, prune, drift).

    python bench/bench_predict.py [--commits 1000000] [--dsn postgresql://...]

Writes bench/results/predict.json and bench/results/predict.png.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import resource
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))  # ml_rows: the feature contract derived from the shared files

import psycopg  # noqa: E402

from bench_load import server  # noqa: E402
from commitlake.ml import predict, train  # noqa: E402
from commitlake.ml._features import FEATURE_TABLE  # noqa: E402
from commitlake.ml._model import DEFAULT_CANDIDATE  # noqa: E402
from commitlake.ml._workers import default_jobs  # noqa: E402
from ml_rows import CC_REPOS, COLUMNS, feature_rows, load_features  # noqa: E402

RESULTS = ROOT / "bench" / "results"
MODEL = "commit-type-bench"
_ID, _REPO, _SHA, _LABEL = (COLUMNS.index(c) for c in ("commit_id", "repo_full_name", "sha", "commit_type"))


def scaled_rows(base: list[tuple[Any, ...]], n: int) -> Any:
    """`n` unlabelled rows: replicas k = 1, 2, … of `base` with new repository names and shas (never k = 0, so
    the labelled rows train loaded stay apart)."""
    k = 1
    produced = 0
    while produced < n:
        for row in base:
            if produced >= n:
                return
            values = list(row)
            values[_REPO] = f"{row[_REPO]}-r{k}"
            values[_SHA] = hashlib.sha1(f"{k}:{row[_SHA]}".encode()).hexdigest()
            values[_ID] = f"{values[_REPO]}@{values[_SHA]}"
            values[_LABEL] = None
            produced += 1
            yield tuple(values)
        k += 1


def load_unlabelled(dsn: str, base: list[tuple[Any, ...]], n: int) -> float:
    started = time.monotonic()
    with psycopg.connect(dsn) as conn, conn.cursor() as cursor:
        with cursor.copy(f"copy {FEATURE_TABLE} ({', '.join(COLUMNS)}) from stdin") as copy:
            for row in scaled_rows(base, n):
                copy.write_row(row)
        conn.execute(f"analyze {FEATURE_TABLE}")
    return time.monotonic() - started


def plot(result: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    seconds = dict(result["seconds"])
    by_jobs = result.get("by_jobs") or {}
    if len(by_jobs) > 1:  # one bar per worker count instead of the last one's
        seconds.pop("predict")
        for jobs, run in by_jobs.items():
            seconds[f"predict, {jobs} job{'s' if int(jobs) > 1 else ''}"] = run["seconds"]
    names = [n for n in seconds if n != "predict_rerun"] + [n for n in seconds if n == "predict_rerun"]
    fig, ax = plt.subplots(figsize=(7, 3.2))
    colors = ["#888" if not n.startswith("predict") else "#2a7" for n in names]
    bars = ax.barh(names, [seconds[n] for n in names], color=colors)
    for bar, name in zip(bars, names, strict=True):
        ax.text(bar.get_width(), bar.get_y() + bar.get_height() / 2, f" {seconds[name]:.1f} s", va="center")
    ax.axvline(300, color="#c33", linestyle="--", linewidth=1)
    ax.text(300, len(names) - 0.55, " 5 min target", color="#c33", va="bottom")
    ax.invert_yaxis()
    ax.set_xlabel("seconds (lower is better)")
    load = result["machine"]["loadavg"][0]
    ax.set_title(f"scoring {result['commits']:,} commits ({result['rows_per_second']:,.0f} rows/s, load {load:.1f})")
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def predictions_md5(dsn: str) -> str:
    """One checksum over every stored prediction (commit, type, probability, model), in commit order."""
    with psycopg.connect(dsn) as conn:
        row = conn.execute(
            "select md5(string_agg(concat_ws('|', commit_id, predicted_type, probability, model_version), ','"
            " order by commit_id)) from analytics.commit_type_predictions"
        ).fetchone()
    return str(row[0] if row else "")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--commits", type=int, default=1_000_000)
    parser.add_argument("--candidate", default=DEFAULT_CANDIDATE, help="the model kind to score with (the champion's)")
    parser.add_argument("--rerun", action="store_true", help="also time a second predict (writes nothing)")
    parser.add_argument("--dsn", default=None, help="an existing server (default: a temporary embedded one)")
    parser.add_argument("--jobs", type=int, nargs="+", default=[default_jobs()],
                        help="worker processes; several: one predict each, from an empty table, compared")  # fmt: skip
    args = parser.parse_args()
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    base = [row for repo in CC_REPOS for row in feature_rows(repo)]
    labelled = feature_rows("commitizen__cz-cli")
    seconds: dict[str, float] = {}
    with server(args.dsn) as dsn, tempfile.TemporaryDirectory(prefix="commitlake-bench-mlflow-") as tmp:
        tracking = f"sqlite:///{Path(tmp) / 'mlflow.db'}"
        load_features(dsn, [row for row in labelled if row[_LABEL] is not None])
        started = time.monotonic()
        trained = train(dsn, "bench", tracking_uri=tracking, artifact_root=Path(tmp) / "artifacts",
                        model_name=MODEL, budget_seconds=0.0, candidates=[args.candidate])  # fmt: skip
        seconds["train"] = time.monotonic() - started
        seconds["load_features"] = load_unlabelled(dsn, base, args.commits)
        print(f"{args.commits:,} unlabelled rows loaded in {seconds['load_features']:.0f} s", flush=True)
        by_jobs: dict[int, dict[str, Any]] = {}
        for jobs in args.jobs:
            if by_jobs:  # every setting scores the same rows into an empty table
                with psycopg.connect(dsn) as conn:
                    conn.execute("truncate analytics.commit_type_predictions")
            started, cpu_before = time.monotonic(), time.process_time()
            report = predict(dsn, f"bench-j{jobs}", tracking_uri=tracking, model_name=MODEL, jobs=jobs)
            elapsed = time.monotonic() - started
            # this process's CPU seconds (reading, COPY client side, scoring when jobs is 1)
            cpu = time.process_time() - cpu_before
            by_jobs[jobs] = {"seconds": round(elapsed, 1), "process_cpu_seconds": round(cpu, 1),
                             "predictions_md5": predictions_md5(dsn)}  # fmt: skip
            print(f"predict, {jobs} job(s): {report.rows:,} rows in {elapsed:.0f} s", flush=True)
        seconds["predict"] = by_jobs[args.jobs[-1]]["seconds"]
        predict_cpu = by_jobs[args.jobs[-1]]["process_cpu_seconds"]
        rerun = None
        if args.rerun:
            started = time.monotonic()
            rerun = predict(dsn, "bench-2", tracking_uri=tracking, model_name=MODEL)
            seconds["predict_rerun"] = time.monotonic() - started
        with psycopg.connect(dsn) as conn:
            count = conn.execute("select count(*) from analytics.commit_type_predictions").fetchone()
            stored = count[0] if count else 0
    result = {
        "machine": {"cpus": os.cpu_count(), "loadavg": os.getloadavg(), "python": platform.python_version()},
        "commits": args.commits,
        "model": {"candidate": trained.params.get("candidate"), "version": trained.model_version},
        "seconds": {k: round(v, 1) for k, v in seconds.items()},
        "rows_per_second": round(report.rows / seconds["predict"]),
        "predict_process_cpu_seconds": round(predict_cpu, 1),
        "by_jobs": by_jobs,
        "same_predictions_for_every_jobs": len({v["predictions_md5"] for v in by_jobs.values()}) == 1,
        "stored_predictions": stored,
        "written": report.written,
        "rerun_written": None if rerun is None else rerun.written,
        "drift_max_psi": report.extra.get("drift", {}).get("max_psi"),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
        "peak_rss_largest_child_mb": round(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024),
        "target_seconds": 300,
        "met": seconds["predict"] < 300,
    }
    assert stored == args.commits == report.rows, (stored, report.rows)
    assert result["same_predictions_for_every_jobs"], by_jobs
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "predict.json").write_text(json.dumps(result, indent=2, default=str) + "\n")
    plot(result, RESULTS / "predict.png")
    print(json.dumps(result, indent=1, default=str))


if __name__ == "__main__":
    main()
