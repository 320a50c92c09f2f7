"""load: COPY every lake object a manifest has committed into raw.github_commits, exactly once."""

from __future__ import annotations

from dataclasses import asdict

from commitlake.progress import Progress
from commitlake.stages import StageContext, StageResult

__all__ = ["run"]


def run(ctx: StageContext) -> StageResult:
    from commitlake.warehouse.load import load_lake

    progress = Progress("load", unit="rows", enabled=ctx.progress)
    try:
        report = load_lake(ctx.warehouse.url, ctx.lake, ctx.run_id, progress=progress.advance)
    finally:
        progress.close()
    details = asdict(report)
    rejected = sum(report.rejected.values()) if isinstance(report.rejected, dict) else int(report.rejected)
    summary = (
        f"{report.rows_inserted} rows inserted from {report.objects_loaded} objects "
        f"({report.objects_skipped} already loaded, {report.duplicates} duplicates, {rejected} rejected)"
    )
    return StageResult(
        summary,
        {"rows_inserted": report.rows_inserted, "duplicates": report.duplicates, "rejected": rejected},
        details,
    )
