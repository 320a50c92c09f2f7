"""Run the checks through Great Expectations: one ephemeral context, a suite per table and pass, a checkpoint per pass.

Nothing persists on the GX side (no context directory): the record of a run is the rows in
ops.data_quality_results, written by `_store`, plus, when asked, the Data Docs HTML that GX's own site builder
renders into `docs_dir` (the stage copies it to the lake). GX is imported inside `run_checks` only, so importing
commitlake.quality costs nothing until a validation actually runs.
"""

from __future__ import annotations

import functools
import math
import os
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from commitlake.errors import ConfigError
from commitlake.quality._checks import Check
from commitlake.quality._report import CheckResult
from commitlake.warehouse.dsn import sqlalchemy_url

__all__ = ["run_checks"]

# Keys of a GX result worth keeping in `observed`; the rest repeats these in other units.
_RESULT_KEYS = ("observed_value", "element_count", "unexpected_count", "unexpected_percent", "missing_count")
_SAMPLE_SIZE = 5
_SAMPLE_CHARS = 200
_META_KEY = "commitlake_check"
_DOCS_SITE = "commitlake"


def verify_checks(checks: Sequence[Check]) -> None:
    """Build every expectation once, so an unknown expectation or a bad argument is a ConfigError naming the YAML
    file and line before anything runs (GX validates arguments with pydantic when an expectation is built)."""
    os.environ["GX_ANALYTICS_ENABLED"] = "false"
    from great_expectations.expectations.registry import get_expectation_impl

    for item in checks:
        try:
            _build(get_expectation_impl(item.expectation), item, 0)
        except Exception as exc:  # ExpectationNotFoundError, pydantic ValidationError, InvalidExpectationConfiguration
            reason = " ".join(str(exc).split())[:300]
            raise ConfigError(f"{item.source or item.table}: {item.expectation}: {reason}") from None


def _build(cls: Any, item: Check, index: int) -> Any:
    arguments: dict[str, Any] = {"column": item.column} if item.column else {}
    arguments.update(item.kwargs, severity=item.severity, meta={_META_KEY: index}, description=item.label)
    return cls(**arguments)


def run_checks(
    database_url: str,
    checks: Sequence[Check],
    parameters: Mapping[str, Any],
    docs_dir: Path | None = None,
) -> list[CheckResult]:
    """Validate every check against the warehouse at `database_url`; one result per check, in the order given.

    Two passes, because on a million rows GX's diagnostics cost as much as the checks: for a row-by-row
    ("map") expectation it runs a second query that fetches sample offending values, and that query scans the
    whole table (or sorts it, for uniqueness) even when nothing is wrong. So strict map checks are first
    screened with BOOLEAN_ONLY; only those that fail, plus the aggregate checks (whose observed value is the
    point) and checks with `mostly` (which may pass with offenders worth seeing), run with BASIC results.
    Row-returning SQL checks likewise: GX runs their query twice, as a count and for the rows, even when no row
    comes back, so they are counted first and only those with offending rows run again for the rows.
    """
    if not checks:
        return []
    os.environ["GX_ANALYTICS_ENABLED"] = "false"  # before the import: GX reads it at import time
    from great_expectations.expectations.registry import get_expectation_impl

    context = _context(docs_dir)
    datasources: dict[str, Any] = {}
    try:
        run = _Run(
            context,
            _batches(context, database_url, checks, datasources),
            checks,
            parameters,
            [get_expectation_impl(item.expectation) for item in checks],
        )
        screened, detailed = run.two_passes()
        if docs_dir is not None:
            context.build_data_docs(site_names=[_DOCS_SITE])
    finally:
        for datasource in datasources.values():  # the local runner keeps the process alive: close GX's pools now
            datasource.get_engine().dispose()
    return _results(checks, parameters, screened, detailed)


def _context(docs_dir: Path | None) -> Any:
    """An ephemeral GX context, without progress bars, rendering Data Docs into `docs_dir` when given."""
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig

    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    if docs_dir is not None:
        for site in list(context.variables.data_docs_sites or {}):
            context.delete_data_docs_site(site)  # the ephemeral default writes to a temp dir of its own
        context.add_data_docs_site(
            _DOCS_SITE,
            {
                "class_name": "SiteBuilder",
                "store_backend": {"class_name": "TupleFilesystemStoreBackend", "base_directory": str(docs_dir)},
                "site_index_builder": {"class_name": "DefaultSiteIndexBuilder"},
            },
        )
    return context


def _batches(context: Any, database_url: str, checks: Sequence[Check], datasources: dict[str, Any]) -> dict[str, Any]:
    """A whole-table batch definition per table checked; fills `datasources` (one per schema) for disposal.

    The schema is the connection's search_path: GX 1.x deprecates a table asset's own `schema_name` in favour of
    the connection configuration.
    """
    batches = {}
    for table in dict.fromkeys(item.table for item in checks):
        schema_name, table_name = table.split(".", 1)
        if schema_name not in datasources:
            datasources[schema_name] = context.data_sources.add_postgres(
                f"warehouse {schema_name}", connection_string=sqlalchemy_url(database_url, search_path=schema_name)
            )
        asset = datasources[schema_name].add_table_asset(name=table, table_name=table_name)
        batches[table] = asset.add_batch_definition_whole_table(f"{table} whole table")
    return batches


@dataclass(frozen=True)
class _Run:
    """The checkpoints of one validation: GX results keyed by check index."""

    context: Any
    batches: dict[str, Any]
    checks: Sequence[Check]
    parameters: Mapping[str, Any]
    classes: list[Any]

    def two_passes(self) -> tuple[dict[int, Any], dict[int, Any]]:
        """(screened, detailed): the BOOLEAN_ONLY screen of strict map checks, then details where they matter."""
        from great_expectations.expectations.expectation import (
            ColumnMapExpectation,
            ColumnPairMapExpectation,
            MulticolumnMapExpectation,
        )

        map_kinds = (ColumnMapExpectation, ColumnPairMapExpectation, MulticolumnMapExpectation)
        strict_map = [
            i
            for i, item in enumerate(self.checks)
            if issubclass(self.classes[i], map_kinds) and item.kwargs.get("mostly", 1) == 1
        ]
        screened = self.validate(strict_map, "BOOLEAN_ONLY") if strict_map else {}
        to_detail = [i for i in range(len(self.checks)) if i not in screened or not screened[i].success]
        rows = [i for i in to_detail if "unexpected_rows_query" in self.checks[i].kwargs]
        # Row-returning SQL checks are counted with the rest (one query each; their observed value is the count);
        # those with offending rows run again with COMPLETE, the one format that returns the rows (GX caps them).
        detailed = self.validate(to_detail, "BASIC", counted=frozenset(rows)) if to_detail else {}
        offending = [i for i in rows if not detailed[i].success]
        detailed.update(self.validate(offending, "COMPLETE") if offending else {})
        return screened, detailed

    def validate(self, indexes: list[int], result_format: str, counted: frozenset[int] = frozenset()) -> dict[int, Any]:
        """One checkpoint over the given checks (those in `counted`: row-returning SQL checks, by their row count
        only); GX results keyed by check index."""
        import great_expectations as gx

        by_table: dict[str, list[int]] = defaultdict(list)
        for index in indexes:
            by_table[self.checks[index].table].append(index)
        definitions = []
        for table, table_indexes in by_table.items():
            suite = self.context.suites.add(gx.ExpectationSuite(name=f"{table} {result_format}"))
            for index in table_indexes:
                cls = _row_count_expectation() if index in counted else self.classes[index]
                suite.add_expectation(_build(cls, self.checks[index], index))
            definition = gx.ValidationDefinition(name=suite.name, data=self.batches[table], suite=suite)
            definitions.append(self.context.validation_definitions.add(definition))
        checkpoint = self.context.checkpoints.add(
            gx.Checkpoint(
                name=f"commitlake {result_format}",
                validation_definitions=definitions,
                actions=[],
                result_format={"result_format": result_format},
            )
        )
        outcome = checkpoint.run(expectation_parameters=dict(self.parameters))
        found: dict[int, Any] = {}
        for suite_result in outcome.run_results.values():
            for validation in suite_result.results:
                assert validation.expectation_config is not None
                found[int(validation.expectation_config.meta[_META_KEY])] = validation
        return found


@functools.cache
def _row_count_expectation() -> type:
    """GX's UnexpectedRowsExpectation measuring only the number of offending rows: GX's own class also depends on
    the rows themselves, a second run of the same query. Built once, on first use (GX registers it by name)."""
    from great_expectations.expectations.core.unexpected_rows_expectation import UnexpectedRowsExpectation

    class CommitlakeUnexpectedRowCount(UnexpectedRowsExpectation):
        """The number of rows `unexpected_rows_query` returns, counted by the server; success when none."""

        metric_dependencies = ("unexpected_rows_query.row_count",)

        def _validate(self, metrics: dict[str, Any], runtime_configuration: dict[str, Any] | None = None,
                      execution_engine: Any = None) -> dict[str, Any]:
            count = metrics["unexpected_rows_query.row_count"]
            return {"success": count == 0, "result": {"observed_value": count}}

    return CommitlakeUnexpectedRowCount


def _results(
    checks: Sequence[Check], parameters: Mapping[str, Any], screened: dict[int, Any], detailed: dict[int, Any]
) -> list[CheckResult]:
    """One CheckResult per check, in order, from whichever pass saw it last."""
    results: list[CheckResult] = []
    for index, item in enumerate(checks):
        validation = detailed.get(index) or screened.get(index)
        if validation is None:  # GX drops nothing today; if a version ever does, a silent pass is the worst outcome
            raise RuntimeError(f"Great Expectations returned no result for {item.describe()}")
        if index in detailed:
            observed = _observed(validation.result, validation.exception_info, item, parameters)
        else:  # passed the BOOLEAN_ONLY screen: a strict map check passes only with no offending row
            observed = {"unexpected_count": 0}
        results.append(
            CheckResult(
                suite=item.table,
                expectation=item.label,
                column_name=item.column,
                layer=item.layer,
                severity=item.severity,
                success=bool(validation.success),
                observed=observed,
                threshold=dict(_plain(item.threshold)),
            )
        )
    return results


def _observed(
    result: Mapping[str, Any] | None,
    exception_info: Mapping[str, Any] | None,
    item: Check,
    parameters: Mapping[str, Any],
) -> dict[str, Any]:
    """The part of a GX result a person needs to see why a check failed, small enough for a jsonb cell."""
    result = result or {}
    observed: dict[str, Any] = {key: result[key] for key in _RESULT_KEYS if key in result}
    sample = result.get("partial_unexpected_list") or (result.get("details") or {}).get("unexpected_rows") or []
    if sample:
        observed["unexpected_sample"] = [_clip(value) for value in sample[:_SAMPLE_SIZE]]
    if item.parameters:
        observed["parameters"] = {name: parameters.get(name) for name in item.parameters}
    error = _exception_message(exception_info)
    if error:
        observed["error"] = error
    return dict(_plain(observed))


def _plain(value: Any) -> Any:
    """Plain JSON types: GX hands back str subclasses as keys (SQLAlchemy's quoted_name), Decimals, datetimes,
    and NaN for a ratio over zero rows; the results table and the JSON logs take none of those."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set):
        return [_plain(v) for v in value]
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float | Decimal):
        number = float(value)
        return number if math.isfinite(number) else None
    if isinstance(value, datetime | date):
        return value.isoformat()
    return str(value)


def _exception_message(info: Mapping[str, Any] | None) -> str | None:
    """GX reports either one exception dict or a dict of them keyed by metric; return the first message."""
    if not info:
        return None
    candidates = [info] if "raised_exception" in info else [v for v in info.values() if isinstance(v, Mapping)]
    for candidate in candidates:
        if candidate.get("raised_exception"):
            return str(candidate.get("exception_message") or "exception without a message")[:1000]
    return None


def _clip(value: Any) -> Any:
    if isinstance(value, str) and len(value) > _SAMPLE_CHARS:
        return value[:_SAMPLE_CHARS] + "…"
    return value
