"""Record checks for the raw load: decide, per JSON line, whether Postgres can take it and whether it is a commit.

Why a separate, pure module: every rule here exists because a real record broke a load somewhere, so each one
is unit-tested with a real commit altered to carry the defect. A valid commit costs one parse (a partial one on
the fast path) and two `datetime.fromisoformat` calls; the slow diagnosis (which kind of bad JSON?) only runs
for rejects.

Reasons (the `reason` column of raw.rejected_records):

    invalid_utf8       the line is not UTF-8 (Postgres text and jsonb would refuse it)
    invalid_json       not JSON at all, or JSON orjson refuses for another reason (NaN, huge integers)
    lone_surrogate     a \\uD800-\\uDFFF escape without its pair: valid to lax parsers, not to jsonb
    nul_character      a \\u0000 escape: valid JSON, but jsonb rejects it ("unsupported Unicode escape")
    not_an_object      valid JSON that is not an object (an array, a string, ...)
    missing_sha        no `sha`, or it is empty / not a string
    invalid_sha        a `sha` that is not 40 (SHA-1) or 64 (SHA-256) lowercase hex digits
    missing_date       `commit.author.date` or `commit.committer.date` absent or null
    invalid_date       a date that is not ISO-8601 with a UTC offset (e.g. git's `+518:00` offsets)
    date_out_of_range  a parseable but absurd date: before 1970-01-01, later than now + 1 day, or an offset
                       beyond ±14:00 (no time zone has one; Postgres refuses offsets past ±15:59)

Two entry points. `check_line` is the strict judge: it parses the whole line, so anything it accepts Postgres
takes. `check_line_fast` is the loader's hot path: it decodes only `sha` and the two dates (msgspec skips the
rest at a few µs a line instead of building a million dicts) and leaves NUL escapes, invalid UTF-8 and
surrogates in fields it skipped to Postgres' jsonb input; the loader reloads a group that Postgres refuses
through `check_line`, so every bad record still ends in quarantine one by one, with its reason.

The date window: git stores seconds since 1970, so earlier dates are clock errors; a commit cannot be from the
future, but clocks drift and time zones differ, hence one day of slack.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import msgspec
import orjson

__all__ = [
    "MAX_UTC_OFFSET",
    "MIN_DATE",
    "REASONS",
    "Accepted",
    "DateWindow",
    "Rejected",
    "check_line",
    "check_line_fast",
    "date_window",
    "has_nul_escape",
    "original_text",
]

REASONS = (
    "invalid_utf8",
    "invalid_json",
    "lone_surrogate",
    "nul_character",
    "not_an_object",
    "missing_sha",
    "invalid_sha",
    "missing_date",
    "invalid_date",
    "date_out_of_range",
)
MIN_DATE = datetime(1970, 1, 1, tzinfo=UTC)
MAX_FUTURE = timedelta(days=1)
MAX_UTC_OFFSET = timedelta(hours=14)

_SHA = re.compile(r"[0-9a-f]{40}(?:[0-9a-f]{24})?")
_NUL = b"\\u0000"


# A record the loader can COPY: (sha, authored_at, committed_at), dates already in a form Postgres parses.
Accepted = tuple[str, str, str]


@dataclass(frozen=True, slots=True)
class Rejected:
    reason: str
    detail: str
    # The text to keep when the line is a wrapper around it (`{"_unparsed": ...}`, which early versions of ingest
    # wrote to the lake: lakes written then still load), else None.
    original: str | None = None


@dataclass(frozen=True, slots=True)
class DateWindow:
    """The accepted [earliest, latest] instants, plus the days (ISO strings) whose every instant at any offset
    up to ±14 h lies strictly inside them: comparing strings is the cheap test on the hot path."""

    earliest: datetime
    latest: datetime
    safe_after: str
    safe_before: str


def date_window(now: datetime | None = None) -> DateWindow:
    """Fixed once per load, so a run judges every line alike."""
    latest = (now or datetime.now(UTC)) + MAX_FUTURE
    day = timedelta(days=1)
    return DateWindow(MIN_DATE, latest, (MIN_DATE + day).date().isoformat(), (latest - day).date().isoformat())


def has_nul_escape(line: bytes) -> bool:
    r"""True when the JSON text holds a real `\u0000` escape.

    `\\u0000` (an escaped backslash, then the letters u0000) is harmless text: the escape is real only when
    an odd number of backslashes runs up to the `u`.
    """
    start = line.find(_NUL)
    while start >= 0:
        first = start
        while first > 0 and line[first - 1] == 0x5C:  # backslash
            first -= 1
        if (start - first) % 2 == 0:
            return True
        start = line.find(_NUL, start + 1)
    return False


def original_text(line: bytes) -> str:
    """The line as storable text: invalid UTF-8 bytes and NUL bytes become `\\xNN` (Postgres text holds no NUL)."""
    text = line.decode("utf-8", errors="backslashreplace")
    return text.replace("\x00", "\\x00") if "\x00" in text else text


def _diagnose_bad_json(line: bytes, error: orjson.JSONDecodeError) -> Rejected:
    """Why orjson refused the line; only called for rejects, so it may be slow."""
    try:
        text = line.decode("utf-8")
    except UnicodeDecodeError as exc:
        return Rejected("invalid_utf8", f"byte {exc.start}: {exc.reason}")
    try:
        lax = json.loads(text)
    except (ValueError, RecursionError):
        return Rejected("invalid_json", str(error))
    try:
        json.dumps(lax, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError as exc:
        return Rejected("lone_surrogate", f"unpaired surrogate U+{ord(exc.object[exc.start]):04X}")
    return Rejected("invalid_json", str(error))


def _date_slow(value: object, who: str, window: DateWindow) -> str | Rejected:
    """Every date rule, spelled out; the fast path in `_date` defers here for anything unusual."""
    if value is None or value == "":
        return Rejected("missing_date", f"commit.{who}.date is missing")
    if not isinstance(value, str):
        return Rejected("invalid_date", f"commit.{who}.date is a {type(value).__name__}, not a string")
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return Rejected("invalid_date", f"commit.{who}.date {value[:64]!r} is not ISO-8601")
    offset = parsed.utcoffset()
    if offset is None:
        return Rejected("invalid_date", f"commit.{who}.date {value[:64]!r} has no UTC offset")
    if abs(offset) > MAX_UTC_OFFSET:
        return Rejected("date_out_of_range", f"commit.{who}.date {value!r}: offset beyond ±14:00")
    if not window.earliest <= parsed <= window.latest:
        return Rejected("date_out_of_range", f"commit.{who}.date {value!r} outside {window.earliest:%Y-%m-%d}..now+1d")
    return parsed.isoformat()


def _date(value: object, who: str, window: DateWindow) -> str | Rejected:
    """A date as Postgres should read it.

    Fast path (nearly every record): `YYYY-MM-DDTHH:MM:SSZ` or `...±HH:MM` with |offset| < 14 h and a day safely
    inside the window, which Postgres parses exactly as Python does, so the original string is passed on. Aware
    datetime comparisons cost more than the parse itself, hence the string comparison on the day.
    """
    if type(value) is str:
        n = len(value)
        if (
            (
                (n == 20 and value[19] == "Z")
                or (n == 25 and value[22] == ":" and value[19] in "+-" and value[20:22] < "14")
            )
            and value[4] == "-"
            and value[7] == "-"  # not an ISO week date (2019-W01-1), which Python reads and Postgres does not
            and value[10] == "T"
            and value[13] == ":"
            and value[16] == ":"
            and window.safe_after < value[:10] < window.safe_before
        ):
            try:
                datetime.fromisoformat(value)
                return value
            except ValueError:
                pass
    return _date_slow(value, who, window)


def check_line(line: bytes, window: DateWindow) -> Accepted | Rejected:
    """Judge one JSON line (without its newline) against the rules in the module docstring.

    Returns `(sha, authored_at, committed_at)` for a good record: a plain tuple, because this runs a million
    times per load and a tuple is the cheapest thing to build.
    """
    if _NUL in line and has_nul_escape(line):
        return Rejected("nul_character", "\\u0000 escape (jsonb cannot store NUL)")
    try:
        record = orjson.loads(line)
    except orjson.JSONDecodeError as exc:
        return _diagnose_bad_json(line, exc)
    if type(record) is not dict:
        return Rejected("not_an_object", f"a JSON {type(record).__name__}, not an object")
    sha = record.get("sha")
    if not sha or type(sha) is not str:
        unparsed = record.get("_unparsed")
        if type(unparsed) is str and len(record) <= 2:
            # early versions of ingest wrapped the lines a source could not parse, keeping the text for this quarantine
            return Rejected("invalid_json", f"unparseable in the source (line {record.get('_line')})", unparsed)
        return Rejected("missing_sha", "no sha")
    if not _SHA.fullmatch(sha):
        return Rejected("invalid_sha", f"sha {sha[:80]!r} is not 40 or 64 lowercase hex digits")
    commit = record.get("commit")
    if type(commit) is not dict:
        return Rejected("missing_date", "no commit object")
    author = commit.get("author")
    authored = _date(author.get("date") if type(author) is dict else None, "author", window)
    if isinstance(authored, Rejected):
        return authored
    committer = commit.get("committer")
    committed = _date(committer.get("date") if type(committer) is dict else None, "committer", window)
    if isinstance(committed, Rejected):
        return committed
    return (sha, authored, committed)


class _Person(msgspec.Struct):
    date: str | None = None


class _Commit(msgspec.Struct):
    author: _Person | None = None
    committer: _Person | None = None


class _Record(msgspec.Struct):
    sha: str = ""
    commit: _Commit | None = None


_decode_fast = msgspec.json.Decoder(_Record).decode


def check_line_fast(line: bytes, window: DateWindow) -> Accepted | Rejected:
    """`check_line` for lines Postgres will judge again: decodes only what the loader needs.

    A line this accepts may still hold what jsonb refuses in a field it skipped (see the module docstring);
    anything unusual about the three fields it does read is handed to `check_line`, so rejects carry the
    same reasons either way.
    """
    try:
        record = _decode_fast(line)
    except (msgspec.DecodeError, RecursionError):
        return check_line(line, window)
    sha, commit = record.sha, record.commit
    if commit is None or commit.author is None or commit.committer is None or not _SHA.fullmatch(sha):
        return check_line(line, window)
    authored = _date(commit.author.date, "author", window)
    if isinstance(authored, Rejected):
        return authored
    committed = _date(commit.committer.date, "committer", window)
    if isinstance(committed, Rejected):
        return committed
    return (sha, authored, committed)
