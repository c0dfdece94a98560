#!/usr/bin/env bash
# The bench's load generator: vegeta, built from its Go module with `go install` (the Go module
# proxy is the only source) and cached by version:
#
#   ${MTLS_VEGETA_CACHE:-$MTLS_CACHE_ROOT}/vegeta-v12.13.0/vegeta   (MTLS_CACHE_ROOT: scripts/env.sh)
#
# A warm run only checks that the binary is there and runs (milliseconds); a cold one takes about
# 40 s. Prints the binary's path on stdout. bench/vegeta.ts looks in the same place.
set -euo pipefail

# shellcheck source=scripts/env.sh
. "$(dirname "${BASH_SOURCE[0]}")/env.sh"
log_tag="setup-vegeta"
# shellcheck source=scripts/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
version="v12.13.0"
cache_root="${MTLS_VEGETA_CACHE:-${MTLS_CACHE_ROOT}}"
dir="${cache_root}/vegeta-${version}"
binary="${dir}/vegeta"

if [[ -x "${binary}" ]] && "${binary}" -version >/dev/null 2>&1; then
    log "vegeta ${version}: cached (${binary})"
    printf '%s\n' "${binary}"
    exit 0
fi

command -v go >/dev/null 2>&1 || die "vegeta ${version} is missing and Go is not on PATH to build it"
# One build at a time (a concurrent setup waits, then finds the binary).
cache_lock "${dir}/.lock"
if [[ -x "${binary}" ]] && "${binary}" -version >/dev/null 2>&1; then
    printf '%s\n' "${binary}"
    exit 0
fi

log "vegeta ${version}: go install into ${dir} (about 40 s)"
started=$(date +%s)
stage_beside "${binary}"
if ! GOBIN="${staging_dir}" CGO_ENABLED=0 GOFLAGS="-trimpath" \
    go install -ldflags "-s -w -X main.Version=${version}" "github.com/tsenart/vegeta/v12@${version}" \
    >"${dir}/build.log" 2>&1; then
    tail -n 20 "${dir}/build.log" >&2 || true
    die "go install github.com/tsenart/vegeta/v12@${version} failed (log: ${dir}/build.log)"
fi
move_into_place "${staging_dir}/vegeta" "${binary}"
"${binary}" -version >/dev/null 2>&1 || die "the built ${binary} does not run"
log "vegeta ${version}: built in $(($(date +%s) - started)) s"
printf '%s\n' "${binary}"
