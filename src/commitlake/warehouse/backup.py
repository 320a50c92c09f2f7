"""Logical backups of the warehouse to the lake, for the embedded and single-node profiles.

Why pg_dump's custom format: it is PostgreSQL's own, version-tolerant, compressed dump that pg_restore can
restore selectively and in one transaction; no home-made export. Why the lake: it is the one durable store
every profile already has (a local directory or S3), so a backup lives beside the data it came from. The
scale profile does not use this: CloudNativePG takes base backups and archives WAL itself (charts/SCALE.md).

Dumps are staged in a temporary file, then written once under `backups/warehouse/` (lake objects are
immutable, so a key is never reused: it carries the UTC time to the microsecond). With COMMITLAKE_BACKUP_URI
set they go there instead, with the backups identity's own S3 keys when COMMITLAKE_BACKUP_ACCESS_KEY_ID /
_SECRET_ACCESS_KEY are set (the `commitlake-backups` Secret: the backups bucket only), so a backup never needs
the pipeline's keys and the pipeline's keys cannot delete backups.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from commitlake import contract
from commitlake.config import Settings
from commitlake.errors import ConfigError, WarehouseError
from commitlake.lake.store import Lake, S3Lake, open_lake
from commitlake.logs import get_logger
from commitlake.warehouse.db import redact_url
from commitlake.warehouse.dsn import parse, tool_conninfo_and_env

__all__ = [
    "BACKUP_PREFIX", "Backup", "backup_database", "backup_lake", "latest_backup", "list_backups", "restore_database",
    "run_backup_command",
]

#: Where backups live in the lake; keys sort by time.
BACKUP_PREFIX = "backups/warehouse/"
_SUFFIX = ".dump"
_log = get_logger("warehouse.backup")


@dataclass(frozen=True)
class Backup:
    """One dump written to the lake."""

    key: str
    size: int


def _client_tool(name: str) -> str:
    """pg_dump/pg_restore of the newest server binaries found (they must not be older than the server)."""
    from commitlake.warehouse.embedded import find_postgres_bin

    try:
        candidate = find_postgres_bin() / name
        if candidate.is_file():
            return str(candidate)
    except WarehouseError:
        pass
    found = shutil.which(name)
    if found is None:
        raise WarehouseError(f"{name} is not installed (apt-get install postgresql-client)")
    return found


def _run(args: list[str], env: dict[str, str], what: str, url: str) -> None:
    proc = subprocess.run(args, capture_output=True, text=True, env=env, check=False)
    if proc.returncode != 0:
        detail = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        raise WarehouseError(f"{what} of {redact_url(url)} failed: {detail}")


def backup_database(url: str, lake: Lake, *, now: datetime | None = None) -> Backup:
    """pg_dump the database at `url` (custom format) into the lake; returns the key written."""
    stamp = (now or datetime.now(UTC)).strftime("%Y%m%dT%H%M%S%fZ")
    dbname = parse(url).get("dbname") or "postgres"
    key = f"{BACKUP_PREFIX}{dbname}-{stamp}{_SUFFIX}"
    conninfo, env = tool_conninfo_and_env(url)
    with tempfile.TemporaryDirectory(prefix="commitlake-backup-") as tmp:
        dump = Path(tmp) / "warehouse.dump"
        _run([_client_tool("pg_dump"), "--format=custom", f"--file={dump}", f"--dbname={conninfo}"],
             env, "pg_dump", url)
        data = dump.read_bytes()
    lake.put_bytes(key, data)
    _log.info("backup.written", key=key, bytes=len(data), lake=lake.uri)
    return Backup(key, len(data))


def list_backups(lake: Lake) -> list[str]:
    """Backup keys in the lake, oldest first."""
    return [k for k in lake.list_keys(BACKUP_PREFIX) if k.endswith(_SUFFIX)]


def latest_backup(lake: Lake) -> str:
    keys = list_backups(lake)
    if not keys:
        raise ConfigError(f"no backup found under {lake.uri}/{BACKUP_PREFIX}")
    return keys[-1]


def restore_database(url: str, lake: Lake, key: str | None = None) -> str:
    """Restore a dump (the newest if `key` is None) over the database at `url`, in one transaction.

    Objects in the dump are dropped and recreated (`--clean --if-exists`); owners and grants are those of the
    dump, so the role matrix must exist on the server (Warehouse.open creates it). Returns the key restored.
    """
    key = key or latest_backup(lake)
    if not key.startswith(BACKUP_PREFIX):
        key = BACKUP_PREFIX + key
    if not lake.exists(key):
        raise ConfigError(f"no backup {key} in {lake.uri}")
    data = lake.get_bytes(key)
    conninfo, env = tool_conninfo_and_env(url)
    with tempfile.TemporaryDirectory(prefix="commitlake-restore-") as tmp:
        dump = Path(tmp) / "warehouse.dump"
        dump.write_bytes(data)
        _run([_client_tool("pg_restore"), "--clean", "--if-exists", "--single-transaction", "--exit-on-error",
              f"--dbname={conninfo}", str(dump)], env, f"pg_restore of {key}", url)
    _log.info("backup.restored", key=key, bytes=len(data), lake=lake.uri)
    return key


def backup_lake(settings: Settings, environ: Mapping[str, str] = os.environ) -> Lake:
    """Where dumps go: COMMITLAKE_BACKUP_URI (with the backups identity's keys if given), else the lake in use."""
    uri = environ.get(contract.BACKUP_URI_ENV, "").strip()
    if not uri:
        return open_lake(settings.effective_lake_uri, endpoint_url=settings.s3_endpoint_url)
    access = environ.get(contract.BACKUP_ACCESS_KEY_ENV, "")
    secret = environ.get(contract.BACKUP_SECRET_KEY_ENV, "")
    if bool(access) != bool(secret):
        raise ConfigError(f"{contract.BACKUP_ACCESS_KEY_ENV} and {contract.BACKUP_SECRET_KEY_ENV} must be set together")
    lake = open_lake(uri, endpoint_url=settings.s3_endpoint_url)
    if access and isinstance(lake, S3Lake):
        import boto3
        from botocore.config import Config

        config = Config(s3={"addressing_style": "path"}, retries={"max_attempts": 5, "mode": "standard"})
        client = boto3.client("s3", endpoint_url=settings.s3_endpoint_url, aws_access_key_id=access,
                              aws_secret_access_key=secret, config=config)
        lake = S3Lake(lake.bucket, lake.prefix, client=client)
    return lake


def run_backup_command(settings: Settings, action: str, key: str | None = None) -> str:
    """`commitlake db backup|restore`: against the warehouse in use and `backup_lake`; returns the key."""
    from commitlake.warehouse.db import open_warehouse

    lake = backup_lake(settings)
    with open_warehouse(settings) as warehouse:
        if action == "backup":
            return backup_database(warehouse.url, lake).key
        return restore_database(warehouse.url, lake, key)
