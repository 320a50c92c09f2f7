"""validate_warehouse: run every check, record every result, report; never raise on bad data."""

from __future__ import annotations

import time
from collections.abc import Sequence

from commitlake.logs import get_logger
from commitlake.quality._checks import CHECKS, PARAMETERS, Check
from commitlake.quality._dsn import gx_connection_string
from commitlake.quality._report import CheckResult, QualityReport
from commitlake.quality._store import connect, evaluate_parameters, existing_tables, replace_results

__all__ = ["validate_warehouse"]

logger = get_logger(__name__)


def validate_warehouse(database_url: str, run_id: str, checks: Sequence[Check] = CHECKS) -> QualityReport:
    """Validate raw, staging and analytics; replace this run's rows in ops.data_quality_results.

    A missing table or a parameter that cannot be computed fails the checks that need it (with the reason
    in `observed`) instead of aborting the run, so the report always covers every check. Only an unreachable
    warehouse or an unwritable results table raises (WarehouseError).
    """
    started = time.perf_counter()
    with connect(database_url) as conn:
        present = existing_tables(conn, (c.table for c in checks))
        needed = {name for c in checks for name in c.parameters}
        parameters, parameter_errors = evaluate_parameters(conn, {n: PARAMETERS[n] for n in sorted(needed)})

        blocked: dict[int, CheckResult] = {}
        runnable: list[Check] = []
        for index, item in enumerate(checks):
            reason = _blocker(item, present, parameter_errors)
            if reason is None:
                runnable.append(item)
            else:
                blocked[index] = _failed(item, reason)

        from commitlake.quality._gx import run_checks  # GX is heavy: import only when validating

        ran = iter(run_checks(gx_connection_string(database_url), runnable, parameters))
        results = tuple(blocked[i] if i in blocked else next(ran) for i in range(len(checks)))
        replace_results(conn, run_id, results)

    report = QualityReport(run_id=run_id, results=results, duration_s=time.perf_counter() - started)
    for failure in report.critical_failures + report.warnings:
        logger.warning(
            "quality.check_failed",
            check=failure.describe(),
            severity=failure.severity,
            layer=failure.layer,
            observed=failure.observed,
        )
    logger.info("quality.validated", **report.summary())
    return report


def _blocker(item: Check, present: set[str], parameter_errors: dict[str, str]) -> str | None:
    if item.table not in present:
        return f"table {item.table} does not exist"
    for name in item.parameters:
        if name in parameter_errors:
            return f"parameter {name} could not be computed: {parameter_errors[name]}"
    return None


def _failed(item: Check, reason: str) -> CheckResult:
    return CheckResult(
        suite=item.table,
        expectation=item.label,
        column_name=item.column,
        layer=item.layer,
        severity=item.severity,
        success=False,
        observed={"error": reason},
    )
