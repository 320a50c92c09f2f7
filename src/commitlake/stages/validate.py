"""validate: the quality suites of each layer (raw, staging, analytics, features); a critical failure stops here.

Which layers: COMMITLAKE_VALIDATE_LAYERS (comma-separated; `commitlake validate --layer L` sets it), else all
four, in pipeline order. GX's Data Docs for the run go to the lake; their location is in the stage's details
(and so in the run summary and `commitlake status`).
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

from commitlake.errors import ConfigError, QualityGateFailed
from commitlake.progress import Progress
from commitlake.stages import StageContext, StageResult

__all__ = ["EARLY_LAYERS", "VALIDATE_LAYERS_ENV", "only_layers", "run", "selected_layers"]

#: Comma-separated layers to validate (default: every layer).
VALIDATE_LAYERS_ENV = "COMMITLAKE_VALIDATE_LAYERS"

#: Layers `commitlake run` validates as soon as the stage that builds them has finished, so bad raw data stops
#: the run before dbt builds on it. The validate stage itself (after transform, before train) checks every layer.
EARLY_LAYERS: dict[str, tuple[str, ...]] = {"load": ("raw",)}


@contextlib.contextmanager
def only_layers(layers: tuple[str, ...]) -> Iterator[None]:
    """Run the validate stage on `layers` only, for the duration of the block."""
    before = os.environ.get(VALIDATE_LAYERS_ENV)
    os.environ[VALIDATE_LAYERS_ENV] = ",".join(layers)
    try:
        yield
    finally:
        if before is None:
            os.environ.pop(VALIDATE_LAYERS_ENV, None)
        else:
            os.environ[VALIDATE_LAYERS_ENV] = before


def selected_layers(value: str | None = None) -> tuple[str, ...]:
    """The layers named in `value` (default: the environment), in pipeline order; all when unset."""
    from commitlake.quality import LAYERS

    value = os.environ.get(VALIDATE_LAYERS_ENV) if value is None else value
    names = [part.strip() for part in (value or "").split(",") if part.strip()]
    unknown = sorted(set(names) - set(LAYERS))
    if unknown:
        raise ConfigError(f"{VALIDATE_LAYERS_ENV}: unknown layer(s) {', '.join(unknown)}; layers: {', '.join(LAYERS)}")
    return tuple(layer for layer in LAYERS if not names or layer in names)


def run(ctx: StageContext) -> StageResult:
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
    from commitlake.quality import enforce, validate_warehouse
    from commitlake.quality._docs import publish_data_docs

    layers = selected_layers()
    quality_dir = ctx.settings.dbt_project_dir / "quality"
    with (
        Progress("validate", unit="", enabled=ctx.progress) as progress,  # no unit to count: a spinner and a clock
        tempfile.TemporaryDirectory(prefix="commitlake-data-docs-") as site,
    ):
        progress.note("Great Expectations checks on " + ", ".join(layers))
        report = validate_warehouse(
            ctx.warehouse.url, ctx.run_id, layers=layers, quality_dir=quality_dir, docs_dir=Path(site)
        )
        data_docs = publish_data_docs(ctx.lake, Path(site), ctx.run_id)
    total = len(report.results)
    failed = [r for r in report.results if not r.success]
    summary = report.summary()
    details = {
        "layers": list(layers),
        "expectations": total,
        "failed": len(failed),
        "critical_failures": summary["critical_failures"],
        "warnings": summary["warnings"],
        "learning": summary["learning"],
        "passed": report.passed,
        "data_docs": data_docs,
    }
    try:
        enforce(report)
    except QualityGateFailed as exc:  # the message names the failing checks; say where to look at them
        raise QualityGateFailed(f"{exc}; data docs: {data_docs}") from None
    warnings = len(failed) - len(report.critical_failures)
    return StageResult(
        f"{'/'.join(layers)}: {total - len(failed)}/{total} checks passed ({warnings} warnings, "
        f"{summary['learning']} learning); data docs: {data_docs}",
        {"expectations": total, "failed": len(failed)},
        details,
    )
