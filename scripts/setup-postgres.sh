#!/usr/bin/env bash
# PostgreSQL's server binaries for the e2e tests of shared state (tests/e2e/sharedState.test.ts), from
# Debian packages. Prints the directory that holds initdb, pg_ctl, postgres and psql
# (/usr/lib/postgresql/<version>/bin, the newest installed).
#
# When no server is installed, installs Debian's `postgresql` (the suite's version: 15 on bookworm, 17
# on trixie) with apt. No service is left running: a policy-rc.d that refuses every start is in place
# during the install (the one already there is kept), and a cluster the install still started is
# stopped. The tests never use a system cluster: they run a private one in a temp directory, on
# 127.0.0.1 and a free port, with a user and a database of their own (testkit/postgres.ts).
# Cold (download and install): about half a minute; warm: milliseconds.
set -euo pipefail
log_tag="setup-postgres"
# shellcheck source=scripts/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

server_bin_dir() {
    local dir
    for dir in $(find /usr/lib/postgresql -mindepth 2 -maxdepth 2 -name bin -type d 2>/dev/null | sort -V -r); do
        if [ -x "${dir}/initdb" ] && [ -x "${dir}/pg_ctl" ] && [ -x "${dir}/postgres" ] && [ -x "${dir}/psql" ]; then
            printf '%s\n' "${dir}"
            return 0
        fi
    done
    return 1
}

if server_bin_dir; then
    exit 0
fi

[ "$(id -u)" = 0 ] || die "PostgreSQL's server is not installed; as root: apt-get install --no-install-recommends postgresql"
command -v apt-get >/dev/null 2>&1 || die "PostgreSQL's server is not installed and there is no apt-get to install it"

started=$(date +%s)
apt_log="$(mktemp)"
policy=/usr/sbin/policy-rc.d
cleanup=(rm -f "${apt_log}")
if [ ! -e "${policy}" ]; then
    # Only for the install: services are not started (invoke-rc.d and deb-systemd-invoke both ask it).
    printf '#!/bin/sh\nexit 101\n' >"${policy}"
    chmod 0755 "${policy}"
    cleanup+=("${policy}")
fi
trap '"${cleanup[@]}"' EXIT
log "installing postgresql with apt (no service is started)"
export DEBIAN_FRONTEND=noninteractive
apt_install() { apt-get -o DPkg::Lock::Timeout=300 install -y -q --no-install-recommends postgresql >>"${apt_log}" 2>&1; }
if ! apt_install; then
    # Package lists too old (or none yet): update them once, then try again.
    apt-get -o DPkg::Lock::Timeout=300 update -q >>"${apt_log}" 2>&1 || true
    if ! apt_install; then
        tail -n 30 "${apt_log}" >&2
        die "apt-get install postgresql failed"
    fi
fi
# Where a machine started it anyway (a policy-rc.d of its own that allows it), stop the clusters again.
if command -v pg_lsclusters >/dev/null 2>&1; then
    pg_lsclusters --no-header 2>/dev/null | while read -r version cluster _port status _rest; do
        if [ "${status}" = online ]; then
            log "stopping the cluster ${version}/${cluster} the install started"
            pg_ctlcluster "${version}" "${cluster}" stop || true
        fi
    done
fi
server_bin_dir || die "postgresql is installed, but no /usr/lib/postgresql/<version>/bin holds initdb, pg_ctl, postgres and psql"
log "installed in $(($(date +%s) - started)) s"
