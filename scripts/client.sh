#!/usr/bin/env bash
# `npm run client -- [STACK] [CLIENT]`: writes the CA bundle and a client's certificate and key
# from the stack outputs into .mtls-nginx/clients/STACK/ (key mode 0600), then runs that
# client's curl command from the `curlCommands` output.
set -euo pipefail
repo_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "${repo_dir}"
# shellcheck source=scripts/env.sh
. scripts/env.sh
stack="${1:-dev}"
client="${2:-$(pulumi stack output clientCertificatePems --json --stack "${stack}" | node -e 'process.stdout.write(Object.keys(JSON.parse(require("fs").readFileSync(0, "utf8")))[0])')}"

pick() { node -e 'const v = JSON.parse(require("fs").readFileSync(0, "utf8"))[process.argv[1]]; if (v === undefined) { console.error("no client " + process.argv[1]); process.exit(1); } process.stdout.write(v)' "$1"; }
dir=".mtls-nginx/clients/${stack}"
mkdir -p "${dir}"
umask 077
pulumi stack output caCertificatePem --stack "${stack}" >"${dir}/ca.pem"
pulumi stack output clientCertificatePems --json --stack "${stack}" | pick "${client}" >"${dir}/${client}.crt"
pulumi stack output clientPrivateKeyPems --json --show-secrets --stack "${stack}" | pick "${client}" >"${dir}/${client}.key"
curl_line="$(pulumi stack output curlCommands --json --stack "${stack}" | pick "${client}")"
echo "[client] in ${dir}: ${curl_line}" >&2
cd "${dir}"
# The line only names files and the URL; run it word by word, without a shell in between.
read -r -a curl_words <<<"${curl_line}"
"${curl_words[@]}"
