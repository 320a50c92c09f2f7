"""The quarantine's verdicts as exact values: every reason with its detail, the date window's edges to the
second, the NUL-escape parity rule, and the fast path handing back the original string only when it may.
Pure and quick, so `make mutation` can run it per mutant; test_quarantine.py holds the real-record cases."""

from __future__ import annotations

from dataclasses import FrozenInstanceError
from datetime import UTC, datetime, timedelta

import orjson
import pytest

from commitlake.warehouse.quarantine import (
    MAX_UTC_OFFSET,
    MIN_DATE,
    Rejected,
    check_line,
    check_line_fast,
    date_window,
    has_nul_escape,
    original_text,
)

NOW = datetime(2020, 6, 15, 12, 0, tzinfo=UTC)
WINDOW = date_window(NOW)
SHA = "a" * 40
CHECKS = pytest.mark.parametrize("check", [check_line, check_line_fast], ids=["strict", "fast"])


def _line(sha: object = SHA, authored: object = "2020-01-01T00:00:00Z", committed: object = None) -> bytes:
    committed = authored if committed is None else committed
    return orjson.dumps({"sha": sha, "commit": {"author": {"date": authored}, "committer": {"date": committed}}})


def test_the_window_is_fixed_once_built() -> None:
    with pytest.raises(FrozenInstanceError):
        WINDOW.latest = NOW  # type: ignore[misc]


def test_window_edges() -> None:
    assert datetime(1970, 1, 1, tzinfo=UTC) == MIN_DATE
    assert timedelta(hours=14) == MAX_UTC_OFFSET
    assert WINDOW.earliest == MIN_DATE
    assert WINDOW.latest == NOW + timedelta(days=1)
    assert (WINDOW.safe_after, WINDOW.safe_before) == ("1970-01-02", "2020-06-15")
    before = datetime.now(UTC) + timedelta(days=1)
    default = date_window()
    assert before <= default.latest <= datetime.now(UTC) + timedelta(days=1)


@pytest.mark.parametrize(
    ("text", "real"),
    [
        (rb'"\u0000"', True),
        (rb"\u0000", True),
        (rb'"\\u0000"', False),
        (rb'"\\\u0000"', True),
        (rb'"\\\\u0000"', False),
        (rb'"\\u0000 and \u0000"', True),
        (rb'"\\u0000 and \\u0000"', False),
        (rb'"u0000"', False),
        (rb"\u0000 x\\", True),  # at the very start: nothing before it to count (not the line's last byte)
    ],
)
def test_a_nul_escape_is_real_only_after_an_odd_run_of_backslashes(text: bytes, real: bool) -> None:
    assert has_nul_escape(text) is real


def test_original_text_keeps_bad_bytes_visible() -> None:
    assert original_text(b"ok \xff") == "ok \\xff"
    assert original_text(b"a\x00b") == "a\\x00b"
    assert original_text(b"plain") == "plain"


@CHECKS
def test_every_reason_with_its_detail(check: object) -> None:
    judge = check  # type: ignore[assignment]
    cases: list[tuple[bytes, Rejected]] = [
        (b'{"sha": "\\u0000"}', Rejected("nul_character", "\\u0000 escape (jsonb cannot store NUL)")),
        (b'{"sha": 1', Rejected("invalid_json", str(_orjson_error(b'{"sha": 1')))),
        (b'{"sha": "\xff"}', Rejected("invalid_utf8", "byte 9: invalid start byte")),
        (b'{"sha": "\\ud800"}', Rejected("lone_surrogate", "unpaired surrogate U+D800")),
        (b"[1, 2]", Rejected("not_an_object", "a JSON list, not an object")),
        (b'"x"', Rejected("not_an_object", "a JSON str, not an object")),
        (b"{}", Rejected("missing_sha", "no sha")),
        (b'{"sha": ""}', Rejected("missing_sha", "no sha")),
        (b'{"sha": 7}', Rejected("missing_sha", "no sha")),
        (
            b'{"_unparsed": "{oops", "_line": 3}',
            Rejected("invalid_json", "unparseable in the source (line 3)", "{oops"),
        ),
        (b'{"_unparsed": "{oops"}', Rejected("invalid_json", "unparseable in the source (line None)", "{oops")),
        (b'{"_unparsed": "{oops", "_line": 3, "x": 1}', Rejected("missing_sha", "no sha")),
        (b'{"_unparsed": 5, "_line": 3}', Rejected("missing_sha", "no sha")),
        (_line("A" * 40), Rejected("invalid_sha", f"sha {'A' * 40!r} is not 40 or 64 lowercase hex digits")),
        (_line("a" * 41), Rejected("invalid_sha", f"sha {'a' * 41!r} is not 40 or 64 lowercase hex digits")),
        (_line("a" * 200), Rejected("invalid_sha", f"sha {'a' * 80!r} is not 40 or 64 lowercase hex digits")),
        (b'{"sha": "' + SHA.encode() + b'"}', Rejected("missing_date", "no commit object")),
        (b'{"sha": "' + SHA.encode() + b'", "commit": []}', Rejected("missing_date", "no commit object")),
        (
            b'{"sha": "' + SHA.encode() + b'", "commit": {"author": 1}}',
            Rejected("missing_date", "commit.author.date is missing"),
        ),
        (_line(authored=None), Rejected("missing_date", "commit.author.date is missing")),
        (_line(authored=""), Rejected("missing_date", "commit.author.date is missing")),
        (
            _line(committed=""),
            Rejected("missing_date", "commit.committer.date is missing"),
        ),
        (_line(authored=5), Rejected("invalid_date", "commit.author.date is a int, not a string")),
        (
            _line(authored="yesterday"),
            Rejected("invalid_date", "commit.author.date 'yesterday' is not ISO-8601"),
        ),
        (
            _line(authored="2020-01-01T00:00:00"),
            Rejected("invalid_date", "commit.author.date '2020-01-01T00:00:00' has no UTC offset"),
        ),
        (
            _line(committed="2020-01-01T00:00:00+14:01"),
            Rejected("date_out_of_range", "commit.committer.date '2020-01-01T00:00:00+14:01': offset beyond ±14:00"),
        ),
        (
            _line(authored="2020-01-01T00:00:00+20:00"),
            Rejected("date_out_of_range", "commit.author.date '2020-01-01T00:00:00+20:00': offset beyond ±14:00"),
        ),
        (
            _line(authored="2020-01-01T00:00:00-14:01"),
            Rejected("date_out_of_range", "commit.author.date '2020-01-01T00:00:00-14:01': offset beyond ±14:00"),
        ),
        (
            _line(authored="1969-12-31T23:59:59Z"),
            Rejected("date_out_of_range", "commit.author.date '1969-12-31T23:59:59Z' outside 1970-01-01..now+1d"),
        ),
        (
            _line(authored="2020-06-16T12:00:01Z"),
            Rejected("date_out_of_range", "commit.author.date '2020-06-16T12:00:01Z' outside 1970-01-01..now+1d"),
        ),
    ]
    for line, expected in cases:
        assert judge(line, WINDOW) == expected, line  # type: ignore[operator]


def _orjson_error(line: bytes) -> orjson.JSONDecodeError:
    try:
        orjson.loads(line)
    except orjson.JSONDecodeError as exc:
        return exc
    raise AssertionError("valid JSON")


@CHECKS
@pytest.mark.parametrize(
    ("date", "stored"),
    [
        # the fast path hands the original string on ...
        ("2020-01-01T00:00:00Z", "2020-01-01T00:00:00Z"),
        ("2020-01-01T00:00:00+13:59", "2020-01-01T00:00:00+13:59"),
        ("1970-01-03T00:00:00Z", "1970-01-03T00:00:00Z"),
        ("2020-06-14T23:59:59Z", "2020-06-14T23:59:59Z"),
        # ... the slow path normalises it: edges of the window and offsets at the limit
        ("1970-01-01T00:00:00Z", "1970-01-01T00:00:00+00:00"),
        ("1970-01-02T23:59:59Z", "1970-01-02T23:59:59+00:00"),
        ("2020-06-15T00:00:00Z", "2020-06-15T00:00:00+00:00"),
        ("2020-06-16T12:00:00Z", "2020-06-16T12:00:00+00:00"),
        ("2020-01-01T00:00:00+14:00", "2020-01-01T00:00:00+14:00"),
        ("2020-01-01T00:00:00-14:00", "2020-01-01T00:00:00-14:00"),
        ("2020-01-01T00:00:00.5Z", "2020-01-01T00:00:00.500000+00:00"),
        ("2020-01-01 00:00:00Z", "2020-01-01T00:00:00+00:00"),
        ("2020-01-01T00:00:00+0100", "2020-01-01T00:00:00+01:00"),
        # Python reads a decimal mark after the minutes; Postgres may not: never passed on as it is
        ("2020-01-01T00:00.00Z", "2020-01-01T00:00:00+00:00"),
        ("2020-01-01T00:00,00Z", "2020-01-01T00:00:00+00:00"),
        ("2020-01-01T00:00.00+01:00", "2020-01-01T00:00:00+01:00"),
    ],
)
def test_accepted_dates_and_how_they_are_stored(check: object, date: str, stored: str) -> None:
    assert check(_line(authored=date, committed=date), WINDOW) == (SHA, stored, stored)  # type: ignore[operator]


@CHECKS
def test_a_64_digit_sha_is_accepted(check: object) -> None:
    sha = "0123456789abcdef" * 4
    assert check(_line(sha), WINDOW) == (sha, "2020-01-01T00:00:00Z", "2020-01-01T00:00:00Z")  # type: ignore[operator]


def test_the_fast_check_defers_unusual_records_to_the_strict_one() -> None:
    lines = [
        b'{"sha": "' + SHA.encode() + b'", "commit": {"author": {"date": "2020-01-01T00:00:00Z"}}}',
        b'{"sha": "' + SHA.encode() + b'", "commit": {"committer": {"date": "2020-01-01T00:00:00Z"}}}',
        b'{"sha": "' + SHA.encode() + b'", "commit": null}',
        b'{"sha": 5, "commit": {}}',
        b"[" * 100_000,
    ]
    for line in lines:
        assert check_line_fast(line, WINDOW) == check_line(line, WINDOW), line[:80]
