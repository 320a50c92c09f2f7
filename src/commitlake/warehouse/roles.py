"""The warehouse role matrix (data_engineer, data_scientist, ml_engineer, analyst), created by the platform.

Why in the platform and not in a DBA runbook: the grants must follow dbt, which recreates its tables on every
run, so they live in ALTER DEFAULT PRIVILEGES set by the role that creates those tables, and re-applying them
on every stage start keeps a fresh warehouse, an upgraded one and one restored from a dump alike. The matrix
itself is in sql/roles.sql.
"""

from __future__ import annotations

from importlib import resources
from typing import Any

import psycopg

from commitlake.logs import get_logger

__all__ = ["PERSONAS", "ensure_roles"]

PERSONAS = ("data_engineer", "data_scientist", "ml_engineer", "analyst")
_log = get_logger("warehouse.roles")


def _sql() -> str:
    return resources.files("commitlake.warehouse").joinpath("sql", "roles.sql").read_text()


def ensure_roles(conn: psycopg.Connection[Any]) -> None:
    """Apply roles.sql; a missing CREATEROLE privilege becomes a logged warning, not a failure."""
    warnings: list[str] = []

    def keep(diag: psycopg.errors.Diagnostic) -> None:
        if diag.severity_nonlocalized == "WARNING" and diag.message_primary:
            warnings.append(diag.message_primary)

    conn.add_notice_handler(keep)
    try:
        conn.execute(_sql())
        if not conn.autocommit:
            conn.commit()
    finally:
        conn.remove_notice_handler(keep)
    for message in warnings:
        _log.warning("roles_skipped", message=message)
