#!/usr/bin/env bash
# `bash scripts/with-node.sh COMMAND...`: runs COMMAND with the project's Node.js 24 first on PATH.
# npm scripts use it so that the tests and the bench run on the same Node as the Pulumi program.
set -euo pipefail
# shellcheck source=scripts/node-env.sh
. "$(dirname "${BASH_SOURCE[0]}")/node-env.sh"
exec "$@"
