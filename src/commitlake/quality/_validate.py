"""validate_warehouse: run the layers' checks and monitors, record every result, report; never raise on bad data."""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path

from commitlake.logs import get_logger
from commitlake.quality._checks import LAYERS, Check
from commitlake.quality._report import CheckResult, QualityReport
from commitlake.quality._spec import QualitySpec, load_spec
from commitlake.quality._store import connect, evaluate_parameters, existing_tables, replace_results

__all__ = ["default_quality_dir", "validate_warehouse"]

logger = get_logger(__name__)


def default_quality_dir() -> Path:
    """dbt/quality/ of the dbt project in use: the checks live beside the models they check."""
    from commitlake.contracts import default_dbt_dir

    return default_dbt_dir() / "quality"


def validate_warehouse(
    database_url: str,
    run_id: str,
    *,
    layers: Sequence[str] = LAYERS,
    spec: QualitySpec | None = None,
    quality_dir: Path | None = None,
    docs_dir: Path | None = None,
) -> QualityReport:
    """Validate `layers`; replace this run's rows for those layers in ops.data_quality_results.

    The YAML is loaded and schema-checked first (ConfigError naming file and line). A missing table or a
    parameter that cannot be computed fails the checks that need it (with the reason in `observed`) instead of
    aborting the run, so the report always covers every check. Only an unreachable warehouse or an unwritable
    results table raises (WarehouseError). With `docs_dir`, GX's site builder writes the Data Docs there.
    """
    started = time.perf_counter()
    spec = (spec or load_spec(quality_dir or default_quality_dir())).for_layers(layers)
    checks = spec.checks

    from commitlake.quality._gx import run_checks, verify_checks  # GX is heavy: import only when validating

    verify_checks(checks)
    with connect(database_url) as conn:
        present = existing_tables(conn, (c.table for c in checks))
        needed = {name for c in checks for name in c.parameters}
        parameters, parameter_errors = evaluate_parameters(conn, {n: spec.parameters[n] for n in sorted(needed)})

        blocked: dict[int, CheckResult] = {}
        runnable: list[Check] = []
        for index, item in enumerate(checks):
            reason = _blocker(item, present, parameter_errors)
            if reason is None:
                runnable.append(item)
            else:
                blocked[index] = _failed(item, reason)

        ran = iter(run_checks(database_url, runnable, parameters, docs_dir))
        results = [blocked[i] if i in blocked else next(ran) for i in range(len(checks))]

        from commitlake.quality._anomaly import run_monitors

        results.extend(run_monitors(conn, run_id, spec.monitors))
        replace_results(conn, run_id, results, layers)

    report = QualityReport(run_id=run_id, results=tuple(results), duration_s=time.perf_counter() - started)
    for failure in report.critical_failures + report.warnings:
        logger.warning(
            "quality.check_failed",
            check=failure.describe(),
            severity=failure.severity,
            layer=failure.layer,
            observed=failure.observed,
        )
    logger.info("quality.validated", layers=list(layers), **report.summary())
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
        threshold=item.threshold,
    )
