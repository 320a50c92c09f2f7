"""Scores for one set of predictions on the test split, and the baseline every model must beat.

Macro-F1 is the headline (and the promotion criterion) because the classes are very unbalanced: `chore` and
`fix` dominate, and a model can look accurate while never predicting `perf` or `revert`.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np

__all__ = [
    "BOOTSTRAP_RESAMPLES",
    "confusion",
    "macro_f1_batch",
    "macro_f1_interval",
    "majority_label",
    "score",
]

#: Resamples of macro_f1_interval's bootstrap: its 95 % bounds move by < 0.003 between seeds at 1,000 here.
BOOTSTRAP_RESAMPLES = 1000
#: Resamples scored per numpy batch (a batch holds this many index arrays of the scored rows).
_BOOTSTRAP_BATCH = 50


def score(y_true: Sequence[str], y_pred: Sequence[str], labels: Sequence[str]) -> dict[str, float]:
    """accuracy, macro_f1, weighted_f1 and f1_<label> for each label (0 for a label never predicted nor seen)."""
    from sklearn.metrics import accuracy_score, f1_score

    per_class = f1_score(y_true, y_pred, labels=list(labels), average=None, zero_division=0)
    metrics: dict[str, float] = {
        "accuracy": float(accuracy_score(y_true, y_pred)),
        "macro_f1": float(f1_score(y_true, y_pred, labels=list(labels), average="macro", zero_division=0)),
        "weighted_f1": float(f1_score(y_true, y_pred, labels=list(labels), average="weighted", zero_division=0)),
    }
    metrics.update({f"f1_{label}": float(value) for label, value in zip(labels, per_class, strict=True)})
    return metrics


def majority_label(y_train: Sequence[str]) -> str:
    """The most frequent training label (alphabetically first on a tie, for determinism)."""
    counts = Counter(y_train)
    return min(counts, key=lambda label: (-counts[label], label))


def confusion(y_true: Sequence[str], y_pred: Sequence[str], labels: Sequence[str]) -> dict[str, Any]:
    """Confusion matrix as JSON-ready data: rows are true labels, columns predicted labels."""
    from sklearn.metrics import confusion_matrix

    matrix = confusion_matrix(y_true, y_pred, labels=list(labels))
    return {"labels": list(labels), "rows": "true", "columns": "predicted", "matrix": matrix.tolist()}


def macro_f1_batch(y: np.ndarray, predictions: np.ndarray, n_labels: int, averaged: int | None = None) -> np.ndarray:
    """The macro-F1 of each row of `predictions` (G x n label indices) against `y` (n label indices, or G x n:
    one row of truths per row of predictions), over the first `averaged` (default all `n_labels`) labels, a label
    neither true nor predicted counting 0: score's macro_f1, vectorised with one bincount."""
    import numpy as np

    g = predictions.shape[0]
    truths = np.broadcast_to(y, predictions.shape)
    codes = (np.arange(g)[:, None] * n_labels + truths) * n_labels + predictions
    counts = np.bincount(codes.ravel(), minlength=g * n_labels * n_labels).reshape(g, n_labels, n_labels)
    tp = np.diagonal(counts, axis1=1, axis2=2)
    denominator = counts.sum(axis=2) + counts.sum(axis=1)  # support + predicted = 2 tp + fn + fp
    f1 = np.divide(2.0 * tp, denominator, out=np.zeros(tp.shape), where=denominator > 0)
    return f1[:, :averaged].mean(axis=1)


def _bootstrap_macro_f1(
    y_true: Sequence[str], predictions: Sequence[Sequence[str]], labels: Sequence[str], resamples: int, seed: int
) -> list[np.ndarray]:
    """Macro-F1 of each of `predictions` on the same `resamples` bootstrap resamples of the scored commits."""
    import numpy as np

    if not len(y_true) or any(len(p) != len(y_true) for p in predictions):
        raise ValueError(f"a bootstrap of macro-F1 needs as many predictions as truths, and some ({len(y_true)})")
    # a label outside `labels` (an older model's type this data lacks) is one more index, left out of the
    # average: a miss for the true type and no one's false positive, as in score
    other = len(labels)
    index = {label: i for i, label in enumerate(labels)}
    y = np.array([index.get(v, other) for v in y_true])
    encoded = [np.array([index.get(v, other) for v in p]) for p in predictions]
    rng = np.random.default_rng(seed)
    scores: list[list[np.ndarray]] = [[] for _ in predictions]
    for start in range(0, resamples, _BOOTSTRAP_BATCH):
        rows = rng.integers(0, len(y), size=(min(_BOOTSTRAP_BATCH, resamples - start), len(y)))
        for out, p in zip(scores, encoded, strict=True):
            out.append(macro_f1_batch(y[rows], p[rows], other + 1, averaged=other))
    return [np.concatenate(out) for out in scores]


def _percentiles(values: np.ndarray, level: float) -> tuple[float, float]:
    import numpy as np

    tail = 100 * (1 - level) / 2
    low, high = np.percentile(values, [tail, 100 - tail])
    return float(low), float(high)


def macro_f1_interval(
    y_true: Sequence[str],
    y_pred: Sequence[str],
    labels: Sequence[str],
    *,
    baseline: Sequence[str] | None = None,
    level: float = 0.95,
    resamples: int = BOOTSTRAP_RESAMPLES,
    seed: int = 0,
) -> tuple[float, float]:
    """A percentile-bootstrap interval of macro-F1 over the scored commits (resampled with replacement); with
    `baseline` (another model's predictions on the same commits), of macro-F1(y_pred) - macro-F1(baseline),
    paired: each resample scores both on the same rows. Deterministic for a seed.

    Why: the rare types (style, revert, perf) have a handful of commits in a hold-out, so one of them more or
    less right moves macro-F1 by a point; a difference to a bar smaller than this interval's half-width is noise.
    Why paired: two models scored on one hold-out err on many of the same commits, so their difference varies far
    less than either score."""
    if baseline is None:
        [scores] = _bootstrap_macro_f1(y_true, [y_pred], labels, resamples, seed)
        return _percentiles(scores, level)
    new, base = _bootstrap_macro_f1(y_true, [y_pred, baseline], labels, resamples, seed)
    return _percentiles(new - base, level)
