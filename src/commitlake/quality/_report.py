"""What a validation run found, and the gate that turns a critical failure into an error.

validate_warehouse never raises on bad data: it records and reports. The decision to stop is `enforce`, kept
apart so a caller (a notebook, a dry run) can look at a failing report without the pipeline stopping.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from commitlake.errors import QualityGateFailed

__all__ = ["CheckResult", "QualityReport", "enforce"]


@dataclass(frozen=True)
class CheckResult:
    """One row of ops.data_quality_results."""

    suite: str
    expectation: str
    column_name: str | None
    layer: str
    severity: str
    success: bool
    observed: dict[str, Any]
    #: The bound the observed value was held to (GX arguments, or a monitor's median/MAD band).
    threshold: dict[str, Any] = field(default_factory=dict)

    @property
    def learning(self) -> bool:
        """A monitor without enough history yet: recorded, never a failure."""
        return self.observed.get("status") == "learning"

    def describe(self) -> str:
        target = f"({self.column_name})" if self.column_name else ""
        return f"{self.suite} {self.expectation}{target}"


@dataclass(frozen=True)
class QualityReport:
    run_id: str
    results: tuple[CheckResult, ...]
    duration_s: float

    @property
    def critical_failures(self) -> tuple[CheckResult, ...]:
        return tuple(r for r in self.results if not r.success and r.severity == "critical")

    @property
    def warnings(self) -> tuple[CheckResult, ...]:
        """Failed warning-level checks: recorded, never blocking."""
        return tuple(r for r in self.results if not r.success and r.severity == "warning")

    @property
    def passed(self) -> bool:
        return not self.critical_failures

    @property
    def counts(self) -> dict[str, dict[str, int]]:
        """Per layer: checks run, passed, failed critical, failed warning."""
        out: dict[str, dict[str, int]] = {}
        for r in self.results:
            layer = out.setdefault(r.layer, {"checks": 0, "passed": 0, "critical_failed": 0, "warning_failed": 0})
            layer["checks"] += 1
            if r.success:
                layer["passed"] += 1
            else:
                layer[f"{r.severity}_failed"] += 1
        return out

    def summary(self) -> dict[str, Any]:
        """JSON-ready digest for ops.pipeline_runs.details and the stage's log line."""
        return {
            "passed": self.passed,
            "checks": len(self.results),
            "counts": self.counts,
            "critical_failures": [r.describe() for r in self.critical_failures],
            "warnings": [r.describe() for r in self.warnings],
            "learning": sum(1 for r in self.results if r.learning),
            "duration_s": round(self.duration_s, 3),
        }


def enforce(report: QualityReport) -> None:
    """Stop the pipeline when any critical check failed; warnings never stop it."""
    failures = report.critical_failures
    if failures:
        names = "; ".join(r.describe() for r in failures)
        raise QualityGateFailed(
            f"data quality gate failed for run {report.run_id}: {len(failures)} critical check(s) failed: {names}"
        )
