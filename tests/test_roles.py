"""The role matrix, proven by connecting as login roles that are members of each persona."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from commitlake.warehouse.roles import PERSONAS, ensure_roles

SCHEMA = Path(__file__).resolve().parents[1] / "src" / "commitlake" / "warehouse" / "sql" / "schema.sql"
LAYERS = ("raw", "staging", "analytics")
# schema -> a table created AFTER ensure_roles ran (as dbt does on every run) and one created before
LATER = {"raw": "raw.later", "staging": "staging.stg_later", "analytics": "analytics.fct_later", "ml": "ml.later"}
BEFORE = {"raw": "raw.github_commits", "ops": "ops.pipeline_runs"}
READS = {
    "data_engineer": {"raw", "staging", "analytics", "ops", "ml"},
    "data_scientist": {"raw", "staging", "analytics", "ops", "ml"},
    "ml_engineer": {"raw", "staging", "analytics", "ops", "ml"},
    "analyst": {"analytics"},
}
WRITES = {
    "data_engineer": {"raw", "staging", "analytics"},
    "data_scientist": {"ml"},
    "ml_engineer": {"ml"},
    "analyst": set(),
}


def _url(base: str, user: str, password: str, dbname: str | None = None) -> str:
    params = conninfo_to_dict(base)
    params.update(user=user, password=password)
    if dbname:
        params["dbname"] = dbname
    return make_conninfo(**params)  # type: ignore[arg-type]


@pytest.fixture
def warehouse(admin_url: str, fresh_database: str) -> Iterator[dict[str, str]]:
    """A database owned by a CREATEROLE login standing in for `pipeline`, plus one login per persona."""
    suffix = uuid.uuid4().hex[:8]
    password = uuid.uuid4().hex
    pipeline = f"t_pipeline_{suffix}"
    logins = {persona: f"t_{persona}_{suffix}" for persona in PERSONAS}
    dbname = conninfo_to_dict(fresh_database)["dbname"]
    with psycopg.connect(admin_url, autocommit=True) as admin:
        admin.execute(
            sql.SQL("create role {} login createrole password {}").format(
                sql.Identifier(pipeline), sql.Literal(password)
            )
        )
        admin.execute(sql.SQL("alter database {} owner to {}").format(sql.Identifier(dbname), sql.Identifier(pipeline)))
    pipeline_url = _url(fresh_database, pipeline, password)
    with psycopg.connect(pipeline_url, autocommit=True) as conn:
        conn.execute(SCHEMA.read_text())
        ensure_roles(conn)
        ensure_roles(conn)  # idempotent: every stage start runs it
        for persona, login in logins.items():  # the personas may predate this test (cluster-wide roles)
            conn.execute(
                sql.SQL("create role {} login password {} in role {}").format(
                    sql.Identifier(login), sql.Literal(password), sql.Identifier(persona)
                )
            )
        for table in LATER.values():
            conn.execute(f"create table {table} (id int)")
            conn.execute(f"insert into {table} values (1)")
    urls = {persona: _url(fresh_database, login, password) for persona, login in logins.items()}
    yield {"pipeline": pipeline_url, **urls}
    with psycopg.connect(admin_url, autocommit=True) as admin:
        admin.execute(sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(dbname)))
        for role in [*logins.values(), pipeline]:
            admin.execute(sql.SQL("drop role if exists {}").format(sql.Identifier(role)))


def _can(url: str, statement: str) -> bool:
    with psycopg.connect(url) as conn:
        try:
            conn.execute(statement)
        except psycopg.errors.InsufficientPrivilege:
            return False
        finally:
            conn.rollback()
    return True


@pytest.mark.parametrize("persona", PERSONAS)
def test_reads_follow_the_matrix(warehouse: dict[str, str], persona: str) -> None:
    url = warehouse[persona]
    for schema, table in {**LATER, **BEFORE}.items():
        assert _can(url, f"select * from {table}") is (schema in READS[persona]), (persona, table)


@pytest.mark.parametrize("persona", PERSONAS)
def test_only_data_engineer_writes_the_layers(warehouse: dict[str, str], persona: str) -> None:
    url = warehouse[persona]
    for schema, table in LATER.items():
        assert _can(url, f"insert into {table} values (2)") is (schema in WRITES[persona]), (persona, table)
        assert _can(url, f"delete from {table}") is (schema in WRITES[persona]), (persona, table)
    for layer in LAYERS:
        assert not _can(url, f"create table {layer}.mine (id int)"), (persona, layer)
    raw_insert = (
        "insert into raw.github_commits (repo_full_name, sha, authored_at, committed_at, payload, source_kind,"
        " lake_key, line_no, run_id) values ('o/r', 'abc', now(), now(), '{}', 'jsonl', 'k', 1, 'r')"
    )
    assert _can(url, raw_insert) is (persona == "data_engineer")


def test_analyst_cannot_read_raw(warehouse: dict[str, str]) -> None:
    with psycopg.connect(warehouse["analyst"]) as conn, pytest.raises(psycopg.errors.InsufficientPrivilege):
        conn.execute("select count(*) from raw.github_commits")


@pytest.mark.parametrize("persona", ["data_scientist", "ml_engineer"])
def test_ml_personas_may_create_in_ml(warehouse: dict[str, str], persona: str) -> None:
    assert _can(warehouse[persona], "create table ml.experiment (id int)")


def test_pipeline_writes_everything(warehouse: dict[str, str]) -> None:
    for table in LATER.values():
        assert _can(warehouse["pipeline"], f"insert into {table} values (3)")


def test_without_createrole_missing_roles_are_skipped_with_a_warning(
    admin_url: str, fresh_database: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """An external DATABASE_URL whose user may not create roles: warn, create nothing, fail nothing."""
    suffix = uuid.uuid4().hex[:8]
    password = uuid.uuid4().hex
    user = f"t_plain_{suffix}"
    dbname = conninfo_to_dict(fresh_database)["dbname"]
    with psycopg.connect(admin_url, autocommit=True) as admin:
        admin.execute(sql.SQL("create role {} login password {}").format(sql.Identifier(user), sql.Literal(password)))
        admin.execute(sql.SQL("alter database {} owner to {}").format(sql.Identifier(dbname), sql.Identifier(user)))
    try:
        from commitlake.warehouse import roles

        renamed = roles._sql()
        for persona in PERSONAS:  # personas that surely do not exist on this shared server
            renamed = renamed.replace(f"'{persona}'", f"'t_{persona}_{suffix}'")
        monkeypatch.setattr(roles, "_sql", lambda: renamed)
        with psycopg.connect(_url(fresh_database, user, password), autocommit=True) as conn:
            conn.execute(SCHEMA.read_text())
            ensure_roles(conn)
            missing = conn.execute(
                "select count(*) from pg_roles where rolname = any(%s)", [[f"t_{p}_{suffix}" for p in PERSONAS]]
            ).fetchone()
        assert missing == (0,)
        logged = capsys.readouterr().out
        assert logged.count('"event":"roles_skipped"') == len(PERSONAS)
        assert "lacks CREATEROLE" in logged
    finally:
        with psycopg.connect(admin_url, autocommit=True) as admin:
            admin.execute(sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(dbname)))
            admin.execute(sql.SQL("drop role if exists {}").format(sql.Identifier(user)))
