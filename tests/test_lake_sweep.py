"""A killed ingest's parts do not stay in the lake forever (issue 15, found by `make chaos`).

`commitlake ingest` dies at a fault point after writing a part and before its manifest; the rerun, under a new
run id as `commitlake run` does, must delete that part (the run provably ended: ledger row abandoned, no
process holds its liveness lock) and nothing else: not the folder of a run still alive, not one the ledger
never saw. Both on a local lake directory and on S3 (moto's server).
"""

from __future__ import annotations

import gzip
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import orjson
import psycopg
import pytest

from commitlake.config import Settings
from commitlake.faults import FAULT_ENV, FAULT_EXIT_CODE
from commitlake.lake import MANIFEST_NAME, Lake, LocalLake, Manifest, S3Lake, part_key
from commitlake.lake.sweep import run_of, uncommitted_folders
from commitlake.sources.jsonl import JsonlSource
from commitlake.stages.ingest import ingest_source
from commitlake.warehouse.db import Warehouse
from commitlake.warehouse.load import load_lake
from commitlake.warehouse.runs import record_stage, run_alive
from test_lake import s3_lake  # noqa: F401  (the moto-backed lake; s3_endpoint is conftest's)

ROOT = Path(__file__).resolve().parents[1]
SCHEMA = ROOT / "src" / "commitlake" / "warehouse" / "sql" / "schema.sql"
REPO_FILE = "commitizen__cz-cli.jsonl.gz"
OTHER = "raw/jsonl/commits/repo=x__y/ingest_date=2026-11-30/run_id={}/"


@pytest.fixture
def db(fresh_database: str) -> str:
    with psycopg.connect(fresh_database, autocommit=True) as conn:
        conn.execute(SCHEMA.read_text())
    return fresh_database


@pytest.fixture(params=["local", "s3"])
def lake_env(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[Lake, dict[str, str]]:
    if request.param == "local":
        return LocalLake(tmp_path / "lake"), {"COMMITLAKE_LAKE_URI": (tmp_path / "lake").as_uri()}
    lake: S3Lake = request.getfixturevalue("s3_lake")
    endpoint = request.getfixturevalue("s3_endpoint")
    return lake, {"COMMITLAKE_LAKE_URI": lake.uri, "AWS_ENDPOINT_URL_S3": endpoint}


def _ingest(
    env: dict[str, str], run_id: str, source: Path, fault: str | None = None
) -> subprocess.CompletedProcess[str]:
    child = {k: v for k, v in os.environ.items() if k != FAULT_ENV} | env
    if fault:
        child[FAULT_ENV] = fault
    return subprocess.run(
        [sys.executable, "-m", "commitlake", "ingest", "--run-id", run_id, "--repos", f"jsonl:{source}"],
        env=child,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )


def _unreferenced(lake: Lake) -> set[str]:
    keys = list(lake.list_keys("raw/"))
    manifests = [Manifest.from_bytes(lake.get_bytes(k)) for k in keys if k.endswith("/" + MANIFEST_NAME)]
    listed = {o.key for manifest in manifests for o in manifest.objects}
    return {k for k in keys if not k.endswith(MANIFEST_NAME) and k not in listed}


@pytest.fixture
def live_run(db: str, tmp_path: Path) -> Iterator[Warehouse]:
    warehouse = Warehouse(Settings.from_env({"DATABASE_URL": db, "COMMITLAKE_HOME": str(tmp_path / "home")})).open()
    yield warehouse
    warehouse.close()


def test_the_next_ingest_sweeps_a_killed_runs_parts_and_nothing_else(
    db: str, tmp_path: Path, shared_commits: Path, lake_env: tuple[Lake, dict[str, str]], live_run: Warehouse
) -> None:
    lake, env = lake_env
    env = env | {
        "DATABASE_URL": db,
        "COMMITLAKE_HOME": str(tmp_path / "home"),
        "AWS_ACCESS_KEY_ID": "test",
        "AWS_SECRET_ACCESS_KEY": "test",
        "AWS_DEFAULT_REGION": "us-east-1",
    }
    source = shared_commits / REPO_FILE
    with gzip.open(source) as handle:
        shas = {orjson.loads(line)["sha"] for line in handle if line.strip()}

    killed = _ingest(env, "dead-1", source, fault="lake.after_part")
    assert killed.returncode == FAULT_EXIT_CODE, killed.stderr[-2000:]
    orphans = _unreferenced(lake)
    assert orphans and {run_of(k.rpartition("/")[0]) for k in orphans} == {"dead-1"}

    lake.put_bytes(part_key(OTHER.format("foreign-1"), 0), b"a run this ledger never saw")
    lake.put_bytes(part_key(OTHER.format("live-1"), 0), b"a run still writing")
    with run_alive(live_run, "live-1"):
        record_stage(live_run, "live-1", "ingest", "running")
        rerun = _ingest(env, "ing-2", source)
        assert rerun.returncode == 0, rerun.stderr[-2000:]
        left = {run_of(k.rpartition("/")[0]) for k in _unreferenced(lake)}
        assert left == {"foreign-1", "live-1"}, "the dead run's parts are gone, the live and unknown runs' kept"

    # live-1's connection closed with the block above, as a dead process's would: its lock is gone
    third = _ingest(env, "ing-3", source)
    assert third.returncode == 0, third.stderr[-2000:]
    assert {run_of(k.rpartition("/")[0]) for k in _unreferenced(lake)} == {"foreign-1"}
    with psycopg.connect(db) as conn:
        assert conn.execute("select status from ops.pipeline_runs where run_id = 'live-1'").fetchone() == ("abandoned",)

    report = load_lake(db, lake, "load-1")  # nothing lost: every commit arrives, exactly once
    with psycopg.connect(db) as conn:
        assert {r[0] for r in conn.execute("select sha from raw.github_commits")} == shas
    assert report.rows_inserted == len(shas)


def test_a_rerun_of_the_same_run_removes_parts_its_earlier_try_wrote_beyond_the_new_ones(
    tmp_path: Path, shared_commits: Path
) -> None:
    source = shared_commits / REPO_FILE
    lake = LocalLake(tmp_path / "lake")
    manifest, status = ingest_source(JsonlSource(f"jsonl:{source}", source, chunk_records=100), None, lake, "r1")
    assert status == "ingested" and manifest is not None
    prefix = manifest.objects[0].key.rpartition("/")[0] + "/"
    lake.delete(prefix + MANIFEST_NAME)  # as if killed before the manifest, after writing 3 more parts
    for extra in range(len(manifest.objects), len(manifest.objects) + 3):
        lake.put_bytes(part_key(prefix, extra), b"left by the killed try")
    assert uncommitted_folders(lake.list_keys("raw/")) != {}

    ingest_source(JsonlSource(f"jsonl:{source}", source, chunk_records=100), None, lake, "r1")
    assert _unreferenced(lake) == set()
