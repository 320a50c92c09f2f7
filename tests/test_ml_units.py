"""Units of the classifier that need no database: the grouped evaluation, the baselines, the digest, options."""

from __future__ import annotations

from typing import Any

import pandas as pd
import pytest

from commitlake.errors import ConfigError
from commitlake.ml._baselines import keyword_predict
from commitlake.ml._evaluate import DEFAULT_BUDGET_SECONDS, SEARCH_SPACE, leave_repos_out_predict, relative_cost
from commitlake.ml._features import ID_COLUMNS, LABEL_COLUMN, MODEL_INPUT_COLUMNS, NUMERIC_COLUMNS
from commitlake.ml._sample import DEFAULT_MAX_ROWS, DEFAULT_SEARCH_ROWS, MIN_ROWS_PER_LABEL, cap_rows
from commitlake.ml._workers import default_jobs
from commitlake.stages.train import (
    BUDGET_ENV,
    JOBS_ENV,
    KEEP_VERSIONS_ENV,
    MAX_ROWS_ENV,
    PROMOTION_MARGIN_ENV,
    SEARCH_ROWS_ENV,
    train_options,
)
from ml_rows import typed_rows


def _frame(n_repos: int = 6, per_repo: int = 5) -> pd.DataFrame:
    rows: list[dict[str, Any]] = []
    for r in range(n_repos):
        for i in range(per_repo):
            row: dict[str, Any] = {c: 0.0 for c in NUMERIC_COLUMNS}
            row.update(commit_id=f"o/r{r}@{i}", repo_full_name=f"o/r{r}", sha=str(i), committed_at=pd.Timestamp(i),
                       commit_type=("feat", "fix")[(r + i) % 2], text=f"change {i}", body="", paths="a.ts")  # fmt: skip
            rows.append(row)
    return pd.DataFrame(rows)


def test_leave_repos_out_never_trains_on_the_repository_it_scores() -> None:
    frame = _frame()
    seen: list[tuple[set[str], set[str]]] = []

    def fit_predict(x: pd.DataFrame, y: list[str], xt: pd.DataFrame) -> list[str]:
        repos = set(frame.loc[x.index, "repo_full_name"])
        seen.append((repos, set(frame.loc[xt.index, "repo_full_name"])))
        return ["feat"] * len(xt)

    predicted = leave_repos_out_predict(fit_predict, frame, n_folds=3)
    assert len(predicted) == len(frame) and set(predicted) == {"feat"}
    assert len(seen) == 3
    for train_repos, test_repos in seen:
        assert train_repos and test_repos and not (train_repos & test_repos)
    assert set().union(*(t for _, t in seen)) == set(frame["repo_full_name"])


def test_model_inputs_hold_no_label_and_no_identity() -> None:
    assert LABEL_COLUMN not in MODEL_INPUT_COLUMNS
    assert not set(ID_COLUMNS) & set(MODEL_INPUT_COLUMNS)
    assert not any("type" in c or "scope" in c for c in MODEL_INPUT_COLUMNS)


def test_keyword_rules_read_only_inputs() -> None:
    x = pd.DataFrame(
        {"text": ["bump vite to 5", "fix typo in readme", "add support for x", "whatever", "whatever"],
         "paths": ["package.json", "readme.md", "src/x.ts", ".github/workflows/ci.yml", "docs/a.md"]}
    )  # fmt: skip
    assert keyword_predict(x) == ["chore", "docs", "feat", "ci", "docs"]


def test_train_options_from_the_environment() -> None:
    defaults = {"promotion_margin": 0.02, "keep_versions": 5, "budget_seconds": DEFAULT_BUDGET_SECONDS}
    assert train_options({}) == {
        **defaults,
        "max_rows": DEFAULT_MAX_ROWS,
        "search_rows": DEFAULT_SEARCH_ROWS,
        "jobs": default_jobs(),
    }
    assert 1 <= default_jobs() <= 2
    given = {PROMOTION_MARGIN_ENV: "0.05", KEEP_VERSIONS_ENV: "2", BUDGET_ENV: "60", MAX_ROWS_ENV: "0", JOBS_ENV: "3",
             SEARCH_ROWS_ENV: "8000"}  # fmt: skip
    assert train_options(given) == {
        "promotion_margin": 0.05, "keep_versions": 2, "budget_seconds": 60.0, "max_rows": 0, "search_rows": 8000,
        "jobs": 3,
    }  # fmt: skip
    with pytest.raises(ConfigError, match=rf"^{SEARCH_ROWS_ENV} must be at least 0, got '-1'$"):
        train_options({SEARCH_ROWS_ENV: "-1"})
    with pytest.raises(ConfigError, match=rf"^{JOBS_ENV} must be at least 1, got '0'$"):
        train_options({JOBS_ENV: "0"})
    with pytest.raises(ConfigError, match=rf"^{MAX_ROWS_ENV} must be a int, got '1e5'$"):
        train_options({MAX_ROWS_ENV: "1e5"})
    with pytest.raises(ConfigError, match=rf"^{PROMOTION_MARGIN_ENV} must be a float, got 'lots'$"):
        train_options({PROMOTION_MARGIN_ENV: "lots"})
    with pytest.raises(ConfigError, match=rf"^{KEEP_VERSIONS_ENV} must be at least 0"):
        train_options({KEEP_VERSIONS_ENV: "-1"})


@pytest.mark.parametrize(
    ("cpu_max", "expected"),
    [("max 100000\n", 2), ("100000 100000\n", 1), ("150000 100000\n", 1), ("200000 100000\n", 2),
     ("400000 100000\n", 2), ("50000 100000\n", 1), (None, 2), ("garbage\n", 2)],
)  # fmt: skip
def test_workers_follow_the_pods_cpu_limit(tmp_path: Any, monkeypatch: pytest.MonkeyPatch, cpu_max: str | None,
                                           expected: int) -> None:  # fmt: skip
    """A pod's affinity shows every CPU of the node: the cgroup quota (the CPU limit) must bound the workers."""
    import os

    from commitlake.ml import _workers

    monkeypatch.setattr(os, "sched_getaffinity", lambda _pid: {0, 1, 2, 3})
    path = tmp_path / "cpu.max"
    if cpu_max is not None:
        path.write_text(cpu_max)
    assert _workers.default_jobs(path) == expected


def _labelled(counts: dict[str, int]) -> pd.DataFrame:
    labels = [label for label, n in counts.items() for _ in range(n)]
    return pd.DataFrame({"commit_id": [f"o/r@{i:06d}" for i in range(len(labels))], LABEL_COLUMN: labels})


def test_the_cap_keeps_shares_rare_types_and_order_and_is_deterministic() -> None:
    frame = _labelled({"chore": 30_000, "fix": 15_000, "perf": 700, "style": 80})
    sample = cap_rows(frame, 10_000)
    kept = sample[LABEL_COLUMN].value_counts().to_dict()
    assert kept["chore"] == round(10_000 * 30_000 / len(frame)) and kept["fix"] == round(10_000 * 15_000 / len(frame))
    assert kept["perf"] == MIN_ROWS_PER_LABEL and kept["style"] == 80  # the floor, or every row of a rarer type
    assert sample.index.is_monotonic_increasing  # the frame's order (oldest first) is kept for the time split
    assert sample.equals(cap_rows(frame.copy(), 10_000))
    # a hash of the id decides, not the position: shuffled input keeps the same commits
    shuffled = frame.sample(frac=1.0, random_state=1)
    assert set(cap_rows(shuffled, 10_000)["commit_id"]) == set(sample["commit_id"])
    assert cap_rows(frame, 0) is frame and cap_rows(frame, len(frame)) is frame


def test_keyword_flags_mark_each_rule_in_each_text_column() -> None:
    from commitlake.ml._baselines import KEYWORD_RULES
    from commitlake.ml._model import keyword_flags

    rules = [label for label, _ in KEYWORD_RULES]
    x = pd.DataFrame({"text": ["bump vite to 5", "speed up the parser"], "body": ["this reverts commit hexsha.", ""]})
    flags = keyword_flags(x).toarray()
    assert flags.shape == (2, 2 * len(rules))
    rows, cols = flags.nonzero()
    on = {(r, ("text", "body")[c // len(rules)], rules[c % len(rules)]) for r, c in zip(rows, cols, strict=True)}
    assert on == {(0, "text", "chore"), (1, "text", "perf"), (0, "body", "revert")}


def test_keyword_flags_match_pythons_re_on_real_texts_and_at_word_boundaries() -> None:
    """The flags run on RE2 (pyarrow), the rules are Python `re` patterns: both must flag exactly the same rows,
    on every subject and body of two real histories and where `\\b` is subtle (non-ASCII letters, digits, the
    underscore, newlines, the ends of the text)."""
    import re

    from commitlake.ml._baselines import KEYWORD_RULES
    from commitlake.ml._model import keyword_flags
    from ml_rows import COLUMNS, feature_rows

    rows = feature_rows("pallets__click") + feature_rows("conventional-changelog__commitlint")
    real = pd.DataFrame.from_records(rows, columns=list(COLUMNS))[["text", "body"]].fillna("")
    edges = ["ci", "ñci", "ciñ", "ci_x", "x_ci", "ci2", "2ci", "ci\n", "\nci", "(ci)", "é ci é", "bump\n", "über-deps",
             "deps…", "reverted", "revertsx", "unrevert", "a new", "renew", "moves", "move.", "ci—deps", "ﬁx ci"]
    edge = pd.DataFrame({"text": edges, "body": list(reversed(edges))})
    for x in (real, edge):
        expected = [
            [bool(pattern.search(value)) for value in (t, b) for _label, pattern in KEYWORD_RULES]
            for t, b in zip(x["text"], x["body"], strict=True)
        ]
        assert keyword_flags(x).toarray().astype(bool).tolist() == expected
    assert len(real) > 2000 and keyword_flags(real).nnz > 1000  # real texts, and they do match rules
    ci = KEYWORD_RULES[1][1]
    assert re.search(ci, "(ci)") and not re.search(ci, "ñci")  # the edges include both sides of `\\b`


def test_the_linear_svm_is_liblinears_one_vs_rest_and_the_same_in_one_or_two_processes() -> None:
    """MarginSVC solves each type's binary problem on its own (so the refit can spread them over processes):
    on two real histories it must decide as liblinear's own multi-class fit does (the same per-type weights),
    and give bit-identical coefficients whether one process or two solved the problems."""
    import numpy as np
    from sklearn.svm import LinearSVC

    from commitlake.ml._model import build_pipeline, single_threaded
    from commitlake.ml._workers import parallel_fits
    from ml_rows import COLUMNS, feature_rows

    rows = feature_rows("conventional-changelog__commitlint") + feature_rows("ngrx__platform")
    frame = pd.DataFrame.from_records(rows, columns=list(COLUMNS))
    frame = frame[frame[LABEL_COLUMN].notna()].fillna({c: 0.0 for c in NUMERIC_COLUMNS}).reset_index(drop=True)
    y = frame[LABEL_COLUMN].tolist()
    pipeline = build_pipeline(0, "linear")
    svm = pipeline.named_steps["classifier"]
    with single_threaded():
        x = pipeline.named_steps["features"].fit_transform(frame[list(MODEL_INPUT_COLUMNS)], y)
        one = type(svm)(**svm.get_params()).fit(x, y)
        with parallel_fits(2):
            two = type(svm)(**svm.get_params()).fit(x, y)
        own = LinearSVC(**svm.get_params()).fit(x, y)
    assert len(set(y)) >= 8 and len(y) > 3000
    assert np.array_equal(one.coef_, two.coef_) and np.array_equal(one.intercept_, two.intercept_)
    assert list(one.classes_) == list(own.classes_) and one.coef_.shape == own.coef_.shape
    agree = float(np.mean(one.predict(x) == own.predict(x)))
    assert agree >= 0.995, f"per-type problems decide unlike liblinear's own one-vs-rest on {1 - agree:.2%} of rows"


def test_path_rules_stay_linear_on_long_file_lists() -> None:
    """Every path must match, checked path by path. One regex over the whole list backtracked exponentially
    when a path fits both docs alternatives (`docs/x.md`) and the last path fits none: 18 such paths took
    0.14 s, each further one doubled it (the 38k training commits spent 92 s in the rules; now 0.7 s)."""
    import time

    ci = " ".join(f".github/workflows/job-{i}.yml" for i in range(100))
    docs = " ".join(f"docs/page-{i}.md" for i in range(40))
    x = pd.DataFrame({"text": ["whatever"] * 4, "paths": [ci, ci + " src/a.ts", docs, docs + " src/a.ts"]})
    started = time.monotonic()
    assert keyword_predict(x) == ["ci", "fix", "docs", "fix"]
    assert time.monotonic() - started < 1.0  # the old rule: about 2**22 times 0.14 s on the last row


@pytest.mark.parametrize(
    ("subject", "quoted"),
    [
        ("fix(logger): truncate long lines (#16581) (#17729)", True),
        ('"feat: add a flag" (#12)', True),
        ("perf!: drop the cache", True),
        ("build(deps-dev): bump x", True),
        ("fix the logger", False),
        ("fixes: the logger", False),
        ("feature: a new flag", False),
        ("see fix(logger): below", False),
        ("fix:no space", False),
    ],
)
def test_the_quoted_header_pattern_matches_only_a_leading_conventional_header(subject: str, quoted: bool) -> None:
    import re

    from commitlake.ml._model import quoted_header_pattern

    pattern = quoted_header_pattern(["fix", "feat", "perf", "build", "revert"])
    assert bool(re.match(pattern, subject)) is quoted


def test_a_subject_quoting_a_header_is_a_revert_in_predict_predict_proba_and_the_saved_model(tmp_path: Any) -> None:
    """The precedence rule lives in the Pipeline: predict, predict_proba (revert at 1.0) and a skops round trip
    agree, other rows keep the classifier's answer, and a model that never saw a revert never says one."""
    import numpy as np
    import skops.io

    from commitlake.ml._model import SKOPS_TRUSTED_TYPES, build_pipeline, single_threaded

    training = typed_rows({
        "fix": [f"handle empty input in parser {i}" for i in range(8)],
        "feat": [f"add a flag for the cli {i}" for i in range(8)],
        "revert": [f"undo the parser change {i}" for i in range(4)],
    })  # fmt: skip
    cols = list(MODEL_INPUT_COLUMNS)
    scoring = typed_rows(
        {"fix": ["fix(parser): handle empty input", '"feat: add a flag" (#12)', "handle empty input"]}
    )
    with single_threaded():
        model = build_pipeline(0, "linear").fit(training[cols], training[LABEL_COLUMN].tolist())
        predicted = [str(v) for v in model.predict(scoring[cols])]
        proba = model.predict_proba(scoring[cols])
        plain = [str(v) for v in model.steps[-1][1].predict(model.steps[0][1].transform(scoring[cols]))]
    classes = [str(c) for c in model.classes_]
    assert predicted[:2] == ["revert", "revert"]
    assert predicted[2] == plain[2] == "fix"  # not quoted: the classifier's own answer
    assert plain[:2] != ["revert", "revert"]  # the rule, not the classifier, said revert
    assert proba[0].tolist() == proba[1].tolist() == [1.0 if c == "revert" else 0.0 for c in classes]
    assert [classes[i] for i in np.argmax(proba, axis=1)] == predicted
    skops.io.dump(model, tmp_path / "model.skops")
    loaded = skops.io.load(tmp_path / "model.skops", trusted=SKOPS_TRUSTED_TYPES)
    assert type(loaded).__name__ == "CommitTypePipeline" and list(loaded.predict(scoring[cols])) == predicted

    no_revert = training[training[LABEL_COLUMN] != "revert"]
    with single_threaded():
        other = build_pipeline(0, "linear").fit(no_revert[cols], no_revert[LABEL_COLUMN].tolist())
        assert "revert" not in {str(v) for v in other.predict(scoring[cols])}


def test_scoring_in_worker_processes_gives_the_same_numbers_in_order_and_reads_ahead_only_a_little() -> None:
    """predict hands batches to worker processes: every batch must come back in its place with the numbers the
    model gives in this process, and the batches must be pulled from the database cursor only a few ahead."""
    import numpy as np

    from commitlake.ml._model import build_pipeline, single_threaded
    from commitlake.ml._scoring import score_batches

    training = typed_rows({
        "fix": [f"handle empty input in parser {i}" for i in range(12)],
        "feat": [f"add a flag for the cli {i}" for i in range(12)],
        "docs": [f"explain the cli flags in the readme {i}" for i in range(12)],
    })  # fmt: skip
    with single_threaded():
        model = build_pipeline(0, "linear").fit(training[list(MODEL_INPUT_COLUMNS)], training[LABEL_COLUMN].tolist())
    batches = [training.iloc[i : i + 4] for i in range(0, len(training), 4)]
    pulled: list[int] = []

    def cursor() -> Any:
        for i, batch in enumerate(batches):
            pulled.append(i)
            yield batch

    inline = list(score_batches(model, iter(batches), 1))
    scored = score_batches(model, cursor(), 2)
    first = next(scored)
    assert len(pulled) <= 4 < len(batches)  # two being scored, one queued, one waiting for its turn
    in_workers = [first, *scored]
    assert [b.index[0] for b, _p in in_workers] == [b.index[0] for b, _p in inline] == [b.index[0] for b in batches]
    assert all(np.array_equal(p, q) for (_b, p), (_c, q) in zip(in_workers, inline, strict=True))
    assert all(p.shape == (len(b), 3) for b, p in in_workers)


_KILLED_SCORER = """
import sys, time
import pandas as pd
from commitlake.ml._features import NUMERIC_COLUMNS, MODEL_INPUT_COLUMNS
from commitlake.ml._model import build_pipeline
from commitlake.ml._scoring import score_batches
rows = [{**{c: 0.0 for c in NUMERIC_COLUMNS}, "text": f"{w} {i}", "body": "", "paths": "src/a.ts", "t": w}
        for w in ("fix", "feat") for i in range(10)]
frame = pd.DataFrame(rows)
model = build_pipeline(0, "linear").fit(frame[list(MODEL_INPUT_COLUMNS)], frame["t"].tolist())

def batches():
    while True:
        time.sleep(0.5)
        yield frame

for _ in score_batches(model, batches(), 2):
    pass
"""


def test_a_killed_predict_leaves_no_scoring_workers() -> None:
    """kill -9 of predict while its workers score: they die with it instead of living on orphaned."""
    import subprocess
    import sys

    from worker_kill import kill_and_find_orphans

    proc = subprocess.Popen([sys.executable, "-c", _KILLED_SCORER], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    assert kill_and_find_orphans(proc, settle=2) == [], "orphaned scoring workers"


def test_a_setting_is_priced_by_its_trees_and_rounds() -> None:
    """The search starts a setting only when its price fits the budget left: a forest of 150 trees costs what
    150/80 default forests do, 60 boosting rounds twice 30, a linear model's C nothing more."""
    assert relative_cost("random_forest", {"min_samples_leaf": 1, "n_estimators": 150}) == pytest.approx(150 / 80)
    assert relative_cost("hist_gb", {"learning_rate": 0.15, "max_iter": 60}) == pytest.approx(2.0)
    assert relative_cost("linear", {"C": 0.3}) == 1.0
    assert relative_cost("random_forest", {"n_estimators": 40}) == pytest.approx(0.5)
    priced = {name: [relative_cost(name, s) for s in settings] for name, settings in SEARCH_SPACE.items()}
    assert priced == {"linear": [1.0, 1.0], "random_forest": [150 / 80], "hist_gb": [2.0]}


def test_the_champion_comparison_says_why_there_is_none_and_otherwise_logs_the_gain_and_its_interval() -> None:
    from commitlake.ml._train import _compare_champion

    labels, y = ["a", "b"], ["a", "b"] * 50
    metrics = {"macro_f1": 1.0}
    assert _compare_champion(metrics, y, y, None, labels, "no champion yet") == (None, "no champion yet")
    assert metrics == {"macro_f1": 1.0}
    champion_f1, text = _compare_champion(metrics, y, y, ["a"] * len(y), labels, "")
    assert champion_f1 == metrics["champion_macro_f1"] == pytest.approx(1 / 3)
    assert 0 < metrics["gain_over_champion_ci95_low"] <= 2 / 3 <= metrics["gain_over_champion_ci95_high"] <= 1
    assert text.startswith("gain +0.6667, paired 95 % bootstrap interval +0.")
