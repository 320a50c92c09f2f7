"""load_lake against a real Postgres and a LocalLake filled with real commits from ../shared."""

from __future__ import annotations

import gzip
import hashlib
import os
import signal
import subprocess
import sys
import textwrap
import time
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import orjson
import psycopg
import pytest

from commitlake.lake import LocalLake, Manifest, ManifestObject, manifest_key, part_key, run_prefix
from commitlake.warehouse.load import LoadReport, ObjectResult, load_lake

ROOT = Path(__file__).resolve().parents[1]
SCHEMA = ROOT / "src" / "commitlake" / "warehouse" / "sql" / "schema.sql"
NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
DAY = date(2026, 11, 25)


def _read(commits: Path, name: str) -> list[bytes]:
    with gzip.open(commits / f"{name}.jsonl.gz") as handle:
        return [line for line in handle.read().split(b"\n") if line]


def put_run(lake: LocalLake, repo: str, run_id: str, parts: list[list[bytes]], *, manifest: bool = True) -> list[str]:
    """Write parts (lists of lines) as gzip objects under one run prefix, then (optionally) its manifest."""
    prefix = run_prefix("jsonl", repo, DAY, run_id)
    objects = []
    for index, lines in enumerate(parts):
        data = gzip.compress(b"\n".join(lines) + b"\n", mtime=0)
        key = part_key(prefix, index)
        lake.put_bytes(key, data)
        objects.append(ManifestObject(key, len(lines), hashlib.sha256(data).hexdigest(), len(data)))
    if manifest:
        lake.put_bytes(
            manifest_key(prefix),
            Manifest(run_id, f"jsonl:{repo}", "jsonl", repo, None, "", "", objects).to_bytes(),
        )
    return [obj.key for obj in objects]


def chunks(lines: list[bytes], size: int) -> list[list[bytes]]:
    return [lines[i : i + size] for i in range(0, len(lines), size)]


@pytest.fixture
def db(fresh_database: str) -> str:
    with psycopg.connect(fresh_database, autocommit=True) as conn:
        conn.execute(SCHEMA.read_text())
    return fresh_database


def query(url: str, sql: str, params: Any = None) -> list[tuple[Any, ...]]:
    with psycopg.connect(url) as conn:
        return conn.execute(sql, params).fetchall()


def load(url: str, lake: LocalLake, run_id: str = "load-1", **kwargs: Any) -> LoadReport:
    return load_lake(url, lake, run_id, now=NOW, **kwargs)


@pytest.fixture(scope="module")
def flask(shared_commits: Path) -> list[bytes]:
    return _read(shared_commits, "pallets__flask")[:1200]


@pytest.fixture(scope="module")
def czcli(shared_commits: Path) -> list[bytes]:
    return _read(shared_commits, "commitizen__cz-cli")


def test_loads_every_commit_with_lineage_and_exact_payload(db: str, tmp_path: Path, flask: list[bytes]) -> None:
    lake = LocalLake(tmp_path)
    keys = put_run(lake, "pallets/flask", "ing-1", chunks(flask, 500))
    report = load(db, lake)
    assert (report.objects_seen, report.objects_loaded, report.objects_skipped) == (3, 3, 0)
    assert report.rows_inserted == report.records == len(flask) and report.rejected == {}
    rows = query(
        db,
        "select sha, authored_at, committed_at, payload, source_kind, lake_key, line_no, run_id"
        " from raw.github_commits where repo_full_name = 'pallets/flask'",
    )
    assert len(rows) == len(flask)
    by_sha = {row[0]: row for row in rows}
    for index, line in enumerate(flask):
        record = orjson.loads(line)
        _sha, authored, committed, payload, kind, key, line_no, run_id = by_sha[record["sha"]]
        assert payload == record
        assert authored == datetime.fromisoformat(record["commit"]["author"]["date"])
        assert committed == datetime.fromisoformat(record["commit"]["committer"]["date"])
        assert (kind, key, line_no, run_id) == ("jsonl", keys[index // 500], index % 500 + 1, "load-1")
    ledger = query(db, "select lake_key, records, inserted, duplicates, rejected from ops.loaded_objects order by 1")
    assert ledger == [(keys[0], 500, 500, 0, 0), (keys[1], 500, 500, 0, 0), (keys[2], 200, 200, 0, 0)]


def test_rerun_changes_nothing(db: str, tmp_path: Path, flask: list[bytes]) -> None:
    lake = LocalLake(tmp_path)
    put_run(lake, "pallets/flask", "ing-1", chunks(flask, 300))
    load(db, lake)
    before = query(db, "select sha, loaded_at, run_id from raw.github_commits order by sha")
    again = load(db, lake, "load-2")
    assert (again.objects_seen, again.objects_loaded, again.objects_skipped, again.rows_inserted) == (4, 0, 4, 0)
    assert query(db, "select sha, loaded_at, run_id from raw.github_commits order by sha") == before
    assert query(db, "select count(*) from ops.loaded_objects") == [(4,)]


def test_duplicates_inside_and_across_objects_and_runs(
    db: str, tmp_path: Path, flask: list[bytes], czcli: list[bytes]
) -> None:
    lake = LocalLake(tmp_path)
    put_run(lake, "pallets/flask", "ing-1", [flask[:100] + flask[:10]])  # 10 repeated inside the object
    put_run(lake, "pallets/flask", "ing-2", [flask[50:150]])  # overlaps the first run by 50
    put_run(lake, "commitizen/cz-cli", "ing-1", [czcli[:100]])
    report = load(db, lake)
    assert report.rows_inserted == 150 + 100
    assert report.duplicates == 10 + 50
    counts = query(db, "select repo_full_name, count(*) from raw.github_commits group by 1 order by 1")
    assert counts == [("commitizen/cz-cli", 100), ("pallets/flask", 150)]


def test_same_commit_in_two_repositories_is_two_rows(db: str, tmp_path: Path, flask: list[bytes]) -> None:
    """A fork shares its history: the key is (repository, sha), not sha."""
    lake = LocalLake(tmp_path)
    put_run(lake, "pallets/flask", "ing-1", [flask[:20]])
    put_run(lake, "someone/flask-fork", "ing-1", [flask[:20]])
    assert load(db, lake).rows_inserted == 40


def test_every_quarantine_reason_end_to_end(db: str, tmp_path: Path, shared_commits: Path) -> None:
    """Real records, each altered to carry one defect, in one object with good records around them."""
    real = _read(shared_commits, "psf__requests")
    bad_offset = next(line for line in real if b"+518:00" in line)  # a real defect from the requests history
    good = [line for line in real[:40] if b"+518:00" not in line]

    def alter(line: bytes, change: Any) -> bytes:
        record = orjson.loads(line)
        change(record)
        return orjson.dumps(record)

    defects: dict[str, bytes] = {
        "invalid_json": good[0][:-40],
        "invalid_utf8": good[1].replace(b'"message":"', b'"message":"\xff', 1),
        "lone_surrogate": good[2].replace(b'"message":"', b'"message":"\\udc00', 1),
        "nul_character": alter(good[3], lambda r: r["commit"].update(message="a\x00b")),
        "not_an_object": b"[" + good[4] + b"]",
        "missing_sha": alter(good[5], lambda r: r.pop("sha")),
        "invalid_sha": alter(good[6], lambda r: r.update(sha="not-a-sha")),
        "missing_date": alter(good[7], lambda r: r["commit"]["committer"].pop("date")),
        "invalid_date": bad_offset,
        "date_out_of_range": alter(good[8], lambda r: r["commit"]["author"].update(date="2999-01-01T00:00:00Z")),
    }
    tricky_but_fine = [
        alter(good[9], lambda r: r["commit"].update(message="C:\\u0000 is a path\twith a tab")),
        good[10].replace(b'{"sha"', b'{\t"sha"', 1),  # JSON whitespace that COPY text would misread
        good[11] + b"\r",  # CRLF line ending
    ]
    lines = good[12:20] + list(defects.values()) + tricky_but_fine + [b"", b"   "] + good[20:30]
    (key,) = put_run(lake := LocalLake(tmp_path), "psf/requests", "ing-1", [lines])
    report = load(db, lake)
    assert report.rejected == dict.fromkeys(sorted(defects), 1)
    assert report.rows_inserted == 8 + 3 + 10
    assert report.records == len(lines) - 2  # blank lines are not records
    rejected = query(db, "select reason, line_no, original_text, lake_key, run_id from raw.rejected_records")
    assert {row[0] for row in rejected} == set(defects)
    for reason, line_no, text, lake_key, run_id in rejected:
        assert lines[line_no - 1] == defects[reason]
        assert (lake_key, run_id) == (key, "load-1")
        if reason != "invalid_utf8":
            assert text == defects[reason].decode()
    assert "\\xff" in next(row[2] for row in rejected if row[0] == "invalid_utf8")
    kept = query(db, "select reason, original_bytes from raw.rejected_records where original_bytes is not null")
    assert kept == [("invalid_utf8", defects["invalid_utf8"])]  # the exact bytes, not just a readable rendering
    stored = query(db, "select payload from raw.github_commits where line_no between 19 and 21 order by line_no")
    assert [row[0] for row in stored] == [orjson.loads(line) for line in tricky_but_fine]
    assert query(db, "select records, inserted, rejected from ops.loaded_objects") == [(len(lines) - 2, 21, 10)]


def test_only_manifest_listed_objects_are_loaded(db: str, tmp_path: Path, flask: list[bytes]) -> None:
    lake = LocalLake(tmp_path)
    put_run(lake, "pallets/flask", "crashed", [flask[:50]], manifest=False)  # ingest died before the manifest
    (listed,) = put_run(lake, "pallets/flask", "ok", [flask[50:80]])
    stray = listed.replace("part-00000", "part-00001")
    lake.put_bytes(stray, gzip.compress(b"\n".join(flask[80:90]) + b"\n"))  # in the folder, not in the manifest
    report = load(db, lake)
    assert (report.objects_seen, report.rows_inserted) == (1, 30)
    assert query(db, "select distinct lake_key from raw.github_commits") == [(listed,)]


def test_corrupt_objects_fail_alone_and_stay_out_of_the_ledger(db: str, tmp_path: Path, flask: list[bytes]) -> None:
    lake = LocalLake(tmp_path)
    (good,) = put_run(lake, "pallets/flask", "ing-1", [flask[:30]])
    # a second run whose manifest vouches for a truncated upload and for an object whose digest does not match
    prefix = run_prefix("jsonl", "pallets/flask", DAY, "ing-2")
    whole = gzip.compress(b"\n".join(flask[30:60]) + b"\n", mtime=0)
    cut, tampered = part_key(prefix, 0), part_key(prefix, 1)
    lake.put_bytes(cut, whole[: len(whole) // 2])
    lake.put_bytes(tampered, whole)
    objects = [
        ManifestObject(cut, 30, hashlib.sha256(whole[: len(whole) // 2]).hexdigest(), len(whole) // 2),
        ManifestObject(tampered, 30, "0" * 64, len(whole)),
    ]
    lake.put_bytes(
        manifest_key(prefix), Manifest("ing-2", "x", "jsonl", "pallets/flask", None, "", "", objects).to_bytes()
    )
    report = load(db, lake, group_records=10_000)  # all three in one group: the failure must not sink `good`
    assert sorted(report.objects_failed) == [cut, tampered]
    assert "sha256" in report.objects_failed[tampered]
    assert "gzip" in report.objects_failed[cut]
    assert query(db, "select lake_key from ops.loaded_objects") == [(good,)]
    assert query(db, "select count(*) from raw.github_commits") == [(30,)]
    again = load(db, lake, "load-2")  # failed objects are tried again on the next run
    assert (again.objects_skipped, len(again.objects_failed)) == (1, 2)


def test_row_written_behind_the_loaders_back_is_counted_as_duplicate(
    db: str, tmp_path: Path, czcli: list[bytes]
) -> None:
    """Another writer inserts a commit the loader has not seen yet: the group is retried, nothing is lost."""
    lake = LocalLake(tmp_path)
    put_run(lake, "commitizen/cz-cli", "ing-1", chunks(czcli[:200], 100))
    put_run(lake, "commitizen/cz-cli", "ing-2", [czcli[200:300]])
    foreign = orjson.loads(czcli[250])

    def sneak_in(done: int, total: int, result: ObjectResult) -> None:
        if done == 1:
            with psycopg.connect(db, autocommit=True) as conn:
                conn.execute(
                    "insert into raw.github_commits (repo_full_name, sha, authored_at, committed_at, payload,"
                    " source_kind, lake_key, line_no, run_id) values ('commitizen/cz-cli', %s, now(), now(),"
                    " '{}', 'jsonl', 'elsewhere', 1, 'other')",
                    [foreign["sha"]],
                )

    report = load(db, lake, progress=sneak_in, group_records=100)
    assert report.rows_inserted == 299 and report.duplicates == 1
    assert query(db, "select lake_key from raw.github_commits where sha = %s", [foreign["sha"]]) == [("elsewhere",)]
    assert query(db, "select count(distinct sha) from raw.github_commits") == [(300,)]


_CHILD = textwrap.dedent(
    """
    import sys
    from datetime import UTC, datetime
    from commitlake.lake import LocalLake
    from commitlake.warehouse.load import load_lake
    load_lake(sys.argv[1], LocalLake(__import__("pathlib").Path(sys.argv[2])), "killed",
              now=datetime(2026, 11, 25, 12, tzinfo=UTC), group_records=1, streams=2)
    """
)


def test_kill_9_mid_load_then_resume(db: str, tmp_path: Path, shared_commits: Path) -> None:
    lines = _read(shared_commits, "vitejs__vite")[:6000]
    lake = LocalLake(tmp_path / "lake")
    keys = put_run(lake, "vitejs/vite", "ing-1", chunks(lines, 100))
    child = subprocess.Popen([sys.executable, "-c", _CHILD, db, str(lake.root)], stdout=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        loaded = query(db, "select count(*) from ops.loaded_objects")[0][0]
        if loaded >= 5 or child.poll() is not None:
            break
        time.sleep(0.02)
    os.kill(child.pid, signal.SIGKILL)
    child.wait()
    ledger = dict(query(db, "select lake_key, inserted from ops.loaded_objects"))
    assert 0 < len(ledger) < len(keys), "the kill must land mid-way for this test to mean anything"
    # no half-loaded object is visible: rows exist exactly for ledger objects, all of their rows
    per_object = dict(query(db, "select lake_key, count(*) from raw.github_commits group by 1"))
    assert per_object == ledger
    report = load(db, lake, "resume")
    assert report.objects_skipped == len(ledger) and report.objects_loaded == len(keys) - len(ledger)
    source = {orjson.loads(line)["sha"] for line in lines}
    assert {row[0] for row in query(db, "select sha from raw.github_commits")} == source
    assert query(db, "select count(*) from raw.github_commits") == [(len(source),)]
    assert query(db, "select count(*) from ops.loaded_objects") == [(len(keys),)]


def test_one_loader_at_a_time(db: str, tmp_path: Path, flask: list[bytes]) -> None:
    """While another session holds the loader lock, load_lake waits instead of racing it."""
    from commitlake.warehouse.load import LOADER_LOCK

    lake = LocalLake(tmp_path)
    put_run(lake, "pallets/flask", "ing-1", [flask[:10]])
    with psycopg.connect(db, autocommit=True) as holder:
        holder.execute("select pg_advisory_lock(%s)", [LOADER_LOCK])
        child = subprocess.Popen([sys.executable, "-c", _CHILD, db, str(lake.root)], stdout=subprocess.PIPE, text=True)
        time.sleep(1.5)
        assert child.poll() is None
        assert query(db, "select count(*) from raw.github_commits") == [(0,)]
        holder.execute("select pg_advisory_unlock(%s)", [LOADER_LOCK])
        assert child.wait(timeout=60) == 0
    assert query(db, "select count(*) from raw.github_commits") == [(10,)]


def test_lock_wait_is_bounded_and_transient(db: str, tmp_path: Path, flask: list[bytes]) -> None:
    """A loader stuck behind another gives up after lock_wait_s with a transient error (Argo retries it)."""
    import threading

    from commitlake.errors import WarehouseError
    from commitlake.pipeline import stage_by_name
    from commitlake.warehouse.load import LOADER_LOCK, LOCK_WAIT_SECONDS

    assert 0 < LOCK_WAIT_SECONDS < stage_by_name("load").timeout_seconds
    lake = LocalLake(tmp_path)
    put_run(lake, "pallets/flask", "ing-1", [flask[:10]])
    outcome: list[BaseException | LoadReport] = []

    def waiter() -> None:
        try:
            outcome.append(load(db, lake, lock_wait_s=1.0))
        except BaseException as exc:  # handed to the test thread
            outcome.append(exc)

    with psycopg.connect(db, autocommit=True) as holder:
        holder.execute("select pg_advisory_lock(%s)", [LOADER_LOCK])
        started = time.monotonic()
        thread = threading.Thread(target=waiter, daemon=True)
        thread.start()
        thread.join(timeout=20)
        waited = time.monotonic() - started
        assert not thread.is_alive(), "the loader kept waiting for the lock"
    (error,) = outcome
    assert isinstance(error, WarehouseError) and error.transient, error
    assert "load lock" in str(error) and 0.9 < waited < 10
    assert query(db, "select count(*) from raw.github_commits") == [(0,)]
    assert load(db, lake, lock_wait_s=1.0).rows_inserted == 10  # lock free again: loads, nothing left locked


def test_a_value_postgres_refuses_fails_only_its_object(
    db: str, tmp_path: Path, flask: list[bytes], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Defence in depth: if a check ever lets through what jsonb refuses, that object fails alone."""
    from commitlake.warehouse import load as load_module
    from commitlake.warehouse.quarantine import check_line

    def check_without_nul_rule(line: bytes, window: Any) -> Any:  # simulates a gap in the checks
        return check_line(line.replace(b"\\u0000", b"\\u0041"), window)

    monkeypatch.setattr(load_module, "check_line", check_without_nul_rule)
    record = orjson.loads(flask[5])
    record["commit"]["message"] += "\x00"
    lake = LocalLake(tmp_path)
    first, poisoned, last = put_run(
        lake, "pallets/flask", "ing-1", [flask[:5], [*flask[6:10], orjson.dumps(record)], flask[10:20]]
    )
    report = load(db, lake)
    assert list(report.objects_failed) == [poisoned]
    assert "\\u0000" in report.objects_failed[poisoned]
    assert {row[0] for row in query(db, "select lake_key from ops.loaded_objects")} == {first, last}
    assert query(db, "select count(*) from raw.github_commits") == [(15,)]


def test_records_only_postgres_refuses_are_quarantined_and_their_group_still_loads(
    db: str, tmp_path: Path, flask: list[bytes], czcli: list[bytes]
) -> None:
    """The fast path skips fields it does not need, so a NUL escape or invalid UTF-8 in a commit message gets
    past it; Postgres refuses the group, which is reloaded strictly: each culprit is quarantined with its reason
    and every good record of every object in the group is loaded."""
    from commitlake.warehouse.quarantine import check_line_fast, date_window

    def alter(line: bytes, change: Any) -> bytes:
        record = orjson.loads(line)
        change(record)
        return orjson.dumps(record)

    nul = alter(flask[40], lambda r: r["commit"].update(message="fix\x00it"))
    nul_in_author = alter(flask[41], lambda r: r["commit"]["author"].update(name="x\x00y"))  # beside a date
    bad_utf8 = flask[42].replace(b'"message":"', b'"message":"caf\xc3(', 1)
    surrogate = flask[43].replace(b'"message":"', b'"message":"\\ud800 ', 1)
    window = date_window(NOW)
    let_through = [nul, nul_in_author, bad_utf8]
    for line in let_through:  # what makes this test mean something: only Postgres can catch these
        assert check_line_fast(line, window)[0] == orjson.loads(line.decode(errors="replace"))["sha"]
    assert getattr(check_line_fast(surrogate, window), "reason", None) == "lone_surrogate"  # msgspec sees these

    lake = LocalLake(tmp_path)
    middle = [*flask[:20], nul, *flask[20:30], bad_utf8, surrogate, nul_in_author, *flask[30:40]]
    keys = put_run(lake, "pallets/flask", "ing-1", [flask[100:150], middle, flask[150:200]])
    keys += put_run(lake, "commitizen/cz-cli", "ing-1", [czcli[:60]])
    report = load(db, lake, group_records=10_000)  # one group, one transaction for all four objects
    assert report.objects_failed == {} and report.objects_loaded == 4
    assert report.rejected == {"invalid_utf8": 1, "lone_surrogate": 1, "nul_character": 2}
    assert report.rows_inserted == 50 + 40 + 50 + 60 and report.duplicates == 0
    rejected = query(db, "select lake_key, line_no, reason from raw.rejected_records order by line_no")
    assert rejected == [
        (keys[1], 21, "nul_character"),
        (keys[1], 32, "invalid_utf8"),
        (keys[1], 33, "lone_surrogate"),
        (keys[1], 34, "nul_character"),
    ]
    loaded = {row[0] for row in query(db, "select sha from raw.github_commits where repo_full_name = 'pallets/flask'")}
    assert loaded == {orjson.loads(line)["sha"] for line in [*flask[100:200], *flask[:40]]}
    ledger = query(db, "select lake_key, records, inserted, rejected from ops.loaded_objects order by lake_key")
    assert sorted(ledger) == sorted(
        [(keys[0], 50, 50, 0), (keys[1], 44, 40, 4), (keys[2], 50, 50, 0), (keys[3], 60, 60, 0)]
    )
    # the refused first attempt left nothing behind: not in the tables, not in the loader's memory of shas
    assert query(db, "select count(*) from raw.github_commits") == [(200,)]
    put_run(lake, "pallets/flask", "ing-2", [middle])  # the same lines again: duplicates, same rejects
    again = load(db, lake, "load-2")
    assert (again.objects_loaded, again.rows_inserted, again.duplicates) == (1, 0, 40)
    assert again.rejected == {"invalid_utf8": 1, "lone_surrogate": 1, "nul_character": 2}


def _snapshot(url: str) -> dict[str, list[tuple[Any, ...]]]:
    """What a load leaves behind, without the columns that differ between two runs (run id, times, ids)."""
    return {
        "rows": query(
            url,
            "select repo_full_name, sha, authored_at, committed_at, payload::text, source_kind, lake_key, line_no"
            " from raw.github_commits order by 1, 2",
        ),
        "rejects": query(
            url,
            "select lake_key, line_no, reason, detail, original_text, original_bytes from raw.rejected_records"
            " order by 1, 2",
        ),
        "ledger": query(
            url, "select lake_key, records, inserted, duplicates, rejected, sha256 from ops.loaded_objects order by 1"
        ),
    }


def test_two_streams_load_exactly_what_one_stream_loads(
    db: str, tmp_path: Path, flask: list[bytes], czcli: list[bytes]
) -> None:
    """Groups COPYed on two connections at once end as one connection leaves them, including when a group
    fails while the next one is already in flight having skipped, as duplicates, commits the failed group
    held: those must be taken back and loaded from the later group."""
    record = orjson.loads(flask[140])
    record["commit"]["message"] += "\x00"  # only Postgres refuses it: the group is redone strictly
    poisoned = orjson.dumps(record)
    cut = gzip.compress(b"\n".join(flask[50:100]) + b"\n", mtime=0)
    cut = cut[: len(cut) // 2]  # unreadable in the middle: its first lines were already parsed
    lake = LocalLake(tmp_path)
    put_run(lake, "commitizen/cz-cli", "ing-1", [czcli[:60], czcli[40:120]])
    put_run(lake, "pallets/flask", "ing-1", [flask[:50]])
    prefix = run_prefix("jsonl", "pallets/flask", DAY, "ing-2")
    lake.put_bytes(part_key(prefix, 0), cut)
    cut_object = ManifestObject(part_key(prefix, 0), 50, hashlib.sha256(cut).hexdigest(), len(cut))
    lake.put_bytes(
        manifest_key(prefix), Manifest("ing-2", "x", "jsonl", "pallets/flask", None, "", "", [cut_object]).to_bytes()
    )
    put_run(lake, "pallets/flask", "ing-3", [flask[50:100], [*flask[100:140], poisoned, *flask[141:150]]])
    put_run(lake, "pallets/flask", "ing-4", [flask[100:150], [*flask[150:200], *flask[:10]]])

    one = load(db, lake, streams=1, group_records=1)
    expected = _snapshot(db)
    with psycopg.connect(db, autocommit=True) as conn:
        conn.execute("truncate raw.github_commits, raw.rejected_records, ops.loaded_objects")
    two = load(db, lake, streams=2, group_records=1)

    assert _snapshot(db) == expected
    fields = ("objects_loaded", "objects_failed", "rows_inserted", "duplicates", "records", "rejected")
    assert [getattr(two, f) for f in fields] == [getattr(one, f) for f in fields]
    # and what one stream leaves is right: the cut object failed alone, its commits came from the next run
    assert list(two.objects_failed) == [cut_object.key]
    assert (two.rows_inserted, two.rejected) == (200 + 120, {"nul_character": 1})
    owner = query(db, "select lake_key from raw.github_commits where sha = %s", [record["sha"]])
    assert owner == [(part_key(run_prefix("jsonl", "pallets/flask", DAY, "ing-4"), 0),)]


@pytest.mark.timeout(120)
def test_a_stream_that_cannot_copy_never_leaves_the_leader_blocked(
    db: str, tmp_path: Path, flask: list[bytes], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Postgres refuses a stream's COPY before it takes any data (here: a column the loader writes is gone)
    while the leader is writing the group through a full queue: the stream takes and drops the rest, the
    load fails with one clear error, and nothing was committed."""
    from commitlake.errors import WarehouseError
    from commitlake.warehouse import load as load_module

    monkeypatch.setattr(load_module, "_CHUNK_BYTES", 1024)  # a chunk per line or so
    monkeypatch.setattr(load_module, "_STREAM_QUEUE_CHUNKS", 1)  # so the leader waits on the stream
    lake = LocalLake(tmp_path)
    put_run(lake, "pallets/flask", "ing-1", [flask[:600], flask[600:900]])
    with psycopg.connect(db, autocommit=True) as conn:
        conn.execute("alter table raw.github_commits rename column line_no to line_number")
    with pytest.raises(WarehouseError, match="line_no"):
        load(db, lake, streams=2, group_records=1)
    assert query(db, "select count(*) from ops.loaded_objects") == [(0,)]
    assert query(db, "select count(*) from raw.github_commits") == [(0,)]


@pytest.mark.timeout(120)
def test_a_stream_refused_mid_copy_loses_no_rows(
    db: str, tmp_path: Path, flask: list[bytes], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Postgres refuses the first line of a big group the leader writes through a small queue: the group is
    redone strictly, its culprit quarantined, every other row loaded once."""
    from commitlake.warehouse import load as load_module

    monkeypatch.setattr(load_module, "_CHUNK_BYTES", 1024)
    monkeypatch.setattr(load_module, "_STREAM_QUEUE_CHUNKS", 1)
    record = orjson.loads(flask[0])
    record["commit"]["message"] += "\x00"
    lake = LocalLake(tmp_path)
    put_run(lake, "pallets/flask", "ing-1", [[orjson.dumps(record), *flask[1:600]], flask[600:900]])
    report = load(db, lake, streams=2, group_records=1)
    assert (report.objects_loaded, report.rows_inserted, report.rejected) == (2, 899, {"nul_character": 1})
    assert query(db, "select count(*) from raw.github_commits") == [(899,)]


def test_streams_stop_committing_once_the_leader_loses_the_loader_lock(
    db: str, tmp_path: Path, flask: list[bytes]
) -> None:
    """The leader's session is killed mid-load (so another loader could take the lock): the worker
    connections must not go on committing groups without it."""
    from commitlake.errors import WarehouseError
    from commitlake.warehouse.load import LOADER_LOCK

    lake = LocalLake(tmp_path)
    keys = put_run(lake, "pallets/flask", "ing-1", chunks(flask[:600], 100))

    def kill_leader(done: int, total: int, result: ObjectResult) -> None:
        if done == 1:
            with psycopg.connect(db, autocommit=True) as conn:
                conn.execute(
                    "select pg_terminate_backend(pid) from pg_locks where locktype = 'advisory' and objid = %s",
                    [LOADER_LOCK],
                )

    with pytest.raises(WarehouseError):
        load(db, lake, progress=kill_leader, streams=2, group_records=1)
    ledger = dict(query(db, "select lake_key, inserted from ops.loaded_objects"))
    assert 1 <= len(ledger) <= 2, "only the groups in flight when the leader died may have committed"
    assert dict(query(db, "select lake_key, count(*) from raw.github_commits group by 1")) == ledger
    report = load(db, lake, "load-2", streams=2)
    assert (report.objects_skipped, report.objects_loaded) == (len(ledger), len(keys) - len(ledger))
    assert query(db, "select count(*), count(distinct sha) from raw.github_commits") == [(600, 600)]


@pytest.mark.parametrize("streams", [1, 2])
def test_a_group_that_fails_whole_does_not_stop_the_groups_after_it(
    db: str, tmp_path: Path, flask: list[bytes], streams: int
) -> None:
    """Every object of the first group fails its checksum: the later groups still load, on either path."""
    lake = LocalLake(tmp_path)
    prefix = run_prefix("jsonl", "pallets/flask", DAY, "ing-1")
    data = gzip.compress(b"\n".join(flask[:20]) + b"\n", mtime=0)
    lake.put_bytes(part_key(prefix, 0), data)
    tampered = ManifestObject(part_key(prefix, 0), 20, "0" * 64, len(data))
    lake.put_bytes(
        manifest_key(prefix), Manifest("ing-1", "x", "jsonl", "pallets/flask", None, "", "", [tampered]).to_bytes()
    )
    later = put_run(lake, "pallets/flask", "ing-2", chunks(flask[20:80], 20))
    report = load(db, lake, streams=streams, group_records=1)
    assert list(report.objects_failed) == [tampered.key]
    assert (report.objects_loaded, report.rows_inserted) == (3, 60)
    assert [key for (key,) in query(db, "select lake_key from ops.loaded_objects order by 1")] == later


@pytest.mark.parametrize("streams", [1, 2])
def test_each_loaded_object_reports_the_seconds_its_group_took(
    db: str, tmp_path: Path, flask: list[bytes], streams: int
) -> None:
    """Per-object seconds (the progress callback's, and the log's) lie between zero and the whole load's time."""
    lake = LocalLake(tmp_path)
    put_run(lake, "pallets/flask", "ing-1", chunks(flask[:300], 100))
    seen: list[ObjectResult] = []
    started = time.perf_counter()
    load(db, lake, streams=streams, group_records=1, progress=lambda _d, _t, result: seen.append(result))
    wall = time.perf_counter() - started
    assert [r.status for r in seen] == ["loaded"] * 3
    assert all(0 < r.seconds <= wall for r in seen), [(r.seconds, wall) for r in seen]


@pytest.mark.parametrize(("streams", "connections"), [(1, 1), (2, 3)])
def test_streams_is_the_number_of_extra_connections_and_a_clean_load_never_falls_back(
    db: str, tmp_path: Path, flask: list[bytes], monkeypatch: pytest.MonkeyPatch, streams: int, connections: int
) -> None:
    """streams=1 loads on the leader's connection alone; streams=2 COPYs on two more, and when nothing fails
    no group is redone one at a time on the leader (the fallback path)."""
    from commitlake.warehouse import load as load_module

    opened: list[str] = []
    real_connect = load_module._connect
    monkeypatch.setattr(load_module, "_connect", lambda info: opened.append(info) or real_connect(info))
    fallback: list[int] = []
    real_load = load_module._Loader.load
    monkeypatch.setattr(
        load_module._Loader, "load", lambda self, group: fallback.append(len(group)) or real_load(self, group)
    )
    lake = LocalLake(tmp_path)
    put_run(lake, "pallets/flask", "ing-1", chunks(flask[:400], 100))
    report = load(db, lake, streams=streams, group_records=1)
    assert (report.objects_loaded, report.rows_inserted) == (4, 400)
    assert len(opened) == connections
    assert fallback == ([1, 1, 1, 1] if streams == 1 else [])
