"""transform: `dbt build` (models, data tests, unit tests) from raw into staging and analytics."""

from __future__ import annotations

from typing import Any

from commitlake.errors import CommitlakeError
from commitlake.progress import Progress
from commitlake.stages import StageContext, StageResult
from commitlake.transform import run_dbt

__all__ = ["run"]

_LAYER_TABLES = {
    "raw": "raw.github_commits",
    "staging": "staging.stg_github__commits",
    "analytics": "analytics.fct_commits",
    "features": "analytics.ml_commit_features",
}


def layer_counts(ctx: StageContext) -> dict[str, int]:
    counts: dict[str, int] = {}
    with ctx.warehouse.connect() as conn:
        for layer, table in _LAYER_TABLES.items():
            exists = conn.execute("select to_regclass(%s)", [table]).fetchone()
            if exists and exists[0]:
                row = conn.execute(f"select count(*) from {table}").fetchone()
                counts[layer] = int(row[0]) if row else 0
    return counts


def run(ctx: StageContext) -> StageResult:
    with Progress("transform", unit="dbt nodes", enabled=ctx.progress) as progress:
        progress.note("parsing the dbt project")

        def on_event(event: Any) -> None:  # dbt calls this from its worker threads
            name = event.info.name
            if name == "LogStartLine" and progress.total is None:
                progress.set_total(int(event.data.total))
            elif name == "NodeFinished":
                progress.advance(1)
                progress.note(event.data.node_info.node_name)

        result = run_dbt(ctx.settings, ctx.warehouse.url, ["build", "--no-use-colors", "--quiet"], on_event)
    statuses: dict[str, int] = {}
    failures: list[str] = []
    for item in result.result or []:
        status = str(getattr(item.status, "value", item.status))
        statuses[status] = statuses.get(status, 0) + 1
        if status in ("error", "fail"):
            message: Any = getattr(item, "message", "") or ""
            failures.append(f"{item.node.name}: {str(message).splitlines()[0] if message else status}")
    if not result.success:
        shown = "; ".join(failures[:3]) or "see the dbt log"
        raise CommitlakeError(f"dbt build failed ({len(failures)} failing nodes): {shown}")
    counts = layer_counts(ctx)
    summary = ", ".join(f"{layer} {rows}" for layer, rows in counts.items())
    # `dbt source freshness`: a stale source is a warning with its age (ops.data_quality_results), never a failure.
    from commitlake.quality._freshness import check_source_freshness

    try:
        stale = [r.observed | {"source": r.column_name}
                 for r in check_source_freshness(ctx.settings, ctx.warehouse.url, ctx.run_id) if not r.success]
    except CommitlakeError as exc:  # freshness is advice: not knowing it must not fail a good build
        stale = [{"error": str(exc)}]
    freshness = f"; stale sources: {stale}" if stale else "; sources fresh"
    return StageResult(f"dbt build ok ({statuses.get('success', 0)} nodes, {statuses.get('pass', 0)} tests); "
                       f"rows: {summary}{freshness}", counts, {"statuses": statuses, "stale_sources": stale})
