# shellcheck shell=bash
# Sourced by scripts/up.sh (after scripts/env.sh): `pulumi up` in two phases when many certificates
# change (scripts/upPhases.ts has the same for the Automation API and says why; docs/operations.md,
# "An up in two phases").
#
#   mtls_up_in_phases STACK STACK_FILE
#
# It shows the preview first, as `pulumi up` does, and counts the tls:index steps in it. From
# MTLS_TWO_PHASE_MIN_TLS_STEPS (default 50, scripts/upPhases.ts) of them, phase 1 updates only the
# pure TLS resources (URN globs in scripts/pureResourceTargets.json) with PULUMI_SKIP_CHECKPOINTS=true:
# they live only in state, so the engine writes it once, at the end, not after every step, and a
# crash loses their steps and nothing else. Phase 2 is a plain `pulumi up`, every step checkpointed,
# with the endpoint's resources left to change. Below that count, one plain `pulumi up`.

# The --target arguments of phase 1, one per line.
mtls_pure_resource_targets() {
    # shellcheck disable=SC2016 # a JavaScript template literal, not a shell expansion
    node -e 'for (const glob of JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"))) console.log(`--target=${glob}`);' \
        "${mtls_repo_dir}/scripts/pureResourceTargets.json"
}

# How many steps of a preview's text change a tls:index resource.
mtls_tls_steps() {
    grep -cE '^ *[-+~]+ +tls:index:[A-Za-z]+ [^ ]+ (create|update|replace|delete|create-replacement|delete-replaced)' "$1" || true
}

mtls_up_in_phases() {
    local stack="$1" stack_file="$2" preview_log tls_steps
    local -a common=(--stack "${stack}" --config-file "${stack_file}" --color never)
    preview_log="$(mktemp)"
    pulumi preview "${common[@]}" | tee "${preview_log}" || {
        rm -f "${preview_log}"
        return 1
    }
    tls_steps="$(mtls_tls_steps "${preview_log}")"
    rm -f "${preview_log}"
    if [ "${tls_steps}" -lt "${MTLS_TWO_PHASE_MIN_TLS_STEPS:-50}" ]; then
        pulumi up --yes --skip-preview "${common[@]}"
        return
    fi
    local -a targets
    mapfile -t targets < <(mtls_pure_resource_targets)
    echo "[up] phase 1 of 2: ${tls_steps} steps of TLS keys, CSRs and certificates (state only: saved once, at the end)"
    PULUMI_SKIP_CHECKPOINTS=true pulumi up --yes --skip-preview --suppress-outputs "${common[@]}" "${targets[@]}"
    echo "[up] phase 2 of 2: the endpoint (every step saved)"
    pulumi up --yes --skip-preview "${common[@]}"
}
