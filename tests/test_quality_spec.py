"""The quality YAML: loaded strictly (file and line in every error), the commit types read from the one dbt var,
and the median/MAD judgement of the anomaly monitors. No database: these are about the specification."""

from __future__ import annotations

import shutil
from dataclasses import replace
from pathlib import Path

import pytest
import yaml

from commitlake.contracts import commit_types
from commitlake.errors import ConfigError
from commitlake.quality import LAYERS, Monitor, load_spec
from commitlake.quality._anomaly import judge
from commitlake.quality._gx import verify_checks

ROOT = Path(__file__).resolve().parents[1]
DBT = ROOT / "dbt"


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A copy of the real dbt project's quality folder and dbt_project.yml, to break."""
    target = tmp_path / "dbt"
    shutil.copytree(DBT / "quality", target / "quality")
    shutil.copyfile(DBT / "dbt_project.yml", target / "dbt_project.yml")
    return target


def _replace(path: Path, old: str, new: str) -> int:
    """Replace the first `old`; return the 1-based line it was on."""
    text = path.read_text()
    assert old in text, old
    line = text[: text.index(old)].count("\n") + 1
    path.write_text(text.replace(old, new, 1))
    return line


def test_the_real_spec_covers_every_layer_and_gx_accepts_it() -> None:
    spec = load_spec(DBT / "quality")

    assert {c.layer for c in spec.checks} == set(LAYERS)
    assert [c.layer for c in spec.checks] == sorted((c.layer for c in spec.checks), key=LAYERS.index)
    assert {c.severity for c in spec.checks} == {"critical", "warning"}
    assert {m.metric for m in spec.monitors} == {"volume", "freshness", "null_rate", "distinct_count"}
    verify_checks(spec.checks)  # every expectation exists in GX 1.x and takes these arguments
    in_set = [c for c in spec.checks if c.expectation == "expect_column_values_to_be_in_set"]
    assert in_set and all(c.kwargs["value_set"] == list(commit_types(DBT)) for c in in_set)


def test_commit_types_are_the_dbt_var_and_dbt_reads_it() -> None:
    project = yaml.safe_load((DBT / "dbt_project.yml").read_text())
    assert commit_types(DBT) == tuple(project["vars"]["commitlake_commit_types"])
    assert "var('commitlake_commit_types')" in (DBT / "macros" / "conventional_commits.sql").read_text()
    for model in ("fct_commits", "ml_commit_features"):
        assert "var('commitlake_commit_types')" in (DBT / "models" / "marts" / f"{model}.yml").read_text()


def test_commit_types_must_be_a_list(tmp_path: Path) -> None:
    (tmp_path / "dbt_project.yml").write_text("vars: {commitlake_commit_types: feat}\n")
    with pytest.raises(ConfigError, match=r"dbt_project.yml: vars.commitlake_commit_types must be"):
        commit_types(tmp_path)


@pytest.mark.parametrize(
    ("file", "old", "new", "reason"),
    [
        (
            "raw/github_commits.yml",
            "column: sha, severity: critical",
            "column: sha, severity: critcal",
            "Invalid enum value 'critcal'",
        ),
        (
            "raw/github_commits.yml",
            "column: sha, severity: critical",
            "column: sha, sevrity: critical",
            "unknown field `sevrity`",
        ),
        (
            "staging/stg_github__commits.yml",
            "column: additions, severity: critical,",
            "column: additions, severity: critical, mostly: 0.9,",
            "unknown field `mostly`",
        ),
        ("features/ml_commit_features.yml", "layer: features", "layer: feature", "Invalid enum value 'feature'"),
        (
            "raw/github_commits.yml",
            "max_value: {param: latest_sane_time}",
            "max_value: {param: latest_sane_tme}",
            "unknown parameter 'latest_sane_tme'",
        ),
        (
            "analytics/fct_commits.yml",
            "{var: commitlake_commit_types}",
            "{var: commit_types}",
            "dbt_project.yml has no var 'commit_types'",
        ),
        (
            "analytics/dim_repositories.yml",
            "table: analytics.dim_repositories",
            "table: analytics.dim_repos",
            "one file per table",
        ),
        ("raw/github_commits.yml", "{metric: volume, by: repo_full_name,", "{metric: volume,", "needs `by`"),
    ],
)
def test_a_typo_is_an_error_naming_file_and_line(project: Path, file: str, old: str, new: str, reason: str) -> None:
    line = _replace(project / "quality" / file, old, new)

    with pytest.raises(ConfigError) as caught:
        load_spec(project / "quality")

    message = str(caught.value)
    assert message.startswith(f"{project / 'quality' / file}:{line}: "), message
    assert reason in message
    assert "\n" not in message


def test_a_misspelt_expectation_or_argument_names_file_and_line(project: Path) -> None:
    path = project / "quality" / "staging" / "stg_github__commits.yml"
    line = _replace(path, "expect_column_values_to_be_unique", "expect_column_values_to_be_uniq")
    with pytest.raises(
        ConfigError, match=rf"stg_github__commits.yml:{line}: expect_column_values_to_be_uniq: .*not found"
    ):
        verify_checks(load_spec(project / "quality").checks)

    _replace(path, "expect_column_values_to_be_uniq", "expect_column_values_to_be_unique")
    line = _replace(path, "with: {min_value: 0}}", "with: {min_valu: 0}}")
    with pytest.raises(
        ConfigError, match=rf"stg_github__commits.yml:{line}: expect_column_values_to_be_between: .*min_valu"
    ):
        verify_checks(load_spec(project / "quality").checks)


def test_broken_yaml_names_the_line(project: Path) -> None:
    path = project / "quality" / "raw" / "rejected_records.yml"
    line = _replace(path, "layer: raw", "layer: [raw")
    with pytest.raises(ConfigError, match=rf"rejected_records.yml:{line + 1}: not valid YAML"):
        load_spec(project / "quality")


def test_thresholds_are_tunable_without_a_release(project: Path) -> None:
    _replace(project / "quality" / "raw" / "github_commits.yml", "mostly: 0.999", "mostly: 0.95")
    spec = load_spec(project / "quality")
    (after_1990,) = [c for c in spec.checks if c.label == "committed_at_after_1990"]
    assert after_1990.kwargs["mostly"] == 0.95
    assert after_1990.threshold == {"min_value": after_1990.kwargs["min_value"], "mostly": 0.95}


VOLUME = Monitor(
    table="raw.github_commits",
    layer="raw",
    metric="volume",
    column=None,
    by="repo_full_name",
    threshold_mads=5,
    min_change=20,
    min_relative_change=0.5,
    min_history=5,
)
NULLS = Monitor(
    table="analytics.fct_commits",
    layer="analytics",
    metric="null_rate",
    column="commit_type",
    by=None,
    threshold_mads=5,
    min_change=0.05,
    min_relative_change=0.5,
    min_history=5,
)


def test_cold_start_is_learning_never_a_failure() -> None:
    observed, threshold, ok = judge(VOLUME, 10_000.0, [25.0, 30.0, 20.0, 28.0])
    assert ok and observed["status"] == "learning" and observed["history"] == 4
    assert threshold == {"min_history": 5}


def test_median_and_mad_flag_a_ten_fold_spike_and_not_a_busy_week() -> None:
    weeks = [23.0, 24.0, 33.0, 17.0, 16.0, 23.0, 45.0, 28.0]  # real vite weeks
    busy_observed, _, busy_ok = judge(VOLUME, 53.0, weeks)
    assert busy_ok and busy_observed["status"] == "ok"

    observed, threshold, ok = judge(VOLUME, 240.0, weeks)
    assert not ok and observed["status"] == "anomaly"
    assert observed["median"] == 23.5 and threshold["high"] < 240
    assert "low" not in threshold  # volume alarms upwards only: a quiet week is normal
    assert judge(VOLUME, 0.0, weeks)[2]


def test_steady_history_uses_the_floor_and_drift_is_two_sided() -> None:
    steady = [0.2] * 10  # MAD 0: without the floors every wobble would alarm
    assert judge(NULLS, 0.22, steady)[2]
    assert not judge(NULLS, 0.9, steady)[2]
    tight = replace(NULLS, threshold_mads=3, min_change=0.02, min_relative_change=0.1)
    assert judge(tight, 0.22, steady)[2]
    assert not judge(tight, 0.0, steady)[2]  # a null rate that collapses is drift too


def test_the_training_set_gate_applies_where_train_fits() -> None:
    """The class-minimum gate waits for as many labelled commits as train needs before it fits (config)."""
    from commitlake.config import DEFAULT_MIN_LABELLED

    text = (ROOT / "dbt" / "quality" / "features" / "ml_commit_features.yml").read_text()
    assert f"where commit_type is not null) >= {DEFAULT_MIN_LABELLED}" in text
