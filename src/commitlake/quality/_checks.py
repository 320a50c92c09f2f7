"""What a check and a monitor are. The checks themselves are data: YAML beside the dbt models (see `_spec`).

A check names a table, a Great Expectations expectation (by its snake_case type, as the GX docs spell it), the
column and the expectation's arguments, plus our own severity: a failed `critical` check stops the pipeline at
validate, a failed `warning` check is only recorded. A monitor is a metric compared with its own history
(`_anomaly`). Nothing here imports GX, so reading or listing the checks stays cheap.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

__all__ = ["LAYERS", "Check", "Layer", "Monitor", "Severity"]

Severity = Literal["critical", "warning"]
Layer = Literal["raw", "staging", "analytics", "features"]

#: Validation layers, in the order the pipeline builds them.
LAYERS: tuple[str, ...] = ("raw", "staging", "analytics", "features")


@dataclass(frozen=True)
class Check:
    """One expectation on one table, with the severity that decides whether its failure stops the pipeline."""

    table: str
    expectation: str
    column: str | None = None
    severity: Severity = "critical"
    kwargs: dict[str, Any] = field(default_factory=dict)
    name: str | None = None
    layer: str = ""
    #: file:line of the YAML entry, for error messages.
    source: str = ""

    def __post_init__(self) -> None:
        if not self.layer:
            object.__setattr__(self, "layer", self.table.split(".", 1)[0])

    @property
    def label(self) -> str:
        """What ops.data_quality_results.expectation records: an explicit name, else the GX type."""
        return self.name or self.expectation

    @property
    def parameters(self) -> tuple[str, ...]:
        return tuple(v["$PARAMETER"] for v in self.kwargs.values() if isinstance(v, dict) and "$PARAMETER" in v)

    @property
    def threshold(self) -> dict[str, Any]:
        """The arguments that bound the check (recorded beside the observed value)."""
        skip = {"unexpected_rows_query", "regex", "value_set", "column_list"}
        return {k: v for k, v in self.kwargs.items() if k not in skip}

    def describe(self) -> str:
        """Short human name used in log lines and in the gate's error message."""
        target = f"({self.column})" if self.column else ""
        return f"{self.table} {self.label}{target}"


@dataclass(frozen=True)
class Monitor:
    """A metric of one table (per group for volume/freshness) judged against its trailing median and MAD."""

    table: str
    layer: str
    metric: Literal["volume", "freshness", "null_rate", "distinct_count"]
    column: str | None
    by: str | None
    severity: Severity = "warning"
    threshold_mads: float = 5.0
    min_change: float = 0.0
    min_relative_change: float = 0.5
    min_history: int = 5
    window: int = 30
    source: str = ""

    @property
    def label(self) -> str:
        return f"{self.metric}_anomaly"
