"""Drift of a scoring run against the training reference: population stability index (PSI) per feature and
for the predicted types, stored in ops.model_drift with a warning past the threshold.

Why PSI on quantile bins of the training data: it needs only the bin edges and shares (a few numbers per
feature, logged with the model), it is computed from running bin counts so scoring memory stays flat, and its
usual reading is well known (< 0.1 stable, 0.1-0.2 moderate, > 0.2 shifted).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from commitlake.ml._features import NUMERIC_COLUMNS
from commitlake.warehouse import runs

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

__all__ = [
    "DRIFT_TABLE",
    "DRIFT_THRESHOLD",
    "REFERENCE_ARTIFACT",
    "DriftAccumulator",
    "latest_drift_lines",
    "psi",
    "reference_profile",
]

DRIFT_TABLE = runs.DRIFT_TABLE
DRIFT_THRESHOLD = 0.2
#: Where train logs the reference profile, relative to the run's artifacts.
REFERENCE_ARTIFACT = "reference/profile.json"
_EPS = 1e-4

def psi(expected: list[float], actual: list[float]) -> float:
    """Population stability index of two share vectors over the same bins."""
    import numpy as np

    e = np.clip(np.asarray(expected, dtype=float), _EPS, None)
    a = np.clip(np.asarray(actual, dtype=float), _EPS, None)
    return float(np.sum((a - e) * np.log(a / e)))


def reference_profile(x_train: pd.DataFrame, y_train: list[str]) -> dict[str, Any]:
    """Decile edges and shares of every numeric input, and the label shares, on the training rows."""
    import numpy as np

    features: dict[str, Any] = {}
    for column in NUMERIC_COLUMNS:
        values = x_train[column].to_numpy(dtype=float)
        edges = np.unique(np.quantile(values, np.linspace(0.1, 0.9, 9)))
        counts = np.bincount(np.searchsorted(edges, values, side="right"), minlength=len(edges) + 1)
        features[column] = {"edges": edges.tolist(), "shares": (counts / max(len(values), 1)).tolist()}
    labels, counts = np.unique(np.asarray(y_train), return_counts=True)
    return {
        "features": features,
        "labels": {str(k): float(v) / len(y_train) for k, v in zip(labels, counts, strict=True)},
    }


@dataclass
class DriftAccumulator:
    """Running bin counts of a scoring run, batch by batch; `result()` gives the PSIs."""

    profile: dict[str, Any]
    rows: int = 0
    _counts: dict[str, np.ndarray] = field(default_factory=dict)
    _predicted: dict[str, int] = field(default_factory=dict)

    def add(self, batch: pd.DataFrame, predicted: list[str]) -> None:
        import numpy as np

        for column, ref in self.profile["features"].items():
            edges = np.asarray(ref["edges"], dtype=float)
            binned = np.bincount(
                np.searchsorted(edges, batch[column].to_numpy(dtype=float), side="right"), minlength=len(edges) + 1
            )
            self._counts[column] = self._counts.get(column, 0) + binned
        for label in predicted:
            self._predicted[label] = self._predicted.get(label, 0) + 1
        self.rows += len(batch)

    def result(self) -> dict[str, Any]:
        if not self.rows:
            return {"rows": 0, "prediction_psi": 0.0, "feature_psi": {}, "max_psi": 0.0, "drifted": False}
        feature_psi = {
            column: round(psi(ref["shares"], (self._counts[column] / self.rows).tolist()), 4)
            for column, ref in self.profile["features"].items()
        }
        labels = sorted(set(self.profile["labels"]) | set(self._predicted))
        prediction_psi = round(
            psi([self.profile["labels"].get(k, 0.0) for k in labels],
                [self._predicted.get(k, 0) / self.rows for k in labels]),
            4,
        )  # fmt: skip
        max_psi = max([prediction_psi, *feature_psi.values()])
        return {"rows": self.rows, "prediction_psi": prediction_psi, "feature_psi": feature_psi,
                "max_psi": max_psi, "drifted": max_psi > DRIFT_THRESHOLD}  # fmt: skip


def store(conn: Any, run_id: str, model_name: str, model_version: str, drift: dict[str, Any]) -> None:
    """Upsert this run's drift row (a rerun of the same run replaces it)."""
    runs.store_drift(
        conn, run_id, model_name, int(model_version), drift["rows"], drift["prediction_psi"],
        json.dumps(drift["feature_psi"]), drift["max_psi"], drift["drifted"],
    )  # fmt: skip


def latest_drift_lines(conn: Any) -> list[str]:
    """`commitlake status` lines for the newest scoring batch of each model: its PSIs and, past
    DRIFT_THRESHOLD, a warning naming the most shifted input. Empty when nothing was ever scored."""
    rows = runs.latest_drift(conn)
    lines = []
    for name, version, run_id, measured_at, n, prediction_psi, feature_psi, max_psi, drifted in rows:
        worst = max(feature_psi.items(), key=lambda kv: kv[1], default=("-", 0.0))
        line = (
            f"model drift  {name} v{version}  run {run_id}  {measured_at:%Y-%m-%d %H:%M:%S %Z}  rows={n}"
            f"  PSI max={max_psi:.3f} prediction={prediction_psi:.3f} worst feature {worst[0]}={worst[1]:.3f}"
        )
        if drifted:
            line += f"  WARNING: drift over threshold {DRIFT_THRESHOLD}"
        lines.append(line)
    return lines
