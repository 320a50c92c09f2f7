"""The one error the client raises that is not already in commitlake.errors.

    SourceError (commitlake.errors)
    ├── AuthError          401: the token is bad; the whole run stops
    ├── BudgetExhausted    --max-requests reached
    └── GitHubHTTPError    any other final refusal (403, 404, 409, 422, 451, ...); the source decides what it
                           means for a repository (404/451 skip it, 409 is an empty repository)
"""

from __future__ import annotations

from commitlake.errors import SourceError

__all__ = ["GitHubHTTPError"]


class GitHubHTTPError(SourceError):
    def __init__(self, status: int, message: str, url: str) -> None:
        super().__init__(f"GET {url}: HTTP {status}: {message}")
        self.status = status
        self.message = message
        self.url = url
