#!/usr/bin/env bash
# Everything the project needs on this machine, idempotent and cached (a warm run takes seconds):
# Node.js 24, npm packages, a Docker daemon and the local Nginx image, and the Pulumi toolchain.
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
echo "[setup] ready in $(($(date +%s) - started)) s"
