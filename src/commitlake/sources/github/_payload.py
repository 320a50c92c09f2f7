"""Tolerant reading of list-commits items: payloads from 2012 lack fields that exist today.

Only two facts are read from an item, its `sha` and its committer date; everything else travels to the
lake untouched. A date that cannot be read gives None rather than an exception: the item is still kept.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

__all__ = ["committed_at", "parse_github_date"]

_DATE = re.compile(r"^(\d{4}-\d\d-\d\d)[T ](\d\d:\d\d:\d\d)(?:\.\d+)?(Z|[+-]\d{1,4}:?\d\d)?$")


def parse_github_date(value: object) -> datetime | None:
    """An aware UTC datetime from `2024-01-02T03:04:05Z` or `...+02:00`; None when unreadable.

    Real histories hold broken offsets (psf/requests has `+518:00`); the wall-clock part is then read as UTC,
    which is at worst a day off, instead of losing the commit's date altogether.
    """
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        match = _DATE.match(value.strip())
        if not match:
            return None
        try:
            parsed = datetime.fromisoformat(f"{match[1]}T{match[2]}+00:00")
        except ValueError:
            return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def committed_at(item: dict[str, Any]) -> datetime | None:
    """The committer date of a list-commits item (what `since=` filters on), or None."""
    commit = item.get("commit")
    if not isinstance(commit, dict):
        return None
    committer = commit.get("committer")
    if isinstance(committer, dict):
        return parse_github_date(committer.get("date"))
    return None
