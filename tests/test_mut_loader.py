"""The loader's pure pieces, exactly: object keys relative to their manifest, gzip inflated in bounded steps with
lines that span the steps put back together, and which lines keep their bytes. Pure and fast, so `make mutation`
runs them first for every loader mutant; test_load.py and test_faults.py cover the loader against Postgres."""

from __future__ import annotations

import gzip
from datetime import date
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from commitlake.errors import LakeError
from commitlake.warehouse import load

DAY = date(2026, 11, 25)


def test_an_object_key_relative_to_its_manifest_joins_the_manifest_folder() -> None:
    manifest = "raw/github/o__r/2026-11-30/run-1/_manifest.json"
    assert load._object_key(manifest, "part-0001.jsonl.gz") == "raw/github/o__r/2026-11-30/run-1/part-0001.jsonl.gz"
    assert load._object_key(manifest, "raw/other/part.jsonl.gz") == "raw/other/part.jsonl.gz"  # full keys stay


def _records(n: int) -> list[bytes]:
    return [b'{"sha": "%040d", "pad": "%s"}' % (i, b"x" * (i % 97)) for i in range(n)]


def test_lines_that_span_the_inflate_steps_come_back_whole(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(load, "_INFLATE_BYTES", 1000)  # steps of 1,000 bytes cut most lines somewhere
    lines = _records(2_000)
    data = gzip.compress(b"\n".join(lines) + b"\n")
    got = [line for batch in load._lines(data) for line in batch]
    assert got == lines


def test_a_last_line_without_newline_and_a_multi_member_gzip() -> None:
    first, second = _records(3), _records(5)[3:]
    data = gzip.compress(b"\n".join(first) + b"\n") + gzip.compress(b"\n".join(second))
    assert [line for batch in load._lines(data) for line in batch] == first + second


def test_plain_bytes_pass_through_and_a_truncated_gzip_is_an_error() -> None:
    assert [line for batch in load._lines(b'{"a": 1}\n{"b": 2}') for line in batch] == [b'{"a": 1}', b'{"b": 2}']
    with pytest.raises(LakeError, match="truncated gzip"):
        list(load._lines(gzip.compress(b"\n".join(_records(50)))[:-12]))


@pytest.mark.parametrize(
    ("line", "lossy"),
    [(b'{"a": "caf\xc3\xa9"}', False), (b'{"a": "\x00"}', True), (b'{"a": "\xff"}', True), (b"", False)],
)
def test_lines_that_text_would_alter_keep_their_bytes(line: bytes, lossy: bool) -> None:
    assert load._lossy_as_text(line) is lossy


@pytest.mark.parametrize(("line", "blank"), [(b"", True), (b" \t\r", True), (b"{}", False), (b" {}", False)])
def test_blank_lines(line: bytes, blank: bool) -> None:
    assert load._blank(line) is blank


def test_a_record_count_unlike_the_manifests_is_warned_once_per_object(monkeypatch: pytest.MonkeyPatch) -> None:
    """A manifest that says 5 records for an object that held 4 is worth a warning; an object the manifest
    does not count (None) or counts right is not."""
    seen: list[tuple[str, dict[str, Any]]] = []
    monkeypatch.setattr(load, "_log", SimpleNamespace(warning=lambda event, **kw: seen.append((event, kw))))
    counted = {"a": (3, 3), "b": (None, 7), "c": (5, 4), "d": (2, 6)}  # key: (manifest, found)
    ready = [(SimpleNamespace(key=k, records=m), b"", "") for k, (m, _f) in counted.items()]
    batch = SimpleNamespace(results=[SimpleNamespace(records=f) for _m, f in counted.values()])
    assert load._counted(ready, batch) is batch.results  # type: ignore[arg-type]
    assert seen == [
        ("manifest_count_mismatch", {"key": "c", "manifest": 5, "found": 4}),
        ("manifest_count_mismatch", {"key": "d", "manifest": 2, "found": 6}),
    ]


def _manifest(lake: Any, run_id: str, keys: list[str]) -> str:
    from commitlake.lake import Manifest, ManifestObject, manifest_key, run_prefix

    prefix = run_prefix("jsonl", "o/r", DAY, run_id)
    objects = [ManifestObject(key, 1, "", 0) for key in keys]
    lake.put_bytes(manifest_key(prefix), Manifest(run_id, "x", "jsonl", "o/r", None, "", "", objects).to_bytes())
    return prefix


def test_an_object_two_manifests_list_is_loaded_once_and_the_second_manifests_others_still_are(
    tmp_path: Path,
) -> None:
    """Ingest runs that overlap list an object again: it is skipped, not the rest of the manifest after it."""
    from commitlake.lake import LocalLake

    lake = LocalLake(tmp_path)
    _manifest(lake, "ing-1", ["raw/x/a.jsonl.gz", "raw/x/b.jsonl.gz"])
    _manifest(lake, "ing-2", ["raw/x/b.jsonl.gz", "raw/x/c.jsonl.gz", "raw/x/a.jsonl.gz", "raw/x/d.jsonl.gz"])
    found = [item.key for item in load._discover(lake, "raw/")]
    assert found == ["raw/x/a.jsonl.gz", "raw/x/b.jsonl.gz", "raw/x/c.jsonl.gz", "raw/x/d.jsonl.gz"]


@pytest.mark.parametrize("body", [b'{"objects": [1]}', b'{"run_id": "x", "objects": [], "surprise": 1}', b"{"])
def test_a_manifest_of_the_wrong_shape_is_one_clear_lake_error(tmp_path: Path, body: bytes) -> None:
    """orjson refuses broken JSON (ValueError); the dataclasses refuse a wrong shape (TypeError): both name it."""
    from commitlake.lake import LocalLake, manifest_key, run_prefix

    lake = LocalLake(tmp_path)
    key = manifest_key(run_prefix("jsonl", "o/r", DAY, "ing-1"))
    lake.put_bytes(key, body)
    with pytest.raises(LakeError, match=f"manifest {key} is unreadable"):
        load._discover(lake, "raw/")


def _pending(key: str, records: int | None) -> Any:
    return load._Pending(key, "o/r", "jsonl", None, records)


def _grouped(pending: list[Any], sizes: dict[str, int], group_records: int) -> list[list[str]]:
    lake = SimpleNamespace(get_bytes=lambda key: b"x" * sizes[key])
    return [[item.key for item, _data in group] for group in load._groups(lake, pending, group_records)]  # type: ignore[arg-type]


def test_groups_hold_about_group_records_records_and_at_most_about_group_bytes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A group closes once it reaches group_records records or _GROUP_BYTES bytes, whichever comes first; objects
    are never split, and every object is in exactly one group, in order."""
    pending = [_pending(f"k{i}", 10) for i in range(5)]
    sizes = {f"k{i}": 30 for i in range(5)}
    assert _grouped(pending, sizes, 100) == [["k0", "k1", "k2", "k3", "k4"]]
    assert _grouped(pending, sizes, 20) == [["k0", "k1"], ["k2", "k3"], ["k4"]]
    assert _grouped(pending, sizes, 25) == [["k0", "k1", "k2"], ["k3", "k4"]]
    monkeypatch.setattr(load, "_GROUP_BYTES", 60)
    assert _grouped(pending, sizes, 100) == [["k0", "k1"], ["k2", "k3"], ["k4"]]
    monkeypatch.setattr(load, "_GROUP_BYTES", 61)
    assert _grouped(pending, sizes, 100) == [["k0", "k1", "k2"], ["k3", "k4"]]


def test_an_object_without_a_record_count_adds_none_to_its_group() -> None:
    """Old manifests carry no count: such objects ride along until a counted one fills the group."""
    pending = [_pending("a", None), _pending("b", None), _pending("c", 3), _pending("d", None)]
    assert _grouped(pending, dict.fromkeys("abcd", 1), 2) == [["a", "b", "c"], ["d"]]


def test_the_copy_text_is_handed_over_in_chunks_of_about_chunk_bytes(shared_commits: Path) -> None:
    """Memory stays bounded on a big object: every full chunk is written as soon as it passes _CHUNK_BYTES."""
    from commitlake.warehouse.quarantine import check_line_fast, date_window

    with gzip.open(shared_commits / "pallets__flask.jsonl.gz") as handle:
        lines = [line for line in handle.read().split(b"\n") if line][:600]
    data = b"\n".join(lines) + b"\n"
    assert len(data) > 3 * load._CHUNK_BYTES
    batch = load._Batch("run-1", date_window(), check_line_fast)
    writes: list[bytes] = []
    batch.add_object(_pending("raw/x/a.jsonl.gz", len(lines)), data, set(), writes.append)
    batch.flush(writes.append)
    longest = max(len(line) for line in lines) + 200  # a line's COPY row: the line, its sha and its lineage
    assert len(writes) >= 3
    assert all(load._CHUNK_BYTES <= len(chunk) < load._CHUNK_BYTES + longest for chunk in writes[:-1])
    assert 0 < len(writes[-1]) < load._CHUNK_BYTES + longest
    assert sum(chunk.count(b"\n") for chunk in writes) == batch.results[0].inserted == len(lines)


def test_a_warehouse_that_refuses_the_connection_is_one_clear_line() -> None:
    """The last line of libpq's message says why; the type is ours, so the stage reports it as a warehouse error."""
    import socket

    import psycopg

    from commitlake.errors import WarehouseError

    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    conninfo = f"host=127.0.0.1 port={port} dbname=x user=x connect_timeout=3"
    with pytest.raises(psycopg.OperationalError) as direct:
        psycopg.connect(conninfo)
    lines = str(direct.value).strip().splitlines()
    assert len(lines) >= 2  # libpq says what failed, then why: the message must keep the why
    with pytest.raises(WarehouseError) as caught:
        load._connect(conninfo)
    assert str(caught.value) == f"cannot connect to the warehouse: {lines[-1]}"
