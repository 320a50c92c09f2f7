"""Crash exactly where a guarantee could break, then prove it held: deterministic fault points, no random kills.

- The loader commits an object's rows and its ledger row in one transaction: a process that dies after the
  COPY or just before the commit leaves nothing of that group, and the rerun loads every row exactly once,
  with the ledger counting each row once (a ledger written in its own transaction would show the rows as
  `duplicates` of themselves on the rerun, or rows with no ledger row after the crash).
- Ingest writes a repository's manifest only after all its parts: a process that dies between them leaves
  nothing loadable, and the rerun completes it.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import orjson
import psycopg
import pytest

from commitlake.errors import WarehouseError
from commitlake.faults import FAULT_ENV, FAULT_EXIT_CODE, FAULT_POINTS, fault_point, parse_fault
from commitlake.lake import MANIFEST_NAME, LocalLake, Manifest
from commitlake.sources.jsonl import JsonlSource
from commitlake.stages.ingest import ingest_source
from commitlake.warehouse.load import load_lake

ROOT = Path(__file__).resolve().parents[1]
SCHEMA = ROOT / "src" / "commitlake" / "warehouse" / "sql" / "schema.sql"
REPO_FILE = "commitizen__cz-cli.jsonl.gz"  # 396 real commits
CHUNK = 50  # records per part: 8 parts, so a crash can land between them


@pytest.fixture
def db(fresh_database: str) -> str:
    with psycopg.connect(fresh_database, autocommit=True) as conn:
        conn.execute(SCHEMA.read_text())
    return fresh_database


@pytest.fixture
def source_file(shared_commits: Path) -> Path:
    return shared_commits / REPO_FILE


def _shas(path: Path) -> list[str]:
    with gzip.open(path) as handle:
        return [orjson.loads(line)["sha"] for line in handle if line.strip()]


def query(url: str, sql: str, params: Any = None) -> list[tuple[Any, ...]]:
    with psycopg.connect(url) as conn:
        return conn.execute(sql, params).fetchall()


def _child(code: str, *args: str, fault: str | None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != FAULT_ENV}
    if fault:
        env[FAULT_ENV] = fault
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code), *args], env=env, capture_output=True, text=True, timeout=180
    )


_INGEST = """
    import sys
    from pathlib import Path
    from commitlake.lake import LocalLake
    from commitlake.sources.jsonl import JsonlSource
    from commitlake.stages.ingest import ingest_source
    path = Path(sys.argv[2])
    _m, status = ingest_source(JsonlSource(f"jsonl:{path}", path, chunk_records=int(sys.argv[3])),
                               None, LocalLake(Path(sys.argv[1])), sys.argv[4])
    print(status)
"""

_LOAD = """
    import sys
    from pathlib import Path
    from commitlake.lake import LocalLake
    from commitlake.warehouse.load import load_lake
    streams = int(sys.argv[4]) if len(sys.argv) > 4 else 1
    report = load_lake(sys.argv[1], LocalLake(Path(sys.argv[2])), sys.argv[3], group_records=1, streams=streams)
    print(report.rows_inserted)
"""


def _ingest(lake: Path, source: Path, run_id: str, *, fault: str | None = None) -> subprocess.CompletedProcess[str]:
    return _child(_INGEST, str(lake), str(source), str(CHUNK), run_id, fault=fault)


def _manifests(lake: LocalLake) -> list[tuple[str, Manifest]]:
    return [
        (key, Manifest.from_bytes(lake.get_bytes(key)))
        for key in lake.list_keys("raw/")
        if key.endswith("/" + MANIFEST_NAME)
    ]


def _assert_manifests_point_at_whole_parts(lake: LocalLake) -> None:
    for key, manifest in _manifests(lake):
        for obj in manifest.objects:
            assert lake.exists(obj.key), f"{key} lists {obj.key}, which is not in the lake"
            assert hashlib.sha256(lake.get_bytes(obj.key)).hexdigest() == obj.sha256, obj.key


def _assert_exactly_once(db: str, shas: list[str], objects: int) -> None:
    """Every source commit once; the ledger holds every object once and counts each row once, as its own."""
    assert query(db, "select count(*), count(distinct sha) from raw.github_commits") == [(len(shas), len(shas))]
    assert {row[0] for row in query(db, "select sha from raw.github_commits")} == set(shas)
    assert query(db, "select count(*), count(distinct lake_key) from ops.loaded_objects") == [(objects, objects)]
    assert query(db, "select coalesce(sum(inserted), 0), coalesce(sum(duplicates), 0) from ops.loaded_objects") == [
        (len(shas), 0)
    ]
    # each row was committed together with its object's ledger row: same lake key, same run
    mismatched = query(
        db,
        "select r.lake_key, r.run_id, l.run_id from raw.github_commits r"
        " left join ops.loaded_objects l using (lake_key) where l.run_id is distinct from r.run_id limit 5",
    )
    assert mismatched == []


# Fault point plumbing --------------------------------------------------------------------------------------


def test_fault_names_are_checked_and_counted() -> None:
    assert parse_fault("load.after_copy") == ("load.after_copy", 1)
    assert parse_fault("lake.after_part@3") == ("lake.after_part", 3)
    for bad in ("load.after_cpy", "lake.after_part@0", "lake.after_part@x"):
        with pytest.raises(ValueError, match=FAULT_ENV):
            parse_fault(bad)


def test_unset_or_other_point_does_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(FAULT_ENV, raising=False)
    fault_point("load.after_copy")
    monkeypatch.setenv(FAULT_ENV, "lake.before_manifest")
    fault_point("load.after_copy")  # still alive: only the named point fires


def test_a_point_exits_hard_on_its_nth_hit() -> None:
    code = """
        import sys
        from commitlake.faults import fault_point
        for i in range(1, 6):
            print(i, flush=True)
            fault_point("lake.after_part")
        print("survived")
    """
    done = _child(code, fault="lake.after_part@3")
    assert done.returncode == FAULT_EXIT_CODE
    assert done.stdout.split() == ["1", "2", "3"]
    assert "lake.after_part" in done.stderr


def test_every_declared_point_is_called_by_the_product() -> None:
    """A point nobody calls would make its test pass vacuously."""
    text = "\n".join(p.read_text() for p in (ROOT / "src" / "commitlake").rglob("*.py") if p.name != "faults.py")
    for name in FAULT_POINTS:
        assert f'fault_point("{name}")' in text, name


# Loader: rows and ledger in one transaction -----------------------------------------------------------------


@pytest.mark.parametrize("streams", [1, 2])
@pytest.mark.parametrize("point", ["load.after_copy", "load.before_ledger_commit"])
def test_crash_inside_the_load_transaction_then_rerun_loads_exactly_once(
    db: str, tmp_path: Path, source_file: Path, point: str, streams: int
) -> None:
    """With two streams the third fault hit may be the second group's: the groups commit in order, so the
    ledger still holds a prefix of the objects, each with all of its rows."""
    shas = _shas(source_file)
    lake_dir = tmp_path / "lake"
    assert _ingest(lake_dir, source_file, "ing-1").returncode == 0
    keys = [obj.key for obj in _manifests(LocalLake(lake_dir))[0][1].objects]
    objects = len(keys)
    assert objects == -(-len(shas) // CHUNK)

    crashed = _child(_LOAD, db, str(lake_dir), "load-crash", str(streams), fault=f"{point}@3")  # groups of one
    assert crashed.returncode == FAULT_EXIT_CODE, crashed.stderr
    ledger = dict(query(db, "select lake_key, inserted from ops.loaded_objects"))
    per_object = dict(query(db, "select lake_key, count(*) from raw.github_commits group by 1"))
    if streams == 1:
        assert len(ledger) == 2, "the two groups before the crash committed, the third did not"
    else:
        assert 1 <= len(ledger) <= 2, "the first group committed before the third began; the third did not"
    assert sorted(ledger) == keys[: len(ledger)], "groups commit in order: the ledger holds a prefix"
    assert per_object == ledger, "rows are visible exactly for the objects the ledger holds"

    report = load_lake(db, LocalLake(lake_dir), "load-rerun", group_records=1, streams=streams)
    done = len(ledger)
    assert (report.objects_skipped, report.objects_loaded, report.duplicates) == (done, objects - done, 0)
    _assert_exactly_once(db, shas, objects)


def test_a_failing_ledger_insert_takes_its_rows_with_it(db: str, tmp_path: Path, source_file: Path) -> None:
    """Postgres itself refuses the third ledger row (a trigger): that object's rows must vanish with it."""
    shas = _shas(source_file)
    lake_dir = tmp_path / "lake"
    assert _ingest(lake_dir, source_file, "ing-1").returncode == 0
    lake = LocalLake(lake_dir)
    objects = _manifests(lake)[0][1].objects
    victim = objects[2].key
    with psycopg.connect(db, autocommit=True) as conn:
        conn.execute(
            "create function ops.refuse_victim() returns trigger language plpgsql as $$"
            f" begin if new.lake_key = '{victim}' then raise exception 'ledger refused'; end if; return new; end $$"
        )
        conn.execute(
            "create trigger refuse_victim before insert on ops.loaded_objects"
            " for each row execute function ops.refuse_victim()"
        )
    with pytest.raises(WarehouseError, match="ledger refused"):
        load_lake(db, lake, "load-refused", group_records=1)
    assert query(db, "select count(*) from raw.github_commits where lake_key = %s", [victim]) == [(0,)]
    ledger = dict(query(db, "select lake_key, inserted from ops.loaded_objects"))
    assert dict(query(db, "select lake_key, count(*) from raw.github_commits group by 1")) == ledger

    with psycopg.connect(db, autocommit=True) as conn:
        conn.execute("drop trigger refuse_victim on ops.loaded_objects")
    load_lake(db, lake, "load-rerun", group_records=1)
    _assert_exactly_once(db, shas, len(objects))


# Ingest: the manifest comes after the parts ------------------------------------------------------------------


@pytest.mark.parametrize("fault", ["lake.after_part@1", "lake.after_part@4", "lake.before_manifest"])
def test_crash_before_the_manifest_leaves_nothing_loadable(
    db: str, tmp_path: Path, source_file: Path, fault: str
) -> None:
    shas = _shas(source_file)
    lake_dir = tmp_path / "lake"
    crashed = _ingest(lake_dir, source_file, "ing-1", fault=fault)
    assert crashed.returncode == FAULT_EXIT_CODE, crashed.stderr
    lake = LocalLake(lake_dir)
    assert [k for k in lake.list_keys("raw/") if not k.endswith(MANIFEST_NAME)], "parts were written before the crash"
    assert _manifests(lake) == [], "no manifest may exist before all of its parts"
    report = load_lake(db, lake, "load-early")
    assert (report.objects_seen, report.rows_inserted) == (0, 0)

    assert _ingest(lake_dir, source_file, "ing-1").stdout.split() == ["ingested"]  # same run id: resumes
    _assert_manifests_point_at_whole_parts(lake)
    report = load_lake(db, lake, "load-1")
    assert report.rows_inserted == len(shas) and not report.objects_failed
    _assert_exactly_once(db, shas, report.objects_loaded)


class _RecordingLake(LocalLake):
    """The real LocalLake, noting the order of writes (no fault involved: the order itself is the contract)."""

    def __init__(self, root: Path) -> None:
        super().__init__(root)
        self.puts: list[str] = []

    def put_bytes(self, key: str, data: bytes, *, replace: bool = False) -> None:
        super().put_bytes(key, data, replace=replace)
        self.puts.append(key)


def test_the_manifest_is_the_last_write_of_a_repository(tmp_path: Path, source_file: Path) -> None:
    lake = _RecordingLake(tmp_path / "lake")
    manifest, status = ingest_source(JsonlSource(f"jsonl:{source_file}", source_file, chunk_records=CHUNK),
                                     None, lake, "ing-1")
    assert status == "ingested" and manifest is not None
    assert lake.puts[-1].endswith("/" + MANIFEST_NAME)
    assert lake.puts[:-1] == [obj.key for obj in manifest.objects]
    _assert_manifests_point_at_whole_parts(lake)
