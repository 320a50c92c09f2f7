"""The rows `train` fits on and the digest of every labelled row, read with memory that does not grow with them.

Why two passes past the cap: the digest must cover every labelled row (a changed feature anywhere is new
training data), but only the capped sample is ever fitted. Reading every row into one DataFrame held ~1.6 GB
at 1M commits (the bodies); streaming them through a server-side cursor holds one batch, plus the commit ids
and labels the stratified sample is drawn from, then fetches just the sampled rows. Both passes read one
snapshot (a repeatable-read transaction), and the digest and the sample are byte-for-byte those of reading
everything at once (tests/test_ml.py compares them).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import TYPE_CHECKING

from commitlake.ml._features import (
    LABEL_COLUMN,
    MODEL_INPUT_COLUMNS,
    count_labelled,
    iter_labelled,
    read_labelled_ids,
    to_frame,
)
from commitlake.ml._sample import cap_rows
from commitlake.warehouse.db import connect

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

__all__ = ["TrainingData", "data_digest", "read_training_data"]

#: Rows per fetch of the streaming pass (~20 MB of features with their bodies).
BATCH_ROWS = 20_000
_DIGEST_COLUMNS = ["commit_id", LABEL_COLUMN, *MODEL_INPUT_COLUMNS]


@dataclass(frozen=True)
class TrainingData:
    """The rows to fit (all labelled rows, or the capped sample of them) and what describes all of them."""

    sample: pd.DataFrame
    digest: str
    n_labelled: int
    types: list[str]


def _row_hashes(frame: pd.DataFrame) -> np.ndarray:
    """One 64-bit hash per row (ids, label, every model input): a row's hash never depends on the other rows."""
    import pandas as pd

    return pd.util.hash_pandas_object(frame[_DIGEST_COLUMNS], index=False).to_numpy()


def data_digest(frame: pd.DataFrame) -> str:
    """A fingerprint of the training data: ids, labels and every model input, in row order.

    Inputs too, not just ids and labels: a changed feature definition (a new dbt rule for test files) is new
    training data even when the commits are the same.
    """
    return hashlib.sha256(_row_hashes(frame).tobytes()).hexdigest()[:16]


def read_training_data(database_url: str, max_rows: int, batch_rows: int = BATCH_ROWS) -> TrainingData:
    """Every labelled row when they fit under `max_rows` (0: no cap), else cap_rows' sample of them; the digest
    always covers every labelled row."""
    import pandas as pd
    from psycopg import IsolationLevel

    with connect(database_url) as conn:
        conn.isolation_level = IsolationLevel.REPEATABLE_READ
        total = count_labelled(conn)
        if max_rows <= 0 or total <= max_rows:
            frame = to_frame([]) if total == 0 else pd.concat(list(iter_labelled(conn, batch_rows)), ignore_index=True)
            return TrainingData(frame, data_digest(frame), len(frame), sorted(frame[LABEL_COLUMN].unique()))
        hasher = hashlib.sha256()
        ids: list[str] = []
        labels: list[str] = []
        for batch in iter_labelled(conn, batch_rows):
            hasher.update(_row_hashes(batch).tobytes())
            ids.extend(batch["commit_id"])
            labels.extend(batch[LABEL_COLUMN])
        keys = pd.DataFrame({"commit_id": ids, LABEL_COLUMN: labels})
        kept = cap_rows(keys, max_rows)["commit_id"].tolist()
        sample = read_labelled_ids(conn, kept)
        conn.rollback()  # read only
    return TrainingData(sample, hasher.hexdigest()[:16], len(keys), sorted(set(labels)))
