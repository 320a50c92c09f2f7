"""Train/test split by time.

Why not a random split: commits are not independent samples. Bots write thousands of near-identical subjects
("chore(deps): update dependency x to v1.2.3"), authors land series of similar commits in a day, and a
release commit repeats with every version. A random split puts siblings of every test commit in the training
set and reports a score the model will never see in production, where it always predicts commits newer than
anything it was trained on. Holding out the newest commits measures exactly that, including drift in the
projects' conventions.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["TEST_FRACTION", "time_split"]

TEST_FRACTION = 0.2


def time_split(frame: pd.DataFrame, test_fraction: float = TEST_FRACTION) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(older rows, newest `test_fraction` of rows) of a frame sorted oldest first; both non-empty if len >= 2.

    Sorting is by committed_at then commit_id, so ties at the cut fall the same way on every run.
    """
    ordered = frame.sort_values(["committed_at", "commit_id"], kind="mergesort").reset_index(drop=True)
    n_test = min(max(1, math.ceil(len(ordered) * test_fraction)), len(ordered) - 1)
    cut = len(ordered) - n_test
    return ordered.iloc[:cut].reset_index(drop=True), ordered.iloc[cut:].reset_index(drop=True)
