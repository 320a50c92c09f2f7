"""Benchmark: the commit-type classifier on the Conventional-Commits histories in ../shared/data/commits.

Figures (all macro-F1 over the 11 types, prefixes stripped from every input by construction):
- leave-repositories-out: GroupKFold over repositories, every commit predicted by a model that never saw
  its repository; for the baselines (majority class, keyword rules) and every candidate of the model search,
  on the rows the search compares on (`--search-rows`, as COMMITLAKE_TRAIN_SEARCH_ROWS), and for the winner's
  setting and the baselines on every row (`leave_repos_out_every_row`: comparable across sample sizes);
- time split: oldest 80 % → newest 20 %, as `train` scores its hold-out;
- unseen: trained on every other repository, scored on two large ones it never saw (vitejs/vite and
  typescript-eslint/typescript-eslint), with the per-class table and the confusion matrix;
- unseen ceiling: the same two repositories' newest 20 %, scored by the champion's setting trained (a) on the
  other repositories only, (b) on their own older 80 % only and (c) on both: how far a model that *had* seen
  them gets, the yardstick for the unseen figure;
- unseen threshold ceiling: the unseen model's own margins with per-type offsets tuned on the unseen labels
  themselves (once over both repositories, and per repository): the best any per-type threshold, prior or
  calibration adjustment of that model could score there, so what is left is in the margins, not the cut-offs.
`selection_seconds` is the wall time of the model search and the winner's refit that `train` runs (same
budget), the bulk of a training run.

    python bench/bench_ml.py [--budget 90] [--search-rows 15000] [--train]
    python bench/bench_ml.py --ceiling-only   # add the unseen ceilings to an existing ml.json (its champion)
    python bench/bench_ml.py --train-only     # re-time train() and its rerun into an existing ml.json

--train also times the real `train` (commitlake.ml.train: read the feature table, the capped sample, the model
search, the learning curve, MLflow logging and registration) on the same rows in an embedded PostgreSQL with a
fresh MLflow store, then a second `train` on the unchanged data (it must register nothing).

Writes bench/results/ml.json and bench/results/ml.png (confusion matrix on the unseen repositories).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))  # ml_rows: the feature contract derived from the shared files

from commitlake.ml import _train  # noqa: E402
from commitlake.ml._artifacts import confusion_png, per_class_table  # noqa: E402
from commitlake.ml._baselines import keyword_predict  # noqa: E402
from commitlake.ml._evaluate import (  # noqa: E402
    DEFAULT_BUDGET_SECONDS,
    baseline_scores,
    fit_with_offsets,
    leave_repos_out_predict,
)
from commitlake.ml._features import LABEL_COLUMN, MODEL_INPUT_COLUMNS, NUMERIC_COLUMNS  # noqa: E402
from commitlake.ml._metrics import confusion, macro_f1_interval, majority_label, score  # noqa: E402
from commitlake.ml._model import REVERT_TYPE, single_threaded  # noqa: E402
from commitlake.ml._offsets import NO_RULE, aligned_margins, apply_offsets, tune_offsets  # noqa: E402
from commitlake.ml._sample import DEFAULT_SEARCH_ROWS  # noqa: E402
from commitlake.ml._split import time_split  # noqa: E402
from commitlake.ml._workers import default_jobs  # noqa: E402
from ml_rows import CC_REPOS, COLUMNS, feature_rows  # noqa: E402

RESULTS = ROOT / "bench" / "results"
UNSEEN = ("vitejs/vite", "typescript-eslint/typescript-eslint")


def labelled_frame() -> Any:
    import pandas as pd

    rows = [row for repo in CC_REPOS for row in feature_rows(repo)]
    frame = pd.DataFrame.from_records(rows, columns=list(COLUMNS))
    frame = frame[frame[LABEL_COLUMN].notna()]
    for column in NUMERIC_COLUMNS:
        frame[column] = frame[column].astype("float64").fillna(0.0)
    return frame.sort_values(["committed_at", "commit_id"], kind="mergesort").reset_index(drop=True)


def _fit_predict_rows(candidate: str, params: dict[str, Any], fit_df: Any, predict_df: Any) -> list[str]:
    """`candidate` fitted on `fit_df` as train fits it (margin offsets tuned on its repositories' out-of-fold
    margins), then its predictions on `predict_df`."""
    model = fit_with_offsets(candidate, params, fit_df.reset_index(drop=True), jobs=default_jobs())
    with single_threaded():
        return [str(v) for v in model.predict(predict_df[list(MODEL_INPUT_COLUMNS)])]


def leave_repos_out_tuned(candidate: str, params: dict[str, Any], frame: Any, n_folds: int) -> list[str]:
    """Out-of-fold predictions over repositories, each fold's model fitted as train fits it (fit_with_offsets on
    the fold's training repositories only)."""
    return leave_repos_out_predict(
        lambda x, _y, xt: _fit_predict_rows(candidate, params, frame.loc[x.index], frame.loc[xt.index]), frame, n_folds
    )


def unseen_ceiling(
    frame: Any, candidate: str, params: dict[str, Any], labels: list[str], other_model: Any = None
) -> dict[str, Any]:
    """The UNSEEN repositories' newest 20 % (time_split of their rows), predicted by `candidate` trained on the
    other repositories (`other_model` when that fit is already at hand), on their own older 80 %, and on both.
    Macro-F1 over every type and over the types present in those rows (a type with no row there scores 0 in
    the first)."""
    unseen = frame["repo_full_name"].isin(UNSEEN)
    older, newest = time_split(frame[unseen])
    y = newest[LABEL_COLUMN].tolist()
    present = sorted(set(y))
    training = {
        "other_repositories": frame[~unseen],
        "own_older_only": older,
        "other_repositories_and_own_older": _concat([frame[~unseen], older]),
    }
    cutoff = str(newest["committed_at"].iloc[0])
    result: dict[str, Any] = {"repositories": list(UNSEEN), "commits": len(y), "cutoff": cutoff}
    result["types_present"] = present
    for name, fit_df in training.items():
        if name == "other_repositories" and other_model is not None:
            with single_threaded():
                predicted = [str(v) for v in other_model.predict(newest[list(MODEL_INPUT_COLUMNS)])]
        else:
            predicted = _fit_predict_rows(candidate, params, fit_df, newest)
        result[name] = {
            "training_rows": len(fit_df),
            "macro_f1": round(score(y, predicted, labels)["macro_f1"], 4),
            "macro_f1_types_present": round(score(y, predicted, present)["macro_f1"], 4),
            "per_class": per_class_table(y, predicted, labels),
        }
        _print("unseen_ceiling", training=name, macro_f1=result[name]["macro_f1"])
    return result


def threshold_ceiling(model: Any, unseen_df: Any, labels: list[str]) -> dict[str, Any]:
    """Macro-F1 on `unseen_df` of `model`'s margins without its offsets, then with offsets tuned (ml._offsets) on
    `unseen_df`'s own labels: over all its rows, and per repository. An oracle, never a model: it bounds what any
    per-type threshold or label-prior adjustment of these margins could reach there."""
    import numpy as np

    classifier, x = model.steps[-1][1], unseen_df[list(MODEL_INPUT_COLUMNS)]
    with single_threaded():
        margins = model.decision_function(x) - getattr(classifier, "margin_offsets_", 0.0)
        ruled = model._quoted(x)  # the Pipeline's revert rule decides these rows whatever the margins
    margins = aligned_margins([str(c) for c in classifier.classes_], margins, labels)
    forced = np.where(ruled, labels.index(REVERT_TYPE), NO_RULE)
    y = np.array([labels.index(v) for v in unseen_df[LABEL_COLUMN]])
    repos = unseen_df["repo_full_name"].to_numpy()

    def macro_f1(predicted: Any) -> float:
        return round(score([labels[i] for i in y], [labels[i] for i in predicted], labels)["macro_f1"], 4)

    per_repo = apply_offsets(margins, np.zeros(len(labels)), forced)
    for repo in UNSEEN:
        rows = repos == repo
        per_repo[rows] = apply_offsets(margins[rows], tune_offsets(margins[rows], y[rows], forced[rows]), forced[rows])
    result = {
        "without_offsets": macro_f1(apply_offsets(margins, np.zeros(len(labels)), forced)),
        "offsets_tuned_on_unseen_labels": macro_f1(apply_offsets(margins, tune_offsets(margins, y, forced), forced)),
        "offsets_tuned_per_repository_on_its_labels": macro_f1(per_repo),
    }
    _print("unseen_threshold_ceiling", **result)
    return result


def _concat(frames: list[Any]) -> Any:
    import pandas as pd

    return pd.concat(frames, ignore_index=True)


def _stored_params(params: dict[str, str]) -> dict[str, Any]:
    """ml.json keeps parameters as strings ("(1, 2)", "0.1", "balanced"): back to values."""
    import ast

    def value(text: str) -> Any:
        try:
            return ast.literal_eval(text)
        except (ValueError, SyntaxError):
            return text

    return {k: value(v) for k, v in params.items()}


def _write_results(result: dict[str, Any]) -> None:
    (RESULTS / "ml.json").write_text(json.dumps(result, indent=2, default=str) + "\n")


def ceiling_only() -> None:
    """Add the unseen ceilings for ml.json's champion to ml.json, without rerunning the search."""
    result = json.loads((RESULTS / "ml.json").read_text())
    winner = next(c for c in result["selection"]["candidates"] if c["candidate"] == result["champion"]["candidate"]
                  and c["leave_repos_out"] == result["champion"]["leave_repos_out"])  # fmt: skip
    frame = labelled_frame()
    labels = sorted(frame[LABEL_COLUMN].unique())
    params = _stored_params(winner["params"])
    ceiling = unseen_ceiling(frame, winner["candidate"], params, labels)
    result["champion"]["unseen_ceiling"] = ceiling
    unseen = frame["repo_full_name"].isin(UNSEEN)
    model = fit_with_offsets(winner["candidate"], params, frame[~unseen].reset_index(drop=True), jobs=default_jobs())
    result["champion"]["unseen_threshold_ceiling"] = threshold_ceiling(model, frame[unseen], labels)
    _write_results(result)


def time_train(budget: float, search_rows: int) -> dict[str, Any]:
    """Wall seconds of the real train() on the feature rows, then of a rerun on the same data (which registers
    nothing)."""
    import tempfile

    from commitlake.ml import train
    from commitlake.warehouse.embedded import EmbeddedPostgres
    from ml_rows import load_features

    with tempfile.TemporaryDirectory(prefix="commitlake-bench-ml-") as tmp:
        pg = EmbeddedPostgres(Path(tmp) / "postgres")
        pg.ensure_running()
        try:
            dsn = pg.url("postgres", "postgres")
            rows = [row for repo in CC_REPOS for row in feature_rows(repo)]
            load_features(dsn, rows)
            kwargs: dict[str, Any] = {
                "tracking_uri": f"sqlite:///{tmp}/mlflow.db",
                "artifact_root": Path(tmp) / "artifacts",
                "model_name": "bench-commit-type",
                "budget_seconds": budget,
                "search_rows": search_rows,
            }
            started = time.monotonic()
            first = train(dsn, "bench-1", **kwargs)
            first_seconds = time.monotonic() - started
            started = time.monotonic()
            again = train(dsn, "bench-2", **kwargs)
            again_seconds = time.monotonic() - started
        finally:
            pg.stop()
    return {
        "rows": len(rows),
        "labelled": first.params["n_labelled"],
        "train_seconds": round(first_seconds, 1),
        "model_search_seconds": round(first.train_seconds, 1),
        "macro_f1": round(first.metrics["macro_f1"], 4),
        "lro_macro_f1": round(first.metrics.get("lro_macro_f1", float("nan")), 4),
        "selection": first.selection,
        "rerun_seconds": round(again_seconds, 1),
        "rerun_registered": not again.skipped,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budget", type=float, default=DEFAULT_BUDGET_SECONDS)
    parser.add_argument("--search-rows", type=int, default=DEFAULT_SEARCH_ROWS, help="as COMMITLAKE_TRAIN_SEARCH_ROWS")
    parser.add_argument("--train", action="store_true", help="also time the real train() and its rerun")
    parser.add_argument("--ceiling-only", action="store_true", help="only add the unseen ceiling to ml.json")
    parser.add_argument("--train-only", action="store_true", help="only re-time train() into ml.json (quiet machine)")
    args = parser.parse_args()
    if args.ceiling_only:
        ceiling_only()
        return
    if args.train_only:
        stored = json.loads((RESULTS / "ml.json").read_text())
        stored["train"] = {**time_train(args.budget, args.search_rows), "loadavg_after": os.getloadavg()}
        _write_results(stored)
        return

    started = time.monotonic()
    frame = labelled_frame()
    load_seconds = time.monotonic() - started
    labels = sorted(frame[LABEL_COLUMN].unique())
    train_df, test_df = time_split(frame)  # as train splits it (fit.train_df below is the same)
    print(f"{len(frame)} labelled commits from {frame['repo_full_name'].nunique()} repositories", flush=True)

    started = time.monotonic()
    jobs = default_jobs()  # as `train` runs it: the budget buys more settings with two workers
    _train._log = SimpleNamespace(info=_print)  # the search's events on stdout
    fit = _train._select_and_evaluate(frame, None, args.budget, 0, jobs, args.search_rows)  # what `train` runs
    selection_seconds = time.monotonic() - started
    selection, curve, baselines = fit.selection, fit.curve, fit.baselines
    winner = selection.winner
    # the search scored leave-repositories-out on its sample: the winner's setting on every row, beside the
    # baselines on every row, is the figure comparable across sample sizes
    y_all = frame[LABEL_COLUMN].tolist()
    started = time.monotonic()
    oof = leave_repos_out_tuned(winner.candidate, winner.params, frame, selection.lro_folds)
    lro_all = score(y_all, oof, labels)
    lro_all_seconds = time.monotonic() - started
    baselines_all = baseline_scores(frame, train_df, test_df, labels, selection.lro_folds)

    # unseen repositories: the winner's setting and the baselines, trained on everything else
    unseen = frame["repo_full_name"].isin(UNSEEN)
    seen_df, unseen_df = frame[~unseen], frame[unseen]
    overrides = {k: v for k, v in winner.params.items()}
    t0 = time.monotonic()
    model = fit_with_offsets(winner.candidate, overrides, seen_df.reset_index(drop=True), jobs=jobs)
    with single_threaded():
        predicted = [str(v) for v in model.predict(unseen_df[list(MODEL_INPUT_COLUMNS)])]
    unseen_fit_seconds = time.monotonic() - t0
    y_unseen = unseen_df[LABEL_COLUMN].tolist()
    majority = majority_label(seen_df[LABEL_COLUMN].tolist())
    unseen_scores = score(y_unseen, predicted, labels)

    def interval(y: list[str], p: list[str]) -> list[float]:
        """macro-F1's 95 % bootstrap interval over the scored commits (ml._metrics.macro_f1_interval)."""
        return [round(bound, 4) for bound in macro_f1_interval(y, p, labels)]

    unseen_interval = interval(y_unseen, predicted)
    RESULTS.mkdir(parents=True, exist_ok=True)
    title = (
        f"{winner.candidate} on unseen {', '.join(UNSEEN)} ({len(y_unseen)} commits)\n"
        f"macro-F1 {unseen_scores['macro_f1']:.3f} (95 % bootstrap interval {unseen_interval[0]:.3f} to "
        f"{unseen_interval[1]:.3f})"
    )
    confusion_png(y_unseen, predicted, labels, RESULTS / "ml.png", title)

    def brief(scores: dict[str, float] | None) -> dict[str, float] | None:
        return None if scores is None else {k: round(v, 4) for k, v in scores.items() if not k.startswith("f1_")}

    result: dict[str, Any] = {
        "machine": {"cpus": os.cpu_count(), "loadavg": os.getloadavg(), "python": platform.python_version()},
        "data": {
            "labelled_commits": len(frame),
            "repositories": sorted(frame["repo_full_name"].unique()),
            "class_counts": frame[LABEL_COLUMN].value_counts().to_dict(),
            "time_split": {
                "train": len(train_df),
                "test": len(test_df),
                "cutoff": str(test_df["committed_at"].iloc[0]),
            },
            "load_seconds": round(load_seconds, 1),
        },
        "selection": {
            "reason": selection.reason,
            "budget_seconds": args.budget,
            "search_rows": args.search_rows,
            "rows_compared_on": fit.n_searched,
            "jobs": jobs,
            "selection_seconds": round(selection_seconds, 1),
            "lro_folds": selection.lro_folds,
            "candidates": [
                {
                    "candidate": r.candidate,
                    "params": {k: str(v) for k, v in r.params.items()},
                    "leave_repos_out": brief(r.leave_repos_out),
                    "time_split": brief(r.time_split),
                    "fit_seconds": round(r.fit_seconds, 1),
                }
                for r in selection.results
            ],
        },
        "learning_curve": [{k: round(v, 4) for k, v in point.items()} for point in curve],
        "champion": {
            "candidate": winner.candidate,
            "leave_repos_out": brief(winner.leave_repos_out),
            "leave_repos_out_every_row": brief(lro_all),
            "leave_repos_out_every_row_macro_f1_ci95": interval(y_all, oof),
            "leave_repos_out_every_row_seconds": round(lro_all_seconds, 1),
            "time_split": brief(winner.time_split),
            "time_split_macro_f1_ci95": [round(fit.metrics[f"macro_f1_ci95_{end}"], 4) for end in ("low", "high")],
            "without_margin_offsets": {k: brief(v) for k, v in winner.untuned.items()},
            "margin_offsets": winner.offsets,
            "time_split_per_class": per_class_table(test_df[LABEL_COLUMN].tolist(), winner.time_split_pred, labels),
            "unseen": {
                "repositories": list(UNSEEN),
                "commits": len(y_unseen),
                "fit_seconds": round(unseen_fit_seconds, 1),
                **(brief(unseen_scores) or {}),
                "macro_f1_ci95": unseen_interval,
                "per_class": per_class_table(y_unseen, predicted, labels),
                "confusion": confusion(y_unseen, predicted, labels),
            },
            "unseen_ceiling": unseen_ceiling(frame, winner.candidate, overrides, labels, other_model=model),
            "unseen_threshold_ceiling": threshold_ceiling(model, unseen_df, labels),
        },
        "baselines": {
            name: {evaluation: brief(scores) for evaluation, scores in evaluations.items()}
            for name, evaluations in baselines.items()
        },
        "baselines_every_row": {
            name: {evaluation: brief(scores) for evaluation, scores in evaluations.items()}
            for name, evaluations in baselines_all.items()
        },
        "baselines_unseen": {
            "majority": brief(score(y_unseen, [majority] * len(y_unseen), labels)),
            "keywords": brief(score(y_unseen, keyword_predict(unseen_df), labels)),
        },
    }
    _write_results(result)
    if args.train:
        result["train"] = time_train(args.budget, args.search_rows)
        _write_results(result)
    summary = {
        "champion": winner.candidate,
        "leave_repos_out_macro_f1": result["champion"]["leave_repos_out"],
        "leave_repos_out_every_row": result["champion"]["leave_repos_out_every_row"],
        "time_split": result["champion"]["time_split"],
        "unseen_macro_f1": result["champion"]["unseen"]["macro_f1"],
        "unseen_macro_f1_ci95": unseen_interval,
        "selection": selection.reason,
        "selection_seconds": round(selection_seconds, 1),
        "train": result.get("train"),
    }
    print(json.dumps(summary, indent=1))


def _print(event: str, **fields: Any) -> None:
    print(event, json.dumps(fields, default=str), flush=True)


if __name__ == "__main__":
    main()
