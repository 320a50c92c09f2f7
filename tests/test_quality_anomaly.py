"""Anomaly monitors on real history: vite and cz-cli loaded week by week, one run per week, each validated.

The raw layer's monitors learn each repository's weekly volume from ops.data_quality_results; after the cold
start (recorded as "learning"), ordinary weeks raise nothing, and a run that loads ten times vite's median week
is flagged for vite alone, as a warning that does not stop the pipeline.
"""

from __future__ import annotations

import gzip
import statistics
import uuid
from collections import defaultdict
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import orjson
import psycopg
import pytest
from psycopg import sql
from psycopg.conninfo import make_conninfo

from commitlake.quality import QualitySpec, load_spec, validate_warehouse

ROOT = Path(__file__).resolve().parents[1]
SCHEMA_SQL = ROOT / "src" / "commitlake" / "warehouse" / "sql" / "schema.sql"
SPEC = load_spec(ROOT / "dbt" / "quality")
# The monitors alone: the fixed checks have their own tests, and skipping them keeps 10 runs quick.
RAW_MONITORS = QualitySpec(checks=(), monitors=SPEC.for_layers(["raw"]).monitors, parameters={})
RAW_COLUMNS = "repo_full_name, sha, authored_at, committed_at, payload, source_kind, lake_key, line_no, run_id"
VITE, CZ = "vitejs/vite", "commitizen/cz-cli"


def _weeks(commits_dir: Path, name: str) -> dict[tuple[int, int], list[dict[str, Any]]]:
    path = commits_dir / f"{name}.jsonl.gz"
    weeks: dict[tuple[int, int], list[dict[str, Any]]] = defaultdict(list)
    with gzip.open(path, "rb") as handle:
        for line in handle:
            commit = orjson.loads(line)
            day = date.fromisoformat(commit["commit"]["committer"]["date"][:10])
            weeks[day.isocalendar()[:2]].append(commit)
    return weeks


def _load(url: str, repo: str, commits: list[dict[str, Any]], run_id: str) -> None:
    with (
        psycopg.connect(url, autocommit=True) as conn,
        conn.cursor() as cur,
        cur.copy(f"copy raw.github_commits ({RAW_COLUMNS}) from stdin") as copy,
    ):
        for line_no, c in enumerate(commits, start=1):
            copy.write_row(
                (
                    repo,
                    c["sha"],
                    c["commit"]["author"]["date"],
                    c["commit"]["committer"]["date"],
                    orjson.dumps(c).decode(),
                    "jsonl",
                    f"raw/{run_id}/{repo}.jsonl.gz",
                    line_no,
                    run_id,
                )
            )


@pytest.fixture
def database(admin_url: str) -> Iterator[str]:
    name = f"commitlake_anomaly_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(sql.SQL("create database {}").format(sql.Identifier(name)))
    url = make_conninfo(admin_url, dbname=name)
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(SCHEMA_SQL.read_text())
    yield url
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(name)))


def _volume(report: Any, repo: str) -> Any:
    (result,) = [r for r in report.results if r.expectation == "volume_anomaly" and r.observed["key"] == repo]
    return result


def test_weekly_runs_learn_then_stay_quiet_then_flag_a_tenfold_spike(database: str, shared_commits: Path) -> None:
    vite, cz = _weeks(shared_commits, "vitejs__vite"), _weeks(shared_commits, "commitizen__cz-cli")
    weeks = sorted(vite)[-9:-1]  # eight real weeks, oldest first
    cz_weeks = sorted(cz)[-9:]  # cz-cli's own last nine active weeks: a second repository, alongside
    older = [c for week in sorted(vite)[:-9] for c in vite[week]]

    reports = []
    for number, week in enumerate(weeks, start=1):
        run_id = f"week-{number}"
        _load(database, VITE, vite[week], run_id)
        _load(database, CZ, cz[cz_weeks[number - 1]], run_id)
        reports.append(validate_warehouse(database, run_id, spec=RAW_MONITORS, layers=["raw"]))

    volumes = [_volume(r, VITE) for r in reports]
    assert [v.observed["value"] for v in volumes] == [float(len(vite[w])) for w in weeks]
    assert all(v.learning and v.success for v in volumes[:5])  # cold start: no history, no verdict
    for report in reports[5:]:  # ordinary weeks, judged against real history: nothing wakes anyone up
        assert not report.warnings and not report.critical_failures, [r.observed for r in report.warnings]
        assert all(not r.learning for r in report.results if r.expectation == "volume_anomaly")

    median = statistics.median(len(vite[w]) for w in weeks)
    spike = older[-int(10 * median) :]
    _load(database, VITE, spike, "spike")
    _load(database, CZ, cz[cz_weeks[-1]], "spike")
    report = validate_warehouse(database, "spike", spec=RAW_MONITORS, layers=["raw"])

    assert report.passed  # an anomaly is a warning: recorded, never blocking
    (warning,) = report.warnings
    assert (warning.suite, warning.expectation, warning.severity) == ("raw.github_commits", "volume_anomaly", "warning")
    assert warning.observed["key"] == VITE and warning.observed["value"] == len(spike)
    assert warning.observed["status"] == "anomaly" and warning.threshold["high"] < len(spike)
    assert _volume(report, CZ).success
    with psycopg.connect(database) as conn:
        stored = conn.execute(
            "select success, observed ->> 'status', threshold ? 'high' from ops.data_quality_results"
            " where run_id = 'spike' and expectation = 'volume_anomaly' and observed ->> 'key' = %s",
            [VITE],
        ).fetchone()
    assert stored == (False, "anomaly", True)
