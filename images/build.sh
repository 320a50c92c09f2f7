#!/usr/bin/env bash
# Build, list or kind-load the commitlake images.
#
#   images/build.sh build [IMAGE...]   base first, then every images/<name>/Dockerfile (or only those named)
#   images/build.sh list               the image references, one a line
#   images/build.sh kind-load          load them into the kind cluster ${KIND_CLUSTER:-commitlake}
#
# Tags: ${COMMITLAKE_IMAGE_PREFIX:-commitlake}/<name>:<package version>, the same string the rendered
# WorkflowTemplate uses. Environment:
#   BASE_IMAGE      Python base for every image (default: the Dockerfiles' public python:3.11 slim image)
#   PIP_CERT        a CA bundle for pip, handed to the build as the BuildKit secret `pipcert` (never stored)
#   DOCKER          the docker client (default: one that can drive BuildKit, see pick_docker)
#   BUILD_NETWORK   network for RUN steps (default: host, which also works on a dockerd run with --bridge=none)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PREFIX="${COMMITLAKE_IMAGE_PREFIX:-commitlake}"
VERSION="$(sed -n 's/^__version__ = "\(.*\)"$/\1/p' "${ROOT}/src/commitlake/__init__.py")"
BUILD_NETWORK="${BUILD_NETWORK:-host}"

log() { printf '[images] %s\n' "$*" >&2; }

[[ -n "${VERSION}" ]] || { log "no __version__ in src/commitlake/__init__.py"; exit 1; }

pick_docker() {
    # BuildKit is needed for the pip CA secret. A client with buildx uses it by default; without buildx a
    # pre-23 client (Debian's docker.io 20.10 at /usr/bin/docker) still drives the engine's own BuildKit.
    if [[ -n "${DOCKER:-}" ]]; then
        printf '%s' "${DOCKER}"
    elif docker buildx version >/dev/null 2>&1; then
        printf 'docker'
    elif [[ -x /usr/bin/docker ]]; then
        printf '/usr/bin/docker'
    else
        printf 'docker'
    fi
}
DOCKER="$(pick_docker)"
export DOCKER_BUILDKIT=1

stage_images() {
    # Every directory with a Dockerfile except the shared base; tests/test_images.py checks that this set is
    # the set of image components in commitlake.pipeline.STAGES.
    local dir
    for dir in "${ROOT}"/images/*/; do
        dir="${dir%/}"
        [[ -f "${dir}/Dockerfile" && "$(basename "${dir}")" != base ]] && basename "${dir}"
    done
    return 0
}

ref() { printf '%s/%s:%s' "${PREFIX}" "$1" "${VERSION}"; }

pip_cert() {
    local cert="${PIP_CERT:-}"
    if [[ -z "${cert}" ]] && command -v python3 >/dev/null; then
        cert="$(python3 -m pip config get global.cert 2>/dev/null || true)"
        cert="${cert//\'/}"
    fi
    [[ -n "${cert}" && -s "${cert}" ]] && printf '%s' "${cert}"
    return 0
}

build_one() {
    local name="$1" started size
    local args=(build --network "${BUILD_NETWORK}" --file "${ROOT}/images/${name}/Dockerfile"
        --tag "$(ref "${name}")" --build-arg "COMMITLAKE_BASE=$(ref base)" --build-arg "VERSION=${VERSION}")
    [[ -n "${BASE_IMAGE:-}" ]] && args+=(--build-arg "BASE_IMAGE=${BASE_IMAGE}")
    [[ -n "${CERT}" ]] && args+=(--secret "id=pipcert,src=${CERT}")
    [[ -n "${BUILD_PROGRESS:-}" ]] && args+=(--progress "${BUILD_PROGRESS}")
    log "building $(ref "${name}")"
    started=$(date +%s)
    "${DOCKER}" "${args[@]}" "${ROOT}"
    size="$("${DOCKER}" image inspect --format '{{.Size}}' "$(ref "${name}")")"
    printf '%-32s %6d MB %5d s\n' "$(ref "${name}")" "$((size / 1000000))" "$(($(date +%s) - started))" >>"${SUMMARY}"
}

cmd="${1:-build}"
shift || true
case "${cmd}" in
    list)
        ref base; echo
        for name in $(stage_images); do ref "${name}"; echo; done
        ;;
    build)
        CERT="$(pip_cert)"
        [[ -n "${CERT}" ]] && log "pip CA bundle ${CERT} goes in as a BuildKit secret"
        SUMMARY="$(mktemp)"
        trap 'rm -f "${SUMMARY}"' EXIT
        targets=("$@")
        [[ ${#targets[@]} -gt 0 ]] || mapfile -t targets < <(stage_images)
        build_one base
        for name in "${targets[@]}"; do
            [[ "${name}" == base ]] || build_one "${name}"
        done
        log "image                            size       build time"
        cat "${SUMMARY}" >&2
        ;;
    kind-load)
        cluster="${KIND_CLUSTER:-commitlake}"
        command -v kind >/dev/null || { log "kind is not on PATH"; exit 1; }
        for name in $(stage_images); do
            log "kind load $(ref "${name}") into ${cluster}"
            kind load docker-image "$(ref "${name}")" --name "${cluster}"
        done
        ;;
    *)
        log "usage: $0 {build [IMAGE...]|list|kind-load}"
        exit 2
        ;;
esac
