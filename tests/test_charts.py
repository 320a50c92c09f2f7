"""The Helm charts, rendered with the real helm v4 binary and checked object by object.

What a cluster would enforce (Pod Security "restricted", NetworkPolicies, where secrets live) is asserted on the
rendered objects by tests/charts_policy.py; the checkers are also shown to catch broken objects. The role matrix
that Postgres creates at first start runs against a real PostgreSQL server.
"""

from __future__ import annotations

import base64
import copy
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

from chart_copy import built_charts
from charts_policy import (
    Endpoint,
    flow_allowed,
    network_policy_violations,
    pod_specs,
    secret_leaks,
    security_violations,
    workload_endpoints,
)
from commitlake.warehouse.roles import PERSONAS

ROOT = Path(__file__).resolve().parents[1]
CHARTS = ROOT / "charts"
HELM = ROOT / ".tools" / "bin" / "helm"
NAMESPACE = "commitlake"
SUBCHARTS = ("postgres", "objectstore", "mlflow", "observability")
ARGO_KINDS = {"WorkflowTemplate", "CronWorkflow"}

# CI installs helm (.ci/tools.sh) and sets COMMITLAKE_REQUIRE_HELM, so there the tests run or fail, never skip.
pytestmark = pytest.mark.skipif(
    not HELM.exists() and not os.environ.get("COMMITLAKE_REQUIRE_HELM"),
    reason="helm not installed: run .ci/tools.sh (make tools)",
)

Doc = dict[str, Any]


def _helm(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "HELM_NAMESPACE": NAMESPACE}
    return subprocess.run([str(HELM), *args], capture_output=True, text=True, cwd=cwd, env=env, timeout=120)


@pytest.fixture(scope="session")
def charts_dir() -> Iterator[Path]:
    """A copy of charts/ with the umbrella's dependencies built (never written into the tree)."""
    with built_charts("commitlake-charts-") as charts:
        yield charts


def render(chart_dir: Path, *args: str) -> list[Doc]:
    result = _helm("template", "commitlake", str(chart_dir), "-n", NAMESPACE, *args)
    assert result.returncode == 0, result.stderr
    return [d for d in yaml.safe_load_all(result.stdout) if d]


def render_error(chart_dir: Path, *args: str) -> str:
    result = _helm("template", "commitlake", str(chart_dir), "-n", NAMESPACE, *args)
    assert result.returncode != 0, "render was expected to fail"
    return result.stderr


def by_kind(docs: list[Doc], kind: str) -> dict[str, Doc]:
    return {d["metadata"]["name"]: d for d in docs if d["kind"] == kind}


def secret_data(doc: Doc) -> dict[str, str]:
    return {k: base64.b64decode(v).decode() for k, v in (doc.get("data") or {}).items()}


SCENARIOS = {
    "default": (),
    "kind": ("-f", str(CHARTS / "commitlake" / "ci" / "kind-values.yaml")),
    "seaweedfs": ("-f", str(CHARTS / "commitlake" / "ci" / "seaweedfs-values.yaml")),
    "byo-secrets": ("-f", str(CHARTS / "commitlake" / "ci" / "byo-secrets-values.yaml")),
}


@pytest.fixture(scope="session")
def platform(charts_dir: Path) -> list[Doc]:
    return render(charts_dir / "commitlake")


@pytest.fixture(scope="session", params=sorted(SCENARIOS))
def scenario(request: pytest.FixtureRequest, charts_dir: Path) -> list[Doc]:
    return render(charts_dir / "commitlake", *SCENARIOS[request.param])


# -- tooling -------------------------------------------------------------------------------------------------


def test_helm_is_v4() -> None:
    result = _helm("version", "--template", "{{.Version}}")
    assert result.returncode == 0 and result.stdout.startswith("v4."), result.stdout


@pytest.mark.parametrize("chart", [*SUBCHARTS, "commitlake"])
def test_lint_strict(charts_dir: Path, chart: str) -> None:
    for values in sorted((CHARTS / chart / "ci").glob("*-values.yaml")):
        result = _helm("lint", "--strict", str(charts_dir / chart), "-f", str(values))
        assert result.returncode == 0, f"{values.name}: {result.stdout}{result.stderr}"
    for name in ("values.schema.json", "templates/NOTES.txt", "values.yaml"):
        assert (CHARTS / chart / name).is_file(), f"{chart} has no {name}"
    assert list((CHARTS / chart / "templates" / "tests").glob("*.yaml")) or chart == "commitlake"


# -- pod security --------------------------------------------------------------------------------------------


def test_every_pod_is_restricted(scenario: list[Doc]) -> None:
    assert list(workload_endpoints(scenario)), "no workloads rendered"
    assert security_violations(scenario) == []


@pytest.mark.parametrize(
    ("mutation", "expected"),
    [
        (lambda c, s: c["securityContext"].update(allowPrivilegeEscalation=True), "allowPrivilegeEscalation"),
        (lambda c, s: c["securityContext"].update(readOnlyRootFilesystem=False), "readOnlyRootFilesystem"),
        (lambda c, s: c["securityContext"]["capabilities"].update(drop=["NET_RAW"]), "drop ALL"),
        (lambda c, s: c["resources"].pop("limits"), "no limits.cpu"),
        (lambda c, s: c.pop("readinessProbe"), "no readinessProbe"),
        (lambda c, s: s["securityContext"].pop("seccompProfile") and c["securityContext"].pop("seccompProfile"),
         "seccompProfile"),
        (lambda c, s: (c["securityContext"].update(runAsUser=0), s["securityContext"].update(runAsUser=0)), "uid 0"),
    ],
)
def test_security_checker_flags_broken_pods(platform: list[Doc], mutation: Any, expected: str) -> None:
    docs = copy.deepcopy(platform)
    mlflow = by_kind(docs, "Deployment")["commitlake-mlflow"]
    spec = mlflow["spec"]["template"]["spec"]
    mutation(spec["containers"][0], spec)
    problems = security_violations(docs)
    assert any(expected in p and "commitlake-mlflow" in p for p in problems), problems


def test_stateful_services_have_volumes_and_pdbs_follow_replicas(platform: list[Doc], charts_dir: Path) -> None:
    for name in ("commitlake-postgres", "commitlake-objectstore", "commitlake-observability-loki"):
        sts = by_kind(platform, "StatefulSet")[name]
        assert sts["spec"]["volumeClaimTemplates"][0]["spec"]["resources"]["requests"]["storage"]
    assert "commitlake-observability-grafana" in by_kind(platform, "PersistentVolumeClaim")
    assert by_kind(platform, "PodDisruptionBudget") == {}, "single replicas must not get PDBs (they block drains)"
    scaled = render(charts_dir / "commitlake", *SCENARIOS["seaweedfs"])
    assert set(by_kind(scaled, "PodDisruptionBudget")) == {"commitlake-mlflow", "commitlake-observability-grafana"}


# -- network policies ----------------------------------------------------------------------------------------

PIPELINE = Endpoint(labels={"app.kubernetes.io/part-of": "commitlake", "app.kubernetes.io/component": "pipeline"})
GITHUB = Endpoint(ip="140.82.112.6")
PRIVATE_HOST = Endpoint(ip="10.20.30.40")
KIND_HOST = Endpoint(ip="172.18.0.1")

ALLOWED = [
    ("pipeline", "postgres", 5432),
    ("pipeline", "objectstore", 9000),
    ("pipeline", "mlflow", 5000),
    ("mlflow", "postgres", 5432),
    ("mlflow", "objectstore", 9000),
    ("alloy", "loki", 3100),
    ("grafana", "loki", 3100),
    ("objectstore-setup", "objectstore", 9000),
]
DENIED = [
    ("grafana", "postgres", 5432),
    ("alloy", "postgres", 5432),
    ("mlflow", "loki", 3100),
    ("pipeline", "loki", 3100),
    ("pipeline", "grafana", 3000),
    ("loki", "postgres", 5432),
    ("postgres", "objectstore", 9000),
    ("objectstore", "mlflow", 5000),
    ("mlflow", "pipeline", 8080),
    ("grafana", "objectstore", 9000),
]


def _endpoints(docs: list[Doc]) -> dict[str, Endpoint]:
    endpoints = workload_endpoints(docs)
    endpoints["pipeline"] = PIPELINE
    return endpoints


def _pipeline_labels_from_workflow(docs: list[Doc]) -> dict[str, str] | None:
    for d in docs:
        if d.get("kind") == "WorkflowTemplate":
            for template in d["spec"].get("templates", []):
                labels = (template.get("metadata") or {}).get("labels")
                if labels and labels.get("app.kubernetes.io/component") == "pipeline":
                    return labels
    return None


def test_default_deny_and_only_real_flows(scenario: list[Doc]) -> None:
    assert network_policy_violations(scenario) == []
    endpoints = _endpoints(scenario)
    if "objectstore-setup" not in endpoints:  # SeaweedFS creates its buckets itself
        endpoints["objectstore-setup"] = Endpoint(labels={"app.kubernetes.io/component": "objectstore-setup"})
    for src, dst, port in ALLOWED:
        if src == "objectstore-setup" and endpoints["objectstore"].ports["s3"] != 9000:
            continue
        target_port = endpoints[dst].ports.get("s3", port) if dst == "objectstore" else port
        if dst in endpoints and src in endpoints:
            assert flow_allowed(scenario, endpoints[src], endpoints[dst], target_port), f"{src} -> {dst}:{port}"
    for src, dst, port in DENIED:
        if dst in endpoints and src in endpoints:
            target_port = endpoints[dst].ports.get("s3", port) if dst == "objectstore" else port
            assert not flow_allowed(scenario, endpoints[src], endpoints[dst], target_port), f"{src} -> {dst}:{port}"


def test_egress_outside_the_cluster(platform: list[Doc]) -> None:
    endpoints = _endpoints(platform)
    assert flow_allowed(platform, PIPELINE, GITHUB, 443)
    assert not flow_allowed(platform, PIPELINE, GITHUB, 80)
    assert not flow_allowed(platform, PIPELINE, PRIVATE_HOST, 443), "private ranges are excluded from the GitHub rule"
    for name in ("mlflow", "grafana", "postgres", "objectstore", "loki", "alloy"):
        for port in (443, 6443):
            assert not flow_allowed(platform, endpoints[name], GITHUB, port), f"{name} must not reach the internet"


UIS = (("grafana", 3000), ("mlflow", 5000), ("objectstore", 9001))
EKS_NODE = Endpoint(ip="172.31.7.9")  # an address of EKS's default VPC: any node, or any pod (VPC CNI)
KIND_API = Endpoint(ip="172.18.0.2")  # kind's control-plane node, where the API server listens (6443)
ELSEWHERE = Endpoint(ip="203.0.113.10")


def test_unauthenticated_uis_admit_no_address_by_default(platform: list[Doc], charts_dir: Path) -> None:
    """Default: no CIDR reaches MLflow, the MinIO console or Grafana (port-forward); an allow-list is explicit."""
    endpoints = _endpoints(platform)
    for name, port in UIS:
        for outsider in (EKS_NODE, KIND_HOST, PRIVATE_HOST):
            assert not flow_allowed(platform, outsider, endpoints[name], port), f"{outsider.ip} -> {name}"
    assert flow_allowed(platform, PIPELINE, endpoints["mlflow"], 5000), "same-namespace callers still work"
    kind = render(charts_dir / "commitlake", *SCENARIOS["kind"])
    endpoints = _endpoints(kind)
    for name, port in UIS:  # kind's values list its Docker network explicitly, for the NodePorts
        assert flow_allowed(kind, KIND_HOST, endpoints[name], port), name
        assert not flow_allowed(kind, EKS_NODE, endpoints[name], port), name
    assert not flow_allowed(kind, KIND_HOST, endpoints["postgres"], 5432)
    assert not flow_allowed(kind, KIND_HOST, endpoints["objectstore"], 9000)
    console_rules = by_kind(platform, "NetworkPolicy")["commitlake-objectstore"]["spec"]["ingress"]
    assert all(rule.get("from") for rule in console_rules), "a rule without `from` admits everyone"


def test_api_server_egress_is_the_api_endpoint_only(platform: list[Doc], charts_dir: Path) -> None:
    endpoints = _endpoints(platform)
    for pod in (PIPELINE, endpoints["alloy"]):
        assert flow_allowed(platform, pod, KIND_API, 6443)
        assert not flow_allowed(platform, pod, ELSEWHERE, 6443), "port 6443 anywhere"
        assert not flow_allowed(platform, pod, KIND_API, 443)
    docs = render(charts_dir / "commitlake", "--set", "global.kubeAPI.cidrs={10.100.0.5/32}",
                  "--set", "global.kubeAPI.ports={443}")
    endpoints = _endpoints(docs)
    for pod in (PIPELINE, endpoints["alloy"]):  # one value narrows both the pipeline and Alloy
        assert flow_allowed(docs, pod, Endpoint(ip="10.100.0.5"), 443)
        assert not flow_allowed(docs, pod, Endpoint(ip="10.100.0.6"), 443)
        assert not flow_allowed(docs, pod, KIND_API, 6443)


@pytest.mark.parametrize(
    ("chart", "setting"),
    [("commitlake", "global.kubeAPI.cidrs={0.0.0.0/0}"), ("observability", "networkPolicy.kubeAPI.cidrs={0.0.0.0/0}"),
     ("commitlake", "global.kubeAPI.cidrs={}")],
)
def test_api_server_anywhere_is_refused(charts_dir: Path, chart: str, setting: str) -> None:
    assert "kubeAPI.cidrs" in render_error(charts_dir / chart, "--set", setting)


def test_workflow_pods_carry_the_labels_the_policies_select(platform: list[Doc]) -> None:
    if not (CHARTS / "commitlake" / "files" / "workflow-template.yaml").exists():
        pytest.skip("charts/commitlake/files/workflow-template.yaml not rendered yet")
    labels = _pipeline_labels_from_workflow(platform)
    assert labels is not None, "no WorkflowTemplate step labelled component=pipeline"
    pod = Endpoint(labels=labels)
    endpoints = workload_endpoints(platform)
    assert flow_allowed(platform, pod, endpoints["postgres"], 5432)
    assert flow_allowed(platform, pod, GITHUB, 443)


def test_network_checker_flags_a_widened_policy(charts_dir: Path) -> None:
    docs = render(charts_dir / "commitlake", "--set", "postgres.networkPolicy.allowFrom={pipeline,mlflow,grafana}")
    endpoints = _endpoints(docs)
    assert flow_allowed(docs, endpoints["grafana"], endpoints["postgres"], 5432) is False  # grafana's own egress
    docs_grafana_open = copy.deepcopy(docs)
    grafana_np = by_kind(docs_grafana_open, "NetworkPolicy")["commitlake-observability-grafana"]
    grafana_np["spec"]["egress"].append({"to": [{"podSelector": {}}]})
    assert flow_allowed(docs_grafana_open, endpoints["grafana"], endpoints["postgres"], 5432), (
        "with both ends widened the checker must report the flow as open"
    )


def test_network_checker_flags_missing_default_deny(charts_dir: Path) -> None:
    docs = render(charts_dir / "commitlake", "--set", "networkPolicy.enabled=false")
    assert network_policy_violations(docs) != []
    endpoints = _endpoints(docs)
    outside = Endpoint(ip="198.51.100.7")
    assert flow_allowed(docs, PIPELINE, outside, 25), "without its policy the pipeline is unconfined"
    assert not flow_allowed(docs, PIPELINE, endpoints["grafana"], 3000), "Grafana keeps its own ingress policy"


# -- secrets -------------------------------------------------------------------------------------------------


def test_no_password_in_values_files() -> None:
    """Keys that would hold a credential are empty; keys naming a Secret (`existingSecret`, `...Key`) may not be."""
    for values in CHARTS.glob("*/values.yaml"):
        for line in values.read_text().splitlines():
            key, _, value = line.partition(":")
            key = key.strip().lower()
            if key.startswith("#") or key.endswith(("key", "existingsecret")):
                continue
            if key.endswith(("password", "secret", "token", "accesskey", "secretkey")):
                assert value.strip() in {"", '""'}, f"{values}: {line}"



def test_secrets_only_in_secret_objects(scenario: list[Doc]) -> None:
    assert secret_leaks(scenario) == []


def test_leak_checker_flags_a_secret_copied_elsewhere(platform: list[Doc]) -> None:
    docs = copy.deepcopy(platform)
    url = secret_data(by_kind(docs, "Secret")["commitlake-pipeline"])["DATABASE_URL"]
    by_kind(docs, "ConfigMap")["commitlake-config"]["data"]["DATABASE_URL"] = url
    assert any("commitlake-config" in leak for leak in secret_leaks(docs))


def test_credentials_agree_across_secrets(platform: list[Doc]) -> None:
    secrets = {name: secret_data(doc) for name, doc in by_kind(platform, "Secret").items()}
    pg = secrets["commitlake-postgres-auth"]
    store = secrets["commitlake-objectstore-auth"]
    pipeline = secrets["commitlake-pipeline"]
    mlflow = secrets["commitlake-mlflow-env"]
    db = urlsplit(pipeline["DATABASE_URL"])
    assert (db.username, db.password, db.path) == ("pipeline", pg["pipeline-password"], "/commitlake")
    assert db.hostname == "commitlake-postgres.commitlake.svc" and db.port == 5432
    ml = urlsplit(mlflow["MLFLOW_BACKEND_STORE_URI"])
    assert (ml.username, ml.password, ml.path) == ("mlflow", pg["mlflow-password"], "/mlflow")
    argo = secrets["commitlake-argo-s3"]
    access = [s["AWS_ACCESS_KEY_ID"] for s in (pipeline, mlflow, argo)]
    secret = [s["AWS_SECRET_ACCESS_KEY"] for s in (pipeline, mlflow, argo)]
    assert len({store["root-user"], *access}) == 4, "each consumer has its own S3 identity, none is root"
    assert len({store["root-password"], *secret}) == 4 and min(map(len, secret)) >= 40
    assert len(pg["pipeline-password"]) >= 32 and pg["pipeline-password"] != pg["mlflow-password"]
    assert "GITHUB_TOKEN" not in pipeline, "no token unless one was provided"


# -- object-store identities ---------------------------------------------------------------------------------

ROOT_SECRET = "commitlake-objectstore-auth"


def _secret_refs(spec: Doc) -> set[str]:
    """Names of the Secrets a pod spec reads (env, envFrom, volumes)."""
    names = set()
    for container in (spec.get("initContainers") or []) + spec["containers"]:
        for env in container.get("env") or []:
            ref = (env.get("valueFrom") or {}).get("secretKeyRef")
            if ref:
                names.add(ref["name"])
        for source in container.get("envFrom") or []:
            if "secretRef" in source:
                names.add(source["secretRef"]["name"])
    for volume in spec.get("volumes") or []:
        if "secret" in volume:
            names.add(volume["secret"]["secretName"])
    return names


def _allows(policy: Doc, action: str, resource: str) -> bool:
    """IAM evaluation for Allow-only policies (what the setup Job writes): any statement matching both."""
    from fnmatch import fnmatchcase

    for statement in policy["Statement"]:
        actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        resources = statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
        if statement["Effect"] == "Allow" and any(fnmatchcase(action, a) for a in actions) and any(
            fnmatchcase(resource, r) for r in resources
        ):
            return True
    return False


def _identity_policies(docs: list[Doc]) -> dict[str, Doc]:
    """Consumer Secret name -> the IAM policy the setup Job attaches to the user whose keys that Secret holds."""
    import json
    import re

    job = by_kind(docs, "Job")["commitlake-objectstore-buckets"]
    container = job["spec"]["template"]["spec"]["containers"][0]
    script = container["args"][0]
    env = {e["name"]: e["valueFrom"]["secretKeyRef"] for e in container["env"] if "valueFrom" in e}
    policies: dict[str, Doc] = {}
    for text, policy in re.findall(r"printf '%s' '(\{.*\})' > /tmp/policy-([a-z0-9-]+)\.json", script):
        policies[policy] = json.loads(text)
    by_secret = {}
    for policy, index in re.findall(r'mc admin policy attach store commitlake-([a-z0-9-]+) --user "\$ID_(\d+)_ACCESS"',
                                    script):
        assert f'mc admin user add store "$ID_{index}_ACCESS" "$ID_{index}_SECRET"' in script
        access, secret = env[f"ID_{index}_ACCESS"], env[f"ID_{index}_SECRET"]
        assert access["name"] == secret["name"]
        assert (access["key"], secret["key"]) == ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")
        by_secret[access["name"]] = policies[policy]
    return by_secret


@pytest.mark.parametrize("name", ["default", "kind", "seaweedfs"])
def test_root_object_store_keys_reach_the_store_and_its_setup_job_only(charts_dir: Path, name: str) -> None:
    docs = render(charts_dir / "commitlake", *SCENARIOS.get(name, ()))
    readers = {f"{doc['kind']}/{doc['metadata']['name']}" for doc, _, spec in pod_specs(docs)
               if ROOT_SECRET in _secret_refs(spec)}
    store_only = {"StatefulSet/commitlake-objectstore"}
    assert readers == (store_only if name == "seaweedfs" else store_only | {"Job/commitlake-objectstore-buckets"})
    secrets = {n: secret_data(d) for n, d in by_kind(docs, "Secret").items()}
    root = secrets[ROOT_SECRET]
    for secret_name, data in secrets.items():
        if secret_name != ROOT_SECRET:
            assert root["root-user"] not in data.values() and root["root-password"] not in data.values(), secret_name


def test_each_consumer_identity_is_scoped_to_its_buckets(platform: list[Doc]) -> None:
    expected = EXPECTED_SCOPES
    policies = _identity_policies(platform)
    assert set(policies) == set(expected)
    all_buckets = {"commitlake-lake", "commitlake-mlflow", "commitlake-argo", "commitlake-backups", "other"}
    for secret_name, policy in policies.items():
        for bucket in all_buckets:
            mine = bucket in expected[secret_name]
            for action in ("s3:GetObject", "s3:PutObject", "s3:DeleteObject"):
                assert _allows(policy, action, f"arn:aws:s3:::{bucket}/k/x.jsonl.gz") is mine, (secret_name, action)
            assert _allows(policy, "s3:ListBucket", f"arn:aws:s3:::{bucket}") is mine, (secret_name, bucket)
            for action in ("s3:DeleteBucket", "s3:CreateBucket", "s3:PutBucketPolicy"):
                assert not _allows(policy, action, f"arn:aws:s3:::{bucket}"), (secret_name, action)
        for action in ("admin:CreateUser", "s3:ListAllMyBuckets", "admin:*"):
            assert not _allows(policy, action, "arn:aws:s3:::*"), (secret_name, action)


EXPECTED_SCOPES = {
    "commitlake-pipeline": {"commitlake-lake"},
    "commitlake-mlflow-env": {"commitlake-mlflow"},
    "commitlake-argo-s3": {"commitlake-argo"},
    "commitlake-backups": {"commitlake-backups"},
}


def test_seaweedfs_identities_are_scoped_to_their_buckets(charts_dir: Path) -> None:
    """SeaweedFS's -s3.config: identity actions are `<Action>:<bucket>`; keys come from the consumers' Secrets."""
    import json
    import re

    docs = render(charts_dir / "commitlake", *SCENARIOS["seaweedfs"])
    container = by_kind(docs, "StatefulSet")["commitlake-objectstore"]["spec"]["template"]["spec"]["containers"][0]
    script = container["args"][0]
    assert script.rstrip().endswith("exec /usr/bin/weed mini -dir=/data -s3 -s3.config=/tmp/s3-identities.json")
    config = json.loads(re.search(r"<<JSON\n(.*?)\nJSON\n", script, re.S).group(1))  # type: ignore[union-attr]
    env = {e["name"]: e["valueFrom"]["secretKeyRef"] for e in container["env"] if "valueFrom" in e}
    scopes = {}
    for identity in config["identities"]:
        (cred,) = identity["credentials"]
        access = env[cred["accessKey"].lstrip("$")]
        assert env[cred["secretKey"].lstrip("$")]["name"] == access["name"]
        buckets = {action.split(":", 1)[1] for action in identity["actions"]}
        assert all(":" in a and not a.startswith("Admin") for a in identity["actions"]), identity["actions"]
        scopes[access["name"]] = buckets
    assert scopes == EXPECTED_SCOPES
    secrets = {n: secret_data(d) for n, d in by_kind(docs, "Secret").items()}
    for name in EXPECTED_SCOPES:  # keys the shell refuses to splice into JSON never come out of the chart
        assert re.fullmatch(r"[A-Za-z0-9_+/=.-]+", secrets[name]["AWS_SECRET_ACCESS_KEY"])


def test_helm_test_checks_the_identities_without_root_keys(platform: list[Doc]) -> None:
    pod = next(d for d in platform if d.get("kind") == "Pod" and d["metadata"]["name"] == "commitlake-objectstore-test")
    assert ROOT_SECRET not in _secret_refs(pod["spec"])
    script = pod["spec"]["containers"][0]["args"][0]
    assert "mc pipe id0/commitlake-lake/" in script
    assert "if mc ls id0/commitlake-mlflow" in script, "the pipeline identity must be refused the MLflow bucket"


def test_identities_must_cover_every_consumer_secret(charts_dir: Path) -> None:
    err = render_error(charts_dir / "commitlake", "--set", "objectstore.identities[0].name=pipeline",
                       "--set", "objectstore.identities[0].existingSecret=commitlake-pipeline",
                       "--set", "objectstore.identities[0].accessKeyKey=AWS_ACCESS_KEY_ID",
                       "--set", "objectstore.identities[0].secretKeyKey=AWS_SECRET_ACCESS_KEY",
                       "--set", "objectstore.identities[0].buckets={commitlake-lake}")
    assert 'no identity for Secret "commitlake-mlflow-env"' in err
    twice = [f"identities[{i}].{k}={v}" for i in (0, 1) for k, v in
             (("name", "x"), ("existingSecret", "s"), ("accessKeyKey", "a"), ("secretKeyKey", "b"),
              ("buckets", "{commitlake-lake}"))]
    err = render_error(charts_dir / "objectstore", *[a for s in twice for a in ("--set", s)])
    assert '"x" is listed twice' in err
    err = render_error(charts_dir / "objectstore", "--set", "identities[0].name=x",
                       "--set", "identities[0].existingSecret=s", "--set", "identities[0].accessKeyKey=a",
                       "--set", "identities[0].secretKeyKey=b", "--set", "identities[0].buckets={nope}")
    assert 'bucket "nope" is not in buckets' in err


def test_byo_secrets_are_referenced_not_created(charts_dir: Path) -> None:
    docs = render(charts_dir / "commitlake", *SCENARIOS["byo-secrets"])
    assert by_kind(docs, "Secret") == {}
    sts = by_kind(docs, "StatefulSet")["commitlake-postgres"]
    refs = {
        e["valueFrom"]["secretKeyRef"]["name"]
        for e in sts["spec"]["template"]["spec"]["containers"][0]["env"]
        if "valueFrom" in e
    }
    assert refs == {"commitlake-postgres-auth"}


def test_secret_names_must_agree(charts_dir: Path) -> None:
    err = render_error(charts_dir / "commitlake", "--set", "postgres.auth.existingSecret=other")
    assert "postgres.auth.existingSecret must equal secrets.postgres" in err
    err = render_error(charts_dir / "mlflow")
    assert "auth.existingSecret is required" in err
    err = render_error(charts_dir / "objectstore", "--set", "backend=s3proxy")
    assert "value must be one of 'minio', 'seaweedfs'" in err  # values.schema.json
    err = render_error(charts_dir / "objectstore", "--set", "buckets={Bad_Bucket}")
    assert "is not a valid S3 bucket name" in err  # _validations.tpl


# -- contracts with the pipeline -----------------------------------------------------------------------------


def test_pipeline_contract(platform: list[Doc]) -> None:
    from commitlake.contract import CONFIG_MAP, SERVICE_ACCOUNT
    from commitlake.pipeline import STAGES

    config = by_kind(platform, "ConfigMap")[CONFIG_MAP]["data"]
    assert list(config) == list(dict.fromkeys(k for s in STAGES for k in s.config_env))  # generated from the stages
    assert config["COMMITLAKE_MAX_REQUESTS"] == "" and config["COMMITLAKE_WITH_FILES"] == "false"
    assert config["COMMITLAKE_LAKE_URI"] == "s3://commitlake-lake/lake"
    assert config["AWS_ENDPOINT_URL_S3"] == "http://commitlake-objectstore:9000"
    assert config["MLFLOW_TRACKING_URI"] == "http://commitlake-mlflow.commitlake.svc:5000"
    assert set(by_kind(platform, "Service")) >= {"commitlake-objectstore", "commitlake-mlflow", "commitlake-postgres"}
    assert SERVICE_ACCOUNT in by_kind(platform, "ServiceAccount")
    role = by_kind(platform, "Role")["commitlake-workflow-executor"]
    assert role["rules"] == [{"apiGroups": ["argoproj.io"], "resources": ["workflowtaskresults"],
                              "verbs": ["create", "patch"]}]
    from commitlake import contract

    repo = yaml.safe_load(by_kind(platform, "ConfigMap")[contract.ARTIFACT_REPOSITORIES]["data"]["default-v1"])
    assert repo["s3"]["endpoint"] == "commitlake-objectstore.commitlake.svc:9000"
    # Argo's own Secret, whose keys exist and are scoped to the artifacts bucket alone (EXPECTED_SCOPES)
    assert repo["s3"]["accessKeySecret"] == {"name": contract.ARTIFACT_SECRET, "key": contract.S3_ACCESS_KEY_KEY}
    assert repo["s3"]["secretKeySecret"] == {"name": contract.ARTIFACT_SECRET, "key": contract.S3_SECRET_KEY_KEY}
    argo = secret_data(by_kind(platform, "Secret")[contract.ARTIFACT_SECRET])
    assert set(argo) == {contract.S3_ACCESS_KEY_KEY, contract.S3_SECRET_KEY_KEY}
    assert argo != {k: secret_data(by_kind(platform, "Secret")[contract.SECRET])[k] for k in argo}
    assert EXPECTED_SCOPES[contract.ARTIFACT_SECRET] == {repo["s3"]["bucket"]}
    assert repo["s3"]["bucket"] not in EXPECTED_SCOPES[contract.SECRET]


def test_workflows_are_rendered_from_the_hera_files(platform: list[Doc], charts_dir: Path) -> None:
    """With default values the chart's WorkflowTemplate is Hera's, placed in the release namespace."""
    files = CHARTS / "commitlake" / "files"
    present = {name: (files / name).exists() for name in ("workflow-template.yaml", "cron-workflow.yaml")}
    kinds = {d["kind"] for d in platform}
    if present["workflow-template.yaml"]:
        expected = [d for d in yaml.safe_load_all((files / "workflow-template.yaml").read_text()) if d]
        for doc in expected:
            doc["metadata"]["namespace"] = NAMESPACE
        assert [d for d in platform if d["kind"] == "WorkflowTemplate"] == expected
    if present["cron-workflow.yaml"]:
        assert "CronWorkflow" in kinds
    # The guard: without the files the chart still renders, just without Argo objects.
    bare = charts_dir.parent / "bare"
    shutil.copytree(charts_dir, bare, dirs_exist_ok=True)
    shutil.rmtree(bare / "commitlake" / "files", ignore_errors=True)
    docs = render(bare / "commitlake")
    assert not {d["kind"] for d in docs} & ARGO_KINDS
    assert "commitlake-config" in by_kind(docs, "ConfigMap")


def test_every_service_has_a_helm_test(platform: list[Doc]) -> None:
    tests = [d for d in platform if d["kind"] == "Pod"
             and d["metadata"].get("annotations", {}).get("helm.sh/hook") == "test"]
    components = {d["metadata"]["labels"]["app.kubernetes.io/component"] for d in tests}
    assert components == {"postgres-test", "objectstore-test", "mlflow-test", "observability-test"}


def test_images_are_pinned_and_not_bitnami(scenario: list[Doc]) -> None:
    from charts_policy import pod_specs

    for _doc, _meta, spec in pod_specs(scenario):
        for c in spec["containers"]:
            image = c["image"]
            assert "bitnami" not in image and ":" in image.rsplit("/", 1)[-1], image
            assert not image.endswith(":latest"), image
            assert not image.startswith(("minio/", "docker.io/minio/")), f"{image}: MinIO left Docker Hub"


# -- observability -------------------------------------------------------------------------------------------


def test_alloy_parses_commitlake_lines(platform: list[Doc]) -> None:
    config = by_kind(platform, "ConfigMap")["commitlake-observability-alloy"]["data"]["config.alloy"]
    assert "promtail" not in config.lower()
    assert 'loki.source.kubernetes "pods"' in config
    assert 'selector = "{component=\\"pipeline\\"}"' in config
    labels = config.split("stage.labels", 1)[1].split("}", 1)[0]
    assert "level" in labels and "stage" in labels and "run_id" not in labels
    assert "run_id" in config.split("stage.structured_metadata", 1)[1].split("}", 1)[0]
    assert 'names = ["commitlake"]' in config
    assert "http://commitlake-observability-loki:3100/loki/api/v1/push" in config


def test_grafana_provisioning(platform: list[Doc]) -> None:
    import json

    prov = by_kind(platform, "ConfigMap")["commitlake-observability-grafana-provisioning"]["data"]
    datasources = yaml.safe_load(prov["datasources.yaml"])["datasources"]
    assert datasources[0]["uid"] == "loki" and datasources[0]["url"].endswith(":3100")
    rules = yaml.safe_load(prov["alert-rules.yaml"])["groups"][0]["rules"]
    query = rules[0]["data"][0]["model"]["expr"]
    assert 'event="run.finished"' in query and 'status="failed"' in query and "[15m]" in query
    assert rules[0]["data"][0]["relativeTimeRange"]["from"] == 900
    dash_cm = by_kind(platform, "ConfigMap")["commitlake-observability-grafana-dashboards"]["data"]
    dashboard = json.loads(dash_cm["commitlake-pipeline.json"])
    exprs = " ".join(t["expr"] for p in dashboard["panels"] for t in p["targets"])
    for needle in ('event="run.finished"', 'event="stage.finished"', "unwrap duration_s", "unwrap rows",
                   'event="github.rate_limit_wait"', "unwrap wait_seconds", 'status="failed"'):
        assert needle in exprs, needle


# -- postgres role matrix, for real --------------------------------------------------------------------------


def test_postgres_init_creates_the_role_matrix(platform: list[Doc], private_cluster: Any) -> None:
    import psycopg

    from commitlake.warehouse.embedded import find_postgres_bin

    sql = by_kind(platform, "ConfigMap")["commitlake-postgres-initdb"]["data"]["10-commitlake-roles.sql"]
    admin = private_cluster.url("postgres", "postgres")
    with psycopg.connect(admin, autocommit=True) as conn:  # the embedded bootstrap pre-creates these
        conn.execute("drop database if exists commitlake")
        for role in ("pipeline", *PERSONAS):
            conn.execute(f"drop role if exists {role}")
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("PG")},
        "PIPELINE_PASSWORD": "pipeline-pw-0123456789",
        "MLFLOW_PASSWORD": "mlflow-pw-0123456789",
        "COMMITLAKE_DATABASE": "commitlake",
        "MLFLOW_DATABASE": "mlflow",
        "MLFLOW_DATABASE_ENABLED": "true",
    }
    result = subprocess.run([str(find_postgres_bin() / "psql"), "-X", "-v", "ON_ERROR_STOP=1", admin],
                            input=sql, capture_output=True, text=True, env=env, timeout=60)
    assert result.returncode == 0, result.stderr

    base = admin.rsplit("@", 1)[1].rsplit("/", 1)[0]
    with psycopg.connect(f"postgresql://pipeline:pipeline-pw-0123456789@{base}/commitlake", autocommit=True) as c:
        for schema in ("raw", "staging", "analytics", "ops", "ml"):
            c.execute(f"create table {schema}.t (id bigserial primary key, x int)")
    with psycopg.connect(f"postgresql://mlflow:mlflow-pw-0123456789@{base}/mlflow") as c:
        assert c.execute("select current_database()").fetchone() == ("mlflow",)

    matrix = {  # role -> schema -> (can read, can write)
        "data_engineer": {"raw": (1, 1), "staging": (1, 1), "analytics": (1, 1), "ops": (0, 0), "ml": (0, 0)},
        "data_scientist": {"raw": (1, 0), "staging": (1, 0), "analytics": (1, 0), "ops": (1, 0), "ml": (1, 1)},
        "ml_engineer": {"raw": (1, 0), "staging": (1, 0), "analytics": (1, 0), "ops": (1, 0), "ml": (1, 1)},
        "analyst": {"raw": (0, 0), "staging": (0, 0), "analytics": (1, 0), "ops": (0, 0), "ml": (0, 0)},
    }
    with psycopg.connect(admin.rsplit("/", 1)[0] + "/commitlake", autocommit=True) as c:
        owners: dict[str, str] = dict(c.execute(
            "select nspname, nspowner::regrole::text from pg_namespace "
            "where nspname in ('raw','staging','analytics','ops','ml')").fetchall())
        assert owners == dict.fromkeys(("raw", "staging", "analytics", "ops", "ml"), "pipeline")
        for role, schemas in matrix.items():
            assert c.execute("select rolcanlogin from pg_roles where rolname = %s", [role]).fetchone() == (False,)
            for schema, (read, write) in schemas.items():
                table = f"{schema}.t"
                got = c.execute(
                    "select has_schema_privilege(%s, %s, 'USAGE') and has_table_privilege(%s, %s, 'SELECT'),"
                    " has_schema_privilege(%s, %s, 'USAGE') and has_table_privilege(%s, %s, 'INSERT')",
                    [role, schema, role, table, role, schema, role, table],
                ).fetchone()
                assert got == (bool(read), bool(write)), f"{role} on {schema}: {got}"
        assert c.execute("select has_database_privilege('public', 'commitlake', 'CONNECT')").fetchone() == (False,)


# -- kind-up.sh ----------------------------------------------------------------------------------------------

_FAKE_TOOL = """#!/bin/sh
# Records its argv (one line) and whatever it reads on stdin, as a real tool would see them.
printf '%s %s\\n' "$(basename "$0")" "$*" >> "$CALLS"
case "$(basename "$0") $*" in
  "kind version"*) echo "kind v0.29.0 go1.24 linux/amd64" ;;
  "kind get"*) echo commitlake ;;
  "helm version"*) echo v4.0.0 ;;
  *"addresses[0].ip"*) echo 172.18.0.2 ;;
  *"ports[0].port"*) echo 6443 ;;
  "docker network inspect kind"*) echo "fc00:f853:ccd:e793::/64 172.18.0.0/16 " ;;
  "helm upgrade"*) prev=; for a in "$@"; do [ "$prev" = -f ] && cat "$a" >> "$VALUES_LOG"; prev=$a; done ;;
esac
if [ ! -t 0 ]; then cat >> "$STDIN_LOG"; fi
exit 0
"""


def test_kind_up_passes_the_github_token_on_stdin_never_in_argv(tmp_path: Path) -> None:
    """`ps` shows every process's argv: the token must only travel on a pipe."""
    root = tmp_path / "clone"
    (root / "charts" / "scripts").mkdir(parents=True)
    (root / "charts" / "commitlake").mkdir()
    shutil.copy(CHARTS / "scripts" / "kind-up.sh", root / "charts" / "scripts" / "kind-up.sh")
    bin_dir = root / ".tools" / "bin"
    bin_dir.mkdir(parents=True)
    for tool in ("kind", "kubectl", "helm", "docker"):
        (bin_dir / tool).write_text(_FAKE_TOOL)
        (bin_dir / tool).chmod(0o755)
    token = "ghp_" + "A1b2C3d4" * 4
    calls, stdin_log, values_log = tmp_path / "calls", tmp_path / "stdin", tmp_path / "values"
    (root / "charts" / "commitlake" / "ci").mkdir()
    (root / "charts" / "commitlake" / "ci" / "kind-values.yaml").write_text("# kind\n")
    env = {"PATH": f"{bin_dir}:/usr/bin:/bin", "HOME": str(tmp_path), "GITHUB_TOKEN": token,
           "CALLS": str(calls), "STDIN_LOG": str(stdin_log), "VALUES_LOG": str(values_log)}
    result = subprocess.run(["bash", str(root / "charts" / "scripts" / "kind-up.sh")], env=env,
                            capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
    assert result.returncode == 0, result.stderr
    argv = calls.read_text()
    assert "patch secret commitlake-pipeline" in argv
    assert token not in argv, "the token was on a command line"
    assert f'{{"stringData":{{"GITHUB_TOKEN":"{token}"}}}}' in stdin_log.read_text()
    # The cluster's own addresses go into the NetworkPolicies: the API server's /32, kind's network for the UIs.
    cluster = yaml.safe_load(values_log.read_text())
    assert cluster["global"]["kubeAPI"] == {"cidrs": ["172.18.0.2/32"], "ports": [6443]}
    assert cluster["mlflow"]["networkPolicy"]["uiFromCidrs"] == ["172.18.0.0/16"]

    env["GITHUB_TOKEN"] = 'ghp_x","other":"y'
    bad = subprocess.run(["bash", str(root / "charts" / "scripts" / "kind-up.sh")], env=env,
                         capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
    assert bad.returncode == 1 and "GITHUB_TOKEN has characters" in bad.stderr
