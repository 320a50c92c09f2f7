"""Remove the parts a killed ingest left behind: objects in a run folder that never got its manifest.

Ingest writes a repository's parts, then its manifest (the commit marker). A process killed in between leaves
parts no manifest will ever list once the run is retried under a new run id: invisible to the loader, but
kept forever. The next ingest sweeps them, and only those of runs that provably ended (the caller decides,
from the run ledger and the runs' liveness locks): a live run, or a retry of the same run id, may still
write the manifest that commits them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field

from commitlake.lake.layout import MANIFEST_NAME
from commitlake.lake.store import Lake

__all__ = ["RUN_SEGMENT", "SweepReport", "run_of", "sweep_orphans", "uncommitted_folders"]

RUN_SEGMENT = "run_id="


@dataclass
class SweepReport:
    deleted: list[str] = field(default_factory=list)
    #: Run ids whose folders have no manifest but that may still be alive (or are unknown): left alone.
    kept_runs: list[str] = field(default_factory=list)


def run_of(folder: str) -> str | None:
    """The run id of a run folder (`…/run_id=RUN/`), or None for a key outside the layout."""
    for segment in reversed(folder.rstrip("/").split("/")):
        if segment.startswith(RUN_SEGMENT):
            return segment.removeprefix(RUN_SEGMENT)
    return None


def uncommitted_folders(keys: Iterable[str]) -> dict[str, list[str]]:
    """Run folder -> its object keys, for every folder holding objects but no manifest."""
    folders: dict[str, list[str]] = {}
    committed: set[str] = set()
    for key in keys:
        folder, _, name = key.rpartition("/")
        if name == MANIFEST_NAME:
            committed.add(folder)
        elif run_of(folder) is not None:
            folders.setdefault(folder, []).append(key)
    return {folder: objects for folder, objects in folders.items() if folder not in committed}


def sweep_orphans(lake: Lake, claim: Callable[[str], AbstractContextManager[bool]], *, own_run: str) -> SweepReport:
    """Delete the objects of manifest-less run folders of ended runs (never `own_run`'s).

    `claim(run_id)` yields True while that run is provably over and cannot restart: the deletes happen inside it.
    """
    by_run: dict[str, list[str]] = {}
    for folder, objects in uncommitted_folders(lake.list_keys("raw/")).items():
        run = run_of(folder)
        if run and run != own_run:
            by_run.setdefault(run, []).extend(objects)
    report = SweepReport()
    for run, objects in sorted(by_run.items()):
        with claim(run) as ended:
            if not ended:
                report.kept_runs.append(run)
                continue
            for key in objects:
                lake.delete(key)
                report.deleted.append(key)
    return report
