"""Per-type margin offsets (ml._offsets): the tuning, its cross-fitted evaluation, and the offsets living in the
model so predict, predict_proba and a saved model apply them."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from commitlake.errors import CommitlakeError
from commitlake.ml import _offsets
from commitlake.ml._features import LABEL_COLUMN, MODEL_INPUT_COLUMNS
from commitlake.ml._metrics import macro_f1_batch
from ml_rows import typed_rows

LABELS = ["build", "chore", "docs", "feat", "fix"]


def _biased(n: int = 3000, seed: int = 0, bias: float = 0.6) -> tuple[np.ndarray, np.ndarray]:
    """Noisy margins around each row's true type, with `docs` pulled down by `bias` and `fix` pushed up by it:
    the shape of a model whose balanced weights do not fit repositories it never saw."""
    rng = np.random.default_rng(seed)
    y = rng.choice(len(LABELS), size=n, p=[0.05, 0.3, 0.15, 0.2, 0.3])
    margins = rng.normal(0.0, 0.5, size=(n, len(LABELS))) - 1.0
    margins[np.arange(n), y] += 1.0
    margins[:, LABELS.index("docs")] -= bias
    margins[:, LABELS.index("fix")] += bias
    return margins, y


def test_tuning_undoes_a_systematic_bias() -> None:
    margins, y = _biased()
    offsets = _offsets.tune_offsets(margins, y)
    before = macro_f1_batch(y, _offsets.apply_offsets(margins, np.zeros(len(LABELS)))[None, :], len(LABELS))[0]
    after = macro_f1_batch(y, _offsets.apply_offsets(margins, offsets)[None, :], len(LABELS))[0]
    assert after > before + 0.1
    docs, fix = LABELS.index("docs"), LABELS.index("fix")
    assert offsets[docs] - offsets[fix] == pytest.approx(1.2, abs=0.3)  # the 2 x 0.6 it was shifted by
    unbiased = _offsets.tune_offsets(*_biased(bias=0.0))
    assert abs(unbiased[docs] - unbiased[fix]) <= 0.2  # no bias to undo between them


def test_rows_a_rule_decided_and_types_a_model_never_learned_stay_as_they_are() -> None:
    margins, y = _biased()
    margins[:, 0] = -np.inf  # no fold's model learned `build`
    forced = np.full(len(y), _offsets.NO_RULE)
    forced[:50] = 3
    offsets = _offsets.tune_offsets(margins, y, forced)
    assert offsets[0] == 0.0
    predicted = _offsets.apply_offsets(margins, offsets, forced)
    assert (predicted[:50] == 3).all() and 0 not in set(predicted.tolist())


def test_a_cross_fitted_fold_never_sees_its_own_labels() -> None:
    """Relabelling one fold's rows changes no prediction in that fold: its offsets come from the other folds."""
    margins, y = _biased()
    folds = [np.arange(i, len(y), 3) for i in range(3)]
    predicted = _offsets.cross_fitted_predictions(margins, y, folds)
    relabelled = y.copy()
    relabelled[folds[0]] = (relabelled[folds[0]] + 1) % len(LABELS)
    again = _offsets.cross_fitted_predictions(margins, relabelled, folds)
    assert (again[folds[0]] == predicted[folds[0]]).all()
    assert (again[folds[1]] != predicted[folds[1]]).any() or (again[folds[2]] != predicted[folds[2]]).any()


def test_margins_are_aligned_to_every_label_by_name() -> None:
    out = _offsets.aligned_margins(["docs", "fix"], np.array([[1.0, 2.0]]), LABELS)
    assert out.tolist() == [[-np.inf, -np.inf, 1.0, -np.inf, 2.0]]


def _three_types(per_type: int) -> Any:
    return typed_rows({
        "fix": [f"handle empty input in parser {i}" for i in range(per_type)],
        "feat": [f"add a flag for the cli {i}" for i in range(per_type)],
        "docs": [f"explain the flag in the readme {i}" for i in range(per_type)],
    })  # fmt: skip


def test_the_model_carries_its_offsets_into_predict_predict_proba_a_saved_copy_and_drops_them_on_refit(
    tmp_path: Any,
) -> None:
    import skops.io

    from commitlake.ml._model import SKOPS_TRUSTED_TYPES, build_pipeline, single_threaded

    training = _three_types(8)
    x, y = training[list(MODEL_INPUT_COLUMNS)], training[LABEL_COLUMN].tolist()
    with single_threaded():
        model = build_pipeline(0, "linear").fit(x, y)
        plain = [str(v) for v in model.predict(x)]
        _offsets.set_offsets(model, {"docs": 50.0})  # a type not named keeps 0
        shifted = [str(v) for v in model.predict(x)]
        proba = model.predict_proba(x)
    assert plain == y and shifted == ["docs"] * len(y)
    assert [str(model.classes_[i]) for i in proba.argmax(axis=1)] == shifted
    skops.io.dump(model, tmp_path / "model.skops")
    loaded = skops.io.load(tmp_path / "model.skops", trusted=SKOPS_TRUSTED_TYPES)
    assert list(loaded.predict(x)) == shifted
    with single_threaded():
        assert [str(v) for v in model.fit(x, y).predict(x)] == plain  # a refit's margins are new: no old offsets
    with pytest.raises(CommitlakeError, match="one value per type"):
        model.steps[-1][1].set_margin_offsets([1.0, 2.0])


def test_fit_with_offsets_tunes_on_three_repositories_and_not_on_two() -> None:
    """The benches' model is train's: offsets from out-of-fold margins over the repositories, none under MIN_FOLDS."""
    from commitlake.ml._evaluate import fit_with_offsets

    frame = _three_types(12)
    frame["repo_full_name"] = [f"o/r{i % 3}" for i in range(len(frame))]
    three = fit_with_offsets("linear", {}, frame)
    assert _offsets.MIN_FOLDS == 3 and three.steps[-1][1].margin_offsets_.shape == (3,)
    two = frame[frame["repo_full_name"] != "o/r2"].reset_index(drop=True)
    assert getattr(fit_with_offsets("linear", {}, two).steps[-1][1], "margin_offsets_", None) is None
