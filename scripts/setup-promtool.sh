#!/usr/bin/env bash
# promtool, for the tests that check the status metrics and the alert rules (`promtool check
# metrics`, `check rules`, `test rules`): the one binary taken out of Debian's `prometheus` package,
# which is downloaded with apt (`apt-get download`) but never installed: no prometheus user, no
# service, no daemon started, none of the web assets the package depends on. Cached by the
# package's version:
#
#   ${MTLS_PROMTOOL_CACHE:-$MTLS_CACHE_ROOT}/promtool/promtool   (MTLS_CACHE_ROOT: scripts/env.sh)
#   ${MTLS_PROMTOOL_CACHE:-$MTLS_CACHE_ROOT}/promtool/VERSION    (the Debian package version)
#
# A warm run only checks that the binary runs (milliseconds); a cold one takes a few seconds (a
# 19 MB package). Prints the binary's path on stdout. With `--find` it installs nothing: it prints
# the path when promtool is there (this cache, else a `promtool` on PATH) and fails otherwise;
# testkit/promtool.ts looks in the same places.
set -euo pipefail

# shellcheck source=scripts/env.sh
. "$(dirname "${BASH_SOURCE[0]}")/env.sh"
log_tag="setup-promtool"
# shellcheck source=scripts/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cache_root="${MTLS_PROMTOOL_CACHE:-${MTLS_CACHE_ROOT}}"
dir="${cache_root}/promtool"
binary="${dir}/promtool"

runs() { [[ -x "$1" ]] && "$1" --version >/dev/null 2>&1; }

if runs "${binary}"; then
    [[ "${1:-}" == "--find" ]] || log "promtool $(cat "${dir}/VERSION" 2>/dev/null || echo '?'): cached (${binary})"
    printf '%s\n' "${binary}"
    exit 0
fi
if [[ "${1:-}" == "--find" ]]; then
    command -v promtool && exit 0
    die "promtool is missing (${binary}); run: npm run setup (or bash scripts/setup-promtool.sh)"
fi

# One download at a time (a concurrent setup waits, then finds the binary).
cache_lock "${dir}/.lock"
if runs "${binary}"; then
    printf '%s\n' "${binary}"
    exit 0
fi

started=$(date +%s)
candidate() { LC_ALL=C apt-cache policy prometheus 2>/dev/null | awk '/Candidate:/ { print $2 }'; }
version="$(candidate)"
if [[ -z "${version}" || "${version}" == "(none)" ]]; then
    log "apt knows no prometheus package yet: apt-get update"
    as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
    version="$(candidate)"
    [[ -n "${version}" && "${version}" != "(none)" ]] || die "apt has no prometheus package to take promtool from"
fi

log "promtool: taking it out of Debian's prometheus ${version} (downloaded, not installed)"
stage_beside "${binary}"
# As root, apt downloads as the _apt user, which cannot write into the (0700) staging directory.
if ! (cd "${staging_dir}" && apt-get -q -o APT::Sandbox::User="$(id -un)" download "prometheus=${version}") \
    >"${staging_dir}/download.log" 2>&1; then
    tail -n 20 "${staging_dir}/download.log" >&2 || true
    die "apt-get download prometheus=${version} failed"
fi
deb=("${staging_dir}"/prometheus_*.deb)
[[ -f "${deb[0]}" ]] || die "apt-get download left no prometheus_*.deb in ${staging_dir}"
dpkg-deb --fsys-tarfile "${deb[0]}" | tar -x -C "${staging_dir}" ./usr/bin/promtool
runs "${staging_dir}/usr/bin/promtool" || die "the promtool of prometheus ${version} does not run here"
printf '%s\n' "${version}" >"${staging_dir}/usr/bin/VERSION"
mkdir -p "${dir}"
mv -f "${staging_dir}/usr/bin/VERSION" "${dir}/VERSION"
move_into_place "${staging_dir}/usr/bin/promtool" "${binary}"
log "promtool ${version}: ready in $(($(date +%s) - started)) s (${binary})"
printf '%s\n' "${binary}"
