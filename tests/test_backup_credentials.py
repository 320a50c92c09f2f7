"""Backups with their own identity: COMMITLAKE_BACKUP_URI and the backups Secret's keys, not the pipeline's.

S3 is moto's server over HTTP (the one boundary faked); Postgres and pg_dump/pg_restore run for real.
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path

import boto3
import psycopg
import pytest

from commitlake import contract
from commitlake.config import Settings
from commitlake.errors import ConfigError
from commitlake.lake import LocalLake, S3Lake
from commitlake.warehouse.backup import BACKUP_PREFIX, backup_lake
from commitlake.warehouse.db import ensure_schema


def _settings(tmp_path: Path, endpoint: str | None = None) -> Settings:
    env = {"COMMITLAKE_HOME": str(tmp_path / "home"), "COMMITLAKE_LAKE_URI": str(tmp_path / "lake")}
    if endpoint:
        env["AWS_ENDPOINT_URL_S3"] = endpoint
    return Settings.from_env(env)


def test_without_a_backup_uri_dumps_go_to_the_lake(tmp_path: Path) -> None:
    lake = backup_lake(_settings(tmp_path), {})
    assert isinstance(lake, LocalLake) and lake.root == tmp_path / "lake"


def test_the_backup_uri_is_opened_with_the_backups_keys_not_the_ambient_ones(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "pipeline-key")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "pipeline-secret")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    environ = {
        contract.BACKUP_URI_ENV: f"s3://{contract.BACKUP_BUCKET}/warehouse",
        contract.BACKUP_ACCESS_KEY_ENV: "backups-key",
        contract.BACKUP_SECRET_KEY_ENV: "backups-secret",
    }
    lake = backup_lake(_settings(tmp_path, "http://127.0.0.1:9"), environ)
    assert isinstance(lake, S3Lake) and lake.uri == f"s3://{contract.BACKUP_BUCKET}/warehouse"
    credentials = lake._s3._request_signer._credentials  # what every request is signed with
    assert (credentials.access_key, credentials.secret_key) == ("backups-key", "backups-secret")


def test_half_a_key_pair_is_one_clear_error(tmp_path: Path) -> None:
    environ = {contract.BACKUP_URI_ENV: "s3://b/warehouse", contract.BACKUP_ACCESS_KEY_ENV: "only-this"}
    with pytest.raises(ConfigError, match=contract.BACKUP_SECRET_KEY_ENV):
        backup_lake(_settings(tmp_path), environ)


def _cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "commitlake", *args], capture_output=True, text=True, env=env, timeout=120, check=False
    )


def test_cli_backup_and_restore_through_the_backups_bucket(
    fresh_database: str, tmp_path: Path, s3_endpoint: str
) -> None:
    ensure_schema(fresh_database)
    with psycopg.connect(fresh_database, autocommit=True) as conn:
        conn.execute(
            "insert into raw.github_commits (repo_full_name, sha, authored_at, committed_at, payload, "
            "source_kind, lake_key, line_no, run_id) values ('o/r', 'abc', now(), now(), '{}', "
            "'jsonl', 'k', 0, 'r1')"
        )
    bucket = f"backups-{uuid.uuid4().hex[:8]}"
    s3 = boto3.client(
        "s3",
        endpoint_url=s3_endpoint,
        region_name="us-east-1",
        aws_access_key_id="backups-key",
        aws_secret_access_key="backups-secret",
    )
    s3.create_bucket(Bucket=bucket)
    env = {
        **os.environ,
        "DATABASE_URL": fresh_database,
        "COMMITLAKE_HOME": str(tmp_path / "home"),
        "COMMITLAKE_LAKE_URI": str(tmp_path / "lake"),
        "AWS_ENDPOINT_URL_S3": s3_endpoint,
        "AWS_DEFAULT_REGION": "us-east-1",
        contract.BACKUP_URI_ENV: f"s3://{bucket}/warehouse",
        contract.BACKUP_ACCESS_KEY_ENV: "backups-key",
        contract.BACKUP_SECRET_KEY_ENV: "backups-secret",
    }
    env.pop("AWS_ACCESS_KEY_ID", None)
    env.pop("AWS_SECRET_ACCESS_KEY", None)
    done = _cli("db", "backup", env=env)
    assert done.returncode == 0, done.stderr
    key = done.stdout.strip()
    assert key.startswith(BACKUP_PREFIX)
    stored = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]]
    assert stored == [f"warehouse/{key}"]
    assert not (tmp_path / "lake").exists(), "nothing goes to the pipeline's lake"
    with psycopg.connect(fresh_database, autocommit=True) as conn:
        conn.execute("truncate raw.github_commits")
    done = _cli("db", "restore", env=env)
    assert done.returncode == 0, done.stderr
    with psycopg.connect(fresh_database) as conn:
        assert conn.execute("select sha from raw.github_commits").fetchall() == [("abc",)]
