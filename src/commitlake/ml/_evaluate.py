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
from commitlake.ml._metrics import macro_f1_interval, majority_label, score
from commitlake.ml._model import CANDIDATES, REVERT_TYPE, build_pipeline, single_threaded
from commitlake.ml._offsets import (
    MIN_FOLDS,
    NO_RULE,
    aligned_margins,
    apply_offsets,
    cross_fitted_predictions,
    set_offsets,
    tune_offsets,
)
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
    "fit_with_offsets",
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
    # With margin offsets, on the 15k search sample of the shared histories (leave-repositories-out): C=0.05 0.514,
    # the default 0.1 0.507, 0.04 0.507, 0.07 0.506, 0.03 0.506, 0.3 0.499; 0.05 first, so it always gets its turn.
    "linear": [{"C": 0.05}, {"C": 0.3}],
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
    #: The out-of-fold predictions (every row of the searched frame) leave_repos_out was scored on; [] without folds.
    lro_pred: list[str] = field(default_factory=list, repr=False)
    #: {type: offset} added to the margins (ml._offsets), tuned on the older rows' out-of-fold margins; None
    #: when the candidate has no margins to shift.
    offsets: dict[str, float] | None = None
    #: The same model's scores without the offsets ({"time_split": …, "leave_repos_out": …}): what they bought.
    untuned: dict[str, dict[str, float] | None] = field(default_factory=dict)

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


@dataclass
class FitOutcome:
    """One fit's outcome on its test rows: the model when kept, predictions, fit seconds, and for a candidate
    with margin offsets its raw margins (columns in `classes` order) and which rows the revert rule decided."""

    model: Pipeline | None
    predicted: list[str]
    seconds: float
    classes: list[str] = field(default_factory=list)
    margins: Any = None
    ruled: Any = None


def _fit_predict(
    candidate: str, params: dict[str, Any], random_state: int, x: pd.DataFrame, y: list[str], xt: pd.DataFrame,
    keep_model: bool, offsets: dict[str, float] | None = None,
) -> FitOutcome:
    """One unit of work, run in a worker process: fit, then predict `xt` with `offsets` applied."""
    started = time.monotonic()
    model = _fit(candidate, params, random_state, x, y)
    seconds = time.monotonic() - started
    outcome = FitOutcome(None, [], seconds)
    with single_threaded():
        if params.get("margin_offsets", CANDIDATES[candidate].get("margin_offsets")) and len(model.classes_) > 2:
            outcome.classes = [str(c) for c in model.classes_]
            outcome.margins, outcome.ruled = model.decision_function(xt), model._quoted(xt)
            outcome.predicted = _shifted(outcome, outcome.classes, offsets)  # predict's answer, without a 2nd transform
        else:
            outcome.predicted = [str(v) for v in model.predict(xt)]
        set_offsets(model, offsets)
    outcome.model = model if keep_model else None
    return outcome


def _one_type_folds(folds: list[tuple[Any, Any]], y: list[str]) -> dict[int, str]:
    """{fold: its type} for folds whose training repositories hold one type only: that type is all a model could
    say, so those folds are decided, not fitted."""
    return {i: y[train[0]] for i, (train, _test) in enumerate(folds) if len({y[j] for j in train}) < 2}


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
    constant = _one_type_folds(folds, y_all)
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

    outcomes: dict[tuple[int, int], FitOutcome] = {}
    for u, outcome in zip(order, map_in_workers(_fit_predict, calls(), jobs), strict=True):
        outcomes[units[u]] = outcome
    older = frame["commit_id"].isin(set(train_df["commit_id"])).to_numpy()
    results = []
    for index, (candidate, params) in enumerate(entries):
        by_fold = {fold: outcomes[(index, fold)] for fold in fitted}
        result = _result(candidate, params, by_fold, folds, constant, frame, test_df, labels)
        if _tunable(folds, by_fold):
            _tune(result, by_fold, folds, constant, frame, older, test_df, labels)
        results.append(result)
    return results


def _result(
    candidate: str, params: dict[str, Any], outcomes: dict[int, FitOutcome], folds: list[tuple[Any, Any]],
    constant: dict[int, str], frame: pd.DataFrame, test_df: pd.DataFrame, labels: Sequence[str],
) -> CandidateResult:  # fmt: skip
    """One (candidate, setting)'s scores from its fits' outcomes by fold (-1: the time split)."""
    time_split = outcomes[-1]
    lro, oof = None, []
    if folds:
        oof = [""] * len(frame)
        for index, (_train_idx, test_idx) in enumerate(folds):
            fold = [constant[index]] * len(test_idx) if index in constant else outcomes[index].predicted
            for i, label in zip(test_idx, fold, strict=True):
                oof[i] = label
        lro = score(frame[LABEL_COLUMN].tolist(), oof, labels)
    return CandidateResult(
        candidate=candidate,
        params={**CANDIDATES[candidate], **params},
        time_split=score(test_df[LABEL_COLUMN].tolist(), time_split.predicted, labels),
        leave_repos_out=lro,
        fit_seconds=time_split.seconds,
        model=time_split.model,
        time_split_pred=time_split.predicted,
        lro_pred=oof,
    )


def _tune(
    result: CandidateResult, outcomes: dict[int, FitOutcome], folds: list[tuple[Any, Any]], constant: dict[int, str],
    frame: pd.DataFrame, older: Any, test_df: pd.DataFrame, labels: Sequence[str],
) -> None:  # fmt: skip
    """Margin offsets for `result` from its folds' out-of-fold margins, in place: leave-repositories-out scored
    with offsets tuned on the other folds only (cross_fitted_predictions), and the model's own offsets tuned on the
    older rows only, so the time split's newest rows never tune what scores them. The untuned scores stay beside."""
    margins, y, forced = _out_of_fold_margins(outcomes, folds, constant, frame, labels)
    tuned = cross_fitted_predictions(margins, y, [test for _train, test in folds], forced)
    offsets = tune_offsets(margins[older], y[older], forced[older])
    result.offsets = _by_type(offsets, labels)
    result.untuned = {"time_split": result.time_split, "leave_repos_out": result.leave_repos_out}
    result.lro_pred = [labels[i] for i in tuned]
    result.leave_repos_out = score(frame[LABEL_COLUMN].tolist(), result.lro_pred, labels)
    result.time_split_pred = _shifted(outcomes[-1], labels, result.offsets)
    result.time_split = score(test_df[LABEL_COLUMN].tolist(), result.time_split_pred, labels)
    if result.model is not None:
        set_offsets(result.model, result.offsets)


def _tunable(folds: list[tuple[Any, Any]], outcomes: dict[int, FitOutcome]) -> bool:
    """Offsets are tuned over MIN_FOLDS repository folds or more, and only from fits that kept their margins."""
    return len(folds) >= MIN_FOLDS and all(o.margins is not None for o in outcomes.values())


def _by_type(offsets: Any, labels: Sequence[str]) -> dict[str, float]:
    """tune_offsets' array (columns in `labels` order) as {type: offset}, the form models and results carry."""
    return {label: float(offsets[i]) for i, label in enumerate(labels)}


def _out_of_fold_margins(
    outcomes: dict[int, FitOutcome], folds: list[tuple[Any, Any]], constant: dict[int, str], frame: pd.DataFrame,
    labels: Sequence[str],
) -> tuple[Any, Any, Any]:  # fmt: skip
    """(margins in `labels` order, label indices, forced labels) of every row of `frame`, each from the fold that
    held its repository out: what tune_offsets reads."""
    import numpy as np

    index = {label: i for i, label in enumerate(labels)}
    y = np.array([index[v] for v in frame[LABEL_COLUMN]])
    margins = np.full((len(frame), len(labels)), -np.inf)
    forced = np.full(len(frame), NO_RULE)
    for fold, (_train_idx, test_idx) in enumerate(folds):
        if fold in constant:  # its training repositories held one type: that type is decided, not scored
            forced[test_idx] = index[constant[fold]]
            continue
        outcome = outcomes[fold]
        margins[test_idx] = aligned_margins(outcome.classes, outcome.margins, labels)
        forced[test_idx] = _revert_rule(outcome.ruled, index)
    return margins, y, forced


def fit_with_offsets(
    candidate: str, params: dict[str, Any], frame: pd.DataFrame, random_state: int = 0, jobs: int = 1,
    n_folds: int = DEFAULT_LRO_FOLDS,
) -> Pipeline:  # fmt: skip
    """The candidate fitted on every row of `frame`, its margin offsets tuned on out-of-fold margins of `n_folds`
    folds over the frame's repositories (none under MIN_FOLDS): the model train's search and refit make, from one
    training frame (the bench scores it on repositories it never saw)."""
    cols = list(MODEL_INPUT_COLUMNS)
    y_all = frame[LABEL_COLUMN].tolist()
    labels = sorted(set(y_all))
    n_folds = min(n_folds, int(frame[GROUP_COLUMN].nunique()))
    folds = repo_folds(frame, n_folds) if n_folds >= MIN_FOLDS else []  # too few repositories to tune on
    constant = _one_type_folds(folds, y_all)
    calls = [(candidate, params, random_state, frame.iloc[train][cols], [y_all[i] for i in train],
              frame.iloc[test][cols], False) for i, (train, test) in enumerate(folds) if i not in constant]  # fmt: skip
    fitted = [i for i in range(len(folds)) if i not in constant]
    outcomes = dict(zip(fitted, map_in_workers(_fit_predict, calls, jobs), strict=True))
    with parallel_fits(jobs):
        model = _fit(candidate, params, random_state, frame[cols], y_all)
    if _tunable(folds, outcomes):
        offsets = tune_offsets(*_out_of_fold_margins(outcomes, folds, constant, frame, labels))
        set_offsets(model, _by_type(offsets, labels))
    return model


def _shifted(outcome: FitOutcome, labels: Sequence[str], offsets: dict[str, float] | None) -> list[str]:
    """The outcome's predictions from its raw margins with `offsets` ({type: offset}; None: none) applied."""
    import numpy as np

    index = {label: i for i, label in enumerate(labels)}
    values = np.array([(offsets or {}).get(label, 0.0) for label in labels])
    margins = aligned_margins(outcome.classes, outcome.margins, labels)
    return [labels[i] for i in apply_offsets(margins, values, _revert_rule(outcome.ruled, index))]


def _revert_rule(ruled: Any, index: dict[str, int]) -> Any:
    """`forced` for apply_offsets: the revert type's index where the Pipeline's revert rule fired, else NO_RULE."""
    import numpy as np

    return np.where(ruled, index.get(REVERT_TYPE, NO_RULE), NO_RULE)


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
        reason += f" vs {runner_up.candidate} {runner_up.key:.4f}{_lead(winner, runner_up, frame, test_df, labels)}"
    reason += f"; {len(results)} settings evaluated in {time.monotonic() - started:.0f} s"
    return Selection(winner, results, reason, n_folds, time.monotonic() - started)


def _lead(
    winner: CandidateResult, runner_up: CandidateResult, frame: pd.DataFrame, test_df: pd.DataFrame,
    labels: Sequence[str],
) -> str:  # fmt: skip
    """The winner's lead over the runner-up as a paired bootstrap interval on the rows both were scored on (the
    out-of-fold predictions, or the time split's without folds): whether the choice is evidence or a coin toss."""
    if winner.lro_pred and runner_up.lro_pred:
        y_true, ours, theirs = frame[LABEL_COLUMN].tolist(), winner.lro_pred, runner_up.lro_pred
    else:
        y_true, ours, theirs = test_df[LABEL_COLUMN].tolist(), winner.time_split_pred, runner_up.time_split_pred
    low, high = macro_f1_interval(y_true, ours, labels, baseline=theirs)
    return f" (lead {winner.key - runner_up.key:+.4f}, paired 95 % bootstrap interval {low:+.4f} to {high:+.4f})"


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
        outcome = _fit_predict(
            winner.candidate, winner.params, random_state, train_df[cols], train_df[LABEL_COLUMN].tolist(),
            test_df[cols], True, winner.offsets,
        )  # fmt: skip
    return CandidateResult(
        candidate=winner.candidate,
        params=dict(winner.params),
        time_split=score(test_df[LABEL_COLUMN].tolist(), outcome.predicted, labels),
        leave_repos_out=winner.leave_repos_out,
        fit_seconds=outcome.seconds,
        model=outcome.model,
        time_split_pred=outcome.predicted,
        offsets=winner.offsets,
        untuned=_refit_untuned(winner, outcome, test_df, labels),
    )


def _refit_untuned(
    winner: CandidateResult, outcome: FitOutcome, test_df: pd.DataFrame, labels: Sequence[str]
) -> dict[str, dict[str, float] | None]:
    """The refit's scores without offsets: its own time split, and the search's leave-repositories-out."""
    if outcome.margins is None or not winner.untuned:
        return {}
    untuned = score(test_df[LABEL_COLUMN].tolist(), _shifted(outcome, labels, None), labels)
    return {"time_split": untuned, "leave_repos_out": winner.untuned.get("leave_repos_out")}


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
    calls = [(winner.candidate, winner.params, random_state, p[cols], p[LABEL_COLUMN].tolist(), test_df[cols], False,
              winner.offsets) for p in parts]  # fmt: skip
    outcomes = map_in_workers(_fit_predict, calls, jobs)
    points = [
        {"rows": len(part), "macro_f1": score(y_test, fit.predicted, labels)["macro_f1"], "seconds": fit.seconds}
        for part, fit in zip(parts, outcomes, strict=True)
    ]
    points.append({"rows": len(train_df), "macro_f1": winner.time_split["macro_f1"], "seconds": winner.fit_seconds})
    return points
