"""The scale profile: kind with 3 workers, CloudNativePG, distributed MinIO; rendered with the real helm.

CloudNativePG's custom resources are validated strictly against the v1.30.0 CRDs in ../shared/schemas, and
the NetworkPolicies are checked flow by flow with the labels CloudNativePG puts on the pods it creates.
"""

from __future__ import annotations

import base64
import copy
import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from chart_copy import built_charts
from charts_policy import (
    Endpoint,
    flow_allowed,
    network_policy_violations,
    security_violations,
    workload_endpoints,
)
from commitlake import contract
from crd_schema import CrdValidator

ROOT = Path(__file__).resolve().parents[1]
CHARTS = ROOT / "charts"
HELM = ROOT / ".tools" / "bin" / "helm"
SCALE_VALUES = CHARTS / "commitlake" / "values-scale.yaml"
CNPG_CRDS = ROOT.parent / "shared" / "schemas" / "cloudnative-pg-v1.30.0"
NAMESPACE = "commitlake"
CLUSTER = "commitlake-warehouse"

pytestmark = pytest.mark.skipif(
    not HELM.exists() and not os.environ.get("COMMITLAKE_REQUIRE_HELM"),
    reason="helm not installed: run .ci/tools.sh (make tools)",
)

Doc = dict[str, Any]


def _helm(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "HELM_NAMESPACE": NAMESPACE}
    return subprocess.run([str(HELM), *args], capture_output=True, text=True, env=env, timeout=120, check=False)


@pytest.fixture(scope="module")
def charts_dir() -> Iterator[Path]:
    with built_charts("commitlake-scale-") as charts:
        yield charts


def render(chart: Path, *args: str) -> list[Doc]:
    result = _helm("template", "commitlake", str(chart), "-n", NAMESPACE, *args)
    assert result.returncode == 0, result.stderr
    return [d for d in yaml.safe_load_all(result.stdout) if d]


def render_error(chart: Path, *args: str) -> str:
    result = _helm("template", "commitlake", str(chart), "-n", NAMESPACE, *args)
    assert result.returncode != 0, "render was expected to fail"
    return result.stderr


def one(docs: list[Doc], kind: str, name: str | None = None) -> Doc:
    found = [d for d in docs if d["kind"] == kind and (name is None or d["metadata"]["name"] == name)]
    assert len(found) == 1, f"{kind} {name}: {len(found)} found"
    return found[0]


@pytest.fixture(scope="module")
def scale(charts_dir: Path) -> list[Doc]:
    return render(charts_dir / "commitlake", "-f", str(SCALE_VALUES))


@pytest.fixture(scope="module")
def crds() -> CrdValidator:
    if not CNPG_CRDS.is_dir():
        pytest.skip(f"CloudNativePG CRDs not found at {CNPG_CRDS}")
    return CrdValidator(CNPG_CRDS)


# -- item 1: the profile switch ---------------------------------------------------------------------------


def test_kind_config_scale_has_three_workers_and_the_same_ports() -> None:
    scale_cfg = yaml.safe_load((ROOT / "kind-config-scale.yaml").read_text())
    default_cfg = yaml.safe_load((ROOT / "kind-config.yaml").read_text())
    roles = [n["role"] for n in scale_cfg["nodes"]]
    assert roles == ["control-plane", "worker", "worker", "worker"]
    assert scale_cfg["nodes"][0]["extraPortMappings"] == default_cfg["nodes"][0]["extraPortMappings"]
    assert [n["role"] for n in default_cfg["nodes"]] == ["control-plane"], "default profile stays single-node"


def _fake_tools(bin_dir: Path, log: Path) -> Path:
    """A copy of kind-up.sh whose .tools/bin holds stand-ins for docker/kind/helm/kubectl/make that record
    their arguments (no cluster or Docker here). Returns the script."""
    script_copy = bin_dir.parent / "charts" / "scripts" / "kind-up.sh"
    script_copy.parent.mkdir(parents=True)
    shutil.copy(CHARTS / "scripts" / "kind-up.sh", script_copy)
    bin_dir = bin_dir.parent / ".tools" / "bin"
    bin_dir.mkdir(parents=True)
    for tool in ("docker", "kind", "helm", "kubectl", "make"):
        script = bin_dir / tool
        script.write_text(
            "#!/usr/bin/env bash\n"
            f'echo "{tool} $*" >> "{log}"\n'
            f'if [[ "{tool} $1" == "kind version" ]]; then echo "kind v0.27.0 go1.24 linux/amd64"; fi\n'
            # kind-up reads the cluster's API endpoint and kind's Docker network for the NetworkPolicies
            f'if [[ "{tool}" == kubectl && "$*" == *"get endpoints kubernetes"*addresses* ]]; then '
            "echo 172.18.0.2; fi\n"
            f'if [[ "{tool}" == kubectl && "$*" == *"get endpoints kubernetes"*ports* ]]; then echo 6443; fi\n'
            f'if [[ "{tool} $1 $2" == "docker network inspect" ]]; then echo "172.18.0.0/16 fc00:f853::/64"; fi\n'
            "exit 0\n"
        )
        script.chmod(0o755)
    return script_copy


@pytest.mark.parametrize(("profile", "config", "cnpg", "values"), [
    ("default", "kind-config.yaml", False, False),
    ("scale", "kind-config-scale.yaml", True, True),
])
def test_kind_up_profile_switch(tmp_path: Path, profile: str, config: str, cnpg: bool, values: bool) -> None:
    log = tmp_path / "calls.log"
    script = _fake_tools(tmp_path / "bin", log)
    env = {**os.environ, "PATH": "/usr/bin:/bin", "PROFILE": profile, "KIND_CLUSTER": "t", "GITHUB_TOKEN": ""}
    done = subprocess.run(["bash", str(script)], capture_output=True, text=True,
                          env=env, timeout=120, check=False, stdin=subprocess.DEVNULL)
    assert done.returncode == 0, done.stderr
    calls = log.read_text().splitlines()
    assert any(c.startswith("kind create cluster") and f"--config {config}" in c for c in calls), calls
    cnpg_calls = [c for c in calls if "cloudnative-pg/releases/download/v1.30.0/cnpg-1.30.0.yaml" in c]
    assert bool(cnpg_calls) == cnpg
    install = next(c for c in calls if c.startswith("helm upgrade --install"))
    assert ("-f charts/commitlake/values-scale.yaml" in install) == values


def test_kind_up_rejects_an_unknown_profile(tmp_path: Path) -> None:
    script = _fake_tools(tmp_path / "bin", tmp_path / "calls.log")
    env = {**os.environ, "PATH": "/usr/bin:/bin", "PROFILE": "huge"}
    done = subprocess.run(["bash", str(script)], capture_output=True, text=True, env=env, timeout=60, check=False)
    assert done.returncode == 2
    assert "PROFILE must be default or scale, got huge" in done.stderr


def test_make_passes_the_profile() -> None:
    if shutil.which("make") is None:
        pytest.skip("make not installed")
    done = subprocess.run(["make", "-n", "-f", "charts/kind.mk", "kind-up", "PROFILE=scale"], capture_output=True,
                          text=True, cwd=ROOT, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    assert "PROFILE=scale bash charts/scripts/kind-up.sh" in done.stdout


# -- item 2: CloudNativePG ----------------------------------------------------------------------------------


def test_scale_profile_crs_validate_strictly(scale: list[Doc], crds: CrdValidator) -> None:
    count, errors = crds.validate_all(scale)
    assert errors == []
    kinds = sorted(d["kind"] for d in scale if crds.covers(d))
    assert count == 5 and kinds == ["Cluster", "Database", "Pooler", "Pooler", "ScheduledBackup"]


@pytest.mark.parametrize(("path", "wrong", "expected"), [
    (("spec",), "instance", "'instance' was unexpected"),
    (("spec", "affinity"), "enablePodAntiAfinity", "'enablePodAntiAfinity' was unexpected"),
    (("spec", "backup", "barmanObjectStore", "wal"), "compresion", "'compresion' was unexpected"),
    (("spec", "postgresql", "synchronous"), "numbr", "'numbr' was unexpected"),
])
def test_a_misspelt_cluster_field_fails(scale: list[Doc], crds: CrdValidator, path: tuple[str, ...], wrong: str,
                                        expected: str) -> None:
    cluster = copy.deepcopy(one(scale, "Cluster"))
    node = cluster
    for key in path:
        node = node[key]
    node[wrong] = "x"
    errors = crds.errors(cluster)
    assert any(expected in e for e in errors), errors


def test_a_misspelt_pooler_or_role_field_fails(scale: list[Doc], crds: CrdValidator) -> None:
    pooler = copy.deepcopy(one(scale, "Pooler", f"{CLUSTER}-pooler-rw"))
    pooler["spec"]["pgbouncer"]["poolMode"] = "sesion"
    assert any("poolMode" in e for e in crds.errors(pooler))
    cluster = copy.deepcopy(one(scale, "Cluster"))
    role = cluster["spec"]["managed"]["roles"][-1]
    role["passwrdSecret"] = role.pop("passwordSecret")
    assert any("'passwrdSecret' was unexpected" in e for e in crds.errors(cluster))
    # Fields the CRD marks x-kubernetes-preserve-unknown-fields stay open (e.g. inheritedMetadata is not).
    assert crds.errors(one(scale, "Cluster")) == []


def test_cluster_contract(scale: list[Doc]) -> None:
    spec = one(scale, "Cluster", CLUSTER)["spec"]
    assert spec["instances"] == 3
    assert spec["postgresql"]["synchronous"] == {"method": "any", "number": 1, "dataDurability": "preferred"}
    assert spec["affinity"]["podAntiAffinityType"] == "required"
    assert spec["bootstrap"]["initdb"]["database"] == "commitlake"
    roles = {r["name"]: r for r in spec["managed"]["roles"]}
    assert set(roles) == {"data_engineer", "data_scientist", "ml_engineer", "analyst", "pipeline", "mlflow",
                          "grafana"}
    assert not roles["analyst"]["login"] and roles["pipeline"]["login"]
    assert roles["grafana"]["login"] and roles["grafana"]["inRoles"] == ["analyst"]
    store = spec["backup"]["barmanObjectStore"]
    credentials = store["s3Credentials"]
    assert {credentials[k]["name"] for k in ("accessKeyId", "secretAccessKey")} == {contract.BACKUP_SECRET}
    assert (credentials["accessKeyId"]["key"], credentials["secretAccessKey"]["key"]) == (
        contract.S3_ACCESS_KEY_KEY, contract.S3_SECRET_KEY_KEY)
    assert store["endpointURL"] == "http://commitlake-objectstore:9000"
    bucket = store["destinationPath"].removeprefix("s3://").split("/")[0]
    buckets_job = one(scale, "Job")
    assert bucket in yaml.safe_dump(buckets_job), "the backup bucket must be created by the object store"
    backup = one(scale, "ScheduledBackup")["spec"]
    assert backup["cluster"]["name"] == CLUSTER and backup["method"] == "barmanObjectStore"
    assert not [d for d in scale if d["kind"] == "StatefulSet" and "postgres" in d["metadata"]["name"]]


def test_synchronous_replication_is_configurable(charts_dir: Path) -> None:
    docs = render(charts_dir / "commitlake", "-f", str(SCALE_VALUES), "--set", "warehouse.synchronous.enabled=false")
    assert "synchronous" not in one(docs, "Cluster")["spec"]["postgresql"]


def test_pipeline_and_mlflow_reach_the_rw_pooler_with_the_roles_passwords(scale: list[Doc]) -> None:
    secrets = {d["metadata"]["name"]: {k: base64.b64decode(v).decode() for k, v in d["data"].items()}
               for d in scale if d["kind"] == "Secret"}
    rw = one(scale, "Pooler", f"{CLUSTER}-pooler-rw")["spec"]
    ro = one(scale, "Pooler", f"{CLUSTER}-pooler-ro")["spec"]
    assert (rw["type"], ro["type"]) == ("rw", "ro")
    assert rw["pgbouncer"]["poolMode"] == "session", "session advisory locks need session pooling"
    url = secrets["commitlake-pipeline"]["DATABASE_URL"]
    assert url == (f"postgresql://pipeline:{secrets['commitlake-warehouse-pipeline']['password']}"
                   f"@{CLUSTER}-pooler-rw.commitlake.svc:5432/commitlake")
    mlflow_uri = secrets["commitlake-mlflow-env"]["MLFLOW_BACKEND_STORE_URI"]
    assert f"mlflow:{secrets['commitlake-warehouse-mlflow']['password']}@{CLUSTER}-pooler-rw." in mlflow_uri
    for role in ("pipeline", "mlflow"):
        secret = one(scale, "Secret", f"commitlake-warehouse-{role}")
        assert secret["type"] == "kubernetes.io/basic-auth" and secrets[secret["metadata"]["name"]]["username"] == role


def test_default_profile_has_no_cloudnative_pg(charts_dir: Path, crds: CrdValidator) -> None:
    docs = render(charts_dir / "commitlake")
    assert not [d for d in docs if crds.covers(d)]
    assert one(docs, "StatefulSet", "commitlake-postgres")


def _major(image: str) -> int:
    """PostgreSQL's major version from an image reference: postgres:18.4-alpine, .../postgresql:17.6-system-bookworm."""
    return int(image.rsplit(":", 1)[1].split(".", 1)[0])


def test_both_profiles_collate_by_code_point_with_unicode_ctype(charts_dir: Path, scale: list[Doc]) -> None:
    """The models lower() and match subjects, and sort and index text keys: every profile's warehouse must do it as
    the embedded server does (C collation, C.UTF-8 ctype), with PostgreSQL's builtin C.UTF-8 locale (17+)."""
    cluster = one(scale, "Cluster", CLUSTER)["spec"]
    initdb = cluster["bootstrap"]["initdb"]
    assert (initdb.get("localeProvider"), initdb.get("builtinLocale")) == ("builtin", "C.UTF-8")
    assert _major(cluster["imageName"]) >= 17
    default = one(render(charts_dir / "commitlake"), "StatefulSet", "commitlake-postgres")
    container = default["spec"]["template"]["spec"]["containers"][0]
    args = {e["name"]: e.get("value") for e in container["env"]}["POSTGRES_INITDB_ARGS"].split()
    assert {"--encoding=UTF8", "--locale-provider=builtin", "--builtin-locale=C.UTF-8"} <= set(args)
    assert _major(container["image"]) >= 17


# -- PSS and NetworkPolicies ---------------------------------------------------------------------------------

PIPELINE = Endpoint(labels={"app.kubernetes.io/part-of": "commitlake", "app.kubernetes.io/component": "pipeline"})
# What CloudNativePG puts on the pods it creates (plus the Cluster's inheritedMetadata / the Pooler template).
INSTANCE = Endpoint(labels={"cnpg.io/cluster": CLUSTER, "cnpg.io/podRole": "instance",
                            "cnpg.io/instanceRole": "replica", "app.kubernetes.io/part-of": "commitlake",
                            "app.kubernetes.io/component": "warehouse"})
POOLER_RW = Endpoint(labels={"cnpg.io/cluster": CLUSTER, "cnpg.io/podRole": "pooler",
                             "cnpg.io/poolerName": f"{CLUSTER}-pooler-rw",
                             "app.kubernetes.io/part-of": "commitlake", "app.kubernetes.io/component": "postgres"})
POOLER_RO = Endpoint(labels={"cnpg.io/cluster": CLUSTER, "cnpg.io/podRole": "pooler",
                             "cnpg.io/poolerName": f"{CLUSTER}-pooler-ro",
                             "app.kubernetes.io/part-of": "commitlake", "app.kubernetes.io/component": "postgres-ro"})
OPERATOR = Endpoint(labels={"app.kubernetes.io/name": "cloudnative-pg"}, namespace="cnpg-system")
OTHER_NS = Endpoint(labels={"app.kubernetes.io/name": "cloudnative-pg"}, namespace="default")
INTERNET = Endpoint(ip="140.82.112.6")


def _objectstore(docs: list[Doc]) -> Endpoint:
    sts = one(docs, "StatefulSet", "commitlake-objectstore")
    return Endpoint(labels=sts["spec"]["template"]["metadata"]["labels"], ports={"s3": 9000, "console": 9001})


def test_every_pod_is_restricted(scale: list[Doc]) -> None:
    assert security_violations(scale) == []


def test_new_flows_and_nothing_more(scale: list[Doc]) -> None:
    assert network_policy_violations(scale) == []
    store = _objectstore(scale)
    mlflow = workload_endpoints(scale)["mlflow"]
    grafana = workload_endpoints(scale)["grafana"]
    allowed = [
        (INSTANCE, INSTANCE, 5432, "replication"),
        (POOLER_RW, INSTANCE, 5432, "rw pooler -> instances"),
        (POOLER_RO, INSTANCE, 5432, "ro pooler -> instances"),
        (PIPELINE, POOLER_RW, 5432, "pipeline -> rw pooler"),
        (mlflow, POOLER_RW, 5432, "mlflow -> rw pooler"),
        (INSTANCE, store, 9000, "WAL archive and base backups"),
        (OPERATOR, INSTANCE, 8000, "operator -> instance status"),
        (store, store, 9000, "MinIO erasure-set traffic"),
        (PIPELINE, store, 9000, "pipeline -> lake"),
        (grafana, POOLER_RO, 5432, "grafana -> ro pooler (analytics, read-only)"),
    ]
    denied = [
        (PIPELINE, INSTANCE, 5432, "clients go through the pooler"),
        (mlflow, INSTANCE, 5432, "clients go through the pooler"),
        (PIPELINE, POOLER_RO, 5432, "the ro pooler is for analysts"),
        (OPERATOR, INSTANCE, 5432, "the operator only needs 8000"),
        (OTHER_NS, INSTANCE, 8000, "only the operator's namespace"),
        (INSTANCE, PIPELINE, 8080, "instances open nothing else"),
        (INSTANCE, INTERNET, 443, "no internet for the database"),
        (POOLER_RW, store, 9000, "poolers do not back up"),
        (store, INSTANCE, 5432, "the store never calls the database"),
        (INSTANCE, INSTANCE, 8000, "replication is 5432 only"),
        (grafana, POOLER_RW, 5432, "grafana never writes"),
        (grafana, INSTANCE, 5432, "grafana goes through the ro pooler"),
        (grafana, store, 9000, "grafana has no business in the lake"),
        (POOLER_RO, grafana, 3000, "the pooler never calls grafana"),
    ]
    for src, dst, port, why in allowed:
        assert flow_allowed(scale, src, dst, port), why
    for src, dst, port, why in denied:
        assert not flow_allowed(scale, src, dst, port), why


def test_readonly_pooler_admits_its_listed_clients_only(scale: list[Doc]) -> None:
    policy = one(scale, "NetworkPolicy", f"{CLUSTER}-pooler-ro")
    peers = [p["podSelector"]["matchLabels"]["app.kubernetes.io/component"]
             for p in policy["spec"]["ingress"][0]["from"]]
    assert peers == ["grafana"]


def _provisioned_datasources(docs: list[Doc]) -> list[Doc]:
    config = one(docs, "ConfigMap", "commitlake-observability-grafana-provisioning")
    return list(yaml.safe_load(config["data"]["datasources.yaml"])["datasources"])


def test_grafana_reads_analytics_through_the_ro_pooler(scale: list[Doc], charts_dir: Path) -> None:
    [warehouse] = [d for d in _provisioned_datasources(scale) if d["uid"] == "warehouse"]
    assert warehouse["type"] == "grafana-postgresql-datasource"
    assert warehouse["url"] == f"{CLUSTER}-pooler-ro:5432" and warehouse["jsonData"]["database"] == "commitlake"
    assert (warehouse["user"], warehouse["secureJsonData"]["password"]) == ("$WAREHOUSE_USER", "$WAREHOUSE_PASSWORD")
    pod = one(scale, "Deployment", "commitlake-observability-grafana")["spec"]["template"]["spec"]
    container = pod["containers"][0]
    refs = {e["name"]: e["valueFrom"]["secretKeyRef"] for e in container["env"] if e["name"].startswith("WAREHOUSE_")}
    assert refs == {"WAREHOUSE_USER": {"name": "commitlake-warehouse-grafana", "key": "username"},
                    "WAREHOUSE_PASSWORD": {"name": "commitlake-warehouse-grafana", "key": "password"}}
    login = one(scale, "Secret", "commitlake-warehouse-grafana")
    assert login["type"] == "kubernetes.io/basic-auth"
    assert base64.b64decode(login["data"]["username"]).decode() == "grafana"
    # Grafana's egress: Loki, the ro Pooler's pods and DNS; nothing else.
    egress = one(scale, "NetworkPolicy", "commitlake-observability-grafana")["spec"]["egress"]
    ports = sorted(p["port"] for rule in egress for p in rule["ports"])
    assert ports == [53, 53, 3100, 5432], ports
    # The default profile keeps Grafana on Loki alone.
    default = render(charts_dir / "commitlake")
    assert [d["uid"] for d in _provisioned_datasources(default)] == ["loki"]
    default_egress = one(default, "NetworkPolicy", "commitlake-observability-grafana")["spec"]["egress"]
    assert 5432 not in [p["port"] for rule in default_egress for p in rule["ports"]]


def test_grafana_warehouse_needs_its_endpoint_and_secret(charts_dir: Path) -> None:
    stderr = render_error(charts_dir / "commitlake", "--set", "observability.grafana.warehouse.enabled=true")
    assert "grafana.warehouse.enabled needs grafana.warehouse.host and grafana.warehouse.existingSecret" in stderr


# -- backups: their own identity, the backups bucket only --------------------------------------------------------


@pytest.mark.parametrize("profile", ["default", "scale"])
def test_backups_have_their_own_bucket_scoped_identity(charts_dir: Path, scale: list[Doc], profile: str) -> None:
    docs = scale if profile == "scale" else render(charts_dir / "commitlake")
    secrets = {d["metadata"]["name"]: {k: base64.b64decode(v).decode() for k, v in d["data"].items()}
               for d in docs if d["kind"] == "Secret"}
    backups = secrets[contract.BACKUP_SECRET]
    assert set(backups) == {contract.S3_ACCESS_KEY_KEY, contract.S3_SECRET_KEY_KEY}
    root = secrets["commitlake-objectstore-auth"]
    others = [v[contract.S3_ACCESS_KEY_KEY] for k, v in secrets.items() if k != contract.BACKUP_SECRET
              and contract.S3_ACCESS_KEY_KEY in v]
    assert backups[contract.S3_ACCESS_KEY_KEY] not in [root["root-user"], *others], "not the root's, not shared"
    container = one(docs, "Job")["spec"]["template"]["spec"]["containers"][0]
    script = "\n".join([*container.get("command", []), *container.get("args", [])])
    assert f"mc mb --ignore-existing store/{contract.BACKUP_BUCKET}" in script
    assert f"identity backups may use {contract.BACKUP_BUCKET} only" in script
    [policy] = [line for line in script.splitlines() if "/tmp/policy-backups.json" in line and "printf" in line]
    assert json.loads(policy.split("'")[3])["Statement"][0]["Resource"] == [f"arn:aws:s3:::{contract.BACKUP_BUCKET}"]
    env = {e["name"]: e.get("valueFrom", {}).get("secretKeyRef", {}).get("name") for e in container["env"]}
    assert contract.BACKUP_SECRET in env.values()


# -- item 3: the object store, distributed -------------------------------------------------------------------


def test_minio_is_distributed_and_spread(scale: list[Doc]) -> None:
    sts = one(scale, "StatefulSet", "commitlake-objectstore")
    spec, pod = sts["spec"], sts["spec"]["template"]["spec"]
    assert spec["replicas"] == 4 and spec["podManagementPolicy"] == "Parallel"
    args = pod["containers"][0]["args"]
    assert args[1] == ("http://commitlake-objectstore-{0...3}.commitlake-objectstore-hl.commitlake.svc.cluster.local"
                       ":9000/data{0...1}")
    env = {e["name"]: e.get("value") for e in pod["containers"][0]["env"]}
    assert env["MINIO_STORAGE_CLASS_STANDARD"] == "EC:4"
    assert [v["metadata"]["name"] for v in spec["volumeClaimTemplates"]] == ["data0", "data1"]
    assert [m["mountPath"] for m in pod["containers"][0]["volumeMounts"] if m["name"].startswith("data")] == [
        "/data0", "/data1"]
    spread = pod["topologySpreadConstraints"][0]
    assert (spread["topologyKey"], spread["maxSkew"], spread["whenUnsatisfiable"]) == (
        "kubernetes.io/hostname", 1, "DoNotSchedule")
    assert pod["affinity"]["podAntiAffinity"]["preferredDuringSchedulingIgnoredDuringExecution"]
    pdbs = {d["metadata"]["name"]: d["spec"] for d in scale if d["kind"] == "PodDisruptionBudget"}
    assert pdbs["commitlake-objectstore"]["maxUnavailable"] == 1
    assert {f"{CLUSTER}-pooler-rw", f"{CLUSTER}-pooler-ro"} <= set(pdbs)
    assert one(scale, "Cluster")["spec"]["enablePDB"] is True


def test_single_pod_store_is_unchanged(charts_dir: Path) -> None:
    docs = render(charts_dir / "objectstore")
    sts = one(docs, "StatefulSet")
    assert sts["spec"]["replicas"] == 1 and "podManagementPolicy" not in sts["spec"]
    assert sts["spec"]["template"]["spec"]["containers"][0]["args"][1] == "/data"
    assert [v["metadata"]["name"] for v in sts["spec"]["volumeClaimTemplates"]] == ["data"]
    assert not [d for d in docs if d["kind"] == "PodDisruptionBudget"]


@pytest.mark.parametrize(("args", "message"), [
    (("--set", "replicas=2"), "needs at least 4 drives: replicas x drivesPerNode is 2"),
    (("--set", "replicas=4", "--set", "backend=seaweedfs"), "replicas > 1 needs backend=minio"),
])
def test_bad_distributed_settings_fail_with_one_line(charts_dir: Path, args: tuple[str, ...], message: str) -> None:
    assert message in render_error(charts_dir / "objectstore", *args)


# -- item 4: pipeline scale-out ------------------------------------------------------------------------------

ARGO_SCHEMA = ROOT.parent / "shared" / "schemas" / "argo-workflows-v4.1.2.schema.json"
HERA_TEMPLATE = CHARTS / "commitlake" / "files" / "workflow-template.yaml"


def _argo_errors(doc: Doc) -> list[str]:
    import json

    from jsonschema import Draft202012Validator

    from crd_schema import strict

    if not ARGO_SCHEMA.is_file():
        pytest.skip(f"Argo schema not found at {ARGO_SCHEMA}")
    schema = json.loads(ARGO_SCHEMA.read_text())
    closed = {"$schema": schema["$schema"], "definitions": strict(schema["definitions"]),
              "$ref": "#/definitions/io.argoproj.workflow.v1alpha1.WorkflowTemplate"}
    return [e.message for e in Draft202012Validator(closed).iter_errors(doc)]


def _without_scale_knobs(doc: Doc) -> Doc:
    out = copy.deepcopy(doc)
    out["spec"].pop("podSpecPatch", None)
    for t in out["spec"]["templates"]:
        t.pop("parallelism", None)
        (t.get("container") or {}).pop("resources", None)
    return out


def test_workflow_scale_out_overlay(scale: list[Doc], charts_dir: Path) -> None:
    if not HERA_TEMPLATE.is_file():
        pytest.skip("no Hera render in charts/commitlake/files")
    wt = one(scale, "WorkflowTemplate")
    hera = yaml.safe_load(HERA_TEMPLATE.read_text())
    templates = {t["name"]: t for t in wt["spec"]["templates"]}
    assert templates["pipeline"]["parallelism"] == 12, "ingest fan-out parallelism from values"
    assert templates["transform"]["container"]["resources"]["limits"] == {"cpu": "4", "memory": "4Gi"}
    hera_plan = next(t for t in hera["spec"]["templates"] if t["name"] == "plan")
    assert templates["plan"]["container"]["resources"] == hera_plan["container"]["resources"], "others untouched"
    patch = yaml.safe_load(wt["spec"]["podSpecPatch"])
    spread = patch["topologySpreadConstraints"][0]
    assert spread["topologyKey"] == "kubernetes.io/hostname"
    assert spread["labelSelector"]["matchLabels"]["app.kubernetes.io/component"] == "pipeline"
    assert wt["spec"]["synchronization"] == {"mutexes": [{"name": "commitlake-warehouse"}]}, "the mutex is kept"
    default = one(render(charts_dir / "commitlake"), "WorkflowTemplate")  # the same deploy-time choices
    assert _without_scale_knobs(wt) == _without_scale_knobs(default), "nothing else changes"
    assert _argo_errors(wt) == []


def test_workflow_scale_knobs_are_validated(charts_dir: Path) -> None:
    if not HERA_TEMPLATE.is_file():
        pytest.skip("no Hera render in charts/commitlake/files")
    err = render_error(charts_dir / "commitlake", "--set", "workflowScale.resources.transfrom.limits.cpu=2")
    assert "workflowScale.resources.transfrom: no such stage" in err
    assert "parallelism" in render_error(charts_dir / "commitlake", "--set", "workflowScale.parallelism=0")


def test_backup_names_in_the_charts_are_the_contract() -> None:
    umbrella = yaml.safe_load((CHARTS / "commitlake" / "values.yaml").read_text())
    ha = yaml.safe_load((CHARTS / "warehouse-ha" / "values.yaml").read_text())["backup"]
    assert umbrella["secrets"]["backups"] == contract.BACKUP_SECRET == ha["s3SecretName"]
    assert (ha["accessKeyKey"], ha["secretKeyKey"]) == (contract.S3_ACCESS_KEY_KEY, contract.S3_SECRET_KEY_KEY)
    assert ha["destinationPath"].removeprefix("s3://").split("/")[0] == contract.BACKUP_BUCKET
    assert contract.BACKUP_BUCKET in umbrella["objectstore"]["buckets"]
    [identity] = [i for i in umbrella["objectstore"]["identities"] if i["existingSecret"] == contract.BACKUP_SECRET]
    assert identity["buckets"] == [contract.BACKUP_BUCKET]
