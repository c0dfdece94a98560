#!/usr/bin/env bash
# `npm run package [-- OUT_DIR]`: builds the npm package mtls-nginx (the MtlsEndpoint component, compiled
# JavaScript with .d.ts files: no ts-node at run time) into OUT_DIR (default dist/package), packs it,
# and prints the tarball's path (beside OUT_DIR), its size and its file count.
#
#   - compiles package/index.ts (the entry point) and the product code it loads with tsconfig.package.json;
#   - copies the shell scripts the components read at run time (components/*.sh) and package/README.md;
#   - writes the package.json from the project's (package/manifest.ts: version, exports, exact dependencies);
#   - checks that the package holds no TypeScript source, then runs `npm pack`.
#
# OUT_DIR is replaced: it must be absent, empty or an earlier build of this script.
set -euo pipefail
repo_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "${repo_dir}"
log_tag="build-package"
# shellcheck source=scripts/lib.sh
source scripts/lib.sh
# shellcheck source=scripts/env.sh
. scripts/env.sh

out_dir="$(realpath -m "${1:-dist/package}")"
if [[ -d "${out_dir}" && -n "$(ls -A "${out_dir}")" ]] &&
    ! grep -qs '"name": "mtls-nginx"' "${out_dir}/package.json"; then
    die "${out_dir} is neither empty nor an earlier build of the package: not replacing it"
fi
rm -rf "${out_dir}"

log "compiling into ${out_dir}"
node_modules/.bin/tsc -p tsconfig.package.json --outDir "${out_dir}"
cp components/*.sh "${out_dir}/components/"
cp package/README.md "${out_dir}/README.md"
node --require ts-node/register/transpile-only package/manifest.ts "${out_dir}/package.json"

sources="$(cd "${out_dir}" && find . -name '*.ts' ! -name '*.d.ts' -print)"
[[ -z "${sources}" ]] || die "TypeScript sources in the package: ${sources}"

pack_dir="$(dirname "${out_dir}")"
pack_json="$(cd "${out_dir}" && npm pack --json --pack-destination "${pack_dir}")"
PACK_JSON="${pack_json}" PACK_DIR="${pack_dir}" node -e '
    const [pack] = JSON.parse(process.env.PACK_JSON);
    const tarball = require("path").join(process.env.PACK_DIR, pack.filename);
    console.log(`${tarball}`);
    console.error(
        `[build-package] ${pack.name}@${pack.version}: ${pack.entryCount} files, ` +
            `${(pack.size / 1024).toFixed(1)} kB packed, ${(pack.unpackedSize / 1024).toFixed(1)} kB unpacked`,
    );
'
