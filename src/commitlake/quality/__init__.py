"""The validate stage's library: Great Expectations suites on every warehouse layer and the quality gate.

    report = validate_warehouse(database_url, run_id)   # runs every check, records ops.data_quality_results
    enforce(report)                                     # raises QualityGateFailed on a critical failure

The checks themselves are data (commitlake.quality._checks): one line per check, with its severity.
"""

from commitlake.quality._checks import ANALYTICS, CHECKS, COMMIT_TYPES, PARAMETERS, RAW, STAGING, Check, check, param
from commitlake.quality._report import CheckResult, QualityReport, enforce
from commitlake.quality._validate import validate_warehouse

__all__ = [
    "ANALYTICS",
    "CHECKS",
    "COMMIT_TYPES",
    "PARAMETERS",
    "RAW",
    "STAGING",
    "Check",
    "CheckResult",
    "QualityReport",
    "check",
    "enforce",
    "param",
    "validate_warehouse",
]
