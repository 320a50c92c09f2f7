"""Deterministic crash points for the tests and `make chaos`: die hard at a named place, as kill -9 would.

`COMMITLAKE_FAULT=load.after_copy` makes the process `os._exit(FAULT_EXIT_CODE)` the first time it reaches
`fault_point("load.after_copy")`; `COMMITLAKE_FAULT=load.after_copy@3` on the third time. Nothing is flushed,
no `finally` runs, no transaction commits: the same state a SIGKILL leaves, but at an exact place, so a test
can prove a guarantee (rows and ledger in one transaction, manifest after the parts) instead of hoping a
random kill hits the window. Unset (always, in production) a point costs one dict lookup.
"""

from __future__ import annotations

import os
import sys
import threading
from collections import Counter

__all__ = ["FAULT_ENV", "FAULT_EXIT_CODE", "FAULT_POINTS", "fault_point", "parse_fault"]

FAULT_ENV = "COMMITLAKE_FAULT"
#: What a process killed at a fault point exits with (137 = 128 + SIGKILL, as a shell reports kill -9).
FAULT_EXIT_CODE = 137

#: Every point the product calls, and where it sits.
FAULT_POINTS: dict[str, str] = {
    "load.after_copy": "warehouse.load: the object group's rows are COPYed, its ledger rows not yet inserted",
    "load.before_ledger_commit": "warehouse.load: rows and ledger rows written, transaction not yet committed",
    "lake.after_part": "stages.ingest: one more part object is in the lake, the manifest is not",
    "lake.before_manifest": "stages.ingest: every part of a repository is in the lake, its manifest is not",
    "mlflow.store_before_rename": "ml._store: the embedded MLflow store is built in its temp file, not yet renamed",
}

_hits: Counter[str] = Counter()
_lock = threading.Lock()


def parse_fault(value: str) -> tuple[str, int]:
    """`name` or `name@N` -> (name, N); refuses a name no code calls, so a typo cannot pass a test silently."""
    name, _, nth = value.strip().partition("@")
    if name not in FAULT_POINTS:
        raise ValueError(f"{FAULT_ENV}={value!r}: unknown fault point (known: {', '.join(sorted(FAULT_POINTS))})")
    try:
        count = int(nth) if nth else 1
    except ValueError:
        raise ValueError(f"{FAULT_ENV}={value!r}: the part after @ must be a whole number") from None
    if count < 1:
        raise ValueError(f"{FAULT_ENV}={value!r}: the part after @ must be at least 1")
    return name, count


def fault_point(name: str) -> None:
    """Exit the process at once if COMMITLAKE_FAULT names this point (and this is the N-th time it is reached)."""
    value = os.environ.get(FAULT_ENV)
    if not value:
        return
    wanted, nth = parse_fault(value)
    if wanted != name:
        return
    with _lock:
        _hits[name] += 1
        hit = _hits[name]
    if hit == nth:
        sys.stderr.write(f"commitlake: fault point {name} reached ({FAULT_ENV}), exiting hard\n")
        sys.stderr.flush()
        os._exit(FAULT_EXIT_CODE)
