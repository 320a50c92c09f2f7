"""The loader's pure pieces, exactly: object keys relative to their manifest, gzip inflated in bounded steps with
lines that span the steps put back together, and which lines keep their bytes. Pure and fast, so `make mutation`
runs them first for every loader mutant; test_load.py and test_faults.py cover the loader against Postgres."""

from __future__ import annotations

import gzip
from types import SimpleNamespace
from typing import Any

import pytest

from commitlake.errors import LakeError
from commitlake.warehouse import load


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
