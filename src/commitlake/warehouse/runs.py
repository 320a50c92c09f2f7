"""ops.pipeline_runs and ops.data_quality_results: the one place their SQL lives.

Runs are written by the stage wrapper and the exit handler and read by `commitlake status`, the fan-out and
ingest; quality results are written by validate and transform's freshness check and read back by the anomaly
monitors. (ops.loaded_objects, ops.ingest_state and ops.model_drift are still read and written by their stages:
tests/test_warehouse_schema.py lists them.)"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson
import psycopg
from psycopg.types.json import Jsonb

from commitlake.logs import get_logger
from commitlake.warehouse.db import Warehouse
from commitlake.warehouse.locks import Lock

__all__ = [
    "DRIFT_TABLE",
    "INSERT_LOADED_OBJECT",
    "RUN_ALIVE_LOCK",
    "LastRecord",
    "RunEnd",
    "RunRow",
    "StageRow",
    "claim_ended_run",
    "last_record",
    "latest_drift",
    "loaded_keys",
    "mark_abandoned",
    "quality_history",
    "ran_in_run",
    "raw_watermark",
    "read_ingest_state",
    "recent_runs",
    "record_stage",
    "replace_quality_results",
    "run_alive",
    "run_end",
    "run_stages",
    "stage_details",
    "store_drift",
    "store_ingest_state",
]

#: First key of the shared advisory lock (RUN_ALIVE_LOCK, hashtext(run_id)) a live run holds.
RUN_ALIVE_LOCK = int(Lock.RUN_ALIVE)

_log = get_logger("runs")

_MARK_ABANDONED = """
update ops.pipeline_runs r set
    status = 'abandoned',
    finished_at = now(),
    details = r.details || jsonb_build_object('abandoned_noticed_at', now(), 'abandoned_noticed_by', %(run_id)s::text),
    error = coalesce(r.error, 'abandoned: its process ended while the stage was running')
where r.status = 'running'
  and not exists (
      select 1 from pg_locks l
      where l.locktype = 'advisory' and l.database = (select oid from pg_database where datname = current_database())
        and l.classid = %(lock)s::int::oid and l.objid = hashtext(r.run_id)::oid and l.objsubid = 2
        and l.pid <> pg_backend_pid() and l.granted)
returning r.run_id, r.stage
"""


@contextlib.contextmanager
def run_alive(warehouse: Warehouse, run_id: str) -> Iterator[list[tuple[str, str]]]:
    """Hold this run's liveness lock while the block runs; yields the rows found abandoned on entry.

    A stage killed mid-run (SIGKILL, OOM, a node gone) leaves its row `running`. Postgres drops the shared
    lock with the dead process's connection, so a `running` row whose run id nobody holds is provably abandoned.
    """
    with warehouse.connect(autocommit=True) as conn:
        conn.execute("select pg_advisory_lock_shared(%s, hashtext(%s))", [RUN_ALIVE_LOCK, run_id])
        abandoned = mark_abandoned(conn, run_id)
        yield abandoned


def mark_abandoned(conn: psycopg.Connection[Any], noticed_by: str) -> list[tuple[str, str]]:
    """Mark `running` rows whose process is gone as `abandoned`; returns their (run_id, stage)."""
    rows: list[tuple[str, str]] = conn.execute(
        _MARK_ABANDONED, {"run_id": noticed_by, "lock": RUN_ALIVE_LOCK}
    ).fetchall()
    for run_id, stage in rows:
        _log.warning("run.abandoned_stage", abandoned_run_id=run_id, abandoned_stage=stage)
    return rows


_ENDED_RUNS = """
select r.run_id from ops.pipeline_runs r
where r.run_id = any(%(run_ids)s)
group by r.run_id
having bool_and(r.status <> 'running')
   and not exists (
      select 1 from pg_locks l
      where l.locktype = 'advisory' and l.database = (select oid from pg_database where datname = current_database())
        and l.classid = %(lock)s::int::oid and l.objid = hashtext(r.run_id)::oid and l.objsubid = 2
        and l.pid <> pg_backend_pid() and l.granted)
"""


@contextlib.contextmanager
def claim_ended_run(conn: psycopg.Connection[Any], run_id: str) -> Iterator[bool]:
    """True while this connection holds `run_id`'s liveness lock exclusively and the ledger says the run ended.

    The exclusive lock keeps a retry of the same run id from starting (its `run_alive` waits) while the caller
    cleans up after the dead run. False for a live run, and for a run id the ledger never saw (it may belong
    to another warehouse sharing the lake).
    """
    args = [RUN_ALIVE_LOCK, run_id]
    row = conn.execute("select pg_try_advisory_lock(%s, hashtext(%s))", args).fetchone()
    if not row or not row[0]:
        yield False
        return
    try:
        ended = conn.execute(_ENDED_RUNS, {"run_ids": [run_id], "lock": RUN_ALIVE_LOCK}).fetchall()
        yield bool(ended)
    finally:
        conn.execute("select pg_advisory_unlock(%s, hashtext(%s))", args)


def record_stage(
    warehouse: Warehouse,
    run_id: str,
    stage: str,
    status: str,
    *,
    duration_s: float | None = None,
    row_counts: dict[str, int] | None = None,
    details: dict[str, Any] | None = None,
    error: str | None = None,
) -> None:
    """Upsert one row of ops.pipeline_runs (a rerun of the same run id and stage overwrites it)."""
    finished = status != "running"
    with warehouse.connect(autocommit=True) as conn:
        conn.execute(
            """
            insert into ops.pipeline_runs (run_id, stage, status, started_at, finished_at, duration_s,
                                           row_counts, details, error)
            values (%(run_id)s, %(stage)s, %(status)s, now() - make_interval(secs => coalesce(%(duration)s, 0)),
                    case when %(finished)s then now() end, %(duration)s, %(rows)s, %(details)s, %(error)s)
            on conflict (run_id, stage) do update set
                status = excluded.status,
                started_at = case when excluded.status = 'running' then excluded.started_at
                                  else ops.pipeline_runs.started_at end,
                finished_at = excluded.finished_at,
                duration_s = excluded.duration_s,
                row_counts = excluded.row_counts,
                details = excluded.details,
                error = excluded.error
            """,
            {
                "run_id": run_id,
                "stage": stage,
                "status": status,
                "finished": finished,
                "duration": duration_s,
                "rows": orjson.dumps(row_counts or {}).decode(),
                "details": orjson.dumps(details or {}, default=str).decode(),
                "error": error,
            },
        )


def stage_details(warehouse: Warehouse, run_id: str, stage: str) -> dict[str, Any] | None:
    """The details a succeeded stage kept in its run record (e.g. plan's repository list), or None."""
    with warehouse.connect() as conn:
        row = conn.execute(
            "select details from ops.pipeline_runs where run_id = %s and stage = %s and status = 'succeeded'",
            [run_id, stage],
        ).fetchone()
    return dict(row[0]) if row and row[0] is not None else None


@dataclass(frozen=True)
class RunEnd:
    """What the stage rows of a run say about its end: seconds since its first stage, the last failed stage."""

    duration_s: float
    failed_stage: str | None


def run_end(warehouse: Warehouse, run_id: str, run_stage: str) -> RunEnd:
    with warehouse.connect() as conn:
        row = conn.execute(
            """
            select extract(epoch from now() - min(started_at))::float8,
                   (array_agg(stage order by finished_at desc) filter (where status = 'failed'))[1]
            from ops.pipeline_runs where run_id = %s and stage <> %s
            """,
            [run_id, run_stage],
        ).fetchone()
    duration = round(row[0], 3) if row and row[0] is not None else 0.0
    failed = row[1].split("[", 1)[0] if row and row[1] else None  # `ingest[<uri>]` is the ingest stage
    return RunEnd(duration, failed)


@dataclass(frozen=True)
class RunRow:
    run_id: str
    started: datetime
    status: str


@dataclass(frozen=True)
class StageRow:
    stage: str
    status: str
    duration_s: float | None
    row_counts: dict[str, int]
    error: str | None
    finished_at: datetime | None = None
    details: dict[str, Any] | None = None


def recent_runs(warehouse: Warehouse, run_stage: str, limit: int) -> list[RunRow]:
    with warehouse.connect() as conn:
        rows = conn.execute(
            """
            select run_id, min(started_at) as started,
                   coalesce(max(status) filter (where stage = %s),
                            case when bool_or(status = 'abandoned') then 'abandoned' else 'running' end) as status
            from ops.pipeline_runs group by run_id order by min(started_at) desc limit %s
            """,
            [run_stage, limit],
        ).fetchall()
    return [RunRow(*row) for row in rows]


def run_stages(warehouse: Warehouse, run_id: str, run_stage: str) -> list[StageRow]:
    with warehouse.connect() as conn:
        rows = conn.execute(
            """
            select stage, status, duration_s, row_counts, error, finished_at, details from ops.pipeline_runs
            where run_id = %s and stage <> %s order by started_at
            """,
            [run_id, run_stage],
        ).fetchall()
    return [
        StageRow(stage, status, duration, counts or {}, error, finished, details)
        for stage, status, duration, counts, error, finished, details in rows
    ]


def replace_quality_results(
    conn: psycopg.Connection[Any], run_id: str, where: str, args: Sequence[Any], rows: Sequence[Sequence[Any]]
) -> None:
    """In one transaction, make the run's ops.data_quality_results rows matching `where` exactly `rows`.

    `where` is a trusted, static SQL condition with %s placeholders for `args`; each row is (suite, expectation,
    column_name, layer, severity, success, observed, threshold).
    """
    with conn.transaction(), conn.cursor() as cur:
        # Two validations of one run (a retry racing a straggler) must not interleave their rows.
        cur.execute("select pg_advisory_xact_lock(%s, hashtext(%s))", [int(Lock.QUALITY_RESULTS), run_id])
        cur.execute(f"delete from ops.data_quality_results where run_id = %s and {where}", [run_id, *args])
        cur.executemany(
            "insert into ops.data_quality_results"
            " (run_id, suite, expectation, column_name, layer, severity, success, observed, threshold)"
            " values (%s, %s, %s, %s, %s, %s, %s, %s, %s)",
            [(run_id, *row) for row in rows],
        )


def quality_history(
    conn: psycopg.Connection[Any],
    suite: str,
    expectation: str,
    column: str | None,
    key: str | None,
    exclude_run: str,
    limit: int,
) -> list[float]:
    """The monitored values earlier runs recorded for one suite, expectation, column and key, newest first."""
    rows = conn.execute(
        """
        select (observed ->> 'value')::float8 from ops.data_quality_results
        where suite = %s and expectation = %s and column_name is not distinct from %s
          and (observed ->> 'key') is not distinct from %s and run_id <> %s and observed ? 'value'
        order by checked_at desc limit %s
        """,
        [suite, expectation, column, key, exclude_run, limit],
    ).fetchall()
    return [float(r[0]) for r in rows]


def raw_watermark(warehouse: Warehouse) -> dict[str, Any]:
    """What raw.github_commits holds, as the load ledger says (its rows commit with raw's rows, so equal
    watermarks mean equal raw): objects, rows inserted, records rejected and the last load time."""
    with warehouse.connect() as conn:
        row = conn.execute(
            "select count(*)::bigint, coalesce(sum(inserted), 0)::bigint, coalesce(sum(rejected), 0)::bigint,"
            " coalesce(max(loaded_at)::text, '') from ops.loaded_objects"
        ).fetchone()
    assert row is not None
    return {"objects": row[0], "rows": row[1], "rejected": row[2], "last_loaded_at": row[3]}


@dataclass(frozen=True)
class LastRecord:
    """The latest record of a stage (any run, this one included), whatever its status."""

    run_id: str
    status: str
    details: dict[str, Any]


def last_record(warehouse: Warehouse, stage: str, scope: dict[str, Any]) -> LastRecord | None:
    """The most recently started record of `stage` whose scope covers `scope` (jsonb containment: a validate
    of every layer covers the raw-only check); records made before scopes were kept match any scope, so they
    still count as the latest."""
    with warehouse.connect() as conn:
        row = conn.execute(
            """
            select run_id, status, details from ops.pipeline_runs
            where stage = %(stage)s and coalesce(details -> 'skip_scope', %(scope)s::jsonb) @> %(scope)s::jsonb
            order by started_at desc, coalesce(finished_at, 'infinity') desc limit 1
            """,
            {"stage": stage, "scope": orjson.dumps(scope).decode()},
        ).fetchone()
    return LastRecord(row[0], row[1], dict(row[2] or {})) if row else None


def ran_in_run(warehouse: Warehouse, run_id: str, stages: list[str]) -> bool:
    """Whether any of `stages` has a record in run `run_id` other than `skipped` (it ran, or tried to)."""
    if not stages:
        return False
    with warehouse.connect() as conn:
        row = conn.execute(
            "select exists (select 1 from ops.pipeline_runs where run_id = %s and stage = any(%s)"
            " and status <> 'skipped')",
            [run_id, stages],
        ).fetchone()
    return bool(row and row[0])


#: Ledger row of one loaded lake object; the loader runs it in the same transaction as the object's rows.
INSERT_LOADED_OBJECT = (
    "insert into ops.loaded_objects (lake_key, run_id, records, inserted, duplicates, rejected, sha256)"
    " values (%s, %s, %s, %s, %s, %s, %s)"
)


def loaded_keys(conn: psycopg.Connection[Any], keys: list[str]) -> set[str]:
    """Which of `keys` the load ledger already holds (those objects' rows are in raw)."""
    with conn.cursor() as cur:
        cur.execute("select lake_key from ops.loaded_objects where lake_key = any(%s)", [keys])
        return {row[0] for row in cur}


def read_ingest_state(conn: psycopg.Connection[Any]) -> list[tuple[Any, ...]] | None:
    """Every stored ingest cursor as (source_kind, repo_full_name, branch, last_committed_at, etag, head_sha,
    resume); None when ops.ingest_state does not exist yet (a database no stage has touched)."""
    if conn.execute("select to_regclass('ops.ingest_state')").fetchone() in (None, (None,)):
        return None
    return conn.execute(
        "select source_kind, repo_full_name, branch, last_committed_at, etag, head_sha, resume from ops.ingest_state"
    ).fetchall()


def store_ingest_state(
    conn: psycopg.Connection[Any],
    key: tuple[str, str, str],
    last_committed_at: Any,
    etag: str | None,
    head_sha: str | None,
    resume: Any,
    run_id: str,
) -> None:
    """Upsert one source's cursor; `key` is (source_kind, repo_full_name, branch)."""
    conn.execute(
        """
        insert into ops.ingest_state (source_kind, repo_full_name, branch, last_committed_at, etag,
                                      head_sha, resume, updated_at, updated_by_run)
        values (%s, %s, %s, %s, %s, %s, %s, now(), %s)
        on conflict (source_kind, repo_full_name, branch) do update set
            last_committed_at = excluded.last_committed_at, etag = excluded.etag,
            head_sha = excluded.head_sha, resume = excluded.resume,
            updated_at = excluded.updated_at, updated_by_run = excluded.updated_by_run
        """,
        [*key, last_committed_at, etag, head_sha, Jsonb(resume) if resume is not None else None, run_id],
    )


#: One row per scoring batch and model (warehouse/sql/predictions.sql creates it).
DRIFT_TABLE = "ops.model_drift"


def store_drift(
    conn: psycopg.Connection[Any],
    run_id: str,
    model_name: str,
    model_version: int,
    rows: int,
    prediction_psi: float,
    feature_psi_json: str,
    max_psi: float,
    drifted: bool,
) -> None:
    """Upsert a run's drift row for one model (a rerun of the same run replaces it)."""
    conn.execute(
        "insert into ops.model_drift (run_id, model_name, model_version, rows, prediction_psi, feature_psi, max_psi,"
        " drifted) values (%s, %s, %s, %s, %s, %s, %s, %s) on conflict (run_id, model_name) do update set"
        " model_version = excluded.model_version, measured_at = now(), rows = excluded.rows,"
        " prediction_psi = excluded.prediction_psi, feature_psi = excluded.feature_psi,"
        " max_psi = excluded.max_psi, drifted = excluded.drifted",
        [run_id, model_name, model_version, rows, prediction_psi, feature_psi_json, max_psi, drifted],
    )


def latest_drift(conn: psycopg.Connection[Any]) -> list[tuple[Any, ...]]:
    """The newest drift row of each model: (model_name, model_version, run_id, measured_at, rows, prediction_psi,
    feature_psi, max_psi, drifted); empty when nothing was ever scored."""
    if conn.execute("select to_regclass('ops.model_drift')").fetchone() in (None, (None,)):
        return []
    return conn.execute(
        "select distinct on (model_name) model_name, model_version, run_id, measured_at, rows, prediction_psi,"
        " feature_psi, max_psi, drifted from ops.model_drift order by model_name, measured_at desc"
    ).fetchall()
