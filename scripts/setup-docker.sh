#!/usr/bin/env bash
# Makes a Docker daemon available on this machine and builds the local Nginx image.
#
#   - installs docker.io, debootstrap (and curl, openssl, iproute2, and systemd for the tests'
#     `systemd-analyze verify` of examples/renew) with apt, only if missing;
#   - starts a plain `dockerd` in the background when nothing answers on /var/run/docker.sock
#     (no systemd needed; logs go to /var/log/dockerd-mtls.log, the daemon outlives this script);
#   - builds mtls-nginx/nginx:trixie-local (or $MTLS_NGINX_IMAGE) when the tag is missing.
#
# Idempotent: a second run installs nothing, starts nothing, builds nothing and takes seconds.
set -euo pipefail

script_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo_dir="$(cd "${script_dir}/.." && pwd)"
dockerd_log="/var/log/dockerd-mtls.log"
docker_socket="/var/run/docker.sock"
start_timeout_seconds=60

log_tag="setup-docker"
# shellcheck source=SCRIPTDIR/lib.sh
source "${script_dir}/lib.sh"

# --- packages -------------------------------------------------------------------------------
is_installed() {
    [[ "$(dpkg-query -W -f='${Status}' "$1" 2>/dev/null || true)" == "install ok installed" ]]
}

install_missing_packages() {
    local wanted=(docker.io debootstrap curl openssl iproute2 ca-certificates systemd)
    local missing=()
    local package
    for package in "${wanted[@]}"; do
        is_installed "${package}" || missing+=("${package}")
    done
    if [[ ${#missing[@]} -eq 0 ]]; then
        log "packages present: ${wanted[*]}"
        return
    fi
    log "installing: ${missing[*]}"
    as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
}

# --- daemon ---------------------------------------------------------------------------------
daemon_answers() {
    [[ -S "${docker_socket}" ]] && timeout 10 docker info >/dev/null 2>&1
}

start_dockerd() {
    if pgrep -x dockerd >/dev/null 2>&1; then
        log "a dockerd process exists but does not answer yet; waiting for it"
        return
    fi
    log "starting dockerd in the background (log: ${dockerd_log})"
    as_root touch "${dockerd_log}"
    # setsid + nohup: the daemon gets its own session and survives this script and its terminal.
    # Containers inherit the daemon's open-files limit; raise it to what the systemd unit gives
    # dockerd (many concurrent TLS connections each hold a descriptor).
    as_root setsid nohup sh -c 'ulimit -n 1048576 2>/dev/null || ulimit -n "$(ulimit -Hn)"; exec dockerd' \
        >>"${dockerd_log}" 2>&1 </dev/null &
    disown || true
}

wait_for_daemon() {
    local waited=0
    until daemon_answers; do
        if ((waited >= start_timeout_seconds)); then
            log "dockerd did not answer on ${docker_socket} within ${start_timeout_seconds} s; last log lines:"
            tail -n 40 "${dockerd_log}" >&2 || true
            die "Docker daemon unavailable"
        fi
        sleep 1
        waited=$((waited + 1))
    done
    log "dockerd answers after ${waited} s (server $(docker version --format '{{.Server.Version}}' 2>/dev/null || echo '?'))"
}

ensure_daemon() {
    if daemon_answers; then
        log "Docker daemon already answers on ${docker_socket}"
        return
    fi
    start_dockerd
    wait_for_daemon
}

main() {
    install_missing_packages
    ensure_daemon
    bash "${repo_dir}/scripts/build-nginx-image.sh"
}

main "$@"
