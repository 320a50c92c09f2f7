#!/usr/bin/env bash
# Offline checks of charts/: helm lint --strict, helm template of every chart with its default and ci/ values,
# kubernetes-validate --strict for Kubernetes 1.30 and 1.35 (no WARN allowed except Argo's custom resources,
# which are filtered out first and validated against Argo's schema elsewhere, and CloudNativePG's, which are
# validated strictly against its v1.30.0 CRDs from ../shared/schemas here), and checkov on the helm,
# kubernetes and dockerfile frameworks. The scale profile (charts/commitlake/values-scale.yaml) is rendered
# and checked like every ci/ values file. Exits non-zero on any failure.
#
# Works on a copy of charts/ in a temp dir, so `helm dependency build` never writes into the tree.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "${ROOT}"
export PATH="${ROOT}/.tools/bin:${PATH}"   # checkov's helm runner needs helm on PATH (it fails open without it)
export HELM_NAMESPACE=commitlake           # checkov's helm runner passes no --namespace; helm reads this
PYTHON="${PYTHON:-${ROOT}/.venv/bin/python}"
KV="${KUBERNETES_VALIDATE:-${ROOT}/.venv/bin/kubernetes-validate}"
CHECKOV="${ROOT}/.tools/checkov-venv/bin/checkov"
K8S_VERSIONS=(1.30.0 1.35.0)
CHARTS=(postgres objectstore mlflow observability warehouse-ha commitlake)
CNPG_CRDS="${CNPG_CRDS:-${ROOT}/../shared/schemas/cloudnative-pg-v1.30.0}"

fail() { printf '[check-charts] FAIL: %s\n' "$*" >&2; exit 1; }
log() { printf '[check-charts] %s\n' "$*" >&2; }

[[ -x .tools/bin/helm ]] || fail ".tools/bin/helm missing: run .ci/tools.sh first"
[[ -x "${CHECKOV}" ]] || fail "checkov missing: run .ci/tools.sh first"
[[ -x "${KV}" ]] || fail "kubernetes-validate missing at ${KV}"
[[ "$(command -v helm)" == "${ROOT}/.tools/bin/helm" ]] || fail "helm on PATH is not .tools/bin/helm"
case "$(helm version --template '{{.Version}}')" in v4.*) ;; *) fail "helm v4 expected" ;; esac

WORK="$(mktemp -d)"
trap 'rm -rf "${WORK}"' EXIT
cp -r charts "${WORK}/charts"
rm -rf "${WORK}/charts/commitlake/charts" "${WORK}/charts/commitlake/Chart.lock"
helm dependency build "${WORK}/charts/commitlake" >/dev/null
mkdir -p "${WORK}/rendered"

# Values files per chart: the defaults (except mlflow, which requires a Secret name) and every ci/*-values.yaml.
values_for() {
    local chart="$1"
    [[ "${chart}" == mlflow ]] || echo "-"
    find "charts/${chart}/ci" -name '*-values.yaml' 2>/dev/null | sort
    [[ "${chart}" != commitlake ]] || echo charts/commitlake/values-scale.yaml
}

# -- lint and render ---------------------------------------------------------------------------------------
n_rendered=0
for chart in "${CHARTS[@]}"; do
    while read -r vf; do
        args=()
        name=default
        if [[ "${vf}" != "-" ]]; then args=(-f "${vf}"); name="$(basename "${vf}" .yaml)"; name="${name%-values}"; fi
        helm lint --strict "${WORK}/charts/${chart}" "${args[@]}" >"${WORK}/lint.out" 2>&1 \
            || { cat "${WORK}/lint.out" >&2; fail "helm lint --strict ${chart} (${name})"; }
        out="${WORK}/rendered/${chart}--${name}.yaml"
        helm template commitlake "${WORK}/charts/${chart}" -n commitlake "${args[@]}" >"${out}" \
            || fail "helm template ${chart} (${name})"
        n_rendered=$((n_rendered + 1))
    done < <(values_for "${chart}")
done
log "linted and rendered ${n_rendered} chart/values combinations"

# -- kubernetes-validate -----------------------------------------------------------------------------------
# Argo's and CloudNativePG's kinds are cut out before validation (kubernetes-validate has no schema for them
# and only WARNs); every other WARN or ERROR fails.
mkdir -p "${WORK}/core"
"${PYTHON}" - "${WORK}/rendered" "${WORK}/core" <<'PY'
import pathlib, sys, yaml
ARGO_KINDS = {"WorkflowTemplate", "CronWorkflow", "Workflow", "ClusterWorkflowTemplate"}
src, dst = map(pathlib.Path, sys.argv[1:])
for f in sorted(src.glob("*.yaml")):
    docs = [d for d in yaml.safe_load_all(f.read_text()) if d]
    core = [d for d in docs if not (d.get("apiVersion", "").startswith("argoproj.io/") and d.get("kind") in ARGO_KINDS)
            and not d.get("apiVersion", "").startswith("postgresql.cnpg.io/")]
    (dst / f.name).write_text(yaml.safe_dump_all(core, sort_keys=False))
PY
for v in "${K8S_VERSIONS[@]}"; do
    for f in "${WORK}"/core/*.yaml; do
        if ! "${KV}" --strict -k "${v}" "${f}" >"${WORK}/kv.out" 2>&1 || grep -Eq '^(WARN|ERROR)' "${WORK}/kv.out"; then
            grep -E '^(WARN|ERROR)' "${WORK}/kv.out" >&2 || cat "${WORK}/kv.out" >&2
            fail "kubernetes-validate ${v} $(basename "${f}")"
        fi
    done
    log "kubernetes-validate --strict ${v}: all resources valid"
done

# -- CloudNativePG custom resources, strictly against the v1.30.0 CRDs (a misspelt field fails) ----------------
[[ -d "${CNPG_CRDS}" ]] || fail "CloudNativePG CRDs not found at ${CNPG_CRDS}"
"${PYTHON}" tests/crd_schema.py "${CNPG_CRDS}" "${WORK}"/rendered/*.yaml >"${WORK}/crd.out" 2>&1 \
    || { cat "${WORK}/crd.out" >&2; fail "CloudNativePG CRD schema"; }
grep -q '^\[crd-schema\] 0 custom' "${WORK}/crd.out" && fail "no CloudNativePG resource rendered (scale profile missing?)"
log "$(tail -1 "${WORK}/crd.out")"

# -- checkov -----------------------------------------------------------------------------------------------
# Guard: checkov exits 0 when it cannot render a chart (or finds no helm); require that it scanned resources
# and that no chart failed to render.
checkov_json() {   # $1: label; rest: checkov arguments
    local label="$1"; shift
    "${CHECKOV}" --config-file charts/.checkov.yaml -o json "$@" >"${WORK}/ck-${label}.json" 2>"${WORK}/ck-${label}.err" || true
    if grep -q "Failed processing helm chart" "${WORK}/ck-${label}.err"; then
        grep "Failed processing" "${WORK}/ck-${label}.err" >&2
        fail "checkov ${label}: a chart did not render"
    fi
    "${PYTHON}" - "${WORK}/ck-${label}.json" "${label}" <<'PY' || fail "checkov ${label}"
import json, sys
path, label = sys.argv[1:]
try:
    data = json.load(open(path))
except ValueError:
    sys.exit(f"checkov {label}: no JSON output")
reports = data if isinstance(data, list) else [data]
passed = failed = 0
for r in reports:
    s = r.get("summary", {})
    passed += s.get("passed", 0)
    failed += s.get("failed", 0)
    for f in r.get("results", {}).get("failed_checks", []):
        print(f"  {f['check_id']} {f['check_name']}: {f['resource']} ({f['file_path']})", file=sys.stderr)
print(f"[check-charts] checkov {label}: passed={passed} failed={failed}", file=sys.stderr)
if passed == 0:
    sys.exit(f"checkov {label}: scanned nothing (passed == 0)")
if failed:
    sys.exit(1)
PY
}

for chart in "${CHARTS[@]}"; do
    # warehouse-ha renders only CloudNativePG CRs, NetworkPolicies and PDBs, none of which checkov has checks
    # for (it would scan nothing); its render is still in the kubernetes-framework scan of rendered/ below.
    [[ "${chart}" == warehouse-ha ]] && { log "checkov helm-warehouse-ha: no checkov-checkable kinds, skipped"; continue; }
    vf=()
    [[ "${chart}" == mlflow ]] && vf=(--var-file charts/mlflow/ci/default-values.yaml)
    checkov_json "helm-${chart}" --framework helm -d "${WORK}/charts/${chart}" "${vf[@]}"
done
checkov_json kubernetes --framework kubernetes -d "${WORK}/rendered"
if compgen -G "images/*Dockerfile*" >/dev/null || compgen -G "images/*/Dockerfile*" >/dev/null; then
    checkov_json dockerfile --framework dockerfile -d images
    # Stands in for CKV_DOCKER_7, which cannot see through `FROM ${BASE_IMAGE}`: each ARG default is pinned.
    bad="$(grep -HnE '^ARG [A-Z_]*IMAGE=' images/Dockerfile | grep -vE '=[^:@ ]+[:@][^ ]+$|=[^ ]*:[0-9][^ ]*$' || true)"
    bad="${bad}$(grep -HnE '^ARG [A-Z_]*IMAGE=.*:latest' images/Dockerfile || true)"
    [[ -z "${bad}" ]] || { echo "${bad}" >&2; fail "base image ARG defaults must carry a pinned, non-latest tag"; }
else
    log "no Dockerfiles under images/ yet: dockerfile framework skipped"
fi
log "all chart checks passed"
