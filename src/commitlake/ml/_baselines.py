"""The two baselines every candidate is shown beside: the majority class and hand-written keyword rules.

Why keyword rules: they are what a team writes before it trains anything ("bump" → chore, "typo" → docs), so a
model that cannot beat them on unseen repositories is not worth its serving cost. They read only model inputs
(the prefix-stripped subject and the changed paths), never the label.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import TYPE_CHECKING

from commitlake.ml._features import PATHS_COLUMN, TEXT_COLUMN
from commitlake.ml._metrics import majority_label

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["KEYWORD_RULES", "keyword_predict", "majority_predict"]

#: (type, pattern on the subject), first match wins; `fix` when nothing matches.
KEYWORD_RULES: tuple[tuple[str, re.Pattern[str]], ...] = tuple(
    (label, re.compile(pattern))
    for label, pattern in (
        ("revert", r"^revert\b|\brevert(s|ed)?\b"),
        ("ci", r"\bci\b|workflow|github actions?|circleci|travis|pipeline"),
        ("docs", r"\bdocs?\b|readme|documentation|typo|changelog|comment"),
        ("test", r"\btests?\b|\bspec\b|coverage|flaky|e2e"),
        ("perf", r"\bperf\b|performance|faster|speed|optimi[sz]|cache"),
        ("style", r"\bstyle\b|format|prettier|lint|whitespace|semicolon"),
        ("refactor", r"refactor|rename|clean ?up|simplif|restructure|move\b"),
        ("build", r"\bbuild\b|webpack|rollup|tsconfig|bundle|compile"),
        ("chore", r"\bbump\b|\bdeps?\b|dependenc|release|version|\bupdate\b|upgrade|lock ?file"),
        ("feat", r"\badd(s|ed)?\b|support|\bnew\b|implement|introduce|allow|enable"),
    )
)
#: (type, pattern every changed path must match). Matched path by path: one regular expression over the whole
#: space-separated list nested its quantifiers and backtracked exponentially on long lists (83 s of a 219 s
#: training run went into it).
_PATH_RULES: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("ci", re.compile(r"(?:\S*/)?\.(?:github|circleci)/\S*")),
    ("docs", re.compile(r"\S*\.(?:md|mdx|rst|txt)|docs?/\S*")),
)


def _keyword(text: str, paths: str) -> str:
    for label, pattern in KEYWORD_RULES:
        if pattern.search(text):
            return label
    files = paths.split()
    for label, pattern in _PATH_RULES:
        if files and all(pattern.fullmatch(name) for name in files):
            return label
    return "fix"


def keyword_predict(x: pd.DataFrame) -> list[str]:
    """The keyword rules applied to each row's subject text, then to its paths."""
    return [_keyword(t, p) for t, p in zip(x[TEXT_COLUMN], x[PATHS_COLUMN], strict=True)]


def majority_predict(y_train: Sequence[str], n: int) -> list[str]:
    """`n` copies of the most frequent training label."""
    return [majority_label(y_train)] * n
