"""Anomaly detection: each monitored metric against its own history in ops.data_quality_results.

Fixed thresholds cannot know that one repository lands 500 commits a week and another 5. So each monitor
measures a value now (per repository for volume and freshness, per column for null rate and distinct count),
reads the values earlier runs recorded for the same table, metric and key, and flags the value when it lies
more than `threshold_mads` robust deviations from the trailing median:

    scale = max(1.4826 * MAD, min_change, min_relative_change * |median|)
    anomaly when value > median + threshold_mads * scale  (and, two-sided metrics, value < median - ...)

The floors keep a perfectly steady history (MAD 0) from flagging every small change. With fewer than
`min_history` earlier values the result is recorded with status "learning" and passes: cold start is never a
failure. Volume and freshness only alarm upwards (a quiet repository is normal; a spike or silence is not).
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from typing import Any

import psycopg
from psycopg import sql

from commitlake.quality._checks import Monitor
from commitlake.quality._report import CheckResult

__all__ = ["judge", "run_monitors"]

_MAD_TO_SIGMA = 1.4826
_UPWARD_ONLY = frozenset({"volume", "freshness"})


def run_monitors(conn: psycopg.Connection[Any], run_id: str, monitors: Sequence[Monitor]) -> list[CheckResult]:
    """Measure every monitor now and judge it against history; a missing table fails only its own monitor."""
    results: list[CheckResult] = []
    for monitor in monitors:
        try:
            measured = _measure(conn, run_id, monitor)
        except psycopg.Error as exc:
            results.append(_result(monitor, None, {"error": str(exc).strip().splitlines()[0]}, {}, success=False))
            continue
        for key, value in measured:
            history = _history(conn, run_id, monitor, key)
            observed, threshold, ok = judge(monitor, value, history)
            results.append(_result(monitor, key, observed, threshold, success=ok))
    return results


def judge(monitor: Monitor, value: float, history: Sequence[float]) -> tuple[dict[str, Any], dict[str, Any], bool]:
    """(observed, threshold, success) for one value against the earlier values, newest first."""
    observed: dict[str, Any] = {"value": value, "history": len(history)}
    if len(history) < monitor.min_history:
        observed["status"] = "learning"
        return observed, {"min_history": monitor.min_history}, True
    median = statistics.median(history)
    mad = statistics.median(abs(v - median) for v in history)
    scale = max(_MAD_TO_SIGMA * mad, monitor.min_change, monitor.min_relative_change * abs(median))
    high = median + monitor.threshold_mads * scale
    low = None if monitor.metric in _UPWARD_ONLY else median - monitor.threshold_mads * scale
    anomalous = value > high or (low is not None and value < low)
    observed.update(status="anomaly" if anomalous else "ok", median=median, mad=mad)
    threshold = {"high": high, "threshold_mads": monitor.threshold_mads, "scale": scale}
    if low is not None:
        threshold["low"] = low
    return observed, threshold, not anomalous


def _result(
    monitor: Monitor, key: str | None, observed: dict[str, Any], threshold: dict[str, Any], *, success: bool
) -> CheckResult:
    if key is not None:
        observed = {"key": key, **observed}
    return CheckResult(
        suite=monitor.table,
        expectation=monitor.label,
        column_name=monitor.column or monitor.by,
        layer=monitor.layer,
        severity=monitor.severity,
        success=success,
        observed=observed,
        threshold=threshold,
    )


def _measure(conn: psycopg.Connection[Any], run_id: str, monitor: Monitor) -> list[tuple[str | None, float]]:
    """(key, value) pairs: one per group for volume/freshness, one (key None) for column metrics."""
    table = sql.Identifier(*monitor.table.split(".", 1))
    if monitor.metric == "volume":
        assert monitor.by is not None
        by = sql.Identifier(monitor.by)
        # Only runs that loaded something have a volume; a validate-only run would record a misleading 0.
        loaded = conn.execute(sql.SQL("select exists (select 1 from {} where run_id = %s)").format(table), [run_id])
        row = loaded.fetchone()
        if not row or not row[0]:
            return []
        query = sql.SQL("select {by}::text, count(*) filter (where run_id = %s) from {t} group by 1 order by 1")
        rows = conn.execute(query.format(by=by, t=table), [run_id]).fetchall()
        return [(str(k), float(v)) for k, v in rows]
    assert monitor.column is not None
    column = sql.Identifier(monitor.column)
    if monitor.metric == "freshness":
        assert monitor.by is not None
        query = sql.SQL(
            "select {by}::text, extract(epoch from now() - max({c})) / 3600.0 from {t} group by 1 order by 1"
        )
        rows = conn.execute(query.format(by=sql.Identifier(monitor.by), c=column, t=table)).fetchall()
        return [(str(k), float(v)) for k, v in rows if v is not None]
    if monitor.metric == "null_rate":
        query = sql.SQL("select avg(({c} is null)::int) from {t}")
    else:
        query = sql.SQL("select count(distinct {c}) from {t}")
    row = conn.execute(query.format(c=column, t=table)).fetchone()
    if not row or row[0] is None:  # an empty table has no null rate
        return []
    return [(None, float(row[0]))]


def _history(conn: psycopg.Connection[Any], run_id: str, monitor: Monitor, key: str | None) -> list[float]:
    """The values earlier runs recorded for this table, metric, column and key, newest first."""
    from commitlake.warehouse.runs import quality_history

    return quality_history(
        conn, monitor.table, monitor.label, monitor.column or monitor.by, key, run_id, monitor.window
    )
