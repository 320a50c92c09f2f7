"""The data quality checks, as data: one line per check, grouped by warehouse layer.

A check names a table, a Great Expectations expectation (by its snake_case type, as the GX docs spell it), the
column and the expectation's arguments, plus our own severity: a failed `critical` check stops the pipeline at
validate, a failed `warning` check is only recorded. Nothing here imports GX, so reading or listing the checks
stays cheap; `_gx` turns them into suites.

Values that are only known at run time (the raw row count, "now") are GX suite parameters written as
`param("name")`; PARAMETERS holds the scalar SQL that computes each one just before the run.
Every expectation below is a SQL aggregate or a filtered count, so GX pushes it down to Postgres.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

__all__ = ["ANALYTICS", "CHECKS", "COMMIT_TYPES", "PARAMETERS", "RAW", "STAGING", "Check", "Severity", "check", "param"]

Severity = Literal["critical", "warning"]

#: The Conventional Commits types the label may take (lowercase); anything else must be null.
COMMIT_TYPES = ("feat", "fix", "docs", "style", "refactor", "perf", "test", "build", "ci", "chore", "revert")

#: Scalar SQL per suite parameter, evaluated once per validation run.
PARAMETERS: dict[str, str] = {
    "raw_commit_rows": "select count(*) from raw.github_commits",
    # "Rejected share below 1 % of loaded": at most this many rejected records.
    "max_rejected_rows": "select 0.01 * count(*) from raw.github_commits",
    # A day of slack for committer clocks slightly ahead of ours.
    "latest_sane_time": "select now() + interval '1 day'",
}

# Older than any history imported into git worth keeping; younger than the epoch-zero dates a parse bug yields.
EARLIEST_SANE_TIME = datetime(1990, 1, 1, tzinfo=UTC)


def param(name: str) -> dict[str, str]:
    """A reference to a run-time value from PARAMETERS (GX's suite-parameter syntax)."""
    if name not in PARAMETERS:
        raise KeyError(f"unknown quality parameter {name!r}")
    return {"$PARAMETER": name}


@dataclass(frozen=True)
class Check:
    """One expectation on one table, with the severity that decides whether its failure stops the pipeline."""

    table: str
    expectation: str
    column: str | None = None
    severity: Severity = "critical"
    kwargs: dict[str, Any] = field(default_factory=dict)
    name: str | None = None

    @property
    def layer(self) -> str:
        return self.table.split(".", 1)[0]

    @property
    def label(self) -> str:
        """What ops.data_quality_results.expectation records: an explicit name, else the GX type."""
        return self.name or self.expectation

    @property
    def parameters(self) -> tuple[str, ...]:
        return tuple(v["$PARAMETER"] for v in self.kwargs.values() if isinstance(v, dict) and "$PARAMETER" in v)

    def describe(self) -> str:
        """Short human name used in log lines and in the gate's error message."""
        target = f"({self.column})" if self.column else ""
        return f"{self.table} {self.label}{target}"


def check(
    table: str,
    expectation: str,
    column: str | None = None,
    *,
    severity: Severity = "critical",
    name: str | None = None,
    **kwargs: Any,
) -> Check:
    """One-line constructor so each spec entry below reads like a sentence."""
    if not re.fullmatch(r"[a-z_]+\.[a-z_]+", table):
        raise ValueError(f"table must be schema-qualified, got {table!r}")
    return Check(table=table, expectation=expectation, column=column, severity=severity, kwargs=kwargs, name=name)


RAW_COMMITS = "raw.github_commits"
RAW_REJECTED = "raw.rejected_records"
STG_COMMITS = "staging.stg_github__commits"
FCT_COMMITS = "analytics.fct_commits"
DIM_REPOS = "analytics.dim_repositories"
ML_FEATURES = "analytics.ml_commit_features"

RAW: tuple[Check, ...] = (
    check(RAW_COMMITS, "expect_column_values_to_not_be_null", "sha"),
    check(RAW_COMMITS, "expect_column_values_to_match_regex", "sha", regex=r"^[0-9a-f]{40}$"),
    check(RAW_COMMITS, "expect_column_values_to_not_be_null", "repo_full_name"),
    check(RAW_COMMITS, "expect_compound_columns_to_be_unique", column_list=["repo_full_name", "sha"]),
    check(RAW_COMMITS, "expect_column_values_to_not_be_null", "committed_at"),
    # mostly: a handful of commits with a broken committer clock is real history, not a pipeline bug;
    # a parse bug (epoch zero, milliseconds read as seconds) moves far more than 0.1 % of the rows.
    check(RAW_COMMITS, "expect_column_values_to_be_between", "committed_at",
          min_value=EARLIEST_SANE_TIME, max_value=param("latest_sane_time"), mostly=0.999),
    check(RAW_COMMITS, "expect_column_values_to_not_be_null", "payload"),
    check(RAW_REJECTED, "expect_table_row_count_to_be_between", severity="warning",
          name="rejected_share_at_most_1_percent_of_loaded", min_value=0, max_value=param("max_rejected_rows")),
)  # fmt: skip

STAGING: tuple[Check, ...] = (
    check(STG_COMMITS, "expect_column_values_to_not_be_null", "commit_id"),
    check(STG_COMMITS, "expect_column_values_to_be_unique", "commit_id"),
    check(STG_COMMITS, "expect_column_values_to_be_between", "additions", min_value=0),
    check(STG_COMMITS, "expect_column_values_to_be_between", "deletions", min_value=0),
    check(STG_COMMITS, "expect_table_row_count_to_equal", name="row_count_equals_raw", value=param("raw_commit_rows")),
)

ANALYTICS: tuple[Check, ...] = (
    check(FCT_COMMITS, "expect_column_values_to_not_be_null", "commit_id"),
    check(FCT_COMMITS, "expect_column_values_to_be_unique", "commit_id"),
    # Null (not a Conventional Commit) passes: GX map expectations skip nulls.
    check(FCT_COMMITS, "expect_column_values_to_be_in_set", "commit_type", value_set=list(COMMIT_TYPES)),
    check(FCT_COMMITS, "expect_column_values_to_not_be_null", "committed_date"),
    check(DIM_REPOS, "expect_column_values_to_not_be_null", "repo_full_name"),
    check(DIM_REPOS, "expect_column_values_to_be_unique", "repo_full_name"),
    check(ML_FEATURES, "expect_column_values_to_not_be_null", "commit_id"),
    check(ML_FEATURES, "expect_column_values_to_be_unique", "commit_id"),
    check(ML_FEATURES, "expect_column_values_to_be_in_set", "commit_type", value_set=list(COMMIT_TYPES)),
    # Training needs labels: an all-null label column is a broken transform, not a quiet day.
    check(ML_FEATURES, "expect_column_proportion_of_non_null_values_to_be_between", "commit_type",
          name="labelled_share_above_zero", min_value=0, strict_min=True),
    check(ML_FEATURES, "expect_column_values_to_not_be_null", "text"),
)  # fmt: skip

CHECKS: tuple[Check, ...] = RAW + STAGING + ANALYTICS
