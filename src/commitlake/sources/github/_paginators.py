"""Pagination as a small strategy object (dlt's HeaderLinkPaginator): read state from a response, say where next.

GitHub's `Link` header is the only source of truth for the next page. After page 1 it may point at
`/repositories/<id>/commits?...`, and in 2012 it used `last_sha=`/`top=` cursors rather than page numbers;
building page URLs ourselves would break on both, so we never do.
"""

from __future__ import annotations

from typing import Protocol

import httpx

__all__ = ["HeaderLinkPaginator", "Paginator"]


class Paginator(Protocol):
    def update_state(self, response: httpx.Response) -> None:
        """Read what the next request needs from this response."""
        ...

    @property
    def next_url(self) -> str | None:
        """The URL of the next page, or None when this was the last page."""
        ...


class HeaderLinkPaginator:
    """Follows the `rel="next"` URL of the `Link` header, verbatim (query and all)."""

    def __init__(self, rel: str = "next") -> None:
        self.rel = rel
        self._next: str | None = None

    def update_state(self, response: httpx.Response) -> None:
        link = response.links.get(self.rel) if "link" in response.headers else None
        self._next = link.get("url") if link else None

    @property
    def next_url(self) -> str | None:
        return self._next
