#!/usr/bin/env bash
# `npm run down [-- STACK]`: destroys the stack (default: dev) and removes it from the local backend.
# Does nothing when the stack does not exist.
set -euo pipefail
repo_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "${repo_dir}"
stack="${1:-dev}"

# shellcheck source=scripts/env.sh
. scripts/env.sh
# shellcheck source=scripts/stack-file.sh
. scripts/stack-file.sh
mtls_repair_checkpoint_sidecars
if ! pulumi stack select "${stack}" >/dev/null 2>&1; then
    echo "[down] no stack ${stack}: nothing to remove"
    exit 0
fi
stack_file="$(mtls_stack_file "${stack}")"
pulumi destroy --yes --stack "${stack}" --config-file "${stack_file}"
pulumi stack rm --yes --preserve-config --stack "${stack}"
rm -f "${stack_file}"
