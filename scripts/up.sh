#!/usr/bin/env bash
# `npm run up [-- STACK] [--clients-only]`: set up (warm: seconds), then `pulumi up` the stack (default:
# dev) on the local file backend, or on the backend of PULUMI_BACKEND_URL (with the passphrase from the
# environment, see docs/operations.md), in two phases (scripts/up-phases.sh): the TLS resources without a
# checkpoint per step, then the endpoint. The smoke test inside the update proves the endpoint works.
# --clients-only: one `up` that issues new clients and updates the endpoint, holding every client
# certificate already issued (scripts/upClientsOnly.ts); refused when other config changed.
set -euo pipefail
repo_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "${repo_dir}"
stack=""
clients_only=false
for argument in "$@"; do
    case "${argument}" in
        --clients-only) clients_only=true ;;
        -*)
            echo "usage: npm run up -- [STACK] [--clients-only] (unknown option ${argument})" >&2
            exit 64
            ;;
        *)
            if [ -n "${stack}" ]; then
                echo "usage: npm run up -- [STACK] [--clients-only] (one stack only)" >&2
                exit 64
            fi
            stack="${argument}"
            ;;
    esac
done
stack="${stack:-dev}"

bash scripts/setup.sh
# shellcheck source=scripts/env.sh
. scripts/env.sh
# shellcheck source=scripts/stack-file.sh
. scripts/stack-file.sh
# shellcheck source=scripts/up-phases.sh
. scripts/up-phases.sh
mtls_require_passphrase
mtls_repair_checkpoint_sidecars
mtls_check_state_copies_keep
stack_file="$(mtls_stack_file "${stack}")"
if [ "${clients_only}" = true ]; then
    node -r ts-node/register/transpile-only scripts/upClientsOnly.ts "${stack}" "${stack_file}"
else
    mtls_up_in_phases "${stack}" "${stack_file}"
fi
mtls_prune_state_copies "${stack}"
echo
echo "Endpoint: $(pulumi stack output endpointUrl --stack "${stack}")"
echo "Try it:   npm run client -- ${stack} <client-name>   (writes ca.pem, <name>.crt, <name>.key and runs curl)"
echo "Remove:   npm run down -- ${stack}"
