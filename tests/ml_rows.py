"""analytics.ml_commit_features rows derived straight from ../shared/data/commits, for ML tests and bench.

The product table comes from dbt (dbt/models/marts/ml_commit_features.sql); this routine follows the same
contract so the ML tests and bench/bench_ml.py run without a dbt build. The file rules mirror macros/files.sql
closely enough for evaluation; the author history counts only earlier commits of the same author e-mail.
"""

from __future__ import annotations

import gzip
import json
import re
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg

COMMITS = Path(__file__).resolve().parents[2] / "shared" / "data" / "commits"
#: Repositories whose histories use Conventional Commits (the labelled ones).
CC_REPOS: tuple[str, ...] = (
    "vitejs__vite",
    "typescript-eslint__typescript-eslint",
    "conventional-changelog__conventional-changelog",
    "conventional-changelog__commitlint",
    "commitizen__cz-cli",
    "ngrx__platform",
    "open-telemetry__opentelemetry-js",
    "googleapis__release-please",
    "semantic-release__semantic-release",
    "electron__electron",
)
MAX_PATHS = 100

_CC = re.compile(
    r"^(feat|fix|docs|style|refactor|perf|test|build|ci|chore|revert)(\([^():\r\n]*\))?!?:\s+(\S.*)$", re.I
)
#: The body cleaning of dbt's cc_body macro: header lines, trailers and hashes cut out (multiline, lowercased).
_BODY_HEADER = re.compile(
    r"^[ \t]*[*-]?[ \t]*(feat|fix|docs|style|refactor|perf|test|build|ci|chore|revert)(\([^():\r\n]*\))?!?:[ \t]*", re.M
)
_BODY_TRAILER = re.compile(r"^(signed-off-by|co-authored-by|reviewed-by|acked-by|tested-by|reported-by):.*$", re.M)
_BODY_HASH = re.compile(r"\b[0-9a-f]{7,40}\b")
MAX_BODY = 1000
_BOT = re.compile(r"\[bot\]|^(dependabot|renovate|greenkeeper|github-actions|semantic-release-bot)\b", re.I)
_CI = re.compile(r"(^|/)(\.github|\.circleci|\.azure-pipelines)/|(^|/)(\.travis\.yml|appveyor\.yml|\.gitlab-ci\.yml)$")
_TEST = re.compile(r"(^|/)(tests?|__tests__|spec|e2e|fixtures?)/|(^|/)test_[^/]*$|[._-](test|spec)\.[a-z0-9]+$", re.I)
_DOC = re.compile(r"(^|/)docs?/|\.(md|mdx|rst|txt|adoc)$|(^|/)(readme|changelog|license|contributing)[^/]*$", re.I)
_BUILD = re.compile(
    r"(^|/)(package(-lock)?\.json|yarn\.lock|pnpm-lock\.yaml|pyproject\.toml|setup\.(py|cfg)|requirements[^/]*"
    r"|makefile|dockerfile|tsconfig[^/]*\.json|rollup\.config\.[a-z]+|webpack\.config\.[a-z]+|\.npmrc|lerna\.json"
    r"|tox\.ini|\.nvmrc)$",
    re.I,
)

_DDL = """
create schema if not exists analytics;
drop table if exists analytics.ml_commit_features;
create table analytics.ml_commit_features (
    commit_id text primary key, repo_full_name text not null, sha text not null, committed_at timestamptz not null,
    commit_type text, text text not null, body text not null, paths text not null, is_bot boolean not null,
    files_changed integer, additions integer, deletions integer, n_test_files integer not null,
    n_doc_files integer not null,
    n_ci_files integer not null, n_build_files integer not null, n_src_files integer not null,
    message_length integer not null, has_body boolean not null, commit_hour integer not null,
    commit_dow integer not null, author_prior_commits integer not null
);
"""
COLUMNS: tuple[str, ...] = (
    "commit_id", "repo_full_name", "sha", "committed_at", "commit_type", "text", "body", "paths", "is_bot",
    "files_changed", "additions", "deletions", "n_test_files", "n_doc_files", "n_ci_files", "n_build_files",
    "n_src_files", "message_length", "has_body", "commit_hour", "commit_dow", "author_prior_commits",
)  # fmt: skip


def _file_kind(name: str) -> str:
    for kind, pattern in (("ci", _CI), ("test", _TEST), ("doc", _DOC), ("build", _BUILD)):
        if pattern.search(name):
            return kind
    return "src"


def clean_body(body: str) -> str:
    """dbt's cc_body: the body's first MAX_BODY characters, lowercased, without header lines, trailers, hashes."""
    text = body[:MAX_BODY].lower()
    text = _BODY_TRAILER.sub(" ", _BODY_HEADER.sub(" ", text))
    return _BODY_HASH.sub("hexsha", text)


def _timestamp(value: str) -> datetime:
    """ISO-8601 as GitHub renders it; real histories hold offsets git accepted but ISO cannot (`+518:00`)."""
    try:
        return datetime.fromisoformat(value).astimezone(UTC)
    except ValueError:
        return datetime.fromisoformat(value[:19]).replace(tzinfo=UTC)


def commit_items(repo_file: str) -> Iterator[dict[str, Any]]:
    """The list-commits items of a shared commit file, in file order."""
    with gzip.open(COMMITS / f"{repo_file}.jsonl.gz", "rt") as handle:
        for line in handle:
            yield json.loads(line)


def feature_rows(repo_file: str) -> list[tuple[Any, ...]]:
    """One contract row (COLUMNS order) per non-merge commit of a shared commit file."""
    repo = repo_file.replace("__", "/", 1)
    items = [item for item in commit_items(repo_file) if len(item.get("parents") or []) <= 1]
    items.sort(key=lambda item: (_timestamp(item["commit"]["committer"]["date"]), item["sha"]))
    prior: Counter[str] = Counter()
    rows = []
    for item in items:
        commit = item["commit"]
        message = commit.get("message") or ""
        subject, _, body = message.partition("\n")
        subject = subject.strip(" \t\r")
        match = _CC.match(subject)
        label = match.group(1).lower() if match else None
        text = (match.group(3) if match else subject).strip().lower()
        author = commit.get("author") or {}
        email = (author.get("email") or "").lower()
        is_bot = bool(_BOT.search(author.get("name") or "") or _BOT.search(email))
        files = item.get("files")
        kinds = {"test": 0, "doc": 0, "ci": 0, "build": 0, "src": 0}
        for f in files or []:
            kinds[_file_kind(f["filename"])] += 1
        paths = " ".join(f["filename"].lower() for f in (files or [])[:MAX_PATHS])
        stats = item.get("stats") or {}
        committed = _timestamp(commit["committer"]["date"])
        rows.append(
            (
                f"{repo}@{item['sha']}", repo, item["sha"], committed, label, text, clean_body(body), paths, is_bot,
                None if files is None else len(files), stats.get("additions"), stats.get("deletions"),
                kinds["test"], kinds["doc"], kinds["ci"], kinds["build"], kinds["src"],
                len(message), bool(body.strip()), committed.hour, committed.isoweekday(), prior[email],
            )
        )  # fmt: skip
        prior[email] += 1
    return rows


def load_features(dsn: str, rows: list[tuple[Any, ...]]) -> None:
    """Replace analytics.ml_commit_features with `rows`."""
    with psycopg.connect(dsn) as conn:
        conn.execute(_DDL)
        with conn.cursor().copy(f"copy analytics.ml_commit_features ({', '.join(COLUMNS)}) from stdin") as copy:
            for row in rows:
                copy.write_row(row)


def typed_rows(texts_by_type: dict[str, list[str]]) -> Any:
    """A model-input frame of made-up subjects by commit type (numbers 0, one path): for unit tests of the model."""
    import pandas as pd

    from commitlake.ml._features import NUMERIC_COLUMNS

    rows: list[dict[str, Any]] = []
    for label, texts in texts_by_type.items():
        for i, text in enumerate(texts):
            row: dict[str, Any] = {c: 0.0 for c in NUMERIC_COLUMNS}
            row.update(text=text, body="", paths="src/a.ts", commit_type=label, commit_id=f"o/r@{label}{i}")
            rows.append(row)
    return pd.DataFrame(rows)
