#!/usr/bin/env bash
# Everything the project needs on this machine, idempotent and cached (a warm run takes seconds):
# Node.js 24, npm packages, a Docker daemon and the local Nginx image, the Pulumi toolchain, and
# the tests' tools (vegeta, promtool, PostgreSQL's server binaries).
set -euo pipefail
repo_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "${repo_dir}"

started=$(date +%s)
bash scripts/setup-node.sh
if [ ! -d node_modules/@pulumi/pulumi ]; then
    npm ci --no-audit --no-fund
fi
bash scripts/setup-docker.sh
bash scripts/swarm-node-image.sh # the Docker-in-Docker node image for the swarm e2e tests (cached)
bash scripts/setup-toolchain.sh
bash scripts/setup-vegeta.sh >/dev/null # the bench's load generator, built with Go (cached)
bash scripts/setup-promtool.sh >/dev/null # checks the status metrics and alert rules in the tests (cached)
# The shared-state e2e tests' database server (apt when missing; no service). Not needed to deploy: a
# failure here is a warning, and those tests report it again.
bash scripts/setup-postgres.sh >/dev/null || echo "[setup] WARNING: no PostgreSQL server (scripts/setup-postgres.sh)" >&2
echo "[setup] ready in $(($(date +%s) - started)) s"
