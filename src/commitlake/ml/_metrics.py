"""Scores for one set of predictions on the test split, and the baseline every model must beat.

Macro-F1 is the headline (and the promotion criterion) because the classes are very unbalanced: `chore` and
`fix` dominate, and a model can look accurate while never predicting `perf` or `revert`.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

__all__ = ["confusion", "majority_label", "score"]


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
