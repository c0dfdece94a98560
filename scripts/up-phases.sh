# shellcheck shell=bash
# Sourced by scripts/up.sh (after scripts/env.sh): `pulumi up` in two phases (scripts/upPhases.ts has
# the same for the Automation API and says why; docs/operations.md, "An up in two phases").
#
#   mtls_up_in_phases STACK STACK_FILE
#
# Phase 1 updates only the pure TLS resources (URN globs in scripts/pureResourceTargets.json) with
# PULUMI_SKIP_CHECKPOINTS=true: they live only in state, so the engine writes it once, at the end, not
# after every step, and a crash loses their steps and nothing else. Phase 2 is a plain `pulumi up`,
# every step checkpointed, with the endpoint's resources left to change. Phase 1 also sets
# PULUMI_ENABLE_LEGACY_DIFF=true: a TLS resource whose inputs are unchanged is unchanged (it has no
# world to drift in), so the engine skips its provider Diff call (scripts/env.sh sets it for every
# command too, unless the environment says false). Neither phase runs a preview
# first: two program runs, as many as one `pulumi up --yes` (a preview, then the update) took.

# The --target arguments of phase 1, one per line.
mtls_pure_resource_targets() {
    # shellcheck disable=SC2016 # a JavaScript template literal, not a shell expansion
    node -e 'for (const glob of JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"))) console.log(`--target=${glob}`);' \
        "${mtls_repo_dir}/scripts/pureResourceTargets.json"
}

mtls_up_in_phases() {
    local stack="$1" stack_file="$2"
    local -a common=(--yes --skip-preview --stack "${stack}" --config-file "${stack_file}")
    local -a targets
    mapfile -t targets < <(mtls_pure_resource_targets)
    echo "[up] phase 1 of 2: the TLS keys, CSRs and certificates (state only: saved once, at the end)"
    PULUMI_SKIP_CHECKPOINTS=true PULUMI_ENABLE_LEGACY_DIFF=true \
        pulumi up "${common[@]}" --suppress-outputs "${targets[@]}"
    echo "[up] phase 2 of 2: the endpoint (every step saved)"
    pulumi up "${common[@]}"
}

# `pulumi destroy` in two phases (for scripts/down.sh): first everything but the pure TLS resources,
# every step saved (the endpoint's objects on the engine go here); then what is left, state only,
# with PULUMI_SKIP_CHECKPOINTS=true.
mtls_destroy_in_phases() {
    local stack="$1" stack_file="$2"
    local -a common=(--yes --skip-preview --stack "${stack}" --config-file "${stack_file}")
    local -a kept
    mapfile -t kept < <(mtls_pure_resource_targets | sed 's/^--target=/--exclude=/')
    echo "[down] phase 1 of 2: the endpoint (every step saved)"
    pulumi destroy "${common[@]}" "${kept[@]}" --exclude='**pulumi:pulumi:Stack::*' --exclude='**pulumi:providers:**'
    echo "[down] phase 2 of 2: the TLS keys, CSRs and certificates (state only: saved once, at the end)"
    PULUMI_SKIP_CHECKPOINTS=true pulumi destroy "${common[@]}"
}

# The state copies a file backend keeps of each update (scripts/stateCopies.ts says why):
# mtls_check_state_copies_keep stops on a MTLS_STATE_COPIES_KEEP that is not allowed, before an
# update; mtls_prune_state_copies STACK keeps the newest of them after one.
mtls_check_state_copies_keep() {
    if [ -n "${MTLS_STATE_COPIES_KEEP:-}" ]; then
        node -r ts-node/register/transpile-only "${mtls_repo_dir}/scripts/stateCopies.ts" --check
    fi
}
mtls_prune_state_copies() {
    node -r ts-node/register/transpile-only "${mtls_repo_dir}/scripts/stateCopies.ts" "$1" ||
        echo "[state] WARNING: the state copies of $1 were not pruned (the update itself stands)" >&2
}
