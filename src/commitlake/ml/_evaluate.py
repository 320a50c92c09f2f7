"""Evaluation that means something: a time split and leave-repositories-out, for baselines and every candidate.

Why two: the time split asks "does it still work on next month's commits of these projects?", leave-
repositories-out asks "does it work on a project it never saw?", which is what scoring a newly added
repository is. Selection uses the second, because memorising one project's habits (its scopes, its bots,
its paths) scores well on the first and badly on the second. Folds group whole repositories (GroupKFold), so
no repository is ever both in training and in test.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from commitlake.ml._baselines import keyword_predict
from commitlake.ml._features import LABEL_COLUMN, MODEL_INPUT_COLUMNS
from commitlake.ml._metrics import majority_label, score
from commitlake.ml._model import CANDIDATES, build_pipeline, single_threaded
from commitlake.ml._sample import cap_rows
from commitlake.ml._workers import default_jobs, map_in_workers, parallel_fits

if TYPE_CHECKING:
    import pandas as pd
    from sklearn.pipeline import Pipeline

__all__ = [
    "DEFAULT_BUDGET_SECONDS",
    "DEFAULT_LRO_FOLDS",
    "SEARCH_SPACE",
    "CandidateResult",
    "Selection",
    "baseline_scores",
    "default_jobs",
    "learning_curve",
    "leave_repos_out_predict",
    "refit",
    "relative_cost",
    "repo_folds",
    "select_model",
]

#: Seconds the whole search may take: every candidate's defaults always run, further settings only while they fit.
#: 90 s: on the 15k-row search sample the defaults take about 80 s on 2 cores; the further settings moved the
#: leave-repositories-out score by less than its noise (C=0.03 vs 0.1: +0.006 on 38k rows, -0.014 on 15k).
DEFAULT_BUDGET_SECONDS = 90.0
DEFAULT_LRO_FOLDS = 5
GROUP_COLUMN = "repo_full_name"

#: Settings tried after each candidate's defaults, in order, while the time budget lasts (small on purpose:
#: each setting costs one fit per fold plus one on the time split).
SEARCH_SPACE: dict[str, list[dict[str, Any]]] = {
    "linear": [{"C": 0.03}, {"C": 0.3}],
    "random_forest": [{"min_samples_leaf": 1, "n_estimators": 150}],
    "hist_gb": [{"learning_rate": 0.15, "max_iter": 60, "svd_components": 100}],
}

#: Parameters a fit's time grows in proportion to (trees, boosting rounds).
_WORK_PARAMS = ("n_estimators", "max_iter")


def relative_cost(candidate: str, setting: dict[str, Any]) -> float:
    """How many times its candidate's default fit a setting costs, by its trees or boosting rounds: the search
    prices a setting before starting it, and priced at the defaults' time, the 150-tree forest and the 60-round
    boosting overran the 90 s budget by 25 s (6 settings in 115 s at 1M commits)."""
    defaults = CANDIDATES[candidate]
    ratio = 1.0
    for name in _WORK_PARAMS:
        if name in setting and defaults.get(name):
            ratio *= float(setting[name]) / float(defaults[name])
    return ratio


@dataclass
class CandidateResult:
    """One (candidate, setting): its scores on both evaluations and the model fitted on the time split's train."""

    candidate: str
    params: dict[str, Any]
    time_split: dict[str, float]
    leave_repos_out: dict[str, float] | None
    fit_seconds: float
    model: Any = field(default=None, repr=False)
    time_split_pred: list[str] = field(default_factory=list, repr=False)

    @property
    def key(self) -> float:
        """The selection score: leave-repositories-out macro-F1 when there are folds, else the time split's."""
        return (self.leave_repos_out or self.time_split)["macro_f1"]


@dataclass
class Selection:
    winner: CandidateResult
    results: list[CandidateResult]
    reason: str
    lro_folds: int
    seconds: float


def repo_folds(frame: pd.DataFrame, n_folds: int) -> list[tuple[Any, Any]]:
    """(train positions, test positions) per fold; each fold's test rows are whole repositories (GroupKFold)."""
    from sklearn.model_selection import GroupKFold

    return list(GroupKFold(n_splits=n_folds).split(frame, frame[LABEL_COLUMN], frame[GROUP_COLUMN]))


def leave_repos_out_predict(
    fit_predict: Callable[[pd.DataFrame, list[str], pd.DataFrame], list[str]],
    frame: pd.DataFrame,
    n_folds: int,
) -> list[str]:
    """Out-of-fold predictions where each fold holds out whole repositories (every row predicted once)."""
    y = frame[LABEL_COLUMN].tolist()
    predicted: list[str] = [""] * len(frame)
    x = frame[list(MODEL_INPUT_COLUMNS)]
    for train_idx, test_idx in repo_folds(frame, n_folds):
        y_fold = [y[i] for i in train_idx]
        if len(set(y_fold)) < 2:  # the other repositories hold one type only: all a model could say
            fold = [y_fold[0]] * len(test_idx)
        else:
            fold = fit_predict(x.iloc[train_idx], y_fold, x.iloc[test_idx])
        for i, label in zip(test_idx, fold, strict=True):
            predicted[i] = label
    return predicted


def baseline_scores(
    frame: pd.DataFrame, train_df: pd.DataFrame, test_df: pd.DataFrame, labels: Sequence[str], n_folds: int
) -> dict[str, dict[str, dict[str, float]]]:
    """{baseline: {"time_split"|"leave_repos_out": scores}} for the majority class and the keyword rules."""
    y_test = test_df[LABEL_COLUMN].tolist()
    majority = majority_label(train_df[LABEL_COLUMN].tolist())
    out: dict[str, dict[str, dict[str, float]]] = {
        "majority": {"time_split": score(y_test, [majority] * len(y_test), labels)},
        "keywords": {"time_split": score(y_test, keyword_predict(test_df), labels)},
    }
    if n_folds >= 2:
        y_all = frame[LABEL_COLUMN].tolist()
        oof = leave_repos_out_predict(lambda _x, y, xt: [majority_label(y)] * len(xt), frame, n_folds)
        out["majority"]["leave_repos_out"] = score(y_all, oof, labels)
        out["keywords"]["leave_repos_out"] = score(y_all, keyword_predict(frame), labels)
    return out


def _fit(candidate: str, params: dict[str, Any], random_state: int, x: pd.DataFrame, y: list[str]) -> Pipeline:
    with single_threaded():
        return build_pipeline(random_state, candidate, **params).fit(x, y)


def _fit_predict(
    candidate: str, params: dict[str, Any], random_state: int, x: pd.DataFrame, y: list[str], xt: pd.DataFrame,
    keep_model: bool,
) -> tuple[Pipeline | None, list[str], float]:
    """(the model when kept, its predictions on `xt`, fit seconds): one unit of work, run in a worker process."""
    started = time.monotonic()
    model = _fit(candidate, params, random_state, x, y)
    seconds = time.monotonic() - started
    with single_threaded():
        predicted = [str(v) for v in model.predict(xt)]
    return (model if keep_model else None), predicted, seconds


def _evaluate(
    entries: Sequence[tuple[str, dict[str, Any]]],
    frame: pd.DataFrame,
    train_df: pd.DataFrame,
    test_df: pd.DataFrame,
    labels: Sequence[str],
    n_folds: int,
    random_state: int,
    jobs: int = 1,
) -> list[CandidateResult]:
    """Each (candidate, setting)'s time-split fit and leave-repositories-out folds, all as one batch of independent
    fits handed out largest first: with one batch per candidate the workers waited at each candidate's end for
    its slowest fold (folds hold whole repositories, so their sizes differ)."""
    cols = list(MODEL_INPUT_COLUMNS)
    y_all = frame[LABEL_COLUMN].tolist()
    folds = repo_folds(frame, n_folds) if n_folds >= 2 else []
    # a fold whose training repositories hold one type only: that type is all a model could say
    constant = {i: y_all[train[0]] for i, (train, _test) in enumerate(folds) if len({y_all[j] for j in train}) < 2}
    fitted = [-1, *(i for i in range(len(folds)) if i not in constant)]  # -1: the time split
    rows = {-1: len(train_df), **{i: len(folds[i][0]) for i in fitted if i >= 0}}
    units = [(entry, fold) for entry in range(len(entries)) for fold in fitted]
    order = sorted(range(len(units)), key=lambda u: -rows[units[u][1]])  # stable: ties keep their order

    def calls() -> Iterator[tuple[Any, ...]]:  # slices are cut only when a worker is free for them
        for u in order:
            (candidate, params), fold = entries[units[u][0]], units[u][1]
            if fold < 0:
                y_train = train_df[LABEL_COLUMN].tolist()
                yield candidate, params, random_state, train_df[cols], y_train, test_df[cols], True
            else:
                train_idx, test_idx = folds[fold]
                x_train, x_test = frame.iloc[train_idx][cols], frame.iloc[test_idx][cols]
                yield candidate, params, random_state, x_train, [y_all[i] for i in train_idx], x_test, False

    outcomes: dict[tuple[int, int], Any] = {}
    for u, outcome in zip(order, map_in_workers(_fit_predict, calls(), jobs), strict=True):
        outcomes[units[u]] = outcome
    return [_result(candidate, params, index, outcomes, folds, constant, frame, test_df, labels)
            for index, (candidate, params) in enumerate(entries)]  # fmt: skip


def _result(
    candidate: str, params: dict[str, Any], entry: int, outcomes: dict[tuple[int, int], Any],
    folds: list[tuple[Any, Any]], constant: dict[int, str], frame: pd.DataFrame, test_df: pd.DataFrame,
    labels: Sequence[str],
) -> CandidateResult:  # fmt: skip
    """One (candidate, setting)'s scores from its fits' outcomes: (model, predictions, fit seconds) by fold."""
    model, predicted, fit_seconds = outcomes[(entry, -1)]
    lro = None
    if folds:
        oof: list[str] = [""] * len(frame)
        for index, (_train_idx, test_idx) in enumerate(folds):
            fold = [constant[index]] * len(test_idx) if index in constant else outcomes[(entry, index)][1]
            for i, label in zip(test_idx, fold, strict=True):
                oof[i] = label
        lro = score(frame[LABEL_COLUMN].tolist(), oof, labels)
    return CandidateResult(
        candidate=candidate,
        params={**CANDIDATES[candidate], **params},
        time_split=score(test_df[LABEL_COLUMN].tolist(), predicted, labels),
        leave_repos_out=lro,
        fit_seconds=fit_seconds,
        model=model,
        time_split_pred=predicted,
    )


def select_model(
    frame: pd.DataFrame,
    train_df: pd.DataFrame,
    test_df: pd.DataFrame,
    labels: Sequence[str],
    *,
    candidates: Sequence[str] | None = None,
    budget_seconds: float = DEFAULT_BUDGET_SECONDS,
    lro_folds: int = DEFAULT_LRO_FOLDS,
    random_state: int = 0,
    log: Callable[..., None] | None = None,
    jobs: int = 1,
) -> Selection:
    """Every candidate's defaults, then SEARCH_SPACE settings while the budget lasts; the best on
    leave-repositories-out macro-F1 (time split when under two repositories) wins, time split breaking ties."""
    started = time.monotonic()
    names = list(candidates or CANDIDATES)
    n_folds = min(lro_folds, int(frame[GROUP_COLUMN].nunique()))
    n_folds = n_folds if n_folds >= 2 else 0
    plan: list[tuple[str, dict[str, Any]]] = [(name, {}) for name in names]
    plan += [(name, setting) for name in names for setting in SEARCH_SPACE.get(name, [])]
    results: list[CandidateResult] = []

    def rank(result: CandidateResult) -> tuple[float, float, int]:
        return -result.key, -result.time_split["macro_f1"], names.index(result.candidate)

    def record(result: CandidateResult, setting: dict[str, Any]) -> None:
        results.append(result)
        best = min(results, key=rank)
        for other in results:  # only the leader's model can win: a forest's trees are hundreds of MB at 60k rows
            if other is not best:
                other.model = None
        if log is not None:
            log(
                "candidate_evaluated",
                candidate=result.candidate,
                setting=setting,
                leave_repos_out_macro_f1=None if result.leave_repos_out is None else round(result.key, 4),
                time_split_macro_f1=round(result.time_split["macro_f1"], 4),
                fit_seconds=round(result.fit_seconds, 2),
            )

    for result in _evaluate(plan[: len(names)], frame, train_df, test_df, labels, n_folds, random_state, jobs):
        record(result, {})  # every candidate's defaults always run, in one batch
    for name, setting in plan[len(names) :]:
        elapsed = time.monotonic() - started
        if elapsed > budget_seconds:
            break
        # a setting is only started if its estimated cost fits in what is left of the budget
        rounds = -(-(n_folds + 1) // max(1, jobs))  # fits per worker: the batch's wall time in fits
        cost = next(r.fit_seconds for r in results if r.candidate == name) * rounds * relative_cost(name, setting)
        if elapsed + cost > budget_seconds:
            continue
        (result,) = _evaluate([(name, setting)], frame, train_df, test_df, labels, n_folds, random_state, jobs)
        record(result, setting)
    ranked = sorted(results, key=rank)
    winner = ranked[0]
    basis = "leave-repositories-out" if n_folds else "time-split (fewer than 2 repositories)"
    runner_up = next((r for r in ranked[1:] if r.candidate != winner.candidate), None)
    reason = f"{winner.candidate} won on {basis} macro-F1 {winner.key:.4f}"
    if runner_up is not None:
        reason += f" vs {runner_up.candidate} {runner_up.key:.4f}"
    reason += f" ({len(results)} settings evaluated in {time.monotonic() - started:.0f} s)"
    return Selection(winner, results, reason, n_folds, time.monotonic() - started)


def refit(
    winner: CandidateResult,
    train_df: pd.DataFrame,
    test_df: pd.DataFrame,
    labels: Sequence[str],
    random_state: int = 0,
    jobs: int = 1,
) -> CandidateResult:
    """The winner's candidate and settings fitted on a (larger) training split and scored on its test split; its
    leave-repositories-out score stays the one the search measured. The one fit may spread its independent parts
    over `jobs` processes (the same model either way)."""
    cols = list(MODEL_INPUT_COLUMNS)
    with parallel_fits(jobs):
        model, predicted, seconds = _fit_predict(
            winner.candidate, winner.params, random_state, train_df[cols], train_df[LABEL_COLUMN].tolist(),
            test_df[cols], True,
        )  # fmt: skip
    return CandidateResult(
        candidate=winner.candidate,
        params=dict(winner.params),
        time_split=score(test_df[LABEL_COLUMN].tolist(), predicted, labels),
        leave_repos_out=winner.leave_repos_out,
        fit_seconds=seconds,
        model=model,
        time_split_pred=predicted,
    )


#: Shares of the training split the learning curve fits the winner on (the whole split is the winner itself).
CURVE_FRACTIONS: tuple[float, ...] = (0.25, 0.5)


def learning_curve(
    winner: CandidateResult,
    train_df: pd.DataFrame,
    test_df: pd.DataFrame,
    labels: Sequence[str],
    random_state: int = 0,
    jobs: int = 1,
) -> list[dict[str, float]]:
    """The winner's time-split macro-F1 when fitted on a stratified share of the training split, smallest first,
    ending with the whole split: whether more rows (a larger COMMITLAKE_TRAIN_MAX_ROWS) would still pay."""
    cols = list(MODEL_INPUT_COLUMNS)
    y_test = test_df[LABEL_COLUMN].tolist()
    parts = [cap_rows(train_df, int(len(train_df) * fraction)) for fraction in CURVE_FRACTIONS]
    parts = [p for p in parts if len(p) < len(train_df) and p[LABEL_COLUMN].nunique() >= 2]
    calls = [(winner.candidate, winner.params, random_state, p[cols], p[LABEL_COLUMN].tolist(), test_df[cols], False)
             for p in parts]  # fmt: skip
    points = [
        {"rows": len(part), "macro_f1": score(y_test, predicted, labels)["macro_f1"], "seconds": seconds}
        for part, (_model, predicted, seconds) in zip(parts, map_in_workers(_fit_predict, calls, jobs), strict=True)
    ]
    points.append({"rows": len(train_df), "macro_f1": winner.time_split["macro_f1"], "seconds": winner.fit_seconds})
    return points
