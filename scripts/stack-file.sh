# Sourced by scripts/up.sh and scripts/down.sh (after scripts/env.sh): the stack file Pulumi runs with.
#
# The tracked Pulumi.<stack>.yaml holds the environment's settings. The passphrase secrets provider
# also needs a salt, which belongs to the stack's passphrase (this checkout's .pulumi-state/passphrase,
# or the one in the environment for a shared backend), not to the environment's settings. `pulumi
# stack init` writes that salt into the tracked file; we put the tracked file back as it was, and run
# Pulumi with `--config-file` on an untracked copy (in this checkout's .pulumi-state/stacks/, whatever
# the backend) that adds the salt read from the stack's own state. So `git status` stays clean after
# `npm run up`, and a second checkout of a shared backend finds the salt where the first one put it.

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

# Stops the script when the backend is not this checkout's own and no passphrase is in the environment:
# scripts/env.sh generates one only for the checkout's file backend, and a passphrase of one checkout
# would lock every other checkout of a shared state out of the stack's secrets.
mtls_require_passphrase() {
    if [ -z "${PULUMI_CONFIG_PASSPHRASE:-}" ] && [ -z "${PULUMI_CONFIG_PASSPHRASE_FILE:-}" ]; then
        echo "[state] the backend ${PULUMI_BACKEND_URL%%://*}:// is not this checkout's file backend: set" \
            "PULUMI_CONFIG_PASSPHRASE or PULUMI_CONFIG_PASSPHRASE_FILE, the stack's passphrase (from a secret store" \
            "in CI; the same for every checkout), see docs/operations.md" >&2
        exit 1
    fi
}

# The directory of a file:// backend URL (query parameters dropped, a leading ~ expanded); fails for others.
mtls_file_backend_dir() {
    local dir
    case "$1" in
    file://*) dir="${1#file://}" ;;
    *) return 1 ;;
    esac
    dir="${dir%%\?*}"
    case "${dir}" in
    "~") dir="${HOME}" ;;
    "~/"*) dir="${HOME}/${dir#"~/"}" ;;
    esac
    printf '%s\n' "${dir}"
}

# A CLI killed while it saved state can leave a checkpoint's `.attrs` sidecar empty (the file backend
# rewrites it in place), and every later command then fails with "failed to load checkpoint: EOF". A
# missing sidecar is read as no attributes: remove empty ones from a file backend (this checkout's or
# the user's) before Pulumi runs. Other backends (PostgreSQL, S3) write whole objects: nothing to do.
mtls_repair_checkpoint_sidecars() {
    local state_dir sidecar
    state_dir="$(mtls_file_backend_dir "${PULUMI_BACKEND_URL}")" && [ -d "${state_dir}/.pulumi" ] || return 0
    find "${state_dir}/.pulumi" -name '*.attrs' -type f -size 0 -print | while IFS= read -r sidecar; do
        rm -f "${sidecar}"
        echo "[state] removed the empty checkpoint sidecar ${sidecar#"${state_dir}/"} (left by a killed pulumi)" >&2
    done
}
