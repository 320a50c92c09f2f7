"""Load the quality YAML (one file per table, beside the dbt models) into Checks and Monitors, strictly.

Every file is schema-checked when it is loaded: an unknown key, a misspelt severity or a missing field is a
ConfigError naming the file and line, before any check runs. Values a check needs at run time are written as
`{param: NAME}` (a scalar SQL declared under `parameters:`), and dbt project vars as `{var: NAME}`, so the
commit-type list is read from dbt_project.yml rather than copied.

    table: raw.github_commits        # schema-qualified; the file is named after the table
    layer: raw                       # raw | staging | analytics | features
    parameters: {latest_sane_time: "select now() + interval '1 day'"}
    checks:
      - expectation: expect_column_values_to_be_between     # any GX 1.x expectation, snake_case
        column: committed_at
        severity: critical                                  # critical stops the pipeline; warning is recorded
        with: {min_value: 1990-01-01T00:00:00Z, max_value: {param: latest_sane_time}, mostly: 0.999}
      - expectation: unexpected_rows_expectation             # SQL: the rows returned are the failures
        name: no_orphan_files
        severity: critical
        with: {unexpected_rows_query: "select f.* from {batch} as f left join ... where c.commit_id is null"}
    monitors:                        # anomaly detection against the history in ops.data_quality_results
      - {metric: volume, by: repo_full_name, min_change: 20}

GX substitutes `{batch}` with the table: in a query with a JOIN, alias it yourself (`{batch} as f`); without a
JOIN, GX aliases it and the query must not.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, Literal

import msgspec
import yaml

from commitlake.errors import ConfigError
from commitlake.quality._checks import LAYERS, Check, Monitor

__all__ = ["QualitySpec", "load_spec"]

_TABLE = re.compile(r"[a-z_][a-z0-9_]*\.[a-z_][a-z0-9_]*")
_PATH_PART = re.compile(r"\.([A-Za-z_][A-Za-z0-9_]*)|\[(\d+)\]")


class _CheckSpec(msgspec.Struct, forbid_unknown_fields=True):
    expectation: str
    severity: Literal["critical", "warning"]
    column: str | None = None
    name: str | None = None
    with_: dict[str, Any] = msgspec.field(name="with", default_factory=dict)


class _MonitorSpec(msgspec.Struct, forbid_unknown_fields=True):
    metric: Literal["volume", "freshness", "null_rate", "distinct_count"]
    by: str | None = None
    column: str | None = None
    columns: list[str] = msgspec.field(default_factory=list)
    severity: Literal["critical", "warning"] = "warning"
    threshold_mads: float = 5.0
    min_change: float = 0.0
    min_relative_change: float = 0.5
    min_history: int = 5
    window: int = 30


class _TableSpec(msgspec.Struct, forbid_unknown_fields=True):
    table: str
    layer: Literal["raw", "staging", "analytics", "features"]
    parameters: dict[str, str] = msgspec.field(default_factory=dict)
    checks: list[_CheckSpec] = msgspec.field(default_factory=list)
    monitors: list[_MonitorSpec] = msgspec.field(default_factory=list)


class QualitySpec(msgspec.Struct, frozen=True):
    """Everything the quality YAML declares: checks, monitors, and the run-time parameters they use."""

    checks: tuple[Check, ...]
    monitors: tuple[Monitor, ...]
    parameters: dict[str, str]

    def for_layers(self, layers: Iterable[str]) -> QualitySpec:
        wanted = set(layers)
        unknown = wanted - set(LAYERS)
        if unknown:
            raise ConfigError(f"unknown quality layer(s) {', '.join(sorted(unknown))}; layers: {', '.join(LAYERS)}")
        return QualitySpec(
            checks=tuple(c for c in self.checks if c.layer in wanted),
            monitors=tuple(m for m in self.monitors if m.layer in wanted),
            parameters=self.parameters,
        )


def load_spec(quality_dir: Path, dbt_vars: dict[str, Any] | None = None) -> QualitySpec:
    """Every `*.yml` under quality_dir, in path order; ConfigError (file:line: reason) on the first bad one."""
    if not quality_dir.is_dir():
        raise ConfigError(f"quality checks directory {quality_dir} does not exist")
    dbt_vars = _dbt_vars(quality_dir.parent) if dbt_vars is None else dbt_vars
    checks: list[Check] = []
    monitors: list[Monitor] = []
    parameters: dict[str, str] = {}
    parameter_origin: dict[str, str] = {}
    param_refs: list[tuple[str, str]] = []  # (parameter, file:line of the reference)
    # Layer order (raw first), then path: results and Data Docs read in the order the pipeline builds the tables.
    files = sorted(quality_dir.rglob("*.yml"), key=lambda p: (_layer_rank(p.parent.name), p))
    if not files:
        raise ConfigError(f"no quality files (*.yml) under {quality_dir}")
    for path in files:
        spec, lines = _read(path)
        where = _locator(path, lines)
        if not _TABLE.fullmatch(spec.table):
            raise ConfigError(f"{where(('table',))}: table must be schema.table, got {spec.table!r}")
        if path.stem != spec.table.split(".", 1)[1]:
            raise ConfigError(f"{where(('table',))}: one file per table: {path.name} declares {spec.table}")
        for name, query in spec.parameters.items():
            if name in parameters:
                raise ConfigError(
                    f"{where(('parameters', name))}: parameter {name!r} already declared in {parameter_origin[name]}"
                )
            parameters[name] = query
            parameter_origin[name] = where(("parameters", name))
        checks.extend(_checks_of(spec, where, dbt_vars, param_refs))
        monitors.extend(_monitors_of(spec, where))
    for name, source in param_refs:
        if name not in parameters:
            raise ConfigError(f"{source}: unknown parameter {name!r}; declare it under `parameters:`")
    return QualitySpec(checks=tuple(checks), monitors=tuple(monitors), parameters=parameters)  # fmt: skip


def _checks_of(
    spec: _TableSpec, where: Any, dbt_vars: dict[str, Any], param_refs: list[tuple[str, str]]
) -> list[Check]:
    """One file's checks, `{{ var }}`s resolved; a label used twice on one column is an error naming both."""
    checks: list[Check] = []
    seen: set[tuple[str, str | None]] = set()
    for index, item in enumerate(spec.checks):
        source = where(("checks", index))
        label = item.name or item.expectation
        if (label, item.column) in seen:
            raise ConfigError(
                f"{source}: duplicate check {label}({item.column or ''}) on {spec.table}; give one a `name`"
            )
        seen.add((label, item.column))
        kwargs = {
            key: _resolve(value, dbt_vars, where(("checks", index, "with", key)), param_refs)
            for key, value in item.with_.items()
        }
        checks.append(
            Check(
                table=spec.table,
                expectation=item.expectation,
                column=item.column,
                severity=item.severity,
                kwargs=kwargs,
                name=item.name,
                layer=spec.layer,
                source=source,
            )
        )
    return checks


def _monitors_of(spec: _TableSpec, where: Any) -> list[Monitor]:
    """One file's monitors, one per column watched; an impossible history window is an error at its line."""
    monitors: list[Monitor] = []
    for index, m in enumerate(spec.monitors):
        source = where(("monitors", index))
        columns = tuple(m.columns) or ((m.column,) if m.column else ())
        if m.metric in ("volume", "freshness") and not m.by:
            raise ConfigError(f"{source}: metric {m.metric} needs `by` (the column to group by)")
        if m.metric != "volume" and not columns:
            raise ConfigError(f"{source}: metric {m.metric} needs `column` or `columns`")
        if m.min_history < 1 or m.window < m.min_history or m.threshold_mads <= 0:
            raise ConfigError(f"{source}: need 1 <= min_history <= window and threshold_mads > 0")
        for column in columns or (None,):
            monitors.append(
                Monitor(
                    table=spec.table,
                    layer=spec.layer,
                    metric=m.metric,
                    column=column,
                    by=m.by,
                    severity=m.severity,
                    threshold_mads=m.threshold_mads,
                    min_change=m.min_change,
                    min_relative_change=m.min_relative_change,
                    min_history=m.min_history,
                    window=m.window,
                    source=source,
                )
            )
    return monitors


def _layer_rank(name: str) -> int:
    return LAYERS.index(name) if name in LAYERS else len(LAYERS)


def _read(path: Path) -> tuple[_TableSpec, dict[tuple[Any, ...], int]]:
    try:
        text = path.read_text()
        data = yaml.safe_load(text)
        lines = _lines(yaml.compose(text, Loader=yaml.SafeLoader))
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f":{mark.line + 1}" if mark is not None else ""
        raise ConfigError(f"{path}{line}: not valid YAML: {getattr(exc, 'problem', exc)}") from None
    try:
        return msgspec.convert(data, _TableSpec), lines
    except msgspec.ValidationError as exc:
        message, _, at = str(exc).partition(" - at `")
        parts = _parse_path(at.rstrip("`"))
        unknown = re.search(r"unknown field `([^`]+)`", message)
        if unknown:
            parts = (*parts, unknown.group(1))
        raise ConfigError(f"{_locator(path, lines)(parts)}: {message}") from None


def _lines(node: yaml.Node | None, path: tuple[Any, ...] = ()) -> dict[tuple[Any, ...], int]:
    """Line (1-based) of every mapping key and sequence item, by its path from the document root."""
    found: dict[tuple[Any, ...], int] = {}
    if node is None:
        return found
    found[path] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            child = (*path, key.value)
            found.update(_lines(value, child))
            found[child] = key.start_mark.line + 1
    elif isinstance(node, yaml.SequenceNode):
        for index, value in enumerate(node.value):
            found.update(_lines(value, (*path, index)))
    return found


def _parse_path(text: str) -> tuple[Any, ...]:
    """msgspec's `$.checks[3].severity` → ("checks", 3, "severity")."""
    return tuple(int(m.group(2)) if m.group(2) else m.group(1) for m in _PATH_PART.finditer(text))


def _locator(path: Path, lines: dict[tuple[Any, ...], int]) -> Any:
    def where(parts: Sequence[Any]) -> str:
        parts = tuple(parts)
        while parts and parts not in lines:
            parts = parts[:-1]
        return f"{path}:{lines.get(parts, 1)}"

    return where


def _resolve(value: Any, dbt_vars: dict[str, Any], where: str, param_refs: list[tuple[str, str]]) -> Any:
    """`{param: NAME}` → GX's suite-parameter reference; `{var: NAME}` → the dbt project var's value."""
    if isinstance(value, dict) and len(value) == 1 and next(iter(value)) in ("param", "var"):
        kind, name = next(iter(value.items()))
        if kind == "param":
            param_refs.append((str(name), where))
            return {"$PARAMETER": str(name)}
        if name not in dbt_vars:
            raise ConfigError(f"{where}: dbt_project.yml has no var {name!r}")
        return dbt_vars[name]
    if isinstance(value, list):
        return [_resolve(v, dbt_vars, where, param_refs) for v in value]
    return value


def _dbt_vars(dbt_dir: Path) -> dict[str, Any]:
    path = dbt_dir / "dbt_project.yml"
    if not path.is_file():
        return {}
    try:
        project = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from None
    return dict(project.get("vars") or {})
