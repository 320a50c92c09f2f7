"""`commitlake status` shows the newest scoring batch's drift (PSI) per model, with a warning past the threshold."""

from __future__ import annotations

from pathlib import Path

import psycopg
import pytest

from commitlake.config import Settings
from commitlake.ml._drift import DRIFT_THRESHOLD, store
from commitlake.runner import RUN_STAGE
from commitlake.status import print_status
from commitlake.warehouse.db import ensure_schema, open_warehouse
from commitlake.warehouse.runs import record_stage


def _drift(max_psi: float, worst: str) -> dict[str, object]:
    return {"rows": 1000, "prediction_psi": 0.01, "feature_psi": {worst: max_psi, "is_bot": 0.0},
            "max_psi": max_psi, "drifted": max_psi > DRIFT_THRESHOLD}  # fmt: skip


def test_status_shows_latest_drift_and_warns_past_threshold(
    tmp_path: Path, fresh_database: str, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = Settings.from_env({"COMMITLAKE_HOME": str(tmp_path), "DATABASE_URL": fresh_database})
    ensure_schema(fresh_database)
    with open_warehouse(settings) as warehouse:
        record_stage(warehouse, "r1", RUN_STAGE, "succeeded", duration_s=1.0)

    print_status(settings, limit=5)
    assert "model drift" not in capsys.readouterr().out  # never scored: no drift line, no error

    with psycopg.connect(fresh_database, autocommit=True) as conn:
        store(conn, "r1", "commit-type", "3", _drift(0.05, "additions"))
        conn.execute("update ops.model_drift set measured_at = now() - interval '1 hour'")
        store(conn, "r2", "commit-type", "4", _drift(0.37, "files_changed"))
    print_status(settings, limit=5)
    lines = [line for line in capsys.readouterr().out.splitlines() if line.startswith("model drift")]
    assert len(lines) == 1  # the newest batch only
    assert "commit-type v4" in lines[0] and "run r2" in lines[0]
    assert "PSI max=0.370" in lines[0] and "files_changed=0.370" in lines[0]
    assert f"WARNING: drift over threshold {DRIFT_THRESHOLD}" in lines[0]

    with psycopg.connect(fresh_database, autocommit=True) as conn:
        store(conn, "r3", "commit-type", "4", _drift(0.05, "additions"))
    print_status(settings, limit=5)
    line = next(line for line in capsys.readouterr().out.splitlines() if line.startswith("model drift"))
    assert "run r3" in line and "WARNING" not in line
