"""Settings, the pipeline definition and the log format: the contracts the executors share."""

from __future__ import annotations

import io
import os
from pathlib import Path

import orjson
import pytest

from commitlake import __version__
from commitlake.config import DEFAULT_LOAD_STREAMS, Settings
from commitlake.errors import ConfigError
from commitlake.logs import bind, configure, log
from commitlake.pipeline import STAGES, image_for, stage_by_name


def test_settings_from_env_defaults(tmp_path: Path) -> None:
    settings = Settings.from_env({"COMMITLAKE_HOME": str(tmp_path / "state")})
    assert settings.home == tmp_path / "state"
    assert settings.embedded_database
    assert settings.effective_lake_uri == (tmp_path / "state" / "lake").as_uri()
    assert settings.effective_mlflow_uri.startswith("sqlite:///") and str(tmp_path) in settings.effective_mlflow_uri
    assert settings.github_api_url == "https://api.github.com"


def test_settings_from_env_external_services() -> None:
    settings = Settings.from_env({
        "DATABASE_URL": "postgresql://u:p@db:5432/w",
        "COMMITLAKE_LAKE_URI": "s3://bucket/lake",
        "AWS_ENDPOINT_URL_S3": "http://minio:9000",
        "MLFLOW_TRACKING_URI": "http://mlflow:5000",
        "GITHUB_API_URL": "https://ghe.example.com/api/v3/",
        "GITHUB_TOKEN": "ghp_secret",
        "COMMITLAKE_REPOS": "github:a/b, jsonl:/x/c__d.jsonl\ngit:.",
        "COMMITLAKE_WITH_FILES": "true",
    })
    assert not settings.embedded_database
    assert settings.effective_lake_uri == "s3://bucket/lake"
    assert settings.github_api_url == "https://ghe.example.com/api/v3"
    assert settings.repos == ("github:a/b", "jsonl:/x/c__d.jsonl", "git:.")
    assert settings.with_files
    assert "ghp_secret" not in repr(settings)


def test_settings_reject_bad_numbers() -> None:
    with pytest.raises(ConfigError, match="COMMITLAKE_MAX_REQUESTS"):
        Settings.from_env({"COMMITLAKE_MAX_REQUESTS": "lots"})
    with pytest.raises(ConfigError, match="at least 1"):
        Settings.from_env({"COMMITLAKE_INGEST_CONCURRENCY": "0"})
    with pytest.raises(ConfigError, match="COMMITLAKE_LOAD_STREAMS must be at least 1"):
        Settings.from_env({"COMMITLAKE_LOAD_STREAMS": "0"})


def test_load_streams_come_from_the_environment() -> None:
    assert Settings.from_env({"COMMITLAKE_LOAD_STREAMS": "3"}).load_streams == 3
    assert Settings.from_env({}).load_streams == DEFAULT_LOAD_STREAMS == min(2, os.cpu_count() or 1)


def test_pipeline_is_a_dag_in_order() -> None:
    names = [s.name for s in STAGES]
    assert names[:7] == ["plan", "ingest", "load", "transform", "validate", "train", "predict"]
    seen: set[str] = set()
    for stage in STAGES:
        assert set(stage.depends_on) <= seen, f"{stage.name} depends on a later stage"
        seen.add(stage.name)
    assert stage_by_name("ingest").fan_out_over == "plan"
    assert image_for(stage_by_name("transform")) == f"commitlake/transform:{__version__}"
    with pytest.raises(KeyError, match="no stage named"):
        stage_by_name("deploy")


def test_every_stage_has_a_module_with_run() -> None:
    import importlib

    for stage in STAGES:
        module = importlib.import_module(f"commitlake.stages.{stage.name}")
        assert callable(module.run)


def test_log_lines_are_json_with_the_contract_fields() -> None:
    stream = io.StringIO()
    configure("INFO", stream)
    try:
        with bind(run_id="r1", stage="load"):
            log("INFO", "load.object", rows=3, github_token="ghp_x")
        log("DEBUG", "hidden")
    finally:
        configure("INFO", None)
    lines = stream.getvalue().splitlines()
    assert len(lines) == 1
    record = orjson.loads(lines[0])
    assert {k: record[k] for k in ("level", "run_id", "stage", "event", "rows")} == {
        "level": "info", "run_id": "r1", "stage": "load", "event": "load.object", "rows": 3,
    }
    assert record["ts"].endswith("Z")
    assert record["github_token"] == "***"


def test_library_deprecations_from_training_are_debug_lines_and_other_warnings_stay_warnings() -> None:
    """MLflow's SQLAlchemy and pandas deprecations are nothing a user can act on: they must not greet every run
    as warnings. A warning about the model itself (did not converge) still must."""
    import warnings

    import pandas.errors
    import sqlalchemy.exc

    from commitlake.stages.train import log_library_warnings

    caught = [warnings.WarningMessage(message, category, "x.py", 1) for message, category in [
        ("noload is deprecated", sqlalchemy.exc.SADeprecationWarning),
        ("Operation with range is deprecated", pandas.errors.Pandas4Warning),
        ("noload is deprecated", sqlalchemy.exc.SADeprecationWarning),  # the same one twice: one line
        ("lbfgs failed to converge", UserWarning),
    ]]
    lines: dict[str, list[dict[str, object]]] = {}
    for level in ("INFO", "DEBUG"):
        stream = io.StringIO()
        configure(level, stream)
        try:
            log_library_warnings(caught)
        finally:
            configure("INFO", None)
        lines[level] = [orjson.loads(line) for line in stream.getvalue().splitlines()]
    assert [(r["level"], r["category"]) for r in lines["INFO"]] == [("warning", "UserWarning")]
    assert [(r["level"], r["category"]) for r in lines["DEBUG"]] == [
        ("debug", "SADeprecationWarning"), ("debug", "Pandas4Warning"), ("warning", "UserWarning")]
