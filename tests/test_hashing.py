"""FastHashingVectorizer must give exactly sklearn's HashingVectorizer matrix: for every hashing step of every
candidate model, on real commit subjects, bodies and paths, and on the inputs that stress each rule."""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from commitlake.ml import _hashing
from commitlake.ml._hashing import fast_hashing_vectorizer, murmurhash3_spans, token_runs

#: Each rule of sklearn's analyzers and of the fast path: empty and blank documents, words shorter and longer
#: than n, every ASCII whitespace str.split() knows (\x1c-\x1f included), newlines inside a document (the
#: chunk's own separator), non-ASCII text (sklearn's analyzer, shared hashing), tokens of one character and
#: tokens longer than many 4-byte blocks, punctuation between tokens, and upper case.
EDGE_DOCS = [
    "", " ", "\n", "a", "ab", "abc", "abcd", "abcde", "abcdef", "x  y\t\tz\n\nw", "A\x1cB\x1dC\x1eD\x1fE",
    "line one\nline two\r\nline three", "\x0bv\x0cf", "naïve café", "日本語 テキスト", "emoji 🎉 done",
    "\u00a0nbsp\u2003em", "UPPER Lower MiXed", "a b c d e f g", "x" * 203, "don't-stop_now (#123), v2.0!",
    "packages/vite/src/node/index.ts .github/workflows/ci.yml", "__init__.py", "-- -a- _", "tab\tsep",
]  # fmt: skip


def _real_texts(shared_commits: Path) -> list[str]:
    """Subjects (as written and as the model sees them, lowercased), bodies and path lists of 3,000 commits from
    each of two histories."""
    texts: list[str] = []
    for stem in ("vitejs__vite", "electron__electron"):
        with gzip.open(shared_commits / f"{stem}.jsonl.gz", "rt", encoding="utf-8") as lines:
            for _, line in zip(range(3000), lines, strict=False):
                item = json.loads(line)
                subject, _, body = item["commit"]["message"].partition("\n")
                paths = " ".join(f["filename"].lower() for f in (item.get("files") or [])[:100])
                texts += [subject, subject.lower(), body[:1000].lower(), paths]
    return texts


def _hashing_steps() -> list[tuple[str, Any]]:
    """(where, vectorizer) for every hashing step in every candidate's pipeline, as the models build them."""
    from commitlake.ml._model import CANDIDATES, build_pipeline

    steps = []
    for candidate in CANDIDATES:
        stack = [(candidate, build_pipeline(0, candidate))]
        while stack:
            where, step = stack.pop()
            if type(step).__name__ == "FastHashingVectorizer":
                steps.append((where, step))
            for name, child in getattr(step, "steps", []) + [t[:2] for t in getattr(step, "transformers", [])]:
                stack.append((f"{where}/{name}", child))
    return steps


def _assert_same(fast: Any, docs: list[Any]) -> None:
    from sklearn.feature_extraction.text import HashingVectorizer

    expected = HashingVectorizer(**fast.get_params()).transform(docs)
    got = fast.transform(docs)
    assert type(got) is type(expected)
    assert got.shape == expected.shape and got.dtype == expected.dtype
    assert got.has_canonical_format
    assert got.nnz == expected.nnz and (got != expected).nnz == 0


def test_every_models_hashing_equals_sklearns_on_real_commits(shared_commits: Path) -> None:
    steps = _hashing_steps()
    assert {where.split("/")[0] for where, _ in steps} == {"linear", "random_forest", "hist_gb"}
    assert len(steps) >= 10, steps
    docs = _real_texts(shared_commits) + EDGE_DOCS
    assert len(docs) > 2 * _hashing._CHUNK_DOCS  # several chunks, so their rows must be stacked in order
    for _where, fast in steps:
        _assert_same(fast, docs)


@pytest.mark.parametrize(
    "params",
    [
        {"analyzer": "char_wb", "ngram_range": (1, 3)},
        {"analyzer": "char_wb", "ngram_range": (4, 7), "n_features": 7},
        {"analyzer": "word", "ngram_range": (2, 3), "alternate_sign": True},
        {"analyzer": "word", "ngram_range": (1, 4), "binary": True, "norm": "l2"},
        {"analyzer": "word", "token_pattern": r"[a-z0-9_\-]+"},
        {"analyzer": "word", "token_pattern": r"(?u)\b\w+\b"},  # not a run pattern: the per-document tokenizer
        {"analyzer": "word", "lowercase": False},  # not covered: sklearn's own transform
        {"analyzer": "char", "ngram_range": (2, 4)},
    ],
)
def test_the_edge_cases_and_other_settings_give_sklearns_matrix(params: dict[str, Any]) -> None:
    fast = fast_hashing_vectorizer()(**{"n_features": 2**10, "alternate_sign": False, "norm": None,
                                        "dtype": np.float32, **params})  # fmt: skip
    _assert_same(fast, EDGE_DOCS)
    _assert_same(fast, EDGE_DOCS[::-1][:3])


def test_inputs_sklearn_refuses_are_refused_alike() -> None:
    from sklearn.feature_extraction.text import HashingVectorizer

    fast = fast_hashing_vectorizer()(analyzer="char_wb", ngram_range=(3, 5))
    for bad in ("one string, not a list", ["fine", None], ["fine", np.nan], []):
        with pytest.raises(Exception) as sklearn_error:
            HashingVectorizer(**fast.get_params()).transform(bad)
        with pytest.raises(type(sklearn_error.value)):
            fast.transform(bad)


def test_murmurhash3_of_spans_equals_sklearns_for_every_length() -> None:
    from sklearn.utils import murmurhash3_32

    rng = np.random.default_rng(7)
    pieces = [bytes(rng.integers(0, 256, size=n, dtype=np.uint8)) for n in range(0, 41) for _ in range(5)]
    buf = np.frombuffer(b"".join(pieces) + b"\0\0\0\0", dtype=np.uint8)
    lengths = np.array([len(p) for p in pieces])
    starts = np.cumsum(lengths) - lengths
    expected = [murmurhash3_32(p, seed=0) for p in pieces]
    assert murmurhash3_spans(buf, starts, lengths).tolist() == expected


def test_a_hash_of_minus_two_to_the_31_gets_sklearns_column() -> None:
    """|-2**31| does not fit an int32: sklearn defines its column as 2**31 mod n_features."""
    for n_features in (7, 2**10, 2**17, 1_000_003):
        matrix = _hashing._hashed_csr(np.array([0, 0]), np.array([-(2**31), 5], dtype=np.int32), 1, n_features,
                                      False, np.float32)  # fmt: skip
        assert sorted(matrix.indices.tolist()) == sorted([2**31 % n_features, 5 % n_features])


def test_only_patterns_whose_tokens_are_byte_runs_take_the_vectorized_tokenizer() -> None:
    runs = token_runs(r"(?u)\b\w\w+\b")
    assert runs is not None and runs[1] == 2 and runs[0][ord("_")] and not runs[0][ord("-")]
    paths = token_runs(r"[a-z0-9_\-]+")
    assert paths is not None and paths[1] == 1 and paths[0][ord("-")] and not paths[0][ord("A")]
    assert token_runs(r"(?u)\b\w+\b") is None
    assert token_runs(r"[\s\w]+") is None  # a newline would join two documents' tokens
