"""The Argo manifests: built from the one pipeline definition, committed, schema-valid, submitted via the API."""

from __future__ import annotations

import copy
import http.server
import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from jsonschema import Draft202012Validator

from commitlake import __version__
from commitlake.contract import CONFIG_MAP, EXIT_TRANSIENT, SECRET, SERVICE_ACCOUNT, WORKFLOW_TEMPLATE_NAME
from commitlake.errors import CommitlakeError
from commitlake.pipeline import STAGES, Resources, Stage, image_for
from commitlake_workflows import build, render
from commitlake_workflows.submit import submit

ROOT = Path(__file__).resolve().parents[1]

SCHEMA_PATH = ROOT.parent / "shared" / "schemas" / "argo-workflows-v4.1.2.schema.json"
KIND_DEFINITIONS = {
    "Workflow": "io.argoproj.workflow.v1alpha1.Workflow",
    "WorkflowTemplate": "io.argoproj.workflow.v1alpha1.WorkflowTemplate",
    "CronWorkflow": "io.argoproj.workflow.v1alpha1.CronWorkflow",
}


# -- schema ----------------------------------------------------------------------------------------------
def _closed(node: Any) -> Any:
    """Add additionalProperties: false to every object schema that lists properties (upstream sets none)."""
    if isinstance(node, dict):
        out = {key: _closed(value) for key, value in node.items()}
        if "properties" in out and isinstance(out["properties"], dict) and "additionalProperties" not in out:
            out["additionalProperties"] = False
        return out
    if isinstance(node, list):
        return [_closed(item) for item in node]
    return node


@pytest.fixture(scope="module")
def strict_schema() -> dict[str, Any]:
    if not SCHEMA_PATH.exists():
        pytest.fail(f"{SCHEMA_PATH} is missing: the tests read ../shared from the project root")
    schema = json.loads(SCHEMA_PATH.read_text())
    return {"$schema": schema["$schema"], "definitions": _closed(schema["definitions"])}


def _errors(strict_schema: dict[str, Any], document: dict[str, Any]) -> list[str]:
    schema = dict(strict_schema, **{"$ref": f"#/definitions/{KIND_DEFINITIONS[document['kind']]}"})
    validator = Draft202012Validator(schema)
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(document)]


def _rendered() -> dict[str, dict[str, Any]]:
    return {
        path.name: yaml.safe_load(path.read_text()) for path in sorted((ROOT / "workflows" / "rendered").glob("*.yaml"))
    }


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    doc: dict[str, Any] = build.workflow_template().to_dict()
    return doc


def _templates(doc: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {t["name"]: t for t in doc["spec"]["templates"]}


# -- committed files -------------------------------------------------------------------------------------
def test_rendered_files_match_the_hera_source() -> None:
    expected = render.render_all()
    assert {p.relative_to(ROOT).as_posix() for p in expected} >= {
        "workflows/rendered/workflow-template.yaml",
        "workflows/rendered/cron-workflow.yaml",
        "workflows/rendered/example-workflow.yaml",
        "charts/commitlake/files/workflow-template.yaml",
        "charts/commitlake/files/cron-workflow.yaml",
    }
    stale = [str(p.relative_to(ROOT)) for p, text in expected.items() if not p.exists() or p.read_text() != text]
    assert not stale, f"stale rendered YAML (run `make workflows`): {stale}"


def test_check_mode_reports_drift(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`render --check` (what CI and `make workflows-check` run) notices a changed stage definition."""
    assert render.main(["--check"]) == 0
    slower = tuple(
        Stage(**{**s.__dict__, "timeout_seconds": s.timeout_seconds + 1}) if s.name == "load" else s for s in STAGES
    )
    monkeypatch.setattr(build, "STAGES", slower)
    assert render.main(["--check"]) == 1


def test_chart_copies_are_the_rendered_files() -> None:
    for name, copy_path in render.CHART_COPIES.items():
        assert copy_path.read_text() == (ROOT / "workflows" / "rendered" / name).read_text()


# -- schema validation -----------------------------------------------------------------------------------
def test_every_rendered_document_validates_against_the_closed_v4_schema(strict_schema: dict[str, Any]) -> None:
    documents = _rendered()
    assert {d["kind"] for d in documents.values()} == set(KIND_DEFINITIONS)
    for name, document in documents.items():
        assert _errors(strict_schema, document) == [], name


@pytest.mark.parametrize(
    ("file", "breakage"),
    [
        ("workflow-template.yaml", lambda d: d["spec"].update(serviceAcountName=d["spec"].pop("serviceAccountName"))),
        ("workflow-template.yaml", lambda d: d["spec"]["templates"][0]["container"].update(imagePulPolicy="Always")),
        ("workflow-template.yaml", lambda d: d["spec"]["templates"][0]["retryStrategy"].update(limitt=3)),
        ("cron-workflow.yaml", lambda d: d["spec"].update(schedule=d["spec"].pop("schedules")[0])),
        ("example-workflow.yaml", lambda d: d["spec"].update(templateRef=d["spec"].pop("workflowTemplateRef"))),
    ],
    ids=["misspelt-spec-field", "misspelt-container-field", "misspelt-retry-field", "v3-schedule-string", "typo"],
)
def test_broken_documents_fail_validation(strict_schema: dict[str, Any], file: str, breakage: Any) -> None:
    document = copy.deepcopy(_rendered()[file])
    assert _errors(strict_schema, document) == []
    breakage(document)
    assert _errors(strict_schema, document), f"a broken {file} passed validation"


# -- the template follows the pipeline definition --------------------------------------------------------
def test_dag_mirrors_the_stage_list(template: dict[str, Any]) -> None:
    templates = _templates(template)
    dag = templates[build.DAG_NAME]["dag"]
    tasks = {t["name"]: t for t in dag["tasks"]}
    assert list(tasks) == [s.name for s in STAGES]
    for stage in STAGES:
        task = tasks[stage.name]
        deps = set(task.get("depends", "").replace("&&", " ").split())
        assert deps == set(stage.depends_on), stage.name
        if stage.fan_out_over:
            assert task["withParam"] == f"{{{{tasks.{stage.fan_out_over}.outputs.result}}}}"
            assert task["arguments"]["parameters"] == [{"name": "repo", "value": "{{item}}"}]
        else:
            assert "withParam" not in task
    assert templates[build.DAG_NAME]["parallelism"] == build.FAN_OUT_PARALLELISM
    assert any(s.fan_out_over for s in STAGES) and any(s.emits_fan_out_list for s in STAGES)


def test_each_stage_template_carries_the_stage_settings(template: dict[str, Any]) -> None:
    templates = _templates(template)
    for stage in STAGES:
        t = templates[stage.name]
        container = t["container"]
        assert container["image"] == image_for(stage) == f"commitlake/{stage.image}:{__version__}"
        assert container["command"] == list(stage.command)
        assert int(t["activeDeadlineSeconds"]) == stage.timeout_seconds
        assert int(t["retryStrategy"]["limit"]) == stage.retries
        assert t["retryStrategy"]["backoff"]["duration"]
        assert f"asInt(lastRetry.exitCode) == {EXIT_TRANSIENT}" in t["retryStrategy"]["expression"]
        r = stage.resources
        assert container["resources"] == {
            "requests": {"cpu": r.cpu_request, "memory": r.memory_request},
            "limits": {"cpu": r.cpu_limit, "memory": r.memory_limit},
        }
        assert t["metadata"]["labels"]["app.kubernetes.io/name"] == f"commitlake-{stage.name}"


def test_pods_are_locked_down_and_write_only_to_mounted_volumes(template: dict[str, Any]) -> None:
    for name, t in _templates(template).items():
        if "container" not in t:
            continue
        pod, sec = t["securityContext"], t["container"]["securityContext"]
        assert pod["runAsNonRoot"] is True and pod["runAsUser"] == 10001 and pod["fsGroup"] == 10001, name
        assert pod["seccompProfile"] == {"type": "RuntimeDefault"}
        assert sec == {
            "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": True,
            "runAsNonRoot": True,
            "capabilities": {"drop": ["ALL"]},
        }
        mounts = {m["mountPath"]: m["name"] for m in t["container"]["volumeMounts"]}
        assert mounts == {"/tmp": "tmp", build.STATE_DIR: "state"}
        assert {v["name"] for v in t["volumes"] if "emptyDir" in v} == {"tmp", "state"}
        labels = t["metadata"]["labels"]
        assert labels["app.kubernetes.io/part-of"] == "commitlake"
        assert labels["app.kubernetes.io/component"] == "pipeline"


def test_environment_config_from_the_configmap_secrets_only_by_reference(template: dict[str, Any]) -> None:
    templates = _templates(template)
    for stage in STAGES:
        container = templates[stage.name]["container"]
        assert container["envFrom"] == [{"configMapRef": {"name": CONFIG_MAP, "optional": False}}]
        env = {e["name"]: e for e in container["env"]}
        assert env["COMMITLAKE_RUN_ID"]["value"] == "{{workflow.name}}"
        secret_refs = {n: e["valueFrom"]["secretKeyRef"] for n, e in env.items() if "valueFrom" in e}
        assert set(secret_refs) == set(stage.secret_env), stage.name
        for name, ref in secret_refs.items():
            assert ref["name"] == SECRET and ref["key"] == name
            assert ref.get("optional", False) is (name == "GITHUB_TOKEN")
            assert "value" not in env[name]
    plan_env = {e["name"]: e for e in templates["plan"]["container"]["env"]}
    ingest_env = {e["name"]: e for e in templates["ingest"]["container"]["env"]}
    assert plan_env["COMMITLAKE_REPOS"]["value"] == "{{workflow.parameters.repos}}"
    assert ingest_env["COMMITLAKE_REPOS"]["value"] == "{{inputs.parameters.repo}}"
    # Kubernetes expands $(COMMITLAKE_REPOS) from envFrom: by default, plan reads the chart's ConfigMap.
    assert template["spec"]["arguments"]["parameters"][0]["value"] == "$(COMMITLAKE_REPOS)"


def test_run_level_settings(template: dict[str, Any]) -> None:
    spec = template["spec"]
    assert template["metadata"]["name"] == WORKFLOW_TEMPLATE_NAME == "commitlake"
    assert template["metadata"]["labels"]["app.kubernetes.io/version"] == __version__
    assert spec["serviceAccountName"] == SERVICE_ACCOUNT
    assert spec["synchronization"] == {"mutexes": [{"name": "commitlake-warehouse"}]}
    assert spec["podGC"]["strategy"] == "OnPodSuccess"
    assert spec["ttlStrategy"]["secondsAfterSuccess"] > 0 and spec["ttlStrategy"]["secondsAfterFailure"] > 0
    exit_template = _templates(template)[spec["onExit"]]
    assert exit_template["container"]["command"] == ["commitlake", "status", "--record-exit", "{{workflow.status}}"]
    assert {e["name"] for e in exit_template["container"]["env"] if "valueFrom" in e} == {"DATABASE_URL"}


def test_cron_workflow_runs_the_template_one_at_a_time() -> None:
    cron = _rendered()["cron-workflow.yaml"]
    spec = cron["spec"]
    assert spec["workflowSpec"] == {"workflowTemplateRef": {"name": WORKFLOW_TEMPLATE_NAME}}
    assert spec["concurrencyPolicy"] == "Forbid"
    assert isinstance(spec["schedules"], list) and spec["schedules"] and "schedule" not in spec
    assert spec["timezone"] and spec["startingDeadlineSeconds"] > 0
    assert spec["successfulJobsHistoryLimit"] >= 1 and spec["failedJobsHistoryLimit"] >= 1


def test_a_new_stage_needs_no_workflow_code(monkeypatch: pytest.MonkeyPatch) -> None:
    """Adding a stage to the definition adds its template and DAG task; nothing here restates the list."""
    extra = Stage(
        name="report",
        summary="a hypothetical stage after predict",
        image="train",
        function="commitlake.stages.predict:run",
        depends_on=("predict",),
        resources=Resources("1", "1Gi", "2", "2Gi"),
        secret_env=("DATABASE_URL",),
    )
    monkeypatch.setattr(build, "STAGES", (*STAGES, extra))
    doc = build.workflow_template().to_dict()
    templates = _templates(doc)
    assert templates["report"]["container"]["command"] == ["commitlake", "report"]
    tasks = {t["name"]: t for t in templates[build.DAG_NAME]["dag"]["tasks"]}
    assert tasks["report"]["depends"] == "predict"


# -- submit through the Argo Server API (a local fake: no Argo Server runs here) --------------------------
class _FakeArgoServer(http.server.BaseHTTPRequestHandler):
    requests: list[tuple[str, dict[str, str], dict[str, Any]]] = []
    status = 200

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        type(self).requests.append((self.path, dict(self.headers), body))
        if type(self).status != 200:
            payload = {"code": 5, "message": f'workflowtemplates.argoproj.io "{WORKFLOW_TEMPLATE_NAME}" not found'}
        else:
            payload = copy.deepcopy(body["workflow"])
            payload["metadata"]["name"] = payload["metadata"]["generateName"] + "x7k2p"
        data = json.dumps(payload).encode()
        self.send_response(type(self).status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def argo_server() -> Iterator[str]:
    _FakeArgoServer.requests = []
    _FakeArgoServer.status = 200
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _FakeArgoServer)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_submit_creates_a_workflow_from_the_template(argo_server: str) -> None:
    name = submit(argo_server, "commitlake", "s3cr3t", ["github:pallets/click", "jsonl:/data/x.jsonl.gz"])
    assert name == "commitlake-x7k2p"
    [(path, headers, body)] = _FakeArgoServer.requests
    assert path == "/api/v1/workflows/commitlake"
    assert headers["Authorization"] == "Bearer s3cr3t"
    spec = body["workflow"]["spec"]
    assert spec["workflowTemplateRef"] == {"name": WORKFLOW_TEMPLATE_NAME}
    assert spec["arguments"]["parameters"] == [
        {"name": "repos", "value": "github:pallets/click jsonl:/data/x.jsonl.gz"}
    ]


def test_submit_without_repos_leaves_the_template_default(argo_server: str) -> None:
    submit(argo_server, "commitlake", None, [])
    [(_, headers, body)] = _FakeArgoServer.requests
    assert "arguments" not in body["workflow"]["spec"]
    assert "Authorization" not in headers or not headers["Authorization"]


def test_submit_reports_a_refusal_as_one_error(argo_server: str) -> None:
    _FakeArgoServer.status = 404
    with pytest.raises(CommitlakeError, match="not found"):
        submit(argo_server, "commitlake", "t", ["github:pallets/click"])


# -- packaging -------------------------------------------------------------------------------------------
def test_submit_runs_from_the_installed_package_without_pythonpath(tmp_path: Path) -> None:
    """`commitlake submit` finds commitlake_workflows in the venv, not in the source tree (no PYTHONPATH)."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "ARGO_TOKEN")}
    env["COMMITLAKE_HOME"] = str(tmp_path / "home")
    cli = Path(sys.executable).with_name("commitlake")
    helped = subprocess.run([str(cli), "submit", "--help"], cwd=tmp_path, env=env, capture_output=True, text=True,
                            timeout=120)
    assert helped.returncode == 0 and "--argo-server" in helped.stdout, helped.stderr
    # past argparse: the import happens, and the failure is the unreachable server, not a missing module
    refused = subprocess.run(
        [str(cli), "submit", "--argo-server", "http://127.0.0.1:9", "--repos", "github:pallets/click"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120,
    )
    assert refused.returncode == EXIT_TRANSIENT, refused.stderr  # nobody answered: a retry may succeed
    assert "workflows extra" not in refused.stderr and "No module named" not in refused.stderr, refused.stderr
    assert refused.stderr.strip() == ("commitlake: error: Argo Server http://127.0.0.1:9 is unreachable "
                                      "(ConnectionError): is the cluster up (`make kind-up`)? check --argo-server "
                                      "/ ARGO_SERVER")
