"""load: COPY every lake object a manifest has committed into raw.github_commits, exactly once."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from commitlake.errors import CommitlakeError
from commitlake.progress import Progress
from commitlake.stages import StageContext, StageResult

__all__ = ["run"]


def run(ctx: StageContext) -> StageResult:
    from commitlake.warehouse.load import load_lake

    progress = Progress("load", unit="objects", enabled=ctx.progress)

    def on_object(done: int, total: int, result: Any) -> None:
        progress.advance(1)

    try:
        report = load_lake(ctx.warehouse.url, ctx.lake, ctx.run_id, progress=on_object)
    finally:
        progress.close()
    if report.objects_failed:
        first_key, reason = next(iter(report.objects_failed.items()))
        raise CommitlakeError(
            f"{len(report.objects_failed)} lake objects could not be loaded (they stay unloaded and are retried "
            f"on the next run); first: {first_key}: {reason}"
        )
    summary = (
        f"{report.rows_inserted} rows inserted from {report.objects_loaded} objects "
        f"({report.objects_skipped} already loaded, {report.duplicates} duplicates, "
        f"{report.rejected_total} rejected)"
    )
    return StageResult(
        summary,
        {"rows_inserted": report.rows_inserted, "duplicates": report.duplicates, "rejected": report.rejected_total},
        asdict(report),
    )
