"""Scoring batches in worker processes while the caller reads the next rows and writes the last ones.

Why: at a million commits predict spent half its time hashing texts, on one core while the other idled, and
the reading and writing waited for it. Each worker gets the model once (when it starts), then only batches;
batches come back in order, at most a few in flight, so memory stays flat. The caller's database connection
never leaves its thread: the batches are read by the caller and handed over as data.
"""

from __future__ import annotations

import os
import pickle
from collections import deque
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any

from commitlake.lifeline import die_with_parent
from commitlake.ml._features import MODEL_INPUT_COLUMNS
from commitlake.ml._model import single_threaded

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

__all__ = ["score_batches"]

_pipeline: Any = None  # the model, in each worker (set by _start_worker)


def _probabilities(pipeline: Any, batch: pd.DataFrame) -> np.ndarray:
    with single_threaded():
        return pipeline.predict_proba(batch[list(MODEL_INPUT_COLUMNS)])


def _start_worker(parent: int, model: bytes) -> None:
    global _pipeline
    die_with_parent(parent)
    _pipeline = pickle.loads(model)  # our own model, pickled by our own parent process a moment ago


def _score_in_worker(batch: pd.DataFrame) -> np.ndarray:
    return _probabilities(_pipeline, batch)


def _ready() -> int:
    return os.getpid()


def score_batches(pipeline: Any, batches: Iterable[pd.DataFrame], jobs: int) -> Iterator[tuple[pd.DataFrame, Any]]:
    """(batch, predict_proba of it) for each batch, in order: in `jobs` worker processes when > 1, else in this
    process. The same numbers either way (each batch is scored single-threaded). The workers start before the
    first batch is read, so their start-up overlaps the database's query."""
    if jobs <= 1:
        for batch in batches:
            yield batch, _probabilities(pipeline, batch)
        return
    from joblib.externals.loky import ProcessPoolExecutor

    model = pickle.dumps(pipeline, protocol=pickle.HIGHEST_PROTOCOL)
    executor = ProcessPoolExecutor(max_workers=jobs, initializer=_start_worker, initargs=(os.getpid(), model))
    pending: deque[tuple[pd.DataFrame, Any]] = deque()
    try:
        for _ in range(jobs):
            executor.submit(_ready)  # starts every worker now
        for batch in batches:
            while len(pending) > jobs:  # one batch queued beyond one being scored per worker
                done, future = pending.popleft()
                yield done, future.result()
            pending.append((batch, executor.submit(_score_in_worker, batch)))
        while pending:
            done, future = pending.popleft()
            yield done, future.result()
    finally:
        for _batch, future in pending:
            future.cancel()
        executor.shutdown(wait=True, kill_workers=True)
