"""HashingVectorizer with the n-grams cut and hashed by NumPy over a whole batch: the same matrix, 2.5x faster.

Why: scikit-learn's HashingVectorizer builds every n-gram as a Python string and hashes it in a Python-driven
loop. At 1M commits that was the largest cost of scoring (61 of the workers' 93 CPU seconds) and of the
refit. Here each batch's words (or tokens) are laid out in one ASCII buffer, every n-gram is a span of it, and
MurmurHash3 (x86, 32-bit, seed 0: what sklearn uses) runs over all spans at once. Documents that are not pure
ASCII keep sklearn's own analyzer for their n-grams (a character is not a byte there), then share the hashing.
On 52,819 real commits: subjects' character 3-5-grams 3.4 s → 1.1 s, their words 0.53 → 0.22 s, bodies
0.78 → 0.32 s, paths 0.71 → 0.49 s.

No maintained library does this (vtext, the Rust one, stopped in 2020), and the output must equal sklearn's for
the registered models to stay the same: the class only changes *how* `transform` computes, never what, and the
tests compare the two matrices on the shared histories' real messages, bodies and paths.
"""

from __future__ import annotations

from itertools import chain
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np

__all__ = ["fast_hashing_vectorizer", "murmurhash3_spans", "token_runs"]

#: Documents hashed per pass: bounds the span arrays (about 150 character n-grams a subject) to tens of MB.
_CHUNK_DOCS = 8_192
_C1, _C2 = 0xCC9E2D51, 0x1B873593
_INT32_MIN = -(2**31)


def _rotl(x: np.ndarray, r: int) -> np.ndarray:
    return (x << r) | (x >> (32 - r))


def murmurhash3_spans(buf: np.ndarray, starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """Signed 32-bit MurmurHash3 (x86, seed 0) of each `buf[start:start + length]`, as int32.

    `buf` is uint8 with at least 3 bytes of padding past the last span (a tail is read as one 4-byte word). The
    spans are processed longest first, so block j only touches the spans that have a j-th block.
    """
    import numpy as np

    buf = np.asarray(buf, dtype=np.uint8)
    order = np.argsort(-(lengths >> 2), kind="stable")
    starts, lengths = starts[order].astype(np.int64), lengths[order].astype(np.int64)
    blocks = lengths >> 2
    h = np.zeros(len(starts), dtype=np.uint32)
    with np.errstate(over="ignore"):
        for j in range(int(blocks[0]) if len(blocks) else 0):
            n = int(np.searchsorted(-blocks, -j, side="left"))  # spans with more than j blocks
            p = starts[:n] + 4 * j
            k = _word_at(buf, p)
            k = _rotl(k * np.uint32(_C1), 15) * np.uint32(_C2)
            hj = h[:n] ^ k
            h[:n] = _rotl(hj, 13) * np.uint32(5) + np.uint32(0xE6546B64)
        tail = lengths & 3
        has_tail = tail > 0
        if has_tail.any():
            p = starts[has_tail] + 4 * blocks[has_tail]
            t = tail[has_tail]
            word = _word_at(buf, p)
            mask = (np.uint32(1) << (8 * t).astype(np.uint32)) - np.uint32(1)
            k = _rotl((word & mask) * np.uint32(_C1), 15) * np.uint32(_C2)
            h[has_tail] ^= k
        h ^= lengths.astype(np.uint32)
        h ^= h >> 16
        h *= np.uint32(0x85EBCA6B)
        h ^= h >> 13
        h *= np.uint32(0xC2B2AE35)
        h ^= h >> 16
    out = np.empty(len(h), dtype=np.int32)
    out[order] = h.view(np.int32)
    return out


def _word_at(buf: np.ndarray, p: np.ndarray) -> np.ndarray:
    """The little-endian uint32 at each byte offset `p` of `buf`."""
    import numpy as np

    return (
        buf[p].astype(np.uint32)
        | (buf[p + 1].astype(np.uint32) << 8)
        | (buf[p + 2].astype(np.uint32) << 16)
        | (buf[p + 3].astype(np.uint32) << 24)
    )


def _within(counts: np.ndarray) -> np.ndarray:
    """0..count-1 for each group, concatenated: the offset of each n-gram within its word."""
    import numpy as np

    total = int(counts.sum())
    return np.arange(total, dtype=np.int64) - np.repeat(np.cumsum(counts) - counts, counts)


class _Spans:
    """Byte buffers and the (row, start, length) of every n-gram in them, gathered for one hashing pass."""

    def __init__(self) -> None:
        self.parts: list[bytes] = []
        self.size = 0
        self.rows: list[np.ndarray] = []
        self.starts: list[np.ndarray] = []
        self.lengths: list[np.ndarray] = []

    def buffer(self, data: bytes) -> int:
        """Append `data` to the buffer; returns the offset spans into it start from."""
        base = self.size
        self.parts.append(data)
        self.size += len(data)
        return base

    def add(self, rows: np.ndarray, starts: np.ndarray, lengths: np.ndarray) -> None:
        """N-grams at absolute buffer offsets `starts`."""
        self.rows.append(rows)
        self.starts.append(starts)
        self.lengths.append(lengths)

    def hashes(self) -> tuple[np.ndarray, np.ndarray]:
        """(row of each n-gram, its signed hash)."""
        import numpy as np

        if not self.rows:
            return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.int32)
        buf = np.frombuffer(b"".join([*self.parts, b"\0\0\0\0"]), dtype=np.uint8)
        starts, lengths = np.concatenate(self.starts), np.concatenate(self.lengths)
        return np.concatenate(self.rows), murmurhash3_spans(buf, starts, lengths)


#: ASCII bytes str.split() splits on (and `re`'s \s matches): what separates char_wb's words.
_ASCII_SPACE = frozenset(b"\t\n\x0b\x0c\r\x1c\x1d\x1e\x1f ")
#: sklearn's default token_pattern: on ASCII text its tokens are the maximal runs of 2+ of [0-9A-Za-z_].
_SKLEARN_TOKEN_PATTERN = r"(?u)\b\w\w+\b"


def token_runs(token_pattern: str) -> tuple[np.ndarray, int] | None:
    """(which bytes belong to a token, the shortest token) when `token_pattern`'s tokens on ASCII text are exactly
    the maximal runs of one byte class: sklearn's default, or any `[class]+`. None for any other pattern."""
    import re

    import numpy as np

    if token_pattern == _SKLEARN_TOKEN_PATTERN:
        member, shortest = [bool(re.fullmatch(r"(?u)\w", chr(c))) for c in range(256)], 2
    elif re.fullmatch(r"\[[^\[\]]+\]\+", token_pattern):
        single = re.compile(token_pattern[:-1])
        member, shortest = [c < 128 and bool(single.fullmatch(chr(c))) for c in range(256)], 1
    else:
        return None
    if member[ord("\n")]:  # documents are joined by newlines, which must split tokens
        return None
    return np.array(member, dtype=bool), shortest


def _runs(buf: np.ndarray, member: np.ndarray, shortest: int) -> tuple[np.ndarray, np.ndarray]:
    """(start, length) of each maximal run of `member` bytes in `buf` at least `shortest` long, in order."""
    import numpy as np

    inside = np.concatenate([[False], member[buf], [False]])
    edges = np.flatnonzero(inside[1:] != inside[:-1])
    start, length = edges[0::2], edges[1::2] - edges[0::2]
    keep = length >= shortest
    return start[keep], length[keep]


def _respaced(buf: np.ndarray, start: np.ndarray, length: np.ndarray, pad: int) -> tuple[bytes, np.ndarray]:
    """The runs copied one after another, each with `pad` spaces before it and one space after it (pad=1 gives
    char_wb's " w1  w2 ", pad=0 "t1 t2 " for word n-grams); returns the bytes and where each run's copy begins
    (its leading spaces included)."""
    import numpy as np

    width = length + pad + 1
    new_start = np.cumsum(width) - width
    out = np.full(int(width.sum()), ord(" "), dtype=np.uint8)
    within = _within(length)
    out[np.repeat(new_start + pad, length) + within] = buf[np.repeat(start, length) + within]
    return out.tobytes(), new_start


def _char_wb_spans(spans: _Spans, buf: np.ndarray, row_of: Any, ngram_range: tuple[int, int]) -> None:
    """Every `char_wb` n-gram of the ASCII documents in `buf`: each word padded with a space either side,
    n-grams inside it, a word shorter than n counted once (sklearn's _char_wb_ngrams, rule for rule)."""
    import numpy as np

    not_space = np.ones(256, dtype=bool)
    not_space[list(_ASCII_SPACE)] = False
    start, length = _runs(buf, not_space, 1)
    if not len(start):
        return
    data, word_start = _respaced(buf, start, length, 1)
    base = spans.buffer(data)
    word_start = word_start + base
    padded = length + 2
    word_row = row_of(start)
    active = np.ones(len(start), dtype=bool)
    for n in range(ngram_range[0], ngram_range[1] + 1):
        size = padded[active]
        per_word = np.maximum(size - n + 1, 1)
        spans.add(
            np.repeat(word_row[active], per_word),
            np.repeat(word_start[active], per_word) + _within(per_word),
            np.repeat(np.minimum(size, n), per_word),
        )
        active &= padded > n  # a word no longer than n stops here
        if not active.any():
            break


def _word_spans(spans: _Spans, buf: np.ndarray, row_of: Any, runs: tuple[np.ndarray, int],
                ngram_range: tuple[int, int]) -> None:  # fmt: skip
    """Every word n-gram of the ASCII documents in `buf`: tokens rewritten with single spaces between them, so n
    consecutive tokens of one document are one span (sklearn's " ".join(tokens[i:i + n]))."""
    import numpy as np

    start, length = _runs(buf, *runs)
    if not len(start):
        return
    data, new_start = _respaced(buf, start, length, 0)
    base = spans.buffer(data)
    new_start = new_start + base
    row = row_of(start)
    for n in range(ngram_range[0], ngram_range[1] + 1):
        if n > len(start):
            break
        last = np.arange(n - 1, len(start))
        head = last - (n - 1)
        same_doc = row[last] == row[head]
        head, last = head[same_doc], last[same_doc]
        spans.add(row[head], new_start[head], new_start[last] + length[last] - new_start[head])


def _ascii_spans(spans: _Spans, docs: list[Any], ascii_rows: list[int], runs: tuple[np.ndarray, int] | None,
                 ngram_range: tuple[int, int]) -> None:  # fmt: skip
    """The n-grams of the ASCII documents, from one buffer: the documents joined by newlines (which split words
    and tokens alike), lowercased. `runs` None means char_wb's words, else token_runs' tokens."""
    import numpy as np

    text = "\n".join([docs[i] for i in ascii_rows]).lower().encode("ascii")
    buf = np.frombuffer(text, dtype=np.uint8)
    ends = np.cumsum(np.fromiter((len(docs[i]) + 1 for i in ascii_rows), np.int64, len(ascii_rows)))
    rows = np.asarray(ascii_rows, dtype=np.int64)

    def row_of(offset: np.ndarray) -> np.ndarray:
        return rows[np.searchsorted(ends, offset, side="right")]

    if runs is None:
        _char_wb_spans(spans, buf, row_of, ngram_range)
    else:
        _word_spans(spans, buf, row_of, runs, ngram_range)


def _analyzed_spans(spans: _Spans, docs: list[Any], rows: list[int], analyze: Any) -> None:
    """The n-grams sklearn's `analyze` cuts from docs[rows], encoded as UTF-8 into the buffer."""
    import numpy as np

    grams = [[g.encode("utf-8") for g in analyze(docs[i])] for i in rows]
    lengths = np.fromiter((len(g) for gs in grams for g in gs), dtype=np.int64)
    counts = np.fromiter(map(len, grams), dtype=np.int64, count=len(rows))
    base = spans.buffer(b"".join(chain.from_iterable(grams)))
    spans.add(np.repeat(np.asarray(rows, np.int64), counts), base + np.cumsum(lengths) - lengths, lengths)


def _hashed_csr(row: np.ndarray, h: np.ndarray, n_docs: int, n_features: int, alternate_sign: bool,
                dtype: Any) -> Any:  # fmt: skip
    """FeatureHasher's matrix from each n-gram's row and hash: column |h| mod n_features (sklearn's value for
    |-2**31|), +1 or the hash's sign, duplicates summed, indices sorted."""
    import numpy as np
    import scipy.sparse as sp

    n = n_features
    column = np.where(h == _INT32_MIN, (2147483647 - (n - 1)) % n, np.abs(h.astype(np.int64)) % n)
    values = np.where(h >= 0, 1, -1) if alternate_sign else np.ones(len(h))
    matrix = sp.csr_array((values.astype(dtype), (row, column)), shape=(n_docs, n), dtype=dtype)
    matrix.sum_duplicates()
    return matrix


def _fast_hashing_class() -> type:
    import scipy.sparse as sp
    from sklearn.feature_extraction.text import HashingVectorizer
    from sklearn.preprocessing import normalize

    class FastHashingVectorizer(HashingVectorizer):
        """sklearn's HashingVectorizer; `transform` gives the same matrix without a Python string per n-gram
        (module docstring). Any setting the fast path does not cover falls back to sklearn's own transform."""

        def _fast(self) -> bool:
            return (
                self.input == "content" and self.analyzer in ("word", "char_wb") and self.lowercase
                and self.preprocessor is None and self.strip_accents is None and self.stop_words is None
                and self.tokenizer is None
            )  # fmt: skip

        def transform(self, X: Any) -> Any:
            docs = X if isinstance(X, str) else list(X)
            if isinstance(docs, str) or not docs or not self._fast():  # and sklearn's errors for no documents
                return super().transform(docs)
            self._validate_ngram_range()
            pieces = [self._chunk(docs[i : i + _CHUNK_DOCS]) for i in range(0, len(docs), _CHUNK_DOCS)]
            matrix = pieces[0] if len(pieces) == 1 else sp.vstack(pieces, format="csr")
            if self.binary:
                matrix.data.fill(1)
            if self.norm is not None:
                matrix = normalize(matrix, norm=self.norm, copy=False)
            return _align(matrix)

        def _chunk(self, docs: list[Any]) -> Any:
            spans = _Spans()
            ascii_rows = [i for i, doc in enumerate(docs) if type(doc) is str and doc.isascii()]
            runs = None if self.analyzer == "char_wb" else token_runs(self.token_pattern)
            if ascii_rows and (self.analyzer == "char_wb" or runs is not None):
                _ascii_spans(spans, docs, ascii_rows, runs, self.ngram_range)
                others = sorted(set(range(len(docs))) - set(ascii_rows))
            else:
                others = list(range(len(docs)))
            if others:  # sklearn's analyzer cuts their n-grams; the hashing is shared
                _analyzed_spans(spans, docs, others, self.build_analyzer())
            row, h = spans.hashes()
            return _hashed_csr(row, h, len(docs), self.n_features, self.alternate_sign, self.dtype)

    FastHashingVectorizer.__module__ = "commitlake.ml._hashing"
    FastHashingVectorizer.__qualname__ = "FastHashingVectorizer"
    return FastHashingVectorizer


def _align(matrix: Any) -> Any:
    """The sparse type sklearn's own transform returns (sparray or spmatrix, by sklearn's config)."""
    try:
        from sklearn.utils._sparse import _align_api_if_sparse
    except ImportError:  # older scikit-learn: spmatrix
        import scipy.sparse as sp

        return sp.csr_matrix(matrix)
    return _align_api_if_sparse(matrix)


_CLASS: list[type] = []


def fast_hashing_vectorizer() -> type:
    """The FastHashingVectorizer class (built on first use, so importing this module does not import sklearn)."""
    if not _CLASS:
        _CLASS.append(_fast_hashing_class())
    return _CLASS[0]


def __getattr__(name: str) -> Any:
    """`commitlake.ml._hashing.FastHashingVectorizer` resolves for skops, which loads classes by dotted name."""
    if name == "FastHashingVectorizer":
        return fast_hashing_vectorizer()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
