"""The quality gate's arithmetic, exactly: which results stop the pipeline, which are only warnings, and what
the report says about them. Pure (no database, no GX) so `make mutation` can run it per mutant in a second;
the end-to-end proof that the validate stage calls the gate is test_validate_gate.py."""

from __future__ import annotations

import json
from dataclasses import FrozenInstanceError
from typing import Any

import pytest
import yaml

from commitlake.errors import QualityGateFailed
from commitlake.quality import CheckResult, QualityReport, enforce


def _check(
    suite: str = "raw_commits",
    expectation: str = "expect_column_values_to_not_be_null",
    column: str | None = "sha",
    layer: str = "raw",
    severity: str = "critical",
    success: bool = True,
    observed: dict[str, Any] | None = None,
) -> CheckResult:
    return CheckResult(suite, expectation, column, layer, severity, success, observed or {})


def test_a_check_without_a_column_is_described_by_suite_and_expectation_only() -> None:
    assert _check(column="sha").describe() == "raw_commits expect_column_values_to_not_be_null(sha)"
    assert _check(column=None, expectation="row_count").describe() == "raw_commits row_count"


def test_only_a_learning_monitor_is_learning() -> None:
    assert _check(observed={"status": "learning"}).learning
    assert not _check(observed={"status": "ok"}).learning
    assert not _check().learning


def test_default_threshold_is_empty_and_not_shared() -> None:
    first, second = _check(), _check()
    assert first.threshold == {}
    first.threshold["max"] = 1
    assert second.threshold == {}


def test_results_are_immutable() -> None:
    with pytest.raises(FrozenInstanceError):
        _check().success = False  # type: ignore[misc]
    report = QualityReport("r", (), 0.0)
    with pytest.raises(FrozenInstanceError):
        report.run_id = "x"  # type: ignore[misc]


def _mixed() -> QualityReport:
    return QualityReport(
        "run-7",
        (
            _check(column="sha"),  # passed critical
            _check(column="author", success=False),  # failed critical
            _check(column="files", layer="staging", severity="warning", success=False),  # failed warning
            _check(column="msg", layer="staging", severity="warning"),  # passed warning
            _check(column=None, expectation="volume", layer="analytics", observed={"status": "learning"}),
            _check(column="date", layer="analytics", success=False),  # failed critical
        ),
        1.23456,
    )


def test_critical_failures_and_warnings_are_the_failed_ones_of_each_severity() -> None:
    report = _mixed()
    assert [r.column_name for r in report.critical_failures] == ["author", "date"]
    assert [r.column_name for r in report.warnings] == ["files"]
    assert not report.passed


def test_a_report_with_only_failed_warnings_passes() -> None:
    report = QualityReport("r", (_check(severity="warning", success=False), _check()), 0.0)
    assert report.passed
    assert report.critical_failures == ()
    assert len(report.warnings) == 1
    enforce(report)  # does not raise


def test_counts_per_layer_with_uneven_outcomes() -> None:
    report = QualityReport(
        "r",
        (
            _check(layer="raw"),
            _check(layer="raw"),
            _check(layer="raw", success=False),
            _check(layer="staging", severity="warning", success=False),
        ),
        0.0,
    )
    assert report.counts == {
        "raw": {"checks": 3, "passed": 2, "critical_failed": 1, "warning_failed": 0},
        "staging": {"checks": 1, "passed": 0, "critical_failed": 0, "warning_failed": 1},
    }


def test_values_decoded_from_a_spec_or_the_store_compare_by_value() -> None:
    """Severities come from the YAML spec and monitor state from stored JSON: equal strings, not the same
    objects as the literals in the code."""
    spec = yaml.safe_load("a: critical\nb: warning\n")
    observed = json.loads('{"status": "learning"}')
    report = QualityReport(
        "r",
        (
            _check(column="a", severity=spec["a"], success=False),
            _check(column="b", severity=spec["b"], success=False),
            _check(column="c", observed=observed),
        ),
        0.0,
    )
    assert [r.column_name for r in report.critical_failures] == ["a"]
    assert [r.column_name for r in report.warnings] == ["b"]
    assert report.results[2].learning
    with pytest.raises(QualityGateFailed):
        enforce(report)


def test_counts_per_layer() -> None:
    assert _mixed().counts == {
        "raw": {"checks": 2, "passed": 1, "critical_failed": 1, "warning_failed": 0},
        "staging": {"checks": 2, "passed": 1, "critical_failed": 0, "warning_failed": 1},
        "analytics": {"checks": 2, "passed": 1, "critical_failed": 1, "warning_failed": 0},
    }


def test_summary_is_the_exact_digest() -> None:
    assert _mixed().summary() == {
        "passed": False,
        "checks": 6,
        "counts": _mixed().counts,
        "critical_failures": [
            "raw_commits expect_column_values_to_not_be_null(author)",
            "raw_commits expect_column_values_to_not_be_null(date)",
        ],
        "warnings": ["raw_commits expect_column_values_to_not_be_null(files)"],
        "learning": 1,
        "duration_s": 1.235,
    }
    assert QualityReport("r", (), 0.0).summary()["passed"] is True


def test_enforce_names_every_critical_failure_and_the_run() -> None:
    with pytest.raises(QualityGateFailed) as caught:
        enforce(_mixed())
    assert str(caught.value) == (
        "data quality gate failed for run run-7: 2 critical check(s) failed: "
        "raw_commits expect_column_values_to_not_be_null(author); "
        "raw_commits expect_column_values_to_not_be_null(date)"
    )


def test_enforce_passes_a_clean_report() -> None:
    enforce(QualityReport("r", (_check(), _check(severity="warning")), 0.0))
    enforce(QualityReport("empty", (), 0.0))
