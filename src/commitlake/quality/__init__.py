"""The validate stage's library: per-layer Great Expectations suites, anomaly monitors and the quality gate.

    report = validate_warehouse(database_url, run_id, layers=["raw"])  # runs and records ops.data_quality_results
    enforce(report)                                                    # raises QualityGateFailed on a critical failure

The checks themselves are data: one YAML file per table under dbt/quality/<layer>/ (see `_spec`), each check
with its severity; monitors compare a metric with its own history (see `_anomaly`).
"""

from commitlake.quality._checks import LAYERS, Check, Monitor
from commitlake.quality._report import CheckResult, QualityReport, enforce
from commitlake.quality._spec import QualitySpec, load_spec
from commitlake.quality._validate import default_quality_dir, validate_warehouse

__all__ = [
    "LAYERS",
    "Check",
    "CheckResult",
    "Monitor",
    "QualityReport",
    "QualitySpec",
    "default_quality_dir",
    "enforce",
    "load_spec",
    "validate_warehouse",
]
