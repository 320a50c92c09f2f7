"""A run whose load added nothing skips transform, validate, train and predict, but only when their last
attempt succeeded on the same raw watermark: a crash, a failure or new rows make them run.

The decision is in the stage wrapper every executor uses, so the runner's graph is replaced by stand-ins that
only count their calls (the real stages run twice in tests/test_pipeline_e2e.py); the ledger, the run records
and `commitlake status` are the real ones, in the session's PostgreSQL.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from commitlake import pipeline
from commitlake.config import Settings
from commitlake.errors import StageFailed
from commitlake.pipeline import Stage
from commitlake.runner import run_pipeline, run_single_stage
from commitlake.stages import NO_NEW_DATA, RERUN_UNCHANGED_ENV, StageContext, StageResult
from commitlake.stages.validate import VALIDATE_LAYERS_ENV
from commitlake.status import print_status
from commitlake.warehouse.db import open_warehouse
from commitlake.warehouse.runs import record_stage

ROOT = Path(__file__).resolve().parents[1]
CALLS: list[str] = []
FAIL: set[str] = set()


def _stand_in(name: str) -> StageResult:
    layers = os.environ.get(VALIDATE_LAYERS_ENV)
    CALLS.append(f"{name}[{layers}]" if name == "validate" and layers else name)
    if name in FAIL:
        raise RuntimeError(f"{name} broke")
    return StageResult(f"{name} done", {name: 1}, {"did": name})


def fake_load(ctx: StageContext) -> StageResult:
    return _stand_in("load")


def fake_transform(ctx: StageContext) -> StageResult:
    return _stand_in("transform")


def fake_validate(ctx: StageContext) -> StageResult:
    return _stand_in("validate")


def fake_train(ctx: StageContext) -> StageResult:
    return _stand_in("train")


def fake_predict(ctx: StageContext) -> StageResult:
    return _stand_in("predict")


_HERE = "test_skip_unchanged"
GRAPH = (
    Stage(name="load", summary="s", image="ingest", function=f"{_HERE}:fake_load"),
    Stage(name="transform", summary="s", image="transform", function=f"{_HERE}:fake_transform", depends_on=("load",)),
    Stage(name="validate", summary="s", image="quality", function=f"{_HERE}:fake_validate", depends_on=("transform",)),
    Stage(name="train", summary="s", image="train", function=f"{_HERE}:fake_train", depends_on=("validate",)),
    Stage(name="predict", summary="s", image="train", function=f"{_HERE}:fake_predict", depends_on=("train",)),
)
DOWNSTREAM = ["validate[raw]", "transform", "validate", "train", "predict"]  # raw is checked right after load


@pytest.fixture
def settings(tmp_path: Path, fresh_database: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Settings]:
    monkeypatch.setattr(pipeline, "STAGES", GRAPH)
    monkeypatch.delenv(RERUN_UNCHANGED_ENV, raising=False)
    monkeypatch.delenv(VALIDATE_LAYERS_ENV, raising=False)
    CALLS.clear()
    FAIL.clear()
    settings = Settings.from_env(  # in the runner's process: the stand-in stages exist in this one only
        {"COMMITLAKE_HOME": str(tmp_path / "home"), "DATABASE_URL": fresh_database, "COMMITLAKE_PROJECT_DIR": str(ROOT),
         "COMMITLAKE_STAGE_PROCESSES": "0"}
    )
    with open_warehouse(settings):  # creates the ops schema, as any stage's start does
        pass
    yield settings


def _run(settings: Settings, run_id: str) -> list[str]:
    """Run the graph; the stand-ins called (load always runs)."""
    CALLS.clear()
    run_pipeline(settings.with_overrides(run_id=run_id), progress=False)
    return list(CALLS)


def _new_rows(url: str, key: str) -> None:
    """What a load that inserted rows leaves in the ledger (written with the rows, in one transaction)."""
    with psycopg.connect(url) as conn:
        conn.execute(
            "insert into ops.loaded_objects (lake_key, run_id, records, inserted, duplicates, rejected)"
            " values (%s, 'loader', 10, 10, 0, 0)",
            [key],
        )


def _statuses(url: str, run_id: str) -> dict[str, tuple[str, str | None]]:
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "select stage, status, details ->> 'reason' from ops.pipeline_runs where run_id = %s", [run_id]
        ).fetchall()
    return {stage: (status, reason) for stage, status, reason in rows}


def test_a_rerun_with_nothing_new_skips_and_new_rows_do_not(settings: Settings) -> None:
    url = settings.database_url or ""
    _new_rows(url, "raw/a.jsonl.gz")
    assert _run(settings, "first") == ["load", *DOWNSTREAM]

    assert _run(settings, "second") == ["load"]
    second = _statuses(url, "second")
    assert second["load"] == ("succeeded", None)
    for stage in ("transform", "validate", "train", "predict"):
        assert second[stage] == ("skipped", NO_NEW_DATA), stage
    assert second["_run"][0] == "succeeded"
    assert _run(settings, "third") == ["load"]  # a skip on the same watermark counts as done for the next run

    _new_rows(url, "raw/b.jsonl.gz")
    assert _run(settings, "fourth") == ["load", *DOWNSTREAM]
    assert all(status == "succeeded" for status, _ in _statuses(url, "fourth").values())

    os.environ[RERUN_UNCHANGED_ENV] = "1"
    try:
        assert _run(settings, "forced") == ["load", *DOWNSTREAM]
    finally:
        del os.environ[RERUN_UNCHANGED_ENV]


def test_status_names_the_reason(settings: Settings, capsys: pytest.CaptureFixture[str]) -> None:
    _run(settings, "first")
    _run(settings, "second")
    capsys.readouterr()
    print_status(settings, 1)
    lines = {line.split()[0]: line for line in capsys.readouterr().out.splitlines()[1:]}
    assert lines["load"].split()[1] == "succeeded"
    for stage in ("transform", "validate", "train", "predict"):
        assert lines[stage].split()[1] == "skipped" and lines[stage].endswith(f"({NO_NEW_DATA})"), lines[stage]


def test_a_failed_stage_reruns_itself_and_what_follows(settings: Settings) -> None:
    _new_rows(settings.database_url or "", "raw/a.jsonl.gz")
    FAIL.add("train")
    with pytest.raises(StageFailed):
        _run(settings, "broken")
    FAIL.clear()
    # same raw: transform and validate succeeded on it and are skipped; train failed, so it runs, and predict
    # (whose last success was on no watermark at all) runs after it
    assert _run(settings, "repaired") == ["load", "train", "predict"]
    assert _run(settings, "again") == ["load"]


def test_a_crashed_stage_is_never_skipped(settings: Settings) -> None:
    _new_rows(settings.database_url or "", "raw/a.jsonl.gz")
    _run(settings, "first")
    with open_warehouse(settings) as warehouse:  # what a process killed during transform leaves behind
        record_stage(warehouse, "killed", "transform", "running", details={"skip_scope": {}})
    # raw's own check still stands; transform runs, and so does everything after it
    assert _run(settings, "after-kill") == ["load", "transform", "validate", "train", "predict"]
    assert _statuses(settings.database_url or "", "killed")["transform"][0] == "abandoned"
    assert _run(settings, "calm") == ["load"]


def test_a_resumed_run_keeps_what_it_ran_so_what_follows_runs(settings: Settings) -> None:
    """Train ran in this run (forced), predict failed after it: resuming the run id must score again with
    the new model, although predict succeeded on this raw before."""
    _new_rows(settings.database_url or "", "raw/a.jsonl.gz")
    _run(settings, "first")
    FAIL.add("predict")
    os.environ[RERUN_UNCHANGED_ENV] = "1"
    try:
        with pytest.raises(StageFailed):
            run_pipeline(settings.with_overrides(run_id="retrain"), only=["train", "predict"], progress=False)
    finally:
        del os.environ[RERUN_UNCHANGED_ENV]
    FAIL.clear()
    CALLS.clear()
    run_pipeline(settings.with_overrides(run_id="retrain"), only=["train", "predict"], progress=False)
    assert CALLS == ["predict"]  # train's success in this run stands (not re-recorded as a skip)
    assert _statuses(settings.database_url or "", "retrain")["train"] == ("succeeded", None)


def test_a_pod_running_one_stage_skips_too_and_records_it(settings: Settings) -> None:
    """Argo runs `commitlake transform` in its own pod with the workflow's run id: the same wrapper decides."""
    _new_rows(settings.database_url or "", "raw/a.jsonl.gz")
    _run(settings, "first")
    CALLS.clear()
    result = run_single_stage(settings.with_overrides(run_id="argo-run"), "transform")  # exits 0: no exception
    assert result.skipped and result.summary == f"skipped: {NO_NEW_DATA} (raw unchanged since run first)"
    assert CALLS == []
    assert _statuses(settings.database_url or "", "argo-run") == {"transform": ("skipped", NO_NEW_DATA)}


def test_a_stage_a_user_runs_by_itself_always_runs(settings: Settings) -> None:
    """`commitlake validate` typed by a user (no run id) is an explicit request: it checks, even on unchanged raw."""
    _new_rows(settings.database_url or "", "raw/a.jsonl.gz")
    _run(settings, "first")
    CALLS.clear()
    assert settings.run_id is None
    result = run_single_stage(settings, "validate")
    assert not result.skipped and CALLS == ["validate"]
