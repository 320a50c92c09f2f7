"""Checks on rendered Kubernetes objects: pod security, NetworkPolicy flows, secrets kept out of plain objects.

The charts' tests render them with the real helm binary and run these checkers on the result; each checker
returns a list of violations (empty means compliant), so a test can also prove a checker catches a broken object.
"""

from __future__ import annotations

import base64
import ipaddress
import json
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "Endpoint",
    "flow_allowed",
    "network_policy_violations",
    "pod_specs",
    "secret_leaks",
    "security_violations",
    "workload_endpoints",
]

Doc = dict[str, Any]

_POD_KINDS = {"Deployment", "StatefulSet", "DaemonSet", "Job", "ReplicaSet"}


def pod_specs(docs: Iterable[Doc]) -> Iterator[tuple[Doc, Doc, Doc]]:
    """Yield (object, pod metadata, pod spec) for every object that runs pods."""
    for doc in docs:
        kind = doc.get("kind")
        if kind == "Pod":
            yield doc, doc.get("metadata", {}), doc["spec"]
        elif kind in _POD_KINDS:
            template = doc["spec"]["template"]
            yield doc, template.get("metadata", {}), template["spec"]
        elif kind == "CronJob":
            template = doc["spec"]["jobTemplate"]["spec"]["template"]
            yield doc, template.get("metadata", {}), template["spec"]


def _is_hook(doc: Doc) -> bool:
    return "helm.sh/hook" in (doc.get("metadata", {}).get("annotations") or {})


def security_violations(docs: Iterable[Doc]) -> list[str]:
    """Pod Security "restricted" plus our own rules: read-only root, resources, probes on long-running pods."""
    problems: list[str] = []
    for doc, _meta, spec in pod_specs(docs):
        name = f"{doc['kind']}/{doc['metadata']['name']}"
        psc = spec.get("securityContext") or {}
        if (psc.get("seccompProfile") or {}).get("type") != "RuntimeDefault":
            problems.append(f"{name}: pod seccompProfile is not RuntimeDefault")
        if spec.get("hostNetwork") or spec.get("hostPID") or spec.get("hostIPC"):
            problems.append(f"{name}: uses host namespaces")
        for volume in spec.get("volumes") or []:
            if "hostPath" in volume:
                problems.append(f"{name}: hostPath volume {volume['name']}")
        long_running = doc["kind"] in {"Deployment", "StatefulSet", "DaemonSet"} and not _is_hook(doc)
        for container in (spec.get("initContainers") or []) + spec["containers"]:
            where = f"{name}[{container['name']}]"
            csc = container.get("securityContext") or {}
            if not (csc.get("runAsNonRoot") or psc.get("runAsNonRoot")):
                problems.append(f"{where}: runAsNonRoot is not set")
            if (csc.get("runAsUser", psc.get("runAsUser")) or 0) == 0:
                problems.append(f"{where}: runs as uid 0")
            if csc.get("allowPrivilegeEscalation") is not False:
                problems.append(f"{where}: allowPrivilegeEscalation is not false")
            if csc.get("privileged"):
                problems.append(f"{where}: privileged")
            caps = csc.get("capabilities") or {}
            if "ALL" not in (caps.get("drop") or []) or caps.get("add"):
                problems.append(f"{where}: capabilities do not drop ALL (or add some)")
            if csc.get("readOnlyRootFilesystem") is not True:
                problems.append(f"{where}: readOnlyRootFilesystem is not true")
            if (csc.get("seccompProfile") or psc.get("seccompProfile") or {}).get("type") != "RuntimeDefault":
                problems.append(f"{where}: seccompProfile is not RuntimeDefault")
            resources = container.get("resources") or {}
            for section in ("requests", "limits"):
                for resource in ("cpu", "memory"):
                    if resource not in (resources.get(section) or {}):
                        problems.append(f"{where}: no {section}.{resource}")
            if long_running:
                for probe in ("livenessProbe", "readinessProbe"):
                    if probe not in container:
                        problems.append(f"{where}: no {probe}")
    return problems


# NetworkPolicy evaluation ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Endpoint:
    """A pod (labels and named container ports) or an address outside the cluster (ip)."""

    labels: Mapping[str, str] = field(default_factory=dict)
    ports: Mapping[str, int] = field(default_factory=dict)
    ip: str | None = None
    namespace: str = "commitlake"


def workload_endpoints(docs: Iterable[Doc]) -> dict[str, Endpoint]:
    """Pods of the rendered workloads keyed by their `app.kubernetes.io/component` label."""
    endpoints: dict[str, Endpoint] = {}
    for doc, meta, spec in pod_specs(docs):
        labels = dict(meta.get("labels") or {})
        component = labels.get("app.kubernetes.io/component", doc["metadata"]["name"])
        ports = {p["name"]: p["containerPort"] for c in spec["containers"] for p in c.get("ports") or [] if "name" in p}
        endpoints[component] = Endpoint(labels=labels, ports=ports, namespace=doc["metadata"].get("namespace", ""))
    return endpoints


def _selects(selector: Mapping[str, Any] | None, labels: Mapping[str, str]) -> bool:
    if selector is None:
        return False
    for key, value in (selector.get("matchLabels") or {}).items():
        if labels.get(key) != value:
            return False
    for expr in selector.get("matchExpressions") or []:
        present = expr["key"] in labels
        value = labels.get(expr["key"])
        op = expr["operator"]
        if (op == "In" and value not in expr["values"]) or (op == "NotIn" and value in expr["values"]):
            return False
        if (op == "Exists" and not present) or (op == "DoesNotExist" and present):
            return False
    return True


def _peer_matches(peer: Doc, other: Endpoint, policy_ns: str) -> bool:
    if "ipBlock" in peer:
        if other.ip is None:
            return False  # pod-to-pod traffic is matched by pod selectors here, not by ipBlock
        address = ipaddress.ip_address(other.ip)
        block = peer["ipBlock"]
        if address not in ipaddress.ip_network(block["cidr"]):
            return False
        return not any(address in ipaddress.ip_network(e) for e in block.get("except") or [])
    if other.ip is not None:
        return False
    if "namespaceSelector" in peer:
        ns_labels = {"kubernetes.io/metadata.name": other.namespace}
        if not _selects(peer["namespaceSelector"], ns_labels):
            return False
    elif other.namespace != policy_ns:
        return False
    return "podSelector" not in peer or _selects(peer["podSelector"], other.labels)


def _port_matches(rule_ports: list[Doc] | None, port: int, target: Endpoint) -> bool:
    if not rule_ports:
        return True
    for p in rule_ports:
        if "port" not in p:
            return True
        value = p["port"]
        number = target.ports.get(value) if isinstance(value, str) else value
        if number == port and p.get("protocol", "TCP") == "TCP":
            return True
    return False


def _direction_allowed(policies: list[Doc], pod: Endpoint, other: Endpoint, port: int, port_owner: Endpoint,
                       direction: str) -> bool:
    policy_type = "Egress" if direction == "egress" else "Ingress"
    key = "to" if direction == "egress" else "from"
    selecting = [
        p for p in policies
        if p["metadata"].get("namespace", pod.namespace) == pod.namespace
        and _selects(p["spec"].get("podSelector"), pod.labels) | (p["spec"].get("podSelector") == {})
        and policy_type in p["spec"].get("policyTypes", ["Ingress"])
    ]
    if not selecting:
        return True  # not isolated in this direction
    for policy in selecting:
        for rule in policy["spec"].get(direction) or []:
            peers = rule.get(key)
            peer_ok = not peers or any(_peer_matches(peer, other, pod.namespace) for peer in peers)
            if peer_ok and _port_matches(rule.get("ports"), port, port_owner):
                return True
    return False


def flow_allowed(docs: Iterable[Doc], src: Endpoint, dst: Endpoint, port: int) -> bool:
    """Whether NetworkPolicies let `src` open TCP `port` on `dst` (both directions must allow it)."""
    policies = [d for d in docs if d.get("kind") == "NetworkPolicy" and not _is_hook(d)]
    egress = _direction_allowed(policies, src, dst, port, dst, "egress") if src.ip is None else True
    ingress = _direction_allowed(policies, dst, src, port, dst, "ingress") if dst.ip is None else True
    return egress and ingress


def network_policy_violations(docs: list[Doc]) -> list[str]:
    """The namespace must start from default-deny in both directions."""
    for d in docs:
        if d.get("kind") != "NetworkPolicy" or _is_hook(d):
            continue
        spec = d["spec"]
        if (spec.get("podSelector") == {} and set(spec.get("policyTypes", [])) == {"Ingress", "Egress"}
                and not spec.get("ingress") and not spec.get("egress")):
            return []
    return ["no default-deny NetworkPolicy (podSelector {}, Ingress and Egress, no rules)"]


# Secrets --------------------------------------------------------------------------------------------------


def secret_leaks(docs: Iterable[Doc], min_length: int = 12) -> list[str]:
    """Secret values that appear anywhere outside Secret objects (ConfigMaps, env values, annotations...)."""
    docs = list(docs)
    values: dict[str, str] = {}
    for d in docs:
        if d.get("kind") != "Secret":
            continue
        for key, raw in (d.get("data") or {}).items():
            values[f"{d['metadata']['name']}/{key}"] = base64.b64decode(raw).decode()
        for key, raw in (d.get("stringData") or {}).items():
            values[f"{d['metadata']['name']}/{key}"] = raw
    leaks = []
    for d in docs:
        if d.get("kind") == "Secret":
            continue
        text = json.dumps(d)
        for where, value in values.items():
            if len(value) >= min_length and value in text:
                leaks.append(f"{d['kind']}/{d['metadata']['name']} contains the value of {where}")
    return leaks
