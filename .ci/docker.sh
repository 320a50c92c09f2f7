#!/usr/bin/env bash
# A Docker engine and a local Python base image for the container test (idempotent, as root).
#
#   1. apt-get install docker.io debootstrap           (Debian's engine; no Docker Hub, no get.docker.com)
#   2. dockerd --bridge=none --iptables=false           (in the background; every container uses --network host)
#   3. debootstrap bookworm + python3.11/venv, `docker import` it as ${COMMITLAKE_LOCAL_BASE}
#                                                       (no registry is reachable, so no python:3.11-slim pull)
#
# Prints `export` lines for the variables the build and the test read, so CI can `eval "$(.ci/docker.sh)"`.
# Logs go to stderr. Stop the engine later with: kill "$(cat /run/commitlake-dockerd.pid)".
set -euo pipefail

BASE_IMAGE_NAME="${COMMITLAKE_LOCAL_BASE:-local/python:3.11-bookworm}"
SUITE="bookworm"
PIDFILE="/run/commitlake-dockerd.pid"
LOGFILE="/var/log/commitlake-dockerd.log"
SOCKET="/var/run/docker.sock"

log() { printf '[docker] %s\n' "$*" >&2; }

if [[ $(id -u) -ne 0 ]]; then
    log "run as root: it installs packages and starts dockerd"
    exit 1
fi

# -- 1. packages -----------------------------------------------------------------------------------------
missing=()
[[ -x /usr/sbin/dockerd || -x /usr/bin/dockerd ]] || missing+=(docker.io)
command -v debootstrap >/dev/null || missing+=(debootstrap)
if [[ ${#missing[@]} -gt 0 ]]; then
    log "apt-get install ${missing[*]}"
    DEBIAN_FRONTEND=noninteractive apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# The Debian client (/usr/bin/docker, 20.10) drives BuildKit without buildx (DOCKER_BUILDKIT=1); a newer
# client elsewhere on PATH (e.g. /usr/local/bin/docker 28.x) refuses BuildKit when buildx is missing.
DOCKER=/usr/bin/docker
[[ -x "${DOCKER}" ]] || DOCKER="$(command -v docker)"

# -- 2. the engine ---------------------------------------------------------------------------------------
if "${DOCKER}" info >/dev/null 2>&1; then
    log "engine already running"
else
    log "starting dockerd (log: ${LOGFILE})"
    # setsid: the engine must outlive this script and the CI step that ran it.
    setsid dockerd --bridge=none --iptables=false --ip6tables=false --host "unix://${SOCKET}" \
        >"${LOGFILE}" 2>&1 </dev/null &
    echo $! >"${PIDFILE}"
    for _ in $(seq 1 120); do
        "${DOCKER}" info >/dev/null 2>&1 && break
        sleep 0.5
    done
    if ! "${DOCKER}" info >/dev/null 2>&1; then
        log "dockerd did not come up; last log lines:"
        tail -n 30 "${LOGFILE}" >&2
        exit 1
    fi
fi
log "engine $("${DOCKER}" version --format '{{.Server.Version}}')"

# -- 3. the base image -----------------------------------------------------------------------------------
mirror_url() {
    # The first Debian URI in the apt sources: deb822 (`URIs:`) or one-line (`deb URL suite ...`) format.
    local url
    url="$(grep -hsE '^URIs:' /etc/apt/sources.list.d/*.sources 2>/dev/null | awk '{print $2}' | grep -m1 -vE 'security' || true)"
    if [[ -z "${url}" ]]; then
        url="$(grep -hsE '^deb ' /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null \
            | awk '{print $2}' | grep -m1 -E '/debian/?$' || true)"
    fi
    printf '%s' "${url:-http://deb.debian.org/debian}"
}

if "${DOCKER}" image inspect "${BASE_IMAGE_NAME}" >/dev/null 2>&1; then
    log "base image ${BASE_IMAGE_NAME} already present"
else
    MIRROR="$(mirror_url)"
    root="$(mktemp -d /var/tmp/commitlake-rootfs.XXXXXX)"
    trap 'rm -rf "${root}"' EXIT
    log "debootstrap ${SUITE} from ${MIRROR} (a few minutes)"
    started=$(date +%s)
    debootstrap --variant=minbase --include=python3,python3-venv,ca-certificates \
        "${SUITE}" "${root}" "${MIRROR}" >"${root}.log" 2>&1 || { tail -n 30 "${root}.log" >&2; exit 1; }
    rm -f "${root}.log"
    printf 'deb %s %s main\n' "${MIRROR}" "${SUITE}" >"${root}/etc/apt/sources.list"
    rm -rf "${root}"/var/cache/apt/archives/*.deb "${root}"/var/lib/apt/lists/* "${root}"/var/log/*.log
    log "docker import ${BASE_IMAGE_NAME}"
    tar -C "${root}" -c . | "${DOCKER}" import \
        --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
        --change 'ENV LANG=C.UTF-8' \
        --change 'CMD ["python3"]' \
        - "${BASE_IMAGE_NAME}" >/dev/null
    log "base image built in $(( $(date +%s) - started ))s"
fi
"${DOCKER}" run --rm --network host "${BASE_IMAGE_NAME}" python3 -c 'import sys, venv, ensurepip; print(sys.version)' >&2

printf 'export DOCKER=%q\n' "${DOCKER}"
printf 'export DOCKER_BUILDKIT=1\n'
printf 'export COMMITLAKE_LOCAL_BASE=%q\n' "${BASE_IMAGE_NAME}"
