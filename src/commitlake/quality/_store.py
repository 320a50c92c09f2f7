"""The Postgres side of a validation run: which tables exist, the run-time parameters, the results table.

Plain psycopg on purpose: these are a handful of statements, and the results write must be one transaction
(delete the run's old rows, insert the new ones) so a rerun of the same run_id replaces rather than appends.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from decimal import Decimal
from typing import Any

import orjson
import psycopg
from psycopg.types.json import Jsonb

from commitlake.errors import WarehouseError
from commitlake.quality._freshness import FRESHNESS_SUITE
from commitlake.quality._report import CheckResult
from commitlake.warehouse.runs import replace_quality_results

__all__ = ["connect", "evaluate_parameters", "existing_tables", "replace_results", "replace_suite_results"]


def connect(database_url: str) -> psycopg.Connection[Any]:
    try:
        return psycopg.connect(database_url, autocommit=True, connect_timeout=10)
    except psycopg.Error as exc:
        raise WarehouseError(f"cannot connect to the warehouse: {exc}".strip()) from exc


def existing_tables(conn: psycopg.Connection[Any], tables: Iterable[str]) -> set[str]:
    """Which of the schema-qualified names exist as a table or view (dbt may build either)."""
    names = sorted(set(tables))
    rows = conn.execute("select name from unnest(%s::text[]) as name where to_regclass(name) is not null", [names])
    return {row[0] for row in rows}


def evaluate_parameters(
    conn: psycopg.Connection[Any], queries: Mapping[str, str]
) -> tuple[dict[str, Any], dict[str, str]]:
    """Run each parameter's scalar SQL; a failure (missing table) is returned, not raised, so only the checks
    that need that value fail."""
    values: dict[str, Any] = {}
    errors: dict[str, str] = {}
    for name, sql in queries.items():
        try:
            row = conn.execute(sql).fetchone()  # trusted, static SQL from _checks
        except psycopg.Error as exc:
            errors[name] = str(exc).strip().splitlines()[0]
            continue
        value = row[0] if row else None
        values[name] = float(value) if isinstance(value, Decimal) else value
    return values, errors


def _dumps(value: Any) -> str:
    return orjson.dumps(value, default=str, option=orjson.OPT_NON_STR_KEYS).decode()


def replace_results(
    conn: psycopg.Connection[Any], run_id: str, results: Sequence[CheckResult], layers: Sequence[str]
) -> None:
    """Make the run's rows for `layers` in ops.data_quality_results exactly `results`, atomically (validating one
    layer leaves the other layers' rows of the run alone, and so do the suites other stages write)."""
    _replace(conn, run_id, results, "layer = any(%s) and suite <> all(%s)", [list(layers), list(_FOREIGN_SUITES)])


def replace_suite_results(
    conn: psycopg.Connection[Any], run_id: str, suite: str, results: Sequence[CheckResult]
) -> None:
    """Make the run's rows of one suite exactly `results` (a suite written outside validate, e.g. freshness)."""
    _replace(conn, run_id, results, "suite = %s", [suite])


#: Suites written by other stages (transform's dbt source freshness): validate's replace leaves them alone.
_FOREIGN_SUITES = (FRESHNESS_SUITE,)


def _replace(
    conn: psycopg.Connection[Any], run_id: str, results: Sequence[CheckResult], where: str, args: list[Any]
) -> None:
    rows = [
        (r.suite, r.expectation, r.column_name, r.layer, r.severity, r.success,
         Jsonb(r.observed, dumps=_dumps), Jsonb(r.threshold, dumps=_dumps))
        for r in results
    ]  # fmt: skip
    try:
        replace_quality_results(conn, run_id, where, args, rows)
    except psycopg.Error as exc:
        raise WarehouseError(f"cannot record data quality results: {exc}".strip()) from exc
