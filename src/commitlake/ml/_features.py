"""Reading analytics.ml_commit_features into the frame the model takes.

One function shapes rows for both training and scoring, so the two can never disagree on column order, types
or null handling: numbers arrive as float64 with unknowns as 0 (the contract already says 0 for unknown file
counts; `files_changed` may be null when the payload had no file list), text as str ('' for null).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

from commitlake.errors import WarehouseError
from commitlake.warehouse.db import connect

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "BODY_COLUMN",
    "FEATURE_TABLE",
    "ID_COLUMNS",
    "LABEL_COLUMN",
    "MODEL_INPUT_COLUMNS",
    "NUMERIC_COLUMNS",
    "PATHS_COLUMN",
    "TEXT_COLUMN",
    "TEXT_COLUMNS",
    "count_labelled",
    "count_unlabelled",
    "iter_unlabelled",
    "labelled_digest",
    "labelled_keys",
    "read_labelled",
    "read_labelled_ids",
    "to_frame",
]

FEATURE_TABLE = "analytics.ml_commit_features"
LABEL_COLUMN = "commit_type"
#: The subject with its `type(scope)!:` prefix removed (dbt strips it, so the label cannot reach the input).
TEXT_COLUMN = "text"
#: The message body without header lines, trailers or hashes (dbt's cc_body): "This reverts commit", "Bumps x from".
BODY_COLUMN = "body"
#: The changed paths, lowercased and space-separated (at most 100): extensions, directories, file names.
PATHS_COLUMN = "paths"
TEXT_COLUMNS: tuple[str, ...] = (TEXT_COLUMN, BODY_COLUMN, PATHS_COLUMN)
#: Order matters: `_model.derive_numeric` reads these by position.
NUMERIC_COLUMNS: tuple[str, ...] = (
    "is_bot",
    "has_body",
    "message_length",
    "files_changed",
    "additions",
    "deletions",
    "n_test_files",
    "n_doc_files",
    "n_ci_files",
    "n_build_files",
    "n_src_files",
    "commit_hour",
    "commit_dow",
    "author_prior_commits",
)
MODEL_INPUT_COLUMNS: tuple[str, ...] = (*TEXT_COLUMNS, *NUMERIC_COLUMNS)
ID_COLUMNS: tuple[str, ...] = ("commit_id", "repo_full_name", "sha", "committed_at")

_BOOLEAN_COLUMNS = frozenset({"is_bot", "has_body"})
_NUMERIC_SQL = ",\n    ".join(
    f"coalesce({c}{'::int' if c in _BOOLEAN_COLUMNS else ''}::float8, 0) as {c}" for c in NUMERIC_COLUMNS
)
_TEXT_SQL = ",\n    ".join(f"coalesce({c}, '') as {c}" for c in TEXT_COLUMNS)
_SELECT = f"""
select commit_id, repo_full_name, sha, committed_at, {LABEL_COLUMN},
    {_TEXT_SQL},
    {_NUMERIC_SQL}
from {FEATURE_TABLE}
"""
_COLUMNS: tuple[str, ...] = (*ID_COLUMNS, LABEL_COLUMN, *MODEL_INPUT_COLUMNS)


def to_frame(rows: Sequence[Sequence[Any]]) -> pd.DataFrame:
    """Rows in `_SELECT` order → a typed DataFrame (the model's input columns plus ids and label)."""
    import pandas as pd

    frame = pd.DataFrame.from_records(list(rows), columns=list(_COLUMNS))
    for column in TEXT_COLUMNS:
        frame[column] = frame[column].astype(str)
    for column in NUMERIC_COLUMNS:
        frame[column] = frame[column].astype("float64")
    return frame


_LABELLED = "where commit_type is not null"
#: Oldest first, ties broken by commit_id, so the split (and the sample) are deterministic.
_LABELLED_ORDER = "order by committed_at, commit_id"


def read_labelled(database_url: str) -> pd.DataFrame:
    """Every labelled row, oldest first (ties broken by commit_id so the split is deterministic)."""
    with connect(database_url) as conn:
        return read_labelled_ids(conn, None)


def count_labelled(conn: Any) -> int:
    """How many labelled rows the feature table holds."""
    row = _run(conn, f"select count(*) from {FEATURE_TABLE} {_LABELLED}").fetchone()
    return int(row[0])


def count_unlabelled(conn: Any) -> int:
    """Rows predict will score."""
    row = _run(conn, f"select count(*) from {FEATURE_TABLE} where {LABEL_COLUMN} is null").fetchone()
    return int(row[0]) if row else 0


def labelled_keys(conn: Any) -> tuple[list[str], list[str]]:
    """(commit ids, their labels) of every labelled row, in read_labelled's order: what cap_rows draws from."""
    rows = _run(conn, f"select commit_id, {LABEL_COLUMN} from {FEATURE_TABLE} {_LABELLED} {_LABELLED_ORDER}").fetchall()
    return [r[0] for r in rows], [r[1] for r in rows]


#: Row by row in read_labelled's order: ids, label and every model input, exactly as the model reads them.
_DIGEST_SQL = f"""
select md5(string_agg(md5(row(commit_id, {LABEL_COLUMN}, {", ".join(MODEL_INPUT_COLUMNS)})::text), ''
                      order by committed_at, commit_id))
from ({_SELECT} {_LABELLED}) as labelled
"""


def labelled_digest(conn: Any) -> str:
    """A fingerprint of the training data: ids, labels and every model input of every labelled row, in order.

    Inputs too, not just ids and labels: a changed feature definition (a new dbt rule for test files) is new
    training data even when the commits are the same. Computed by the server: at 1M commits streaming every
    row (bodies included) to Python only to hash it took 25 s of a 250 s training run.
    """
    row = _run(conn, _DIGEST_SQL).fetchone()
    return str(row[0] or "")[:16]


def read_labelled_ids(conn: Any, commit_ids: Sequence[str] | None) -> pd.DataFrame:
    """The labelled rows of these commits (None: all of them), in read_labelled's order."""
    if commit_ids is None:
        return _fetch(conn, f"{_SELECT} {_LABELLED} {_LABELLED_ORDER}")
    return _fetch(conn, f"{_SELECT} {_LABELLED} and commit_id = any(%s) {_LABELLED_ORDER}", [list(commit_ids)])


def _fetch(conn: Any, sql: str, params: Sequence[Any] | None = None) -> pd.DataFrame:
    return to_frame(_run(conn, sql, params).fetchall())


def _run(conn_or_cursor: Any, sql: str, params: Sequence[Any] | None = None) -> Any:
    try:
        return conn_or_cursor.execute(sql, params)
    except Exception as exc:  # psycopg.Error, but keep psycopg out of the signature
        raise WarehouseError(f"cannot read {FEATURE_TABLE}: {_first_line(exc)}") from exc


def iter_unlabelled(conn: Any, batch_size: int) -> Iterator[pd.DataFrame]:
    """Unlabelled rows in batches through a server-side cursor, so memory stays flat at any table size."""
    with conn.cursor(name="commitlake_ml_unlabelled") as cursor:
        _run(cursor, f"{_SELECT} where commit_type is null order by commit_id")
        while rows := cursor.fetchmany(batch_size):
            yield to_frame(rows)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
