"""Per-type margin offsets: a constant added to each type's SVM margin, tuned for macro-F1 on out-of-fold margins.

Why: balanced class weights fix one trade-off per type on the training rows, but on a repository the model never
saw some types' margins run high or low (one project's `build` is another's `chore`). The out-of-fold margins of
leave-repositories-out (every row scored by a model that never saw its repository) show by how much; one offset
per type, chosen there for macro-F1, moves each type's threshold to where repositories it never saw are served
best. Measured on the shared histories (bench/bench_ml.py, 38k commits, linear C=0.05): leave-repositories-out
0.4925 → 0.5144 on the search sample, time split 0.5657 → 0.5795, and the two unseen repositories 0.420 → 0.457
(make ml-ablations). Tuning is a coordinate ascent whose every step scores all grid values at once from confusion
counts (numpy bincount): 0.3 s on 15k rows, where rescoring with scikit-learn per value took 41 minutes on 38k.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from commitlake.ml._metrics import macro_f1_batch

if TYPE_CHECKING:
    import numpy as np

__all__ = [
    "MIN_FOLDS",
    "NO_RULE",
    "OFFSET_LIMIT",
    "OFFSET_STEP",
    "SWEEPS",
    "aligned_margins",
    "apply_offsets",
    "cross_fitted_predictions",
    "set_offsets",
    "tune_offsets",
]

#: Offsets range over [-OFFSET_LIMIT, OFFSET_LIMIT] in steps of OFFSET_STEP (the linear SVM's margins are O(1)).
OFFSET_LIMIT = 1.0
OFFSET_STEP = 0.05
#: Passes over the types at most (the ascent stops early after a pass that moves nothing).
SWEEPS = 3
#: Repository folds needed to tune offsets at all. With two, each fold's offsets come from one other repository,
#: and one repository's bias is not another's: the two unseen repositories' newest commits, trained on their own
#: older ones (two folds), scored 0.413 with offsets and 0.500 without. Why no further guard: keeping offsets only
#: when, cross-fitted over the inner folds, they beat none, dropped them in 2 of 5 outer folds of
#: leave-repositories-out on every row, where they then helped in one and tied in the other (0.4925 against
#: 0.5121 without that guard, bench/bench_ml.py).
MIN_FOLDS = 3
#: `forced` value of a row no rule decides (the Pipeline's revert rule decides some rows whatever the margins).
NO_RULE = -1


def _grid() -> np.ndarray:
    import numpy as np

    steps = round(OFFSET_LIMIT / OFFSET_STEP)
    return np.arange(-steps, steps + 1) * OFFSET_STEP


def apply_offsets(margins: np.ndarray, offsets: np.ndarray, forced: np.ndarray | None = None) -> np.ndarray:
    """Label indices: argmax of margins + offsets, except where a rule forced a label (forced ≠ NO_RULE)."""
    import numpy as np

    predicted = (margins + offsets).argmax(axis=1)
    return predicted if forced is None else np.where(forced != NO_RULE, forced, predicted)


def tune_offsets(margins: np.ndarray, y: np.ndarray, forced: np.ndarray | None = None) -> np.ndarray:
    """Offsets (one per column of `margins`) that maximise macro-F1 of apply_offsets against `y`: coordinate
    ascent over the grid, SWEEPS passes; a type's offset moves only when macro-F1 strictly improves, so types the
    data says nothing about stay at 0. `margins` is n x labels (-inf where a model lacked the type)."""
    import numpy as np

    n_labels = margins.shape[1]
    forced = np.full(len(y), NO_RULE) if forced is None else forced
    ruled = forced != NO_RULE
    grid = _grid()
    offsets = np.zeros(n_labels)
    best = macro_f1_batch(y, apply_offsets(margins, offsets, forced)[None, :], n_labels)[0]
    for _sweep in range(SWEEPS):
        moved = False
        for k in range(n_labels):
            others = margins + offsets
            others[:, k] = -np.inf
            runner_up, runner_up_margin = others.argmax(axis=1), others.max(axis=1)
            wins = margins[None, :, k] + grid[:, None] > runner_up_margin[None, :]
            candidates = np.where(wins, k, runner_up[None, :])
            candidates[:, ruled] = forced[ruled]
            scores = macro_f1_batch(y, candidates, n_labels)
            top = int(scores.argmax())
            if scores[top] > best + 1e-12:
                offsets[k], best, moved = grid[top], float(scores[top]), True
        if not moved:
            break
    return offsets


def cross_fitted_predictions(
    margins: np.ndarray, y: np.ndarray, folds: Sequence[np.ndarray], forced: np.ndarray | None = None
) -> np.ndarray:
    """Label indices where each fold's rows get offsets tuned on the other folds' rows only: an evaluation of
    tuning that never uses the labels it is scored on."""
    import numpy as np

    forced = np.full(len(y), NO_RULE) if forced is None else forced
    predicted = apply_offsets(margins, np.zeros(margins.shape[1]), forced)
    for rows in folds:
        rest = np.ones(len(y), dtype=bool)
        rest[rows] = False
        offsets = tune_offsets(margins[rest], y[rest], forced[rest])
        predicted[rows] = apply_offsets(margins[rows], offsets, forced[rows])
    return predicted


def aligned_margins(classes: Sequence[str], margins: np.ndarray, labels: Sequence[str]) -> np.ndarray:
    """A model's margins (columns in its `classes` order) as columns in `labels` order, -inf for a label the
    model never learned (its training rows lacked it), so argmax can never pick it."""
    import numpy as np

    out = np.full((margins.shape[0], len(labels)), -np.inf)
    position = {label: i for i, label in enumerate(labels)}
    for j, label in enumerate(classes):
        out[:, position[str(label)]] = margins[:, j]
    return out


def set_offsets(pipeline: Any, offsets: dict[str, float] | None) -> None:
    """Give the Pipeline's MarginSVC `offsets` ({type: offset}; 0 for a type not named), so that its
    decision_function, predict and predict_proba apply them; no-op for other classifiers or None."""
    import numpy as np

    classifier = pipeline.steps[-1][1]
    if offsets is None or not hasattr(classifier, "set_margin_offsets"):
        return
    classifier.set_margin_offsets(np.array([offsets.get(str(c), 0.0) for c in classifier.classes_]))
