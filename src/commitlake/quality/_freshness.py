"""`dbt source freshness` as quality results: a stale source is a warning that carries its age.

dbt owns the rule (loaded_at_field, warn_after and error_after in dbt/models/staging/__sources.yml); this module
runs it, turns each source's verdict into a row of ops.data_quality_results (layer raw, suite
`dbt source freshness`) and never stops the pipeline: old data is worth a look, not a failed run.
"""

from __future__ import annotations

from typing import Any

from commitlake.config import Settings
from commitlake.logs import get_logger
from commitlake.quality._report import CheckResult

__all__ = ["FRESHNESS_SUITE", "check_source_freshness", "freshness_results"]

FRESHNESS_SUITE = "dbt source freshness"
_log = get_logger(__name__)


def freshness_results(dbt_results: Any) -> list[CheckResult]:
    """One result per source from a dbtRunnerResult of `dbt source freshness`."""
    results: list[CheckResult] = []
    for item in getattr(dbt_results, "results", None) or []:
        status = str(getattr(item.status, "value", item.status))
        node = item.node
        freshness = node.freshness.to_dict() if getattr(node, "freshness", None) is not None else {}
        observed: dict[str, Any] = {"status": status}
        age = getattr(item, "age", None)
        if age is not None:
            observed["age_hours"] = round(float(age) / 3600, 2)
            observed["max_loaded_at"] = str(item.max_loaded_at)
        else:
            observed["error"] = str(getattr(item, "message", "") or status)[:500]
        results.append(
            CheckResult(
                suite=FRESHNESS_SUITE,
                expectation="source_is_fresh",
                column_name=f"{node.source_name}.{node.name}",
                layer="raw",
                severity="warning",
                success=status == "pass",
                observed=observed,
                threshold={k: v for k, v in freshness.items() if k in ("warn_after", "error_after") and v},
            )
        )
    return results


def check_source_freshness(settings: Settings, database_url: str, run_id: str) -> list[CheckResult]:
    """Run `dbt source freshness`, record each source's verdict for the run, log stale ones; never raise on age."""
    from commitlake.quality._store import connect, replace_suite_results
    from commitlake.transform import run_dbt

    outcome = run_dbt(settings, database_url, ["source", "freshness", "--no-use-colors", "--quiet"])
    results = freshness_results(outcome.result)
    with connect(database_url) as conn:
        replace_suite_results(conn, run_id, FRESHNESS_SUITE, results)
    for stale in (r for r in results if not r.success):
        _log.warning("quality.source_stale", source=stale.column_name, **stale.observed)
    return results
