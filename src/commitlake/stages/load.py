"""load: COPY every lake object a manifest has committed into raw.github_commits, exactly once."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from commitlake.errors import CommitlakeError
from commitlake.progress import Progress
from commitlake.stages import StageContext, StageResult
from commitlake.wording import plural

__all__ = ["run"]


def run(ctx: StageContext) -> StageResult:
    from commitlake.warehouse.load import load_lake

    progress = Progress("load", unit="lake objects", enabled=ctx.progress)

    def on_object(done: int, total: int, result: Any) -> None:
        if progress.total != total:
            progress.set_total(total)
        progress.advance(1)

    try:
        report = load_lake(
            ctx.warehouse.url, ctx.lake, ctx.run_id, progress=on_object, streams=ctx.settings.load_streams
        )
    finally:
        progress.close()
    if report.objects_failed:
        first_key, reason = next(iter(report.objects_failed.items()))
        raise CommitlakeError(
            f"{len(report.objects_failed)} lake objects could not be loaded (they stay unloaded and are retried "
            f"on the next run); first: {first_key}: {reason}"
        )
    if report.objects_loaded == 0:
        summary = f"0 rows inserted: no new lake objects ({report.objects_skipped} already loaded)"
    else:
        summary = (
            f"{plural(report.rows_inserted, 'row')} inserted from {plural(report.objects_loaded, 'object')} "
            f"({report.objects_skipped} already loaded, {plural(report.duplicates, 'duplicate')}, "
            f"{report.rejected_total} rejected)"
        )
    return StageResult(
        summary,
        {"rows_inserted": report.rows_inserted, "duplicates": report.duplicates, "rejected": report.rejected_total},
        asdict(report),
    )
