"""Every command README.md's Kubernetes section and the chart's NOTES.txt show resolves against the real thing:
make targets exist, `argo submit` names a WorkflowTemplate the chart renders in that namespace, `helm` flags are
chart values, `commitlake` commands parse, and `make ui`'s addresses are ports kind maps to rendered Services.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from chart_copy import built_charts
from commitlake import contract

ROOT = Path(__file__).resolve().parents[1]
HELM = ROOT / ".tools" / "bin" / "helm"
pytestmark = pytest.mark.skipif(
    not HELM.exists() and not os.environ.get("COMMITLAKE_REQUIRE_HELM"),
    reason="helm not installed: run .ci/tools.sh (make tools)",
)
Doc = dict[str, Any]


def make_targets() -> set[str]:
    files = [ROOT / "Makefile", *ROOT.glob("*/*.mk")]
    return {m for f in files for m in re.findall(r"(?m)^([A-Za-z][\w.-]*):(?!=)", f.read_text())}


def section(text: str, heading: str) -> str:
    start = text.index(heading)
    following = re.search(r"(?m)^## ", text[start + len(heading):])
    return text[start: start + len(heading) + following.start()] if following else text[start:]


def shell_commands(markdown: str) -> list[list[str]]:
    """Commands of the ```bash blocks, continuation lines joined; `# or: <command>` comments count as commands."""
    commands: list[list[str]] = []
    for block in re.findall(r"```bash\n(.*?)```", markdown, flags=re.S):
        for line in block.replace("\\\n", " ").splitlines():
            code, _, comment = line.partition("#")
            if code.strip():
                commands.append(shlex.split(code))
            alternative = re.match(r"\s*or:\s*(.+)", comment)
            if alternative:
                commands.append(shlex.split(alternative.group(1)))
    return commands


def _option(args: list[str], *names: str) -> str | None:
    for i, arg in enumerate(args):
        if arg in names and i + 1 < len(args):
            return args[i + 1]
    return None


@pytest.fixture(scope="module")
def chart() -> Iterator[Path]:
    with built_charts("commitlake-docs-") as charts:
        yield charts / "commitlake"


def _install_dry_run(chart: Path, release: str, namespace: str, *values: str) -> tuple[list[Doc], str]:
    """`helm install --dry-run=client`: the objects and the NOTES a user would see."""
    result = subprocess.run([str(HELM), "install", release, str(chart), "-n", namespace, "--dry-run=client",
                             *values], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    manifest, _, notes = result.stdout.partition("\nNOTES:\n")
    manifest = manifest.split("\nMANIFEST:\n", 1)[-1]
    return [d for d in yaml.safe_load_all(manifest) if isinstance(d, dict) and "kind" in d], notes


def _check_argo_submit(args: list[str], docs: list[Doc], namespace: str) -> None:
    template = _option(args, "--from")
    assert template and template.startswith("workflowtemplate/"), args
    name = template.split("/", 1)[1]
    rendered = {(d["metadata"]["name"], d["metadata"].get("namespace")) for d in docs
                if d["kind"] == "WorkflowTemplate"}
    assert (name, _option(args, "-n", "--namespace")) in rendered, (args, rendered)
    assert (name, namespace) in rendered


def test_readme_kubernetes_commands_resolve(chart: Path) -> None:
    from commitlake.cli import _parser

    readme = section((ROOT / "README.md").read_text(), "## Kubernetes")
    commands = shell_commands(readme)
    docs, _ = _install_dry_run(chart, "commitlake", contract.DEFAULT_NAMESPACE)
    targets = make_targets()
    seen = set()
    for args in commands:
        env = {}
        while args and re.fullmatch(r"[A-Z_]+=.*", args[0]):
            key, _, value = args.pop(0).partition("=")
            env[key] = value
        tool = Path(args[0]).name
        seen.add(tool)
        if tool == "make":
            assert set(args[1:]) <= targets, f"README: `{shlex.join(args)}` names no make target"
        elif tool == "argo":
            assert args[1] == "submit"
            _check_argo_submit(args, docs, contract.DEFAULT_NAMESPACE)
        elif tool == "commitlake":
            _parser().parse_args(args[1:])  # exits (SystemExit) on an unknown command or flag
            if args[1] == "submit":
                assert "PYTHONPATH" not in env  # commitlake_workflows is installed with the package
        elif tool == "helm":
            if args[1] == "dependency":
                assert Path(ROOT / args[3] / "Chart.yaml").exists()
                continue
            assert args[1:3] == ["upgrade", "--install"] and (ROOT / args[4] / "Chart.yaml").exists()
            sets = [a for i, a in enumerate(args) if i and args[i - 1] == "--set"]
            namespace = _option(args, "-n", "--namespace") or ""
            custom, _ = _install_dry_run(chart, args[3], namespace, *(x for s in sets for x in ("--set", s)))
            values = dict(s.split("=", 1) for s in sets)
            template = next(d for d in custom if d["kind"] == "WorkflowTemplate")
            assert template["metadata"]["namespace"] == namespace
            assert template["spec"]["serviceAccountName"] == values["pipeline.serviceAccountName"]
            images = {t["container"]["image"] for t in template["spec"]["templates"] if "container" in t}
            assert {i.rsplit("/", 1)[0] for i in images} == {values["image.registry"]}
            assert {i.rsplit(":", 1)[1] for i in images} == {values["image.tag"]}
        else:
            pytest.fail(f"README shows `{shlex.join(args)}`: teach this test how to check {tool}")
    assert {"make", "argo", "commitlake", "helm"} <= seen


def test_readme_names_the_contract() -> None:
    readme = section((ROOT / "README.md").read_text(), "## Kubernetes")
    assert f"named `{contract.WORKFLOW_TEMPLATE_NAME}`" in readme
    assert f"`{contract.LABEL_VERSION}` label" in readme


@pytest.mark.parametrize(("release", "namespace"), [("commitlake", "commitlake"), ("lake", "data-team")])
def test_notes_commands_and_names_resolve(chart: Path, release: str, namespace: str) -> None:
    docs, notes = _install_dry_run(chart, release, namespace)
    assert notes.strip(), "no NOTES rendered"
    commands = [shlex.split(line.split("(or:")[0]) for line in notes.splitlines()
                if line.strip().startswith(("argo ", "helm ", "kubectl "))]
    assert commands, notes
    for args in commands:
        if args[0] == "argo":
            _check_argo_submit(args, docs, namespace)
        elif args[:2] == ["helm", "test"]:
            assert args[2] == release and _option(args, "-n") == namespace
        else:
            pytest.fail(f"NOTES shows `{shlex.join(args)}`: teach this test how to check it")
    names = {(d["kind"], d["metadata"]["name"]) for d in docs}
    for kind, name in re.findall(r"^\s+(ServiceAccount|ConfigMap|Secret)\s+(\S+)", notes, flags=re.M):
        assert (kind, name) in names, f"NOTES names {kind} {name}, which the chart does not render"


def test_make_ui_addresses_are_ports_kind_maps_to_rendered_services(chart: Path) -> None:
    kind_mk = (ROOT / "charts" / "kind.mk").read_text()
    recipe = kind_mk.split("\nui:", 1)[1].split("\n\n", 1)[0]
    kind_config = yaml.safe_load((ROOT / "kind-config.yaml").read_text())
    host_to_node = {m["hostPort"]: m["containerPort"] for n in kind_config["nodes"]
                    for m in n.get("extraPortMappings", [])}
    kind_up = (ROOT / "charts" / "scripts" / "kind-up.sh").read_text()
    docs, _ = _install_dry_run(chart, "commitlake", contract.DEFAULT_NAMESPACE,
                               "-f", str(ROOT / "charts" / "commitlake" / "ci" / "kind-values.yaml"))
    node_ports = {p["nodePort"] for d in docs if d["kind"] == "Service" for p in d["spec"].get("ports", [])
                  if p.get("nodePort")}
    ports = [int(p) for p in re.findall(r"https?://localhost:(\d+)", recipe)]
    assert len(ports) == 4, recipe
    for port in ports:
        assert port in host_to_node, f"make ui shows localhost:{port}, which kind-config.yaml does not map"
        node_port = host_to_node[port]
        assert node_port in node_ports or f'"nodePort":{node_port}' in kind_up, (port, node_port)
    secrets = {d["metadata"]["name"] for d in docs if d["kind"] == "Secret"}
    named = set(re.findall(r"[Ss]ecret (commitlake-[\w-]+)", recipe))
    assert len(named) == 2 and named <= secrets, (named, secrets)
    readme = section((ROOT / "README.md").read_text(), "## Kubernetes")
    # what the target does: print, not port-forward
    assert "make ui            # prints the addresses and logins" in readme


def test_every_variable_of_the_readme_configuration_table_is_in_run_help() -> None:
    """`commitlake run --help` is where a user looks for a setting: each one the README's table documents is
    named there (as a variable of some stage, a flag's variable, or the runner's own)."""
    import sys

    readme = (ROOT / "README.md").read_text()
    table = readme.split("## Configuration", 1)[1].split("\n## ", 1)[0]
    documented = re.findall(r"^\| `([A-Z][A-Z0-9_]+)` \|", table, flags=re.MULTILINE)
    assert len(documented) > 15, "the configuration table was not found"
    helped = subprocess.run([sys.executable, "-m", "commitlake", "run", "--help"], capture_output=True, text=True,
                            env={**os.environ, "COLUMNS": "2000"}, timeout=120, check=True).stdout
    assert [name for name in documented if not re.search(rf"\b{name}\b", helped)] == []
