"""Counts in words for summaries a person reads: `1 repository`, `3,862 commits`."""

from __future__ import annotations

__all__ = ["plural"]


def plural(count: int, singular: str, many: str | None = None) -> str:
    """`count` with the noun in the right number (`many` defaults to singular + s, -y → -ies)."""
    if count == 1:
        return f"1 {singular}"
    if many is None:
        many = singular[:-1] + "ies" if singular.endswith("y") and singular[-2:-1] not in "aeiou" else singular + "s"
    return f"{count:,} {many}"
