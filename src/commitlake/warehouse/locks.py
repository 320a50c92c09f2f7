"""The advisory lock keys commitlake takes, named once: two stages that must not overlap share a key here.

Keys are bigint constants (pg_advisory_lock(bigint)), so a reader of pg_locks sees them; `lock_name` turns one
back into its name. Session locks wrap a whole operation; transaction locks (`pg_advisory_xact_lock`) end with
the transaction that took them.
"""

from __future__ import annotations

from enum import IntEnum, unique

__all__ = ["Lock", "lock_name"]


@unique
class Lock(IntEnum):
    #: Held while the schema is created or migrated: concurrent stages (fan-out pods) wait.
    SCHEMA = 7204151
    #: Held for a whole load: one loader per database at a time (commitlake.warehouse.load).
    LOADER = 7204152
    #: First key of the shared lock (RUN_ALIVE, hashtext(run_id)) a live run holds (commitlake.warehouse.runs).
    RUN_ALIVE = 7204153
    #: Replacing one run's quality results; the run id is the second key (pg_advisory_xact_lock(int, int)).
    QUALITY_RESULTS = 7204154
    #: One predict at a time: two concurrent runs would prune each other's rows (commitlake.ml._predict).
    PREDICT = 7204155


def lock_name(key: int) -> str:
    """'SCHEMA' for 7204151, for messages and pg_locks readers; the number itself if it is not ours."""
    try:
        return Lock(key).name
    except ValueError:
        return str(key)
