#!/usr/bin/env bash
# Build, list or kind-load the commitlake images.
#
#   images/build.sh build [IMAGE...]   every stage image (or only those named) from images/Dockerfile
#   images/build.sh list               the image references, one a line
#   images/build.sh kind-load          load them into the kind cluster ${KIND_CLUSTER:-commitlake}
#
# Tags: ${COMMITLAKE_IMAGE_PREFIX:-commitlake}/<name>:<package version>, the same string the rendered
# WorkflowTemplate uses. The image names and the extra each installs come from commitlake.pipeline
# (IMAGE_EXTRAS), the version from src/commitlake/__init__.py, the uv release from pyproject.toml. Environment:
#   BASE_IMAGE      Python base for every image (default: the Dockerfiles' public python:3.11 slim image)
#   PIP_CERT        a CA bundle for pip, handed to the build as the BuildKit secret `pipcert` (never stored)
#   DOCKER          the docker client (default: one that can drive BuildKit, see pick_docker)
#   BUILD_NETWORK   network for RUN steps (default: host, which also works on a dockerd run with --bridge=none)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PREFIX="${COMMITLAKE_IMAGE_PREFIX:-commitlake}"
VERSION="$(sed -n 's/^__version__ = "\(.*\)"$/\1/p' "${ROOT}/src/commitlake/__init__.py")"
UV_VERSION="$(sed -n 's/^required-version = "==\(.*\)"$/\1/p' "${ROOT}/pyproject.toml")"
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

image_extras() {
    # "<image> <extra>" lines from the one pipeline definition (read from source: no venv needed).
    python3 - "${ROOT}/src/commitlake/pipeline.py" <<'PY'
import ast, sys
tree = ast.parse(open(sys.argv[1]).read())
for node in tree.body:
    if isinstance(node, ast.AnnAssign) and getattr(node.target, "id", "") == "IMAGE_EXTRAS":
        for image, extra in ast.literal_eval(node.value).items():
            print(image, extra)
PY
}
stage_images() { image_extras | cut -d' ' -f1; }
extra_of() { image_extras | awk -v image="$1" '$1 == image {print $2}'; }

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
    local name="$1" extra started size
    extra="$(extra_of "${name}")"
    [[ -n "${extra}" ]] || { log "no image named ${name} in commitlake.pipeline.IMAGE_EXTRAS"; exit 2; }
    local args=(build --network "${BUILD_NETWORK}" --file "${ROOT}/images/Dockerfile" --tag "$(ref "${name}")"
        --build-arg "EXTRA=${extra}" --build-arg "VERSION=${VERSION}" --build-arg "UV_VERSION=${UV_VERSION}"
        --label "org.opencontainers.image.title=commitlake-${name}")
    [[ -n "${BASE_IMAGE:-}" ]] && args+=(--build-arg "BASE_IMAGE=${BASE_IMAGE}")
    [[ -n "${CERT}" ]] && args+=(--secret "id=pipcert,src=${CERT}")
    [[ -n "${BUILD_PROGRESS:-}" ]] && args+=(--progress "${BUILD_PROGRESS}")
    log "building $(ref "${name}") (extra ${extra})"
    started=$(date +%s)
    "${DOCKER}" "${args[@]}" "${ROOT}"
    size="$("${DOCKER}" image inspect --format '{{.Size}}' "$(ref "${name}")")"
    printf '%-32s %6d MB %5d s\n' "$(ref "${name}")" "$((size / 1000000))" "$(($(date +%s) - started))" >>"${SUMMARY}"
}

cmd="${1:-build}"
shift || true
case "${cmd}" in
    list)
        for name in $(stage_images); do ref "${name}"; echo; done
        ;;
    build)
        CERT="$(pip_cert)"
        [[ -n "${CERT}" ]] && log "pip CA bundle ${CERT} goes in as a BuildKit secret"
        SUMMARY="$(mktemp)"
        trap 'rm -f "${SUMMARY}"' EXIT
        targets=("$@")
        [[ ${#targets[@]} -gt 0 ]] || mapfile -t targets < <(stage_images)
        for name in "${targets[@]}"; do
            build_one "${name}"
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
