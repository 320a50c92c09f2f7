"""The record checks, on real commits from ../shared altered to carry each defect the loader must quarantine."""

from __future__ import annotations

import gzip
from datetime import UTC, datetime
from pathlib import Path

import orjson
import pytest

from commitlake.warehouse.quarantine import (
    REASONS,
    Rejected,
    check_line,
    check_line_fast,
    date_window,
    has_nul_escape,
    original_text,
)

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
WINDOW = date_window(NOW)


def _lines(commits: Path, name: str, limit: int | None = None) -> list[bytes]:
    with gzip.open(commits / f"{name}.jsonl.gz") as handle:
        lines = handle.read().split(b"\n")
    return [line for line in lines if line][:limit]


@pytest.fixture(scope="module")
def flask_line(shared_commits: Path) -> bytes:
    """A real flask commit: its dates keep the committer's offset (`-07:00`)."""
    return _lines(shared_commits, "pallets__flask", 1)[0]


@pytest.fixture(scope="module")
def vite_line(shared_commits: Path) -> bytes:
    """A real vite commit: UTC dates with `Z`."""
    return _lines(shared_commits, "vitejs__vite", 1)[0]


def _with(line: bytes, change: object) -> bytes:
    record = orjson.loads(line)
    change(record)  # type: ignore[operator]
    return orjson.dumps(record)


def _reject(line: bytes) -> Rejected:
    result = check_line(line, WINDOW)
    assert isinstance(result, Rejected), f"accepted: {result}"
    assert result.reason in REASONS
    return result


def test_real_records_are_accepted_with_their_dates(flask_line: bytes, vite_line: bytes) -> None:
    for line in (flask_line, vite_line):
        record = orjson.loads(line)
        assert check_line(line, WINDOW) == (
            record["sha"],
            record["commit"]["author"]["date"],
            record["commit"]["committer"]["date"],
        )


def test_every_shared_record_passes_except_the_real_bad_offset(shared_commits: Path) -> None:
    """No false rejects on 77k real commits; the one real defect (`+518:00` in requests) is caught."""
    rejected = []
    for path in sorted(shared_commits.glob("*.jsonl.gz")):
        for line in _lines(shared_commits, path.name.removesuffix(".jsonl.gz")):
            result = check_line(line, WINDOW)
            if isinstance(result, Rejected):
                rejected.append((path.name, result.reason, orjson.loads(line)["sha"]))
    assert rejected == [("psf__requests.jsonl.gz", "invalid_date", "5e6ecdad9f69b1ff789a17733b8edc6fd7091bd8")]


def test_invalid_json(vite_line: bytes) -> None:
    assert _reject(vite_line[: len(vite_line) // 2]).reason == "invalid_json"
    assert _reject(vite_line.replace(b'"node_id":null', b'"node_id":NaN')).reason == "invalid_json"


def test_invalid_utf8(vite_line: bytes) -> None:
    record = orjson.loads(vite_line)
    message = record["commit"]["message"].encode()
    line = vite_line.replace(orjson.dumps(record["commit"]["message"])[1:-1], message[:5] + b"\xff\xfe" + message[5:])
    result = _reject(line)
    assert result.reason == "invalid_utf8"
    assert "\\xff\\xfe" in original_text(line)


def test_lone_surrogate_is_told_apart_from_bad_json(vite_line: bytes) -> None:
    line = vite_line.replace(b'"message":"', b'"message":"\\ud83d broken emoji ', 1)
    assert _reject(line).reason == "lone_surrogate"
    low_alone = vite_line.replace(b'"message":"', b'"message":"\\ude00', 1)
    assert _reject(low_alone).reason == "lone_surrogate"
    paired = vite_line.replace(b'"message":"', b'"message":"\\ud83d\\ude00 ', 1)
    assert not isinstance(check_line(paired, WINDOW), Rejected)


def test_nul_escape_is_rejected_but_an_escaped_backslash_is_not(vite_line: bytes) -> None:
    nul = _with(vite_line, lambda r: r["commit"].update(message=r["commit"]["message"] + "\x00"))
    assert b"\\u0000" in nul  # orjson writes the NUL as the escape Postgres refuses
    assert _reject(nul).reason == "nul_character"
    literal = _with(vite_line, lambda r: r["commit"].update(message="path C:\\u0000\\file"))
    assert b"\\\\u0000" in literal
    assert not isinstance(check_line(literal, WINDOW), Rejected)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (b'{"a":"\\u0000"}', True),
        (b'{"a":"\\\\u0000"}', False),
        (b'{"a":"\\\\\\u0000"}', True),
        (b'{"a":"\\\\\\\\u0000"}', False),
        (b'{"a":"\\\\u0000 and \\u0000"}', True),
        (b'{"a":"u0000"}', False),
    ],
)
def test_has_nul_escape_counts_backslashes(text: bytes, expected: bool) -> None:
    assert has_nul_escape(text) is expected


def test_not_an_object(vite_line: bytes) -> None:
    assert _reject(b"[" + vite_line + b"]").reason == "not_an_object"


def test_missing_and_invalid_sha(vite_line: bytes) -> None:
    assert _reject(_with(vite_line, lambda r: r.pop("sha"))).reason == "missing_sha"
    assert _reject(_with(vite_line, lambda r: r.update(sha=None))).reason == "missing_sha"
    assert _reject(_with(vite_line, lambda r: r.update(sha=""))).reason == "missing_sha"
    assert _reject(_with(vite_line, lambda r: r.update(sha=r["sha"].upper()))).reason == "invalid_sha"
    assert _reject(_with(vite_line, lambda r: r.update(sha=r["sha"][:12]))).reason == "invalid_sha"
    sha256 = _with(vite_line, lambda r: r.update(sha=r["sha"] + "0" * 24))
    assert not isinstance(check_line(sha256, WINDOW), Rejected)


def test_missing_dates(vite_line: bytes) -> None:
    assert _reject(_with(vite_line, lambda r: r["commit"]["committer"].pop("date"))).reason == "missing_date"
    assert _reject(_with(vite_line, lambda r: r["commit"]["author"].update(date=None))).reason == "missing_date"
    assert _reject(_with(vite_line, lambda r: r["commit"].pop("author"))).reason == "missing_date"
    assert _reject(_with(vite_line, lambda r: r.pop("commit"))).reason == "missing_date"


@pytest.mark.parametrize(
    "date",
    ["2011-09-08T02:38:50+518:00", "yesterday", "2020-13-01T00:00:00Z", "2020-01-01T00:00:00", "2020-01-01", ""],
)
def test_unparseable_dates(flask_line: bytes, date: str) -> None:
    result = _reject(_with(flask_line, lambda r: r["commit"]["author"].update(date=date)))
    assert result.reason == ("missing_date" if date == "" else "invalid_date")


def test_date_that_is_not_a_string(flask_line: bytes) -> None:
    assert _reject(_with(flask_line, lambda r: r["commit"]["committer"].update(date=1234567890))).reason == (
        "invalid_date"
    )


@pytest.mark.parametrize(
    "date",
    ["1969-12-31T23:59:59Z", "2999-01-01T00:00:00Z", "2026-11-27T00:00:00Z", "2020-01-01T00:00:00+15:00"],
)
def test_absurd_dates(flask_line: bytes, date: str) -> None:
    result = _reject(_with(flask_line, lambda r: r["commit"]["committer"].update(date=date)))
    assert result.reason == "date_out_of_range"


@pytest.mark.parametrize(
    ("date", "passed_on"),
    [
        ("1970-01-01T00:00:00Z", "1970-01-01T00:00:00+00:00"),
        ("2026-11-26T11:00:00Z", "2026-11-26T11:00:00+00:00"),
        ("2020-01-01T00:00:00+14:00", "2020-01-01T00:00:00+14:00"),
        ("2020-01-01T00:00:00.250-09:30", "2020-01-01T00:00:00.250000-09:30"),
        ("2020-01-01T00:00:00+05:18:30", "2020-01-01T00:00:00+05:18:30"),
        ("2020-01-01T00:00:00-03:00", "2020-01-01T00:00:00-03:00"),
    ],
)
def test_edge_dates_are_kept(flask_line: bytes, date: str, passed_on: str) -> None:
    """Inside the window (edges included) and at unusual but real offsets; odd shapes are normalised."""
    result = check_line(_with(flask_line, lambda r: r["commit"]["author"].update(date=date)), WINDOW)
    assert not isinstance(result, Rejected)
    assert result[1] == passed_on


def test_ingest_wrapper_of_unparsed_line_keeps_the_source_text() -> None:
    wrapper = orjson.dumps({"_unparsed": '{"sha": "abc", broken', "_line": 7})
    result = _reject(wrapper)
    assert result.reason == "invalid_json"
    assert result.original == '{"sha": "abc", broken'


def test_original_text_is_storable() -> None:
    assert original_text(b'{"a":"\x00"}') == '{"a":"\\x00"}'
    assert original_text(b"caf\xc3\xa9") == "café"


def test_fast_check_agrees_with_the_strict_one_on_every_shared_record(shared_commits: Path) -> None:
    for path in sorted(shared_commits.glob("*.jsonl.gz")):
        for line in _lines(shared_commits, path.name.removesuffix(".jsonl.gz")):
            assert check_line_fast(line, WINDOW) == check_line(line, WINDOW)


def test_fast_check_gives_the_strict_reasons_for_what_it_reads(flask_line: bytes, vite_line: bytes) -> None:
    """Defects in sha, dates or the JSON shape are caught by the fast path with the strict path's reason."""
    defects = [
        vite_line[: len(vite_line) // 2],
        b"[" + vite_line + b"]",
        _with(vite_line, lambda r: r.pop("sha")),
        _with(vite_line, lambda r: r.update(sha=r["sha"].upper())),
        _with(vite_line, lambda r: r.update(sha=12)),
        _with(vite_line, lambda r: r["commit"]["committer"].pop("date")),
        _with(vite_line, lambda r: r["commit"].update(author="someone")),
        _with(vite_line, lambda r: r.pop("commit")),
        _with(flask_line, lambda r: r["commit"]["author"].update(date="2011-09-08T02:38:50+518:00")),
        _with(flask_line, lambda r: r["commit"]["committer"].update(date=1234567890)),
        _with(flask_line, lambda r: r["commit"]["committer"].update(date="2999-01-01T00:00:00Z")),
        orjson.dumps({"_unparsed": '{"sha": "abc", broken', "_line": 7}),
        vite_line.replace(b'"message":"', b'"message":"\\ud83d broken emoji ', 1),
    ]
    for line in defects:
        strict = _reject(line)
        assert check_line_fast(line, WINDOW) == strict, strict.reason


def test_fast_check_leaves_what_it_skips_to_postgres(vite_line: bytes) -> None:
    """Documents the contract the loader's strict retry exists for (tests/test_load.py covers the retry)."""
    nul = _with(vite_line, lambda r: r["commit"].update(message="a\x00b"))
    bad_utf8 = vite_line.replace(b'"message":"', b'"message":"\xff', 1)
    for line in (nul, bad_utf8):
        assert _reject(line).reason in ("nul_character", "invalid_utf8")
        assert not isinstance(check_line_fast(line, WINDOW), Rejected)
