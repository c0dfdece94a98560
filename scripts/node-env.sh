# Sourced by scripts/env.sh, scripts/with-node.sh and scripts/setup-node.sh: the one place that names
# the project's Node.js version. Puts the Node installed by scripts/setup-node.sh first on PATH (when
# the machine's own Node is older), so the Pulumi language host, the tests and the bench run on it.
mtls_node_version="24.22.3"
mtls_node_dir="${MTLS_NODE_CACHE:-${HOME}/.cache/mtls-nginx/node-${mtls_node_version}}"
if [ -x "${mtls_node_dir}/bin/node" ]; then
    case ":${PATH}:" in
        *":${mtls_node_dir}/bin:"*) ;;
        *) export PATH="${mtls_node_dir}/bin:${PATH}" ;;
    esac
fi
