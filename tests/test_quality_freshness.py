"""`dbt source freshness`, run for real against real commits: a stale raw source is a warning carrying its age."""

from __future__ import annotations

import gzip
from pathlib import Path

import orjson
import psycopg
import pytest

from commitlake.config import Settings
from commitlake.quality._freshness import FRESHNESS_SUITE, check_source_freshness

ROOT = Path(__file__).resolve().parents[1]
SCHEMA_SQL = ROOT / "src" / "commitlake" / "warehouse" / "sql" / "schema.sql"
RAW_COLUMNS = "repo_full_name, sha, authored_at, committed_at, payload, source_kind, lake_key, line_no, run_id"


@pytest.fixture
def warehouse(fresh_database: str, shared_commits: Path) -> str:
    with gzip.open(shared_commits / "commitizen__cz-cli.jsonl.gz", "rb") as handle:
        commits = [orjson.loads(line) for line in handle][:50]
    with psycopg.connect(fresh_database, autocommit=True) as conn:
        conn.execute(SCHEMA_SQL.read_text())
        with conn.cursor() as cur, cur.copy(f"copy raw.github_commits ({RAW_COLUMNS}) from stdin") as copy:
            for n, c in enumerate(commits, start=1):
                dates = (c["commit"]["author"]["date"], c["commit"]["committer"]["date"])
                copy.write_row(("commitizen/cz-cli", c["sha"], *dates, orjson.dumps(c).decode(), "jsonl", "x", n, "r"))
    return fresh_database


def _age(url: str, hours: int) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("update raw.github_commits set loaded_at = now() - make_interval(hours => %s)", [hours])


@pytest.mark.timeout(900)
def test_stale_source_is_a_warning_with_its_age(warehouse: str, tmp_path: Path) -> None:
    settings = Settings(home=tmp_path / "home", project_dir=ROOT)

    _age(warehouse, 1)
    (fresh,) = check_source_freshness(settings, warehouse, "run-fresh")
    assert fresh.success and fresh.observed["status"] == "pass"
    assert fresh.column_name == "github.commits" and fresh.layer == "raw" and fresh.severity == "warning"

    _age(warehouse, 3 * 24)  # past warn_after (2 days)
    (stale,) = check_source_freshness(settings, warehouse, "run-stale")
    assert not stale.success and stale.severity == "warning" and stale.observed["status"] == "warn"
    assert stale.observed["age_hours"] == pytest.approx(72, abs=0.5)
    assert stale.threshold["warn_after"] == {"count": 2, "period": "day"}

    _age(warehouse, 9 * 24)  # past error_after (8 days): still a warning, never a failed run
    (old,) = check_source_freshness(settings, warehouse, "run-stale")
    assert not old.success and old.severity == "warning" and old.observed["status"] == "error"
    with psycopg.connect(warehouse) as conn:
        rows = conn.execute(
            "select run_id, severity, success, (observed ->> 'age_hours')::float from ops.data_quality_results"
            " where suite = %s order by run_id",
            [FRESHNESS_SUITE],
        ).fetchall()
    assert [(r[0], r[1], r[2]) for r in rows] == [("run-fresh", "warning", True), ("run-stale", "warning", False)]
    assert rows[1][3] == pytest.approx(216, abs=0.5)  # the rerun replaced the run's row
