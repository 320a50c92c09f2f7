"""Replay of real exchanges with api.github.com, recorded by PyGithub's test suite.

Each exchange is 10 lines then a blank line: scheme, verb, host, port, path+query, request headers,
request body, status, response headers (a Python list of tuples), response body. Requests are matched on
path and query, ignoring `per_page` and a `page=1` (so a client asking per_page=100 still finds the
recorded first page); the links inside are rewritten to the fake server's own address.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

__all__ = ["REPLAY_DIR", "Exchange", "load_replay", "replay_key"]

REPLAY_DIR = Path(__file__).resolve().parents[3] / "shared" / "data" / "github" / "replay"
_DROP = {"content-encoding", "transfer-encoding", "content-length", "connection", "status"}


@dataclass(frozen=True)
class Exchange:
    method: str
    path: str
    status: int
    headers: tuple[tuple[str, str], ...]
    body: str


def replay_key(method: str, path_and_query: str) -> tuple[str, str, tuple[tuple[str, str], ...]]:
    parts = urlsplit(path_and_query)
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k != "per_page"]
    query = [(k, v) for k, v in query if not (k == "page" and v == "1")]
    return method.upper(), parts.path, tuple(sorted(query))


def load_replay(path: Path) -> list[Exchange]:
    lines = path.read_text(encoding="utf-8").split("\n")
    exchanges = []
    for start in range(0, len(lines) - 9, 11):
        block = lines[start : start + 10]
        if not block[0].strip():
            break
        headers = tuple(
            (str(k), str(v)) for k, v in ast.literal_eval(block[8]) if str(k).lower() not in _DROP
        )
        exchanges.append(Exchange(block[1], block[4], int(block[7]), headers, block[9]))
    return exchanges
