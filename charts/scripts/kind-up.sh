#!/usr/bin/env bash
# Create (or reuse) the kind cluster and install everything: namespace with Pod Security "restricted",
# Argo Workflows, the stage images, and the commitlake chart. Idempotent: re-running upgrades in place.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "${ROOT}"
export PATH="${ROOT}/.tools/bin:${PATH}"
CLUSTER="${KIND_CLUSTER:-commitlake}"
NAMESPACE=commitlake
ARGO_VERSION="${ARGO_VERSION:-v4.1.2}"
ARGO_MANIFEST="https://github.com/argoproj/argo-workflows/releases/download/${ARGO_VERSION}/install.yaml"
# PROFILE=scale: 3 workers, the CloudNativePG operator (pinned) and charts/commitlake/values-scale.yaml.
PROFILE="${PROFILE:-default}"
case "${PROFILE}" in
    default) KIND_CONFIG=kind-config.yaml; PROFILE_VALUES="" ;;
    scale) KIND_CONFIG=kind-config-scale.yaml; PROFILE_VALUES=charts/commitlake/values-scale.yaml ;;
    *) printf '[kind-up] PROFILE must be default or scale, got %s\n' "${PROFILE}" >&2; exit 2 ;;
esac
CNPG_VERSION="${CNPG_VERSION:-1.30.0}"
CNPG_MANIFEST="https://github.com/cloudnative-pg/cloudnative-pg/releases/download/v${CNPG_VERSION}/cnpg-${CNPG_VERSION}.yaml"

log() { printf '[kind-up] %s\n' "$*" >&2; }
need() { command -v "$1" >/dev/null || { log "$1 is required: $2"; exit 1; }; }

need docker "install Docker (or Podman with KIND_EXPERIMENTAL_PROVIDER=podman)"
need kind "install kind >= 0.24 (https://kind.sigs.k8s.io/docs/user/quick-start/#installation)"
need helm "run 'make tools'"
need kubectl "run 'make tools'"
kind_version="$(kind version | sed -E 's/^kind v([0-9]+)\.([0-9]+).*/\1 \2/')"
read -r kmaj kmin <<<"${kind_version}"
if (( kmaj == 0 && kmin < 24 )); then log "kind >= 0.24 is needed (NetworkPolicy enforcement); found $(kind version)"; exit 1; fi

if ! kind get clusters | grep -qx "${CLUSTER}"; then
    log "creating cluster ${CLUSTER}"
    kind create cluster --name "${CLUSTER}" --config "${KIND_CONFIG}" --wait 120s
fi
kubectl config use-context "kind-${CLUSTER}" >/dev/null

log "namespace ${NAMESPACE} (Pod Security: restricted, enforced)"
kubectl apply -f - <<YAML
apiVersion: v1
kind: Namespace
metadata:
  name: ${NAMESPACE}
  labels:
    pod-security.kubernetes.io/enforce: restricted
    pod-security.kubernetes.io/enforce-version: latest
    pod-security.kubernetes.io/warn: restricted
    pod-security.kubernetes.io/audit: restricted
YAML

log "Argo Workflows ${ARGO_VERSION}"
kubectl create namespace argo --dry-run=client -o yaml | kubectl apply -f -
kubectl apply --server-side -n argo -f "${ARGO_MANIFEST}"
# Executor (init/wait) containers must pass Pod Security "restricted" in our namespace too.
kubectl -n argo patch configmap workflow-controller-configmap --type merge -p '{"data":{"executor":"securityContext:\n  runAsNonRoot: true\n  runAsUser: 8737\n  allowPrivilegeEscalation: false\n  readOnlyRootFilesystem: true\n  capabilities:\n    drop: [ALL]\n  seccompProfile:\n    type: RuntimeDefault\n"}}'
kubectl -n argo rollout restart deployment/workflow-controller
# The UI on the NodePort kind maps to localhost:2746.
kubectl -n argo patch service argo-server --type merge \
    -p '{"spec":{"type":"NodePort","ports":[{"name":"web","port":2746,"targetPort":2746,"nodePort":30746}]}}'
kubectl -n argo rollout status deployment/workflow-controller --timeout=180s
kubectl -n argo rollout status deployment/argo-server --timeout=180s

if [[ "${PROFILE}" == scale ]]; then
    log "CloudNativePG operator ${CNPG_VERSION}"
    kubectl apply --server-side -f "${CNPG_MANIFEST}"
    kubectl -n cnpg-system rollout status deployment/cnpg-controller-manager --timeout=180s
fi

log "stage images"
if [[ -x images/build.sh ]]; then
    KIND_CLUSTER="${CLUSTER}" make --no-print-directory kind-load
else
    log "images/build.sh not found: load commitlake/{ingest,transform,quality,train}:<version> yourself (kind load docker-image)"
fi

log "charts"
work="$(mktemp -d)"; trap 'rm -rf "${work}"' EXIT
# The two addresses the NetworkPolicies need from this cluster: the API server's endpoint (pipeline pods and
# Alloy may reach it and nothing else outside the pod network) and kind's Docker network (NodePort traffic
# to the UIs comes from there).
api_ip="$(kubectl -n default get endpoints kubernetes -o jsonpath='{.subsets[0].addresses[0].ip}')"
api_port="$(kubectl -n default get endpoints kubernetes -o jsonpath='{.subsets[0].ports[0].port}')"
kind_net="$(docker network inspect kind -f '{{range .IPAM.Config}}{{if .Subnet}}{{.Subnet}} {{end}}{{end}}' \
    | tr ' ' '\n' | grep -m1 -E '^[0-9]+\.' || true)"
[[ "${api_ip}" =~ ^[0-9.]+$ && "${api_port}" =~ ^[0-9]+$ ]] || { log "cannot read the API server endpoint"; exit 1; }
[[ -n "${kind_net}" ]] || { log "cannot read the IPv4 subnet of Docker network kind"; exit 1; }
log "API server endpoint ${api_ip}:${api_port}; UIs admit ${kind_net}"
cat >"${work}/cluster-values.yaml" <<YAML
global:
  kubeAPI:
    cidrs: ["${api_ip}/32"]
    ports: [${api_port}]
objectstore:
  networkPolicy:
    consoleFromCidrs: ["${kind_net}"]
mlflow:
  networkPolicy:
    uiFromCidrs: ["${kind_net}"]
observability:
  networkPolicy:
    uiFromCidrs: ["${kind_net}"]
YAML
cp -r charts "${work}/charts"
rm -rf "${work}/charts/commitlake/charts"
helm dependency build "${work}/charts/commitlake" >/dev/null
helm upgrade --install commitlake "${work}/charts/commitlake" -n "${NAMESPACE}" \
    -f charts/commitlake/ci/kind-values.yaml ${PROFILE_VALUES:+-f "${PROFILE_VALUES}"} -f "${work}/cluster-values.yaml" \
    ${COMMITLAKE_VALUES:+-f "${COMMITLAKE_VALUES}"} \
    --wait --timeout 15m
if [[ -n "${GITHUB_TOKEN:-}" ]]; then
    # GitHub tokens are [A-Za-z0-9_]; anything else would need JSON escaping and is surely a paste error.
    [[ "${GITHUB_TOKEN}" =~ ^[A-Za-z0-9_]+$ ]] || { log "GITHUB_TOKEN has characters a GitHub token never has"; exit 1; }
    log "storing GITHUB_TOKEN in Secret commitlake-pipeline (kept across upgrades)"
    # The patch goes on stdin (printf is a shell builtin): a command-line argument would show in `ps`.
    printf '{"stringData":{"GITHUB_TOKEN":"%s"}}' "${GITHUB_TOKEN}" \
        | kubectl -n "${NAMESPACE}" patch secret commitlake-pipeline --type merge --patch-file /dev/stdin >/dev/null
fi
helm test commitlake -n "${NAMESPACE}" --timeout 10m
log "done: make ui"
