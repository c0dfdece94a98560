# Source this file (`. scripts/env.sh`) to use the project's Pulumi toolchain, Node.js 24 and local state:
# the CLI and plugins built by scripts/setup-toolchain.sh in .pulumi-home, state in
# .pulumi-state (a local file backend, no account, no cloud), secrets under a passphrase that
# is generated once per checkout and kept in .pulumi-state/passphrase (mode 0600, git-ignored).
mtls_repo_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=scripts/pulumi-env.sh
. "${mtls_repo_dir}/scripts/pulumi-env.sh"
# shellcheck source=scripts/node-env.sh
. "${mtls_repo_dir}/scripts/node-env.sh"
export PULUMI_BACKEND_URL="${PULUMI_BACKEND_URL:-file://${mtls_repo_dir}/.pulumi-state}"
if [ -z "${PULUMI_CONFIG_PASSPHRASE:-}" ] && [ -z "${PULUMI_CONFIG_PASSPHRASE_FILE:-}" ]; then
    mtls_passphrase_file="${mtls_repo_dir}/.pulumi-state/passphrase"
    if [ ! -s "${mtls_passphrase_file}" ]; then
        mkdir -p "${mtls_repo_dir}/.pulumi-state"
        (umask 077 && od -An -N32 -tx1 /dev/urandom | tr -d ' \n' >"${mtls_passphrase_file}")
    fi
    export PULUMI_CONFIG_PASSPHRASE_FILE="${mtls_passphrase_file}"
fi
