#!/usr/bin/env bash
# `npm run recover [-- STACK]`: after a `pulumi up` of the stack (default: dev) that was killed
# (SIGKILL, an out-of-memory kill, a lost machine), before the next `npm run up`:
#
#   1. the dead CLI's lock is removed (`pulumi cancel`): only run this when no update is running;
#   2. every create the kill cut short is looked up on the Docker engine (DOCKER_HOST, or the local
#      one) by the name state recorded for it; an object it made is removed: state never knew it,
#      and the next `up` would fail on its name (containers, files volumes carrying this stack's
#      owner label, Swarm services, configs and secrets);
#   3. the pending operations are dropped from state (`pulumi stack export`, then `import`).
#
# The next `npm run up` then makes them again. Phase 1 of an up in two phases (scripts/up-phases.sh)
# records nothing until it ends: a kill there leaves only the lock (docs/operations.md).
set -euo pipefail
repo_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "${repo_dir}"
stack="${1:-dev}"

# shellcheck source=scripts/env.sh
. scripts/env.sh
# shellcheck source=scripts/stack-file.sh
. scripts/stack-file.sh
mtls_require_passphrase
mtls_repair_checkpoint_sidecars

say() { echo "[recover] ${stack}: $*" >&2; }

# "KIND NAME OWNER" for each pending create of a Docker object, from an exported state on stdin.
pending_docker_creates() {
    # shellcheck disable=SC2016 # JavaScript template literals, not shell expansions
    node -e '
        const kinds = {
            "docker:index/container:Container": "container",
            "docker:index/volume:Volume": "volume",
            "docker:index/service:Service": "service",
            "docker:index/serviceConfig:ServiceConfig": "config",
            "docker:index/secret:Secret": "secret",
        };
        const state = JSON.parse(require("fs").readFileSync(0, "utf8")).deployment ?? {};
        for (const operation of state.pending_operations ?? []) {
            const kind = kinds[operation.resource?.type];
            const inputs = operation.resource?.inputs ?? {};
            if (operation.type !== "creating" || !kind || typeof inputs.name !== "string") continue;
            const owner = (inputs.labels ?? []).find((label) => label.label === "mtls-nginx.owner")?.value ?? "-";
            console.log(`${kind} ${inputs.name} ${owner}`);
        }'
}

# Removes one object a cut-short create made, when it is there.
remove_cut_short() {
    local kind="$1" name="$2" owner="$3"
    case "${kind}" in
    container)
        docker container inspect "${name}" >/dev/null 2>&1 || return 0
        docker rm -f "${name}" >/dev/null
        ;;
    volume)
        docker volume inspect "${name}" >/dev/null 2>&1 || return 0
        if [ "$(docker volume inspect --format '{{index .Labels "mtls-nginx.owner"}}' "${name}")" != "${owner}" ]; then
            say "the volume ${name} does not carry this stack's owner label: left alone"
            return 0
        fi
        docker volume rm -f "${name}" >/dev/null
        ;;
    service | config | secret)
        docker "${kind}" inspect "${name}" >/dev/null 2>&1 || return 0
        docker "${kind}" rm "${name}" >/dev/null
        ;;
    esac
    say "removed the ${kind} ${name}: a create the kill cut short made it, and state never recorded it"
}

if pulumi cancel --yes --stack "${stack}" >/dev/null 2>&1; then
    say "removed the dead update's lock"
fi
state_file="$(mktemp)"
trap 'rm -f "${state_file}"' EXIT
pulumi stack export --stack "${stack}" --file "${state_file}"
pending="$(node -e 'console.log((JSON.parse(require("fs").readFileSync(process.argv[1], "utf8")).deployment?.pending_operations ?? []).length)' "${state_file}")"
if [ "${pending}" = "0" ]; then
    say "no pending operation: nothing to recover"
    exit 0
fi
while read -r kind name owner; do
    remove_cut_short "${kind}" "${name}" "${owner}"
done < <(pending_docker_creates <"${state_file}")
node -e '
    const fs = require("fs");
    const exported = JSON.parse(fs.readFileSync(process.argv[1], "utf8"));
    delete exported.deployment.pending_operations;
    fs.writeFileSync(process.argv[1], JSON.stringify(exported));' "${state_file}"
pulumi stack import --stack "${stack}" --file "${state_file}" >/dev/null
say "dropped ${pending} pending operation(s); now run: npm run up -- ${stack}"
