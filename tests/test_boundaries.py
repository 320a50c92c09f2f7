"""Boundaries and declared contracts a planted bug would cross silently: the loader's UTC offset limit on both
its fast and strict paths, dbt's incremental keys, and the retries of the Argo exit handler."""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import psycopg
import pytest
import yaml

from commitlake.warehouse.quarantine import MAX_UTC_OFFSET, Rejected, check_line, check_line_fast, date_window

ROOT = Path(__file__).resolve().parents[1]
DBT_DIR = ROOT / "dbt"
RENDERED = ROOT / "workflows" / "rendered" / "workflow-template.yaml"
sys.path.insert(0, str(ROOT / "workflows"))

from commitlake_workflows import build  # noqa: E402

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
SHA = "0123456789abcdef0123456789abcdef01234567"

# (offset, accepted): the limit is ±14:00 inclusive (Kiribati, UTC+14, is the farthest real zone)
OFFSETS = [
    ("Z", True),
    ("+00:00", True),
    ("-00:00", True),
    ("+05:45", True),
    ("+13:59", True),
    ("+14:00", True),
    ("-12:00", True),
    ("-13:59", True),
    ("-14:00", True),
    ("+14:01", False),
    ("+14:30", False),
    ("+14:59", False),
    ("+15:00", False),
    ("+15:59", False),
    ("-14:01", False),
    ("-14:30", False),
    ("-15:00", False),
    ("+19:00", False),
]


def _offset(text: str) -> timedelta:
    return datetime.fromisoformat("2020-06-15T12:00:00" + text).utcoffset() or timedelta(0)


def test_the_table_brackets_the_declared_limit() -> None:
    """The table's last accepted offset is the product's limit, and a minute past it is refused."""
    assert max(abs(_offset(o)) for o, ok in OFFSETS if ok) == MAX_UTC_OFFSET
    assert min(abs(_offset(o)) for o, ok in OFFSETS if not ok) == MAX_UTC_OFFSET + timedelta(minutes=1)


def _line(date: str) -> bytes:
    person = {"name": "A", "email": "a@example.org", "date": date}
    return orjson.dumps({"sha": SHA, "commit": {"author": person, "committer": person, "message": "x"}})


@pytest.mark.parametrize("check", [check_line, check_line_fast], ids=["strict", "fast"])
@pytest.mark.parametrize(("offset", "accepted"), OFFSETS)
@pytest.mark.parametrize("clock", ["2020-06-15T12:00:00", "2020-06-15T00:00:00", "2020-06-15T23:59:59"])
def test_utc_offset_boundary(check: Any, offset: str, accepted: bool, clock: str) -> None:
    date = clock + offset
    result = check(_line(date), date_window(NOW))
    if accepted:
        assert not isinstance(result, Rejected), result
        sha, authored, committed = result
        assert sha == SHA
        assert datetime.fromisoformat(authored) == datetime.fromisoformat(date) == datetime.fromisoformat(committed)
    else:
        assert isinstance(result, Rejected) and result.reason == "date_out_of_range", result


@pytest.mark.parametrize("date", ["2020-06-15T12:00:00+518:00", "2020-06-15T12:00:00", "2020-06-15 12:00:00+14:30"])
@pytest.mark.parametrize("check", [check_line, check_line_fast], ids=["strict", "fast"])
def test_malformed_offsets_are_invalid_dates(check: Any, date: str) -> None:
    result = check(_line(date), date_window(NOW))
    assert isinstance(result, Rejected) and result.reason in ("invalid_date", "date_out_of_range"), result


def test_postgres_reads_every_accepted_date_as_python_does(admin_url: str) -> None:
    """What the loader passes on is what Postgres stores: the same instant."""
    window = date_window(NOW)
    passed = []
    for offset, accepted in OFFSETS:
        if accepted:
            result = check_line_fast(_line("2020-06-15T23:59:59" + offset), window)
            assert not isinstance(result, Rejected)
            passed.append(result[1])
    with psycopg.connect(admin_url) as conn:
        stored = [conn.execute("select %s::text::timestamptz", [text]).fetchone()[0] for text in passed]  # type: ignore[index]
    assert stored == [datetime.fromisoformat(text) for text in passed]


# dbt: an incremental model without unique_key appends a second copy of every re-read row ---------------------


@pytest.fixture(scope="module")
def dbt_manifest(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    from dbt.cli.main import dbtRunner

    target = tmp_path_factory.mktemp("dbt-parse")
    result = dbtRunner().invoke([
        "parse", "--project-dir", str(DBT_DIR), "--profiles-dir", str(DBT_DIR),
        "--target-path", str(target / "target"), "--log-path", str(target / "logs"), "--quiet",
    ])
    assert result.success, result.exception
    manifest: dict[str, Any] = json.loads((target / "target" / "manifest.json").read_text())
    return manifest


def _models(manifest: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {n["name"]: n for n in manifest["nodes"].values() if n["resource_type"] == "model"}


def test_fct_commits_is_incremental_on_commit_id(dbt_manifest: dict[str, Any]) -> None:
    config = _models(dbt_manifest)["fct_commits"]["config"]
    assert config["materialized"] == "incremental"
    assert config["unique_key"] == "commit_id"
    assert config["incremental_strategy"] == "delete+insert"


def test_every_incremental_model_declares_its_unique_key(dbt_manifest: dict[str, Any]) -> None:
    incremental = {name: n["config"] for name, n in _models(dbt_manifest).items()
                   if n["config"]["materialized"] == "incremental"}
    assert "fct_commits" in incremental
    missing = sorted(name for name, config in incremental.items() if not config.get("unique_key"))
    assert missing == []


# Argo: the exit handler records the run's end; a pod lost to eviction must not lose that record ---------------


def test_exit_handler_retries_transient_failures() -> None:
    template = yaml.safe_load(RENDERED.read_text())
    spec = template["spec"]
    assert spec["onExit"] == build.EXIT_HANDLER
    handler = {t["name"]: t for t in spec["templates"]}[spec["onExit"]]
    retry = handler.get("retryStrategy")
    assert retry, "the exit handler has no retryStrategy"
    assert int(retry["limit"]) >= 1
    assert retry["expression"] == build.RETRY_EXPRESSION
    assert retry.get("backoff", {}).get("duration"), "retries need a backoff (a lost node takes a while)"
    chart_copy = ROOT / "charts" / "commitlake" / "files" / RENDERED.name
    assert chart_copy.read_text() == RENDERED.read_text()


@pytest.mark.parametrize(
    "date",
    [
        "2019-W01-1T00:00:00Z",
        "2019-W01-1T10:00:00+02:00",
        "2019-12-31T23:59:59Z",
        "2019-12-31d23:59:59Z",  # Python takes any separator; Postgres reads "d" and "u" as units and fails
        "2019-12-31u23:59:59+02:00",
    ],
)
def test_what_the_fast_path_passes_on_postgres_reads_as_python_does(admin_url: str, date: str) -> None:
    """Python reads ISO week dates (2019-W01-1) and any character between date and time; Postgres reads no week
    date and takes some letters there for units: the fast path must not pass such a date through."""
    result = check_line_fast(_line(date), date_window(NOW))
    assert not isinstance(result, Rejected), result
    with psycopg.connect(admin_url) as conn:
        stored = conn.execute("select %s::text::timestamptz", [result[1]]).fetchone()[0]  # type: ignore[index]
    assert stored == datetime.fromisoformat(date)
