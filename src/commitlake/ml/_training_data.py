"""The rows `train` fits on and the digest of every labelled row, read with memory that does not grow with them.

Past the cap, only the commit ids and labels of every row come to Python (the stratified sample is drawn from
them), then just the sampled rows; the digest of every row is the server's (features.labelled_digest). All
reads share one snapshot (a repeatable-read transaction), so the digest, the sample and the count agree.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from commitlake.ml._features import (
    LABEL_COLUMN,
    count_labelled,
    labelled_digest,
    labelled_keys,
    read_labelled_ids,
    to_frame,
)
from commitlake.ml._sample import cap_rows
from commitlake.warehouse.db import connect

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["TrainingData", "read_training_data"]


@dataclass(frozen=True)
class TrainingData:
    """The rows to fit (all labelled rows, or the capped sample of them) and what describes all of them."""

    sample: pd.DataFrame
    digest: str
    n_labelled: int
    types: list[str]


def read_training_data(database_url: str, max_rows: int) -> TrainingData:
    """Every labelled row when they fit under `max_rows` (0: no cap), else cap_rows' sample of them; the digest
    always covers every labelled row."""
    import pandas as pd
    from psycopg import IsolationLevel

    with connect(database_url) as conn:
        conn.isolation_level = IsolationLevel.REPEATABLE_READ
        total = count_labelled(conn)
        digest = labelled_digest(conn) if total else ""
        if max_rows <= 0 or total <= max_rows:
            frame = read_labelled_ids(conn, None) if total else to_frame([])
            conn.rollback()  # read only
            return TrainingData(frame, digest, len(frame), sorted(frame[LABEL_COLUMN].unique()))
        ids, labels = labelled_keys(conn)
        kept = cap_rows(pd.DataFrame({"commit_id": ids, LABEL_COLUMN: labels}), max_rows)["commit_id"].tolist()
        sample = read_labelled_ids(conn, kept)
        conn.rollback()  # read only
    return TrainingData(sample, digest, len(ids), sorted(set(labels)))
