# Sourced by scripts/up.sh and scripts/down.sh (after scripts/env.sh): the stack file Pulumi runs with.
#
# The tracked Pulumi.<stack>.yaml holds the environment's settings. The passphrase secrets provider
# also needs a salt, which belongs to this checkout's passphrase (.pulumi-state/passphrase), not to
# the environment. `pulumi stack init` writes that salt into the tracked file; we put the tracked
# file back as it was, and run Pulumi with `--config-file` on an untracked copy that adds the salt
# read from the stack's own state. So `git status` stays clean after `npm run up`.

# mtls_stack_file STACK: creates the stack when needed and prints the path of its runtime stack file.
mtls_stack_file() {
    local stack="$1"
    local tracked="${mtls_repo_dir}/Pulumi.${stack}.yaml"
    local runtime_dir="${mtls_repo_dir}/.pulumi-state/stacks"
    local runtime="${runtime_dir}/Pulumi.${stack}.yaml"
    mkdir -p "${runtime_dir}"
    if ! pulumi stack select "${stack}" >/dev/null 2>&1; then
        mtls_init_stack_keeping "${stack}" "${tracked}" >&2
    fi
    {
        if [ -f "${tracked}" ]; then
            grep -v '^encryptionsalt:' "${tracked}"
        else
            echo "config: {}"
        fi
        echo "encryptionsalt: $(mtls_state_salt "${stack}")"
    } >"${runtime}.tmp"
    mv -f "${runtime}.tmp" "${runtime}"
    printf '%s\n' "${runtime}"
}

# Creates the stack; the tracked stack file (if any) is restored byte for byte afterwards.
mtls_init_stack_keeping() {
    local stack="$1" tracked="$2" pristine=""
    if [ -f "${tracked}" ]; then
        pristine="$(mktemp)"
        cp -p "${tracked}" "${pristine}"
    fi
    pulumi stack init "${stack}" --secrets-provider passphrase
    if [ -n "${pristine}" ]; then
        mv -f "${pristine}" "${tracked}"
    fi
}

# The passphrase salt recorded in the stack's state (the secrets provider of its deployment).
mtls_state_salt() {
    pulumi stack export --stack "$1" | node -e '
        const exported = JSON.parse(require("fs").readFileSync(0, "utf8"));
        const salt = exported.deployment?.secrets_providers?.state?.salt;
        if (!salt) { console.error("the stack state records no passphrase salt"); process.exit(1); }
        process.stdout.write(salt);'
}

# A CLI killed while it saved state can leave a checkpoint's `.attrs` sidecar empty (the file backend
# rewrites it in place), and every later command then fails with "failed to load checkpoint: EOF". A
# missing sidecar is read as no attributes: remove empty ones from the local backend before Pulumi runs.
mtls_repair_checkpoint_sidecars() {
    local state_dir="${mtls_repo_dir}/.pulumi-state" sidecar
    [ "${PULUMI_BACKEND_URL}" = "file://${state_dir}" ] && [ -d "${state_dir}/.pulumi" ] || return 0
    find "${state_dir}/.pulumi" -name '*.attrs' -type f -size 0 -print | while IFS= read -r sidecar; do
        rm -f "${sidecar}"
        echo "[state] removed the empty checkpoint sidecar ${sidecar#"${state_dir}/"} (left by a killed pulumi)" >&2
    done
}
