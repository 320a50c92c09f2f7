"""Run the checks through Great Expectations: one ephemeral context, a suite per table and pass, a checkpoint per pass.

Nothing persists on the GX side (no context directory): the record of a run is the rows in
ops.data_quality_results, written by `_store`, plus, when asked, the Data Docs HTML that GX's own site builder
renders into `docs_dir` (the stage copies it to the lake). GX is imported inside `run_checks` only, so importing
commitlake.quality costs nothing until a validation actually runs.
"""

from __future__ import annotations

import math
import os
from collections import defaultdict
from collections.abc import Mapping, Sequence
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from commitlake.errors import ConfigError
from commitlake.quality._checks import Check
from commitlake.quality._report import CheckResult

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


def _in_schema(sqlalchemy_url: str, schema: str) -> str:
    """The URL with libpq's `options=-csearch_path=<schema>`, so unqualified table names resolve there."""
    from sqlalchemy.engine import make_url

    url = make_url(sqlalchemy_url).update_query_dict({"options": f"-csearch_path={schema}"})
    return url.render_as_string(hide_password=False)


def run_checks(
    sqlalchemy_url: str,
    checks: Sequence[Check],
    parameters: Mapping[str, Any],
    docs_dir: Path | None = None,
) -> list[CheckResult]:
    """Validate every check against the warehouse; one result per check, in the order given.

    Two passes, because on a million rows GX's diagnostics cost as much as the checks: for a row-by-row
    ("map") expectation it runs a second query that fetches sample offending values, and that query scans the
    whole table (or sorts it, for uniqueness) even when nothing is wrong. So strict map checks are first
    screened with BOOLEAN_ONLY; only those that fail, plus the aggregate checks (whose observed value is the
    point) and checks with `mostly` (which may pass with offenders worth seeing), run with BASIC results.
    """
    if not checks:
        return []
    os.environ["GX_ANALYTICS_ENABLED"] = "false"  # before the import: GX reads it at import time
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig
    from great_expectations.expectations.expectation import (
        ColumnMapExpectation,
        ColumnPairMapExpectation,
        MulticolumnMapExpectation,
    )
    from great_expectations.expectations.registry import get_expectation_impl

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
    # One datasource per schema, the schema given as the connection's search_path: GX 1.x deprecates a table
    # asset's own `schema_name` in favour of the connection configuration.
    datasources: dict[str, Any] = {}
    batches = {}
    for table in dict.fromkeys(item.table for item in checks):
        schema_name, table_name = table.split(".", 1)
        if schema_name not in datasources:
            datasources[schema_name] = context.data_sources.add_postgres(
                f"warehouse {schema_name}", connection_string=_in_schema(sqlalchemy_url, schema_name)
            )
        asset = datasources[schema_name].add_table_asset(name=table, table_name=table_name)
        batches[table] = asset.add_batch_definition_whole_table(f"{table} whole table")
    classes = [get_expectation_impl(item.expectation) for item in checks]

    def validate(indexes: list[int], result_format: str) -> dict[int, Any]:
        """One checkpoint over the given checks; GX results keyed by check index."""
        by_table: dict[str, list[int]] = defaultdict(list)
        for index in indexes:
            by_table[checks[index].table].append(index)
        definitions = []
        for table, table_indexes in by_table.items():
            suite = context.suites.add(gx.ExpectationSuite(name=f"{table} {result_format}"))
            for index in table_indexes:
                suite.add_expectation(_build(classes[index], checks[index], index))
            definition = gx.ValidationDefinition(name=suite.name, data=batches[table], suite=suite)
            definitions.append(context.validation_definitions.add(definition))
        checkpoint = context.checkpoints.add(
            gx.Checkpoint(
                name=f"commitlake {result_format}",
                validation_definitions=definitions,
                actions=[],
                result_format={"result_format": result_format},
            )
        )
        outcome = checkpoint.run(expectation_parameters=dict(parameters))
        found: dict[int, Any] = {}
        for suite_result in outcome.run_results.values():
            for validation in suite_result.results:
                assert validation.expectation_config is not None
                found[int(validation.expectation_config.meta[_META_KEY])] = validation
        return found

    map_kinds = (ColumnMapExpectation, ColumnPairMapExpectation, MulticolumnMapExpectation)
    strict_map = [
        i for i, item in enumerate(checks) if issubclass(classes[i], map_kinds) and item.kwargs.get("mostly", 1) == 1
    ]
    try:
        screened = validate(strict_map, "BOOLEAN_ONLY") if strict_map else {}
        to_detail = [i for i in range(len(checks)) if i not in screened or not screened[i].success]
        # Row-returning SQL checks run with COMPLETE: only that format returns the offending rows (GX caps them).
        rows = [i for i in to_detail if "unexpected_rows_query" in checks[i].kwargs]
        basic = [i for i in to_detail if i not in rows]
        detailed = validate(basic, "BASIC") if basic else {}
        detailed.update(validate(rows, "COMPLETE") if rows else {})
        if docs_dir is not None:
            context.build_data_docs(site_names=[_DOCS_SITE])
    finally:
        for datasource in datasources.values():  # the local runner keeps the process alive: close GX's pools now
            datasource.get_engine().dispose()

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
