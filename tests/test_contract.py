"""One pipeline definition drives both executors; one contract module names what Argo and Kubernetes share.

The local runner runs real stage graphs against the session's PostgreSQL (fake stage functions stand in for
the heavy ones where the test is about the runner); the chart is rendered by the real helm.
"""

from __future__ import annotations

import inspect
import os
import re
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
import yaml
from jsonschema import Draft202012Validator

from chart_copy import built_charts
from commitlake import __version__, contract, pipeline
from commitlake.config import Settings
from commitlake.errors import ConfigError, StageFailed, WarehouseError
from commitlake.pipeline import FAN_OUT_LIST, STAGES, Backoff, Stage
from commitlake.runner import execution_order, run_pipeline
from commitlake.stages import StageContext, StageResult, StageTimeout, function_for
from ledger import stage_rows

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "workflows"))

from commitlake_workflows import build, render  # noqa: E402

HELM = ROOT / ".tools" / "bin" / "helm"
SCHEMA_PATH = ROOT.parent / "shared" / "schemas" / "argo-workflows-v4.1.2.schema.json"
needs_helm = pytest.mark.skipif(
    not HELM.exists() and not os.environ.get("COMMITLAKE_REQUIRE_HELM"),
    reason="helm not installed: run .ci/tools.sh (make tools)",
)
Doc = dict[str, Any]


# -- fake stage functions (referenced by `module:attribute`, as real stages are) -----------------------------
class _Tracker:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.calls: list[str] = []
        self.active = 0
        self.peak = 0
        self.failures: dict[str, int] = {}


TRACK = _Tracker()


def fake_plan(ctx: StageContext) -> StageResult:
    TRACK.calls.append("plan")
    return StageResult("3 items", {"items": 3}, {FAN_OUT_LIST: ["a", "b", "c"]})


def fake_item(ctx: StageContext) -> StageResult:
    (item,) = ctx.settings.repos
    with TRACK.lock:
        TRACK.calls.append(f"item:{item}")
        TRACK.active += 1
        TRACK.peak = max(TRACK.peak, TRACK.active)
    try:
        time.sleep(0.3)
        with TRACK.lock:
            remaining = TRACK.failures.get(item, 0)
            TRACK.failures[item] = remaining - 1
        if remaining > 0:
            raise WarehouseError(f"{item}: connection reset")  # transient: exit code 75 in a pod
        if item == "bad":
            raise ConfigError(f"{item}: not a source")  # not transient
        return StageResult(item, {"n": 1})
    finally:
        with TRACK.lock:
            TRACK.active -= 1


def fake_merge(results: list[StageResult]) -> StageResult:
    return StageResult(",".join(sorted(r.summary for r in results)), {"n": sum(r.row_counts["n"] for r in results)})


def fake_after(ctx: StageContext) -> StageResult:
    TRACK.calls.append("after")
    return StageResult("after")


def fake_slow(ctx: StageContext) -> StageResult:
    time.sleep(3)
    return StageResult("too late")


def report_stage(ctx: StageContext) -> StageResult:
    """The hypothetical new stage: reads plan's list from the run record."""
    from commitlake.stages import read_stage_details

    details = read_stage_details(ctx.warehouse, ctx.run_id, "plan") or {}
    return StageResult(f"report on {len(details.get(FAN_OUT_LIST, []))} repositories", {"reported": 1})


_HERE = "test_contract"
GRAPH = (  # listed out of order on purpose: the runner follows depends_on
    Stage(name="after", summary="s", image="ingest", function=f"{_HERE}:fake_after", depends_on=("item",)),
    Stage(name="item", summary="s", image="ingest", function=f"{_HERE}:fake_item", depends_on=("plan",),
          fan_out_over="plan", merge=f"{_HERE}:fake_merge", retries=2),
    Stage(name="plan", summary="s", image="ingest", function=f"{_HERE}:fake_plan", emits_fan_out_list=True),
)


@pytest.fixture
def settings(tmp_path: Path, fresh_database: str) -> Settings:
    # in the runner's process: the stand-in stages and the patched graph exist in this one only
    return Settings.from_env({"COMMITLAKE_HOME": str(tmp_path / "home"), "DATABASE_URL": fresh_database,
                              "COMMITLAKE_INGEST_CONCURRENCY": "2", "COMMITLAKE_PROJECT_DIR": str(ROOT),
                              "COMMITLAKE_STAGE_PROCESSES": "0"})


@pytest.fixture
def graph(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    global TRACK
    TRACK = _Tracker()
    monkeypatch.setattr(pipeline, "STAGES", GRAPH)
    yield


# -- the pipeline definition ---------------------------------------------------------------------------------
def test_each_stage_names_the_function_both_executors_run() -> None:
    for stage in STAGES:
        function = function_for(stage)
        assert callable(function), stage.name
        assert list(inspect.signature(function).parameters) == ["ctx"], stage.function
        assert stage.inputs and stage.outputs, stage.name
    # A stage reads only what exists before the run or what a stage it (transitively) depends on writes.
    written: dict[str, set[str]] = {}
    for stage in execution_order(STAGES):
        upstream = set().union(*(written[d] for d in stage.depends_on)) if stage.depends_on else set()
        written[stage.name] = upstream | set(stage.outputs)
    external = {"config:COMMITLAKE_REPOS", "github:API", "ops.ingest_state", "raw", "staging", "analytics"}
    for stage in STAGES:
        upstream = set().union(*(written[d] for d in stage.depends_on)) if stage.depends_on else set()
        for item in stage.inputs:
            assert item in external or any(item == w or item.startswith(w) for w in upstream), (stage.name, item)


def test_execution_order_follows_depends_on() -> None:
    assert [s.name for s in execution_order(GRAPH)] == ["plan", "item", "after"]
    assert [s.name for s in execution_order(GRAPH, ["after", "plan"])] == ["plan", "after"]
    assert [s.name for s in execution_order(STAGES)] == [s.name for s in STAGES]
    with pytest.raises(ConfigError, match="no stage nope"):
        execution_order(GRAPH, ["nope"])


# -- the local runner executes the graph ---------------------------------------------------------------------
def test_runner_fans_out_bounded_retries_transient_with_backoff(graph: None, settings: Settings) -> None:
    TRACK.failures["b"] = 1
    sleeps: list[float] = []
    summary = run_pipeline(settings, progress=False, backoff=Backoff(7, 2, 60), sleep=sleeps.append)
    assert TRACK.calls[0] == "plan" and TRACK.calls[-1] == "after"
    assert sorted(TRACK.calls[1:-1]) == ["item:a", "item:b", "item:b", "item:c"]
    assert TRACK.peak == 2  # COMMITLAKE_INGEST_CONCURRENCY=2: never more at once
    assert sleeps == [7.0]  # one transient failure, one wait
    assert summary.results["item"].summary == "a,b,c" and summary.results["item"].row_counts == {"n": 3}
    rows = stage_rows(settings.database_url or "", summary.run_id)
    assert {k: v[0] for k, v in rows.items()} == {
        "plan": "succeeded", "item[a]": "succeeded", "item[b]": "succeeded", "item[c]": "succeeded",
        "after": "succeeded", "_run": "succeeded",
    }


def test_runner_gives_up_after_the_stage_retries(graph: None, settings: Settings) -> None:
    TRACK.failures["b"] = 5
    sleeps: list[float] = []
    with pytest.raises(StageFailed) as failed:
        run_pipeline(settings, progress=False, backoff=Backoff(1, 2, 3), sleep=sleeps.append)
    assert failed.value.stage == "item" and failed.value.transient
    assert sleeps == [1.0, 2.0]  # retries=2: first * factor**n, capped
    assert "after" not in TRACK.calls


def test_runner_does_not_retry_a_permanent_failure(graph: None, settings: Settings,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys.modules[__name__], "fake_plan",
                        lambda ctx: StageResult("2", {}, {FAN_OUT_LIST: ["a", "bad"]}))
    sleeps: list[float] = []
    with pytest.raises(StageFailed) as failed:
        run_pipeline(settings.with_overrides(run_id="r-permanent"), progress=False, sleep=sleeps.append)
    assert failed.value.stage == "item" and not failed.value.transient
    assert sleeps == []
    rows = stage_rows(settings.database_url or "", "r-permanent")
    assert rows["item[a]"][0] == "succeeded" and rows["item[bad]"][0] == "failed"  # the other items finish
    assert rows["_run"][0] == "failed"


def test_runner_enforces_the_stage_timeout(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    slow = Stage(name="slow", summary="s", image="ingest", function=f"{_HERE}:fake_slow", timeout_seconds=1)
    monkeypatch.setattr(pipeline, "STAGES", (slow,))
    started = time.monotonic()
    with pytest.raises(StageFailed) as failed:
        run_pipeline(settings.with_overrides(run_id="r-slow"), progress=False, sleep=lambda s: None)
    assert time.monotonic() - started < 2.5
    assert isinstance(failed.value.cause, StageTimeout)
    assert stage_rows(settings.database_url or "", "r-slow")["slow"] == ("failed", "timed out after 1 s")


def test_plan_goes_through_the_wrapper_and_ingest_reads_its_list(
    settings: Settings, shared_commits: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from commitlake.runner import run_single_stage
    from commitlake.stages import ingest

    uri = f"jsonl:{shared_commits / 'commitizen__cz-cli.jsonl.gz'}"
    planned = run_single_stage(settings.with_overrides(repos=(uri,), run_id="r-plan"), "plan", progress=False)
    assert planned.details == {FAN_OUT_LIST: [uri]}
    assert stage_rows(settings.database_url or "", "r-plan")["plan"][0] == "succeeded"

    def no_second_plan(*args: object, **kwargs: object) -> list[str]:
        raise AssertionError("ingest planned again instead of reading plan's record")

    monkeypatch.setattr(ingest, "plan_uris", no_second_plan)
    result = run_single_stage(settings.with_overrides(run_id="r-plan"), "ingest", progress=False)
    assert result.row_counts["commits_ingested"] > 0
    assert [r["uri"] for r in result.details["repositories"]] == [uri]


def test_cli_plan_prints_the_list_and_records_it(settings: Settings, shared_commits: Path) -> None:
    uri = f"jsonl:{shared_commits / 'commitizen__cz-cli.jsonl.gz'}"
    env = {**os.environ, "DATABASE_URL": settings.database_url or "", "COMMITLAKE_HOME": str(settings.home),
           "COMMITLAKE_RUN_ID": "r-cli-plan", "COMMITLAKE_REPOS": uri}
    result = subprocess.run([sys.executable, "-m", "commitlake", "plan"], env=env, capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stderr
    assert orjson.loads(result.stdout) == [uri]
    assert stage_rows(settings.database_url or "", "r-cli-plan")["plan"][0] == "succeeded"


# -- a new stage reaches every executor with no other edit -----------------------------------------------------
NEW_STAGE = Stage(name="report", summary="a hypothetical stage after plan", image="train",
                  function=f"{_HERE}:report_stage", inputs=("ops.pipeline_runs:plan.repos",), outputs=("report",),
                  depends_on=("plan",), config_env=("COMMITLAKE_REPORT_TITLE",), secret_env=("DATABASE_URL",))


@pytest.fixture(scope="module")
def chart_copy() -> Iterator[Path]:
    """charts/ copied with the umbrella's dependencies built (never written into the tree)."""
    if not HELM.exists():
        pytest.skip("helm not installed")
    with built_charts("commitlake-contract-") as charts:
        yield charts / "commitlake"


def _helm(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(HELM), *args], capture_output=True, text=True, timeout=120)


def _template(chart: Path, *args: str, release: str = "commitlake", namespace: str = "commitlake") -> list[Doc]:
    result = _helm("template", release, str(chart), "-n", namespace, *args)
    assert result.returncode == 0, result.stderr
    return [d for d in yaml.safe_load_all(result.stdout) if d]


def _one(docs: list[Doc], kind: str, name: str | None = None) -> Doc:
    found = [d for d in docs if d["kind"] == kind and (name is None or d["metadata"]["name"] == name)]
    assert len(found) == 1, (kind, name, [d["metadata"]["name"] for d in found])
    return found[0]


@needs_helm
def test_a_new_stage_appears_in_both_executors_the_template_and_the_configmap(
    settings: Settings, chart_copy: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    stages = (*STAGES, NEW_STAGE)
    monkeypatch.setattr(pipeline, "STAGES", stages)
    monkeypatch.setattr(build, "STAGES", stages)
    # local runner
    summary = run_pipeline(settings.with_overrides(repos=("git:.",)), only=["plan", "report"], progress=False)
    assert summary.results["report"].summary == "report on 1 repositories"
    # CLI
    from commitlake.cli import _parser

    assert _parser().parse_args(["report"]).command == "report"
    # Argo: the WorkflowTemplate, and the chart built from the rendered files
    chart = tmp_path / "commitlake"
    shutil.copytree(chart_copy, chart)
    for path, text in render.render_all().items():
        if path.parent.name == "files":
            (chart / "files" / path.name).write_text(text)
    docs = _template(chart)
    template = _one(docs, "WorkflowTemplate")
    tasks = {t["name"]: t for t in template["spec"]["templates"] if t["name"] == build.DAG_NAME}[build.DAG_NAME]
    assert {"name": "report", "template": "report", "depends": "plan"} in tasks["dag"]["tasks"]
    config = _one(docs, "ConfigMap", contract.CONFIG_MAP)["data"]
    assert config["COMMITLAKE_REPORT_TITLE"] == ""
    titled = _template(chart, "--set", "pipeline.env.COMMITLAKE_REPORT_TITLE=Nightly")
    assert _one(titled, "ConfigMap", contract.CONFIG_MAP)["data"]["COMMITLAKE_REPORT_TITLE"] == "Nightly"


# -- the chart owns the deploy-time choices ------------------------------------------------------------------
CUSTOM = ("--set", "image.registry=registry.example.com/data", "--set", "image.tag=2.0.0-rc1",
          "--set", "pipeline.serviceAccountName=lake-runner")


@needs_helm
def test_custom_registry_tag_namespace_and_service_account_render_a_consistent_set(chart_copy: Path) -> None:
    docs = _template(chart_copy, *CUSTOM, release="lake", namespace="data-team")
    template = _one(docs, "WorkflowTemplate", contract.WORKFLOW_TEMPLATE_NAME)
    assert template["metadata"]["labels"][contract.LABEL_VERSION] == __version__
    namespaced = [d for d in docs if d["kind"] not in {"ClusterRole", "ClusterRoleBinding"}]
    assert {d["metadata"].get("namespace") for d in namespaced} == {"data-team"}
    # the ServiceAccount the template uses is the one the chart creates and binds
    account = template["spec"]["serviceAccountName"]
    assert account == "lake-runner"
    _one(docs, "ServiceAccount", account)
    binding = _one(docs, "RoleBinding", f"{account}-executor")
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": account, "namespace": "data-team"}]
    # every container from the chosen registry and tag; every ConfigMap/Secret reference resolves
    configmaps = {d["metadata"]["name"] for d in docs if d["kind"] == "ConfigMap"}
    secrets = {d["metadata"]["name"]: d for d in docs if d["kind"] == "Secret"}
    for t in template["spec"]["templates"]:
        if "container" not in t:
            continue
        container = t["container"]
        assert re.fullmatch(r"registry\.example\.com/data/(ingest|transform|quality|train):2\.0\.0-rc1",
                            container["image"]), container["image"]
        assert {e["configMapRef"]["name"] for e in container["envFrom"]} <= configmaps
        for env in container["env"]:
            ref = env.get("valueFrom", {}).get("secretKeyRef")
            if ref:
                assert ref["name"] in secrets
                data = secrets[ref["name"]].get("data") or secrets[ref["name"]].get("stringData") or {}
                assert ref["key"] in data or ref.get("optional"), ref
    cron = _one(docs, "CronWorkflow")
    assert cron["spec"]["workflowSpec"]["workflowTemplateRef"]["name"] == template["metadata"]["name"]
    # still a valid Argo object
    schema = orjson.loads(SCHEMA_PATH.read_bytes())
    for doc in (template, cron):
        kind = f"io.argoproj.workflow.v1alpha1.{doc['kind']}"
        validator = Draft202012Validator({"$schema": schema["$schema"], "definitions": schema["definitions"],
                                          "$ref": f"#/definitions/{kind}"})
        assert [e.message for e in validator.iter_errors(doc)] == []


@needs_helm
@pytest.mark.parametrize(
    ("values", "message"),
    [
        (("--set", "image.registry=Registry.Example.com"), "/image/registry"),
        (("--set", "image.pullPolicy=Sometimes"), "/image/pullPolicy"),
        (("--set", "pipeline.serviceAccountName=Lake_Runner"), "/pipeline/serviceAccountName"),
        (("--set-string", "pipeline.env.COMMITLAKE_NOPE=1"), "pipeline.env.COMMITLAKE_NOPE is read by no stage"),
    ],
    ids=["registry", "pull-policy", "service-account", "unknown-env"],
)
def test_bad_deploy_values_fail_at_render_time(chart_copy: Path, values: tuple[str, ...], message: str) -> None:
    result = _helm("template", "commitlake", str(chart_copy), "-n", "commitlake", *values)
    assert result.returncode != 0 and message in result.stderr, result.stderr


def test_the_chart_defaults_are_the_contract() -> None:
    values = yaml.safe_load((ROOT / "charts" / "commitlake" / "values.yaml").read_text())
    assert values["pipeline"]["serviceAccountName"] == contract.SERVICE_ACCOUNT
    assert values["secrets"]["pipeline"] == contract.SECRET
    assert values["secrets"]["argo"] == contract.ARTIFACT_SECRET
    assert values["image"]["registry"] == pipeline.IMAGE_REPOSITORY
    config = yaml.safe_load((ROOT / "charts" / "commitlake" / "files" / "config-env.yaml").read_text())
    assert config == {"configMap": contract.CONFIG_MAP, "keys": render.config_env_keys()}
    assert set(values["pipeline"]["env"]) <= set(config["keys"])


# -- the exit handler ends a run like the local runner, and the alert sees both ----------------------------------
def _alert_expr() -> str:
    rules = yaml.safe_load((ROOT / "charts" / "observability" / "files" / "alerting" / "rules.yaml").read_text())
    [rule] = [r for g in rules["groups"] for r in g["rules"] if r["uid"] == "commitlake-run-failed"]
    return str(next(q["model"]["expr"] for q in rule["data"] if q["datasourceUid"] == "loki"))


def _label_match(value: str, op: str, wanted: str) -> bool:
    return {"=": value == wanted, "!=": value != wanted,
            "=~": re.fullmatch(wanted, value) is not None, "!~": re.fullmatch(wanted, value) is None}[op]


def logql_counts(expr: str, stream: dict[str, str], line: str) -> bool:
    """Would `count_over_time(<selector> <pipeline> [range])` count this line? (selector, `json`, label filters)"""
    match = re.search(r"count_over_time\((.*)\[[^\]]+\]\s*\)", expr)
    assert match, f"no count_over_time in {expr}"
    selector, _, stages = match.group(1).strip().partition("}")
    matcher = r'(\w+)\s*(=~|!~|!=|=)\s*"([^"]*)"'
    for label, op, wanted in re.findall(matcher, selector.lstrip("{")):
        if not _label_match(stream.get(label, ""), op, wanted):
            return False
    labels = dict(stream)
    for step in (s.strip() for s in stages.split("|") if s.strip()):
        if step == "json":
            labels.update({k: "" if v is None else str(v) for k, v in orjson.loads(line).items()
                           if not isinstance(v, dict | list)})
            continue
        parsed = re.fullmatch(matcher, step)
        assert parsed, f"unsupported LogQL step {step!r}: extend logql_counts"
        label, op, wanted = parsed.groups()
        if not _label_match(labels.get(label, ""), op, wanted):
            return False
    return True


def _finished_lines(stdout: str) -> list[str]:
    return [line for line in stdout.splitlines()
            if line.startswith("{") and orjson.loads(line).get("event") == contract.RUN_FINISHED_EVENT]


def test_the_exit_handler_records_the_end_and_the_alert_counts_both_executors(settings: Settings) -> None:
    from commitlake.stages import record_stage
    from commitlake.warehouse.db import open_warehouse

    template = build.workflow_template().to_dict()
    exit_template = {t["name"]: t for t in template["spec"]["templates"]}[template["spec"]["onExit"]]
    command = [c.replace("{{workflow.status}}", "Failed") for c in exit_template["container"]["command"]]
    assert command[:1] == ["commitlake"]
    # Alloy turns the pod label app.kubernetes.io/component into the stream label `component`.
    stream = {"component": exit_template["metadata"]["labels"][contract.LABEL_COMPONENT]}
    env = {**os.environ, "DATABASE_URL": settings.database_url or "", "COMMITLAKE_HOME": str(settings.home),
           "COMMITLAKE_RUN_ID": "commitlake-x7k2p", "COMMITLAKE_PROJECT_DIR": str(ROOT)}
    with open_warehouse(settings) as warehouse:  # what the pods of a failed workflow left behind
        record_stage(warehouse, "commitlake-x7k2p", "plan", "succeeded", duration_s=1.0)
        record_stage(warehouse, "commitlake-x7k2p", "ingest[github:o/r]", "failed", duration_s=2.0, error="boom")
    argo = subprocess.run([sys.executable, "-m", "commitlake", *command[1:]], env=env, capture_output=True,
                          text=True, timeout=120)
    assert argo.returncode == 0, argo.stderr
    [argo_line] = _finished_lines(argo.stdout)
    assert orjson.loads(argo_line)["failed_stage"] == "ingest"
    assert stage_rows(settings.database_url or "", "commitlake-x7k2p")["_run"][0] == "failed"

    local = subprocess.run([sys.executable, "-m", "commitlake", "run", "--repos", "svn:whatever"],
                           env={**env, "COMMITLAKE_RUN_ID": "local-failed"}, capture_output=True, text=True,
                           timeout=120)
    assert local.returncode == 1
    [local_line] = _finished_lines(local.stdout)
    expr = _alert_expr()
    assert logql_counts(expr, stream, argo_line) and logql_counts(expr, stream, local_line)
    same = {"event", "status", "level", "logger"}
    argo_fields, local_fields = orjson.loads(argo_line), orjson.loads(local_line)
    assert {k: argo_fields[k] for k in same} == {k: local_fields[k] for k in same}

    succeeded = subprocess.run([sys.executable, "-m", "commitlake", "status", "--record-exit", "Succeeded"],
                               env={**env, "COMMITLAKE_RUN_ID": "commitlake-ok"}, capture_output=True, text=True,
                               timeout=120)
    [ok_line] = _finished_lines(succeeded.stdout)
    assert not logql_counts(expr, stream, ok_line)
    assert not logql_counts(expr, {"component": "platform"}, argo_line)
