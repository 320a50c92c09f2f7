"""The scores every figure of the classifier rests on (ml._metrics): macro-F1 vectorised over many prediction
rows, and its bootstrap interval."""

from __future__ import annotations

import numpy as np
import pytest

from commitlake.ml._metrics import macro_f1_batch, macro_f1_interval, score

LABELS = ["build", "chore", "docs", "feat", "fix"]


def test_the_vectorised_macro_f1_is_metrics_score_for_every_row_of_predictions() -> None:
    rng = np.random.default_rng(1)
    y = rng.integers(0, 4, size=500)  # the fifth label is neither true nor predicted: it counts 0, as in score
    predictions = np.vstack([y, rng.integers(0, 4, size=500), np.zeros(500, dtype=int), np.where(y == 1, 2, y)])
    batch = macro_f1_batch(y, predictions, len(LABELS))
    expected = [score([LABELS[i] for i in y], [LABELS[i] for i in row], LABELS)["macro_f1"] for row in predictions]
    assert batch.tolist() == pytest.approx(expected, abs=1e-12)
    truths = np.vstack([rng.permutation(y) for _ in predictions])  # one row of truths per row of predictions
    paired = [
        score([LABELS[i] for i in t], [LABELS[i] for i in p], LABELS)["macro_f1"]
        for t, p in zip(truths, predictions, strict=True)
    ]
    assert macro_f1_batch(truths, predictions, len(LABELS)).tolist() == pytest.approx(paired, abs=1e-12)


def _noisy(n: int, seed: int = 0, right: float = 0.7) -> tuple[list[str], list[str]]:
    """n truths over LABELS (the last one rare) and predictions right with probability `right`."""
    rng = np.random.default_rng(seed)
    y = rng.choice(len(LABELS), size=n, p=[0.3, 0.3, 0.2, 0.15, 0.05])
    p = np.where(rng.random(n) < right, y, rng.integers(0, len(LABELS), size=n))
    return [LABELS[i] for i in y], [LABELS[i] for i in p]


def test_the_bootstrap_interval_holds_the_score_narrows_with_more_commits_and_repeats_for_a_seed() -> None:
    y, p = _noisy(600)
    point = score(y, p, LABELS)["macro_f1"]
    low, high = macro_f1_interval(y, p, LABELS)
    assert low < point < high
    assert 0.05 < high - low < 0.2  # 600 commits with a 5 % type: a few points either way
    assert macro_f1_interval(y, p, LABELS) == (low, high)
    other = macro_f1_interval(y, p, LABELS, seed=1)
    assert other != (low, high) and other == pytest.approx((low, high), abs=0.01)
    big_low, big_high = macro_f1_interval(*_noisy(6000), LABELS)
    assert big_high - big_low < (high - low) / 2  # ~ 1 / sqrt(10) of it
    narrow_low, narrow_high = macro_f1_interval(y, p, LABELS, level=0.5)
    assert low < narrow_low < narrow_high < high


def test_the_bootstrap_interval_of_a_perfect_model_is_one_and_bad_input_is_refused() -> None:
    y, _ = _noisy(300)
    assert macro_f1_interval(y, y, LABELS, resamples=120) == (1.0, 1.0)
    with pytest.raises(ValueError, match="as many predictions as truths"):
        macro_f1_interval(y, y[:-1], LABELS)
    with pytest.raises(ValueError, match="as many predictions as truths"):
        macro_f1_interval([], [], LABELS)


def test_the_paired_gain_interval_is_zero_for_one_model_and_narrower_than_two_separate_intervals() -> None:
    y, p = _noisy(1500)
    assert macro_f1_interval(y, p, LABELS, baseline=p, resamples=200) == (0.0, 0.0)
    rng = np.random.default_rng(3)
    better = [t if rng.random() < 0.3 else q for t, q in zip(y, p, strict=True)]  # right on 30 % more of the rest
    gain = score(y, better, LABELS)["macro_f1"] - score(y, p, LABELS)["macro_f1"]
    low, high = macro_f1_interval(y, better, LABELS, baseline=p)
    assert 0 < low < gain < high
    separate = [macro_f1_interval(y, q, LABELS) for q in (better, p)]
    assert high - low < min(h - lo for lo, h in separate)  # the same commits err for both: the noise cancels
    assert macro_f1_interval(y, p, LABELS, baseline=better) == pytest.approx((-high, -low), abs=1e-9)
    with pytest.raises(ValueError, match="as many predictions as truths"):
        macro_f1_interval(y, p, LABELS, baseline=p[:-1])


def test_a_type_outside_the_labels_counts_as_a_miss_as_in_score() -> None:
    """An older champion may predict a type today's labelled data lacks: a miss, as score counts it, not a crash."""
    y, p = _noisy(400)
    stale = ["perf" if i % 7 == 0 else v for i, v in enumerate(p)]  # "perf" is not among LABELS
    point = score(y, stale, LABELS)["macro_f1"]
    low, high = macro_f1_interval(y, stale, LABELS)
    assert low < point < high
    full = macro_f1_interval(y, p, LABELS, baseline=stale)
    assert 0 < full[0] < score(y, p, LABELS)["macro_f1"] - point < full[1]
