# Source this file (bash or zsh) to use the project-local Pulumi toolchain set up by
# scripts/setup-toolchain.sh:   source scripts/pulumi-env.sh
# It sets no backend URL and no passphrase; choose those separately.

if [ -n "${BASH_SOURCE:-}" ]; then
    _mtls_env_src="${BASH_SOURCE[0]}"
elif [ -n "${ZSH_VERSION:-}" ]; then
    # shellcheck disable=SC2296
    _mtls_env_src="${(%):-%x}"
else
    _mtls_env_src="$0"
fi
_mtls_repo_root="$(cd "$(dirname "$_mtls_env_src")/.." && pwd -P)"

export PULUMI_HOME="$_mtls_repo_root/.pulumi-home"
# Put .pulumi-home/bin first (dropping any other occurrence of it).
_mtls_path=":${PATH}:"
while case "$_mtls_path" in *":$PULUMI_HOME/bin:"*) true ;; *) false ;; esac; do
    _mtls_path="${_mtls_path%%":$PULUMI_HOME/bin:"*}:${_mtls_path#*":$PULUMI_HOME/bin:"}"
done
_mtls_path="${_mtls_path#:}"
export PATH="$PULUMI_HOME/bin${_mtls_path:+:${_mtls_path%:}}"
export PULUMI_SKIP_UPDATE_CHECK=true
export PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION=true
# Use only the plugins installed in PULUMI_HOME, never pulumi-resource-* found on PATH.
export PULUMI_IGNORE_AMBIENT_PLUGINS=true

unset _mtls_env_src _mtls_repo_root _mtls_path
