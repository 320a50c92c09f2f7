"""validate: Great Expectations on every layer; a critical failure stops the pipeline here."""

from __future__ import annotations

import os

from commitlake.progress import Progress
from commitlake.stages import StageContext, StageResult

__all__ = ["run"]


def run(ctx: StageContext) -> StageResult:
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
    from commitlake.quality import enforce, validate_warehouse

    with Progress("validate", unit="", enabled=ctx.progress) as progress:  # no unit to count: a spinner and a clock
        progress.note("Great Expectations checks on raw, staging, analytics")
        report = validate_warehouse(ctx.warehouse.url, ctx.run_id)
    total = len(report.results)
    failed = [r for r in report.results if not r.success]
    details = {
        "expectations": total,
        "failed": len(failed),
        "critical_failures": len(report.critical_failures),
        "passed": report.passed,
    }
    enforce(report)
    warnings = len(failed) - len(report.critical_failures)
    return StageResult(
        f"{total - len(failed)}/{total} expectations passed ({warnings} warnings)",
        {"expectations": total, "failed": len(failed)},
        details,
    )
