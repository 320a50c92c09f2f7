"""The evaluation artifacts a reviewer opens in MLflow: per-class table, confusion-matrix PNG, importances.

Pure functions of predictions and the fitted pipeline, so bench/bench_ml.py writes the very same files.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from commitlake.ml._baselines import KEYWORD_RULES
from commitlake.ml._model import DERIVED_NAMES

__all__ = ["confusion_png", "feature_importances", "per_class_table"]


def per_class_table(y_true: Sequence[str], y_pred: Sequence[str], labels: Sequence[str]) -> list[dict[str, Any]]:
    """One row per label: precision, recall, F1 and support (how many true rows it has)."""
    from sklearn.metrics import precision_recall_fscore_support

    p, r, f, s = precision_recall_fscore_support(y_true, y_pred, labels=list(labels), zero_division=0)
    return [
        {"label": label, "precision": round(float(pi), 4), "recall": round(float(ri), 4), "f1": round(float(fi), 4),
         "support": int(si)}
        for label, pi, ri, fi, si in zip(labels, p, r, f, s, strict=True)
    ]  # fmt: skip


def confusion_png(y_true: Sequence[str], y_pred: Sequence[str], labels: Sequence[str], path: Path, title: str) -> Path:
    """A row-normalised confusion matrix (counts in the cells) as a PNG; returns `path`."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np
    from sklearn.metrics import confusion_matrix

    counts = confusion_matrix(y_true, y_pred, labels=list(labels))
    shares = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1)
    fig, ax = plt.subplots(figsize=(8, 7))
    ax.imshow(shares, cmap="Blues", vmin=0, vmax=1)
    ax.set_xticks(range(len(labels)), labels, rotation=45, ha="right")
    ax.set_yticks(range(len(labels)), labels)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title)
    for i in range(len(labels)):
        for j in range(len(labels)):
            if counts[i, j]:
                ax.text(j, i, str(counts[i, j]), ha="center", va="center", fontsize=7,
                        color="white" if shares[i, j] > 0.5 else "black")  # fmt: skip
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _feature_names(pipeline: Any) -> list[str]:
    features = pipeline.named_steps["features"]
    names: list[str] = []
    for name, transformer, columns in features.transformers_:
        if name == "remainder" or transformer == "drop":
            continue
        width = _width(transformer)
        if name == "numeric":
            names += [f"numeric:{n}" for n in DERIVED_NAMES]
        elif name == "keywords":  # model.keyword_flags: one flag per (column, rule)
            names += [f"keywords:{column}:{label}" for column in columns for label, _ in KEYWORD_RULES]
        elif width is None:
            names += [f"{name}:#{i}" for i in range(len(columns))]
        else:
            names += [f"{name}:#{i}" for i in range(width)]
    return names


def _width(transformer: Any) -> int | None:
    for step in reversed(getattr(transformer, "steps", [])):
        est = step[1]
        for attr in ("n_components", "n_features"):
            if isinstance(getattr(est, attr, None), int):
                return int(getattr(est, attr))
        if hasattr(est, "idf_"):
            return int(est.idf_.shape[0])
    return None


def feature_importances(pipeline: Any, top: int = 40) -> dict[str, Any]:
    """Per feature-block importance shares and the top features: impurity importances for forests, mean
    |coefficient| for linear models; hashed text features are named by block and bucket (hashing keeps no
    vocabulary). Empty for models that expose neither (gradient boosting on SVD components)."""
    import numpy as np

    classifier = pipeline.named_steps["classifier"]
    if hasattr(classifier, "feature_importances_"):
        values = np.asarray(classifier.feature_importances_, dtype=float)
        kind = "impurity"
    elif hasattr(classifier, "coef_"):
        values = np.abs(np.asarray(classifier.coef_, dtype=float)).mean(axis=0)
        kind = "mean_abs_coef"
    else:
        return {"kind": "none", "blocks": {}, "top": []}
    names = _feature_names(pipeline)
    if len(names) != len(values):
        names = [f"f{i}" for i in range(len(values))]
    total = float(values.sum()) or 1.0
    blocks: dict[str, float] = {}
    for name, value in zip(names, values, strict=True):
        blocks[name.split(":")[0]] = blocks.get(name.split(":")[0], 0.0) + float(value) / total
    order = np.argsort(-values)[:top]
    return {
        "kind": kind,
        "blocks": {k: round(v, 4) for k, v in sorted(blocks.items(), key=lambda kv: -kv[1])},
        "top": [{"feature": names[i], "importance": round(float(values[i]), 6)} for i in order],
    }
