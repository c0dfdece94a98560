# The project's one environment script. Source it (bash or zsh) to use, from this checkout:
#   - Node.js 24 LTS: the copy scripts/setup-node.sh installs when the machine's Node is older;
#   - the Pulumi toolchain that scripts/setup-toolchain.sh builds into .pulumi-home (CLI and plugins);
#   - local state in .pulumi-state (a file backend: no account, no cloud), with secrets under a
#     passphrase generated once per checkout into .pulumi-state/passphrase (mode 0600, git-ignored).
# A backend URL or passphrase already in the environment is kept: PULUMI_BACKEND_URL (another file
# backend, postgres://..., s3://...) and PULUMI_CONFIG_PASSPHRASE or PULUMI_CONFIG_PASSPHRASE_FILE win
# over the checkout's own. A backend of the user's gets no generated passphrase: every checkout that
# shares its state needs the same one, so it comes from the environment (docs/operations.md).
#
#   . scripts/env.sh && pulumi stack ls

if [ -n "${BASH_SOURCE:-}" ]; then
    mtls_env_source="${BASH_SOURCE[0]}"
elif [ -n "${ZSH_VERSION:-}" ]; then
    # shellcheck disable=SC2296
    mtls_env_source="${(%):-%x}"
else
    mtls_env_source="$0"
fi
mtls_repo_dir="$(cd "$(dirname "${mtls_env_source}")/.." && pwd -P)"

# Puts DIR first on PATH, dropping any other occurrence of it.
mtls_path_prepend() {
    local trimmed=":${PATH}:"
    while case "${trimmed}" in *":$1:"*) true ;; *) false ;; esac; do
        trimmed="${trimmed%%":$1:"*}:${trimmed#*":$1:"}"
    done
    trimmed="${trimmed#:}"
    export PATH="$1${trimmed:+:${trimmed%:}}"
}

# --- Caches: one root for everything the project builds or installs outside the checkout ----
# (Node.js, the toolchain's binaries, vegeta, the Kubernetes test binaries). CI points it at an
# empty directory so that every run takes a new machine's path. Go's and npm's own caches stay
# where those tools keep them.
export MTLS_CACHE_ROOT="${MTLS_CACHE_ROOT:-${XDG_CACHE_HOME:-${HOME}/.cache}/mtls-nginx}"

# --- Node.js: the one place that names the project's version -------------------------------
mtls_node_version="24.22.3"
mtls_node_dir="${MTLS_NODE_CACHE:-${MTLS_CACHE_ROOT}/node-${mtls_node_version}}"
if [ -x "${mtls_node_dir}/bin/node" ]; then
    mtls_path_prepend "${mtls_node_dir}/bin"
fi

# --- Pulumi toolchain -----------------------------------------------------------------------
export PULUMI_HOME="${mtls_repo_dir}/.pulumi-home"
mtls_path_prepend "${PULUMI_HOME}/bin"
export PULUMI_SKIP_UPDATE_CHECK=true
export PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION=true
# Use only the plugins installed in PULUMI_HOME, never pulumi-resource-* found on PATH.
export PULUMI_IGNORE_AMBIENT_PLUGINS=true
# The engine asks providers for their diffs in parallel, not one resource at a time: the same diffs,
# sooner (a no-op preview at 1,000 clients, bench/README.md "Scale in two phases"). false turns it off.
export PULUMI_PARALLEL_DIFF="${PULUMI_PARALLEL_DIFF:-true}"
# A resource whose inputs are unchanged is unchanged: the engine skips its provider's Diff call (a
# no-op preview at 1,000 clients: 19 s -> 13 s). Drift is still repaired with --refresh: a refresh
# gives the state the inputs the provider read back (docker, kubernetes), so a setting changed by
# hand is a changed input (e2e faults and kubernetes check it). false asks every provider again.
export PULUMI_ENABLE_LEGACY_DIFF="${PULUMI_ENABLE_LEGACY_DIFF:-true}"
# Node's compile cache: V8's code for every module a Node process loads, kept between runs (the
# program loads @pulumi/pulumi, gRPC and the providers' SDKs on every preview and up). It holds code,
# never values; each entry is keyed by its file's content. NODE_DISABLE_COMPILE_CACHE=1 turns it off.
export NODE_COMPILE_CACHE="${NODE_COMPILE_CACHE:-${MTLS_CACHE_ROOT}/node-compile-cache}"
# Go's garbage collector runs when the heap has grown by GOGC % since the last collection (Go's
# default: 100). 200 halves how often the engine and the providers collect, for about 40 % more of
# their memory: adding a client at 1,000 clients took 1 s less, and the engine peaked at 1.1 instead
# of 0.8 GiB (bench/README.md, "The fifth cuts"). Every Go program started from this environment
# gets it; GOGC=100 restores Go's default.
export GOGC="${GOGC:-200}"
# The CLI writes a debug-level log of every command into PULUMI_HOME/logs, a few messages for every
# resource (encrypted with the stack's secrets provider): about 2.7 MB and 1 s of each `up` at 1,000
# clients. The CLI (v3.274) has no setting to turn it off, and it skips the log when it cannot make
# that directory, so here PULUMI_HOME/logs is a file that says why. MTLS_PULUMI_LOGS=keep keeps the
# CLI's log (what `pulumi logs decrypt` reads, for a report to Pulumi). An existing log directory is
# kept as logs.<date>, never deleted.
mtls_pulumi_logs="${PULUMI_HOME}/logs"
if [ "${MTLS_PULUMI_LOGS:-off}" = "keep" ]; then
    if [ -f "${mtls_pulumi_logs}" ]; then rm -f "${mtls_pulumi_logs}"; fi
elif [ ! -f "${mtls_pulumi_logs}" ]; then
    if [ -d "${mtls_pulumi_logs}" ]; then
        rmdir "${mtls_pulumi_logs}" 2>/dev/null ||
            mv "${mtls_pulumi_logs}" "${mtls_pulumi_logs}.$(date -u +%Y%m%dT%H%M%SZ)" 2>/dev/null || true
    fi
    mkdir -p "${PULUMI_HOME}" &&
        echo "The Pulumi CLI's automatic log is off while this is a file (scripts/env.sh, MTLS_PULUMI_LOGS)." \
            >"${mtls_pulumi_logs}" 2>/dev/null || true
fi
unset mtls_pulumi_logs

# --- State and secrets ----------------------------------------------------------------------
# metadata=skip: the file backend writes no `.attrs` sidecar beside each state file. The sidecar
# holds the file's MD5, which the backend computed at every save of the whole state (0.5 s of an `up`
# at 1,000 clients, bench/README.md "The fifth cuts"); Pulumi never uses it.
mtls_default_backend_url="file://${mtls_repo_dir}/.pulumi-state?metadata=skip"
export PULUMI_BACKEND_URL="${PULUMI_BACKEND_URL:-${mtls_default_backend_url}}"
if [ -z "${PULUMI_CONFIG_PASSPHRASE:-}" ] && [ -z "${PULUMI_CONFIG_PASSPHRASE_FILE:-}" ]; then
    # The checkout's own backend, with or without query parameters (an earlier env.sh had none).
    if [ "${PULUMI_BACKEND_URL%%\?*}" = "${mtls_default_backend_url%%\?*}" ]; then
        mtls_passphrase_file="${mtls_repo_dir}/.pulumi-state/passphrase"
        if [ ! -s "${mtls_passphrase_file}" ]; then
            mkdir -p "${mtls_repo_dir}/.pulumi-state"
            (umask 077 && od -An -N32 -tx1 /dev/urandom | tr -d ' \n' >"${mtls_passphrase_file}")
        fi
        export PULUMI_CONFIG_PASSPHRASE_FILE="${mtls_passphrase_file}"
    else
        echo "[env] PULUMI_BACKEND_URL is not this checkout's file backend: set PULUMI_CONFIG_PASSPHRASE or" \
            "PULUMI_CONFIG_PASSPHRASE_FILE (the same for every checkout that shares the state)" >&2
    fi
fi
unset mtls_env_source
