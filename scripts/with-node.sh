#!/usr/bin/env bash
# `bash scripts/with-node.sh COMMAND...`: runs COMMAND in the project's environment (scripts/env.sh):
# Node.js 24 and the Pulumi toolchain first on PATH.
# npm scripts use it so that the tests and the bench run on the same Node as the Pulumi program.
set -euo pipefail
# shellcheck source=scripts/env.sh
. "$(dirname "${BASH_SOURCE[0]}")/env.sh"
exec "$@"
