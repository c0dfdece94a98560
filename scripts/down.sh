#!/usr/bin/env bash
# `npm run down [-- STACK]`: destroys the stack (default: dev) and removes it from the backend (the
# local file backend, or PULUMI_BACKEND_URL's). Does nothing when the stack does not exist; a backend
# that cannot be read is an error, not "no stack". In two phases (scripts/up-phases.sh): the endpoint, then
# the TLS resources without a checkpoint per step.
set -euo pipefail
repo_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "${repo_dir}"
stack="${1:-dev}"

# shellcheck source=scripts/env.sh
. scripts/env.sh
# shellcheck source=scripts/stack-file.sh
. scripts/stack-file.sh
# shellcheck source=scripts/up-phases.sh
. scripts/up-phases.sh
mtls_require_passphrase
mtls_repair_checkpoint_sidecars
mtls_check_state_copies_keep
if ! selection="$(pulumi stack select "${stack}" 2>&1)"; then
    case "${selection}" in
    *"no stack named"*)
        echo "[down] no stack ${stack}: nothing to remove"
        exit 0
        ;;
    esac
    printf '%s\n' "${selection}" >&2
    echo "[down] cannot read the stack ${stack} on the backend (${PULUMI_BACKEND_URL%%://*}://)" >&2
    exit 1
fi
stack_file="$(mtls_stack_file "${stack}")"
mtls_destroy_in_phases "${stack}" "${stack_file}"
pulumi stack rm --yes --preserve-config --stack "${stack}"
rm -f "${stack_file}"
# The backend keeps a removed stack's backups: the newest few stay, as after an update.
mtls_prune_state_copies "${stack}"
