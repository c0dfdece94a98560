#!/usr/bin/env bash
# Builds the binaries of the e2e test tier's single-node Kubernetes cluster (scripts/kube-cluster.sh)
# from Go modules and caches them by version (MTLS_CACHE_ROOT: scripts/env.sh):
#
#   ${MTLS_KUBE_CACHE:-$MTLS_CACHE_ROOT/kubernetes}/v1.34.4/
#     bin/       kube-apiserver kube-controller-manager kube-scheduler kubelet kube-proxy kubectl etcd
#     cni/       bridge host-local loopback   (the CNI plugins)
#     images/    pause.tar                    (the sandbox image, for `ctr images import`)
#
# Each comes from a wrapper module in toolchain/kubernetes/ (pinned go.mod + go.sum, -mod=readonly):
# the Kubernetes binaries from the module itself, etcd from etcd/, the plugins from cni/, the pause
# program from pause/. A warm run only checks a stamp (the wrappers' sources and this script's build
# settings) and prints the cache directory on stdout. Containerd is Debian's: installed with apt
# when /usr/bin/containerd is missing. Cold: ~5 GB of modules and several minutes on 2 cores.
#
# Usage: scripts/setup-kubernetes.sh        (prints the cache directory)
# Env:   MTLS_CACHE_ROOT, MTLS_KUBE_CACHE, MTLS_KUBE_FORCE_BUILD=1 (rebuild even when the stamp matches).
# Go's own caches stay in their default places.
set -euo pipefail

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)"
# shellcheck source=scripts/env.sh
. "${SCRIPT_DIR}/env.sh"
log_tag="setup-kubernetes"
# shellcheck source=scripts/lib.sh
. "${SCRIPT_DIR}/lib.sh"

KUBE_VERSION="v1.34.4"
ETCD_VERSION="v3.6.5"
CNI_VERSION="v1.7.1"
# The name the sandbox image gets in the cluster's containerd (sandbox_image in its config).
PAUSE_IMAGE="localhost/mtls-nginx/pause:1"
WRAPPER_DIR="$(cd "${SCRIPT_DIR}/../toolchain/kubernetes" && pwd -P)"
cache_dir="${MTLS_KUBE_CACHE:-${MTLS_CACHE_ROOT}/kubernetes}/${KUBE_VERSION}"

KUBE_BINARIES=(kube-apiserver kube-controller-manager kube-scheduler kubelet kube-proxy kubectl)
CNI_PLUGINS=(bridge:main/bridge host-local:ipam/host-local loopback:main/loopback)

# Version stamps, as upstream's build sets them (kubectl version, the Node's kubeletVersion).
kube_ldflags="-s -w"
for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    kube_ldflags+=" -X ${pkg}.gitVersion=${KUBE_VERSION} -X ${pkg}.gitMajor=1 -X ${pkg}.gitMinor=34"
    kube_ldflags+=" -X ${pkg}.gitTreeState=clean -X ${pkg}.buildDate=1970-01-01T00:00:00Z"
done

# stamp: hash of the wrapper modules' sources and the build settings above.
stamp() {
    {
        (cd "${WRAPPER_DIR}" && find . -type f \( -name '*.go' ! -name '*_test.go' -o -name 'go.mod' -o -name 'go.sum' \) -print0 |
            LC_ALL=C sort -z | xargs -0 sha256sum)
        printf '%s\n' "${kube_ldflags}" "${PAUSE_IMAGE}" "${ETCD_VERSION}" "${CNI_VERSION}"
    } | sha256sum | cut -c1-16
}

ensure_containerd() {
    if command -v containerd >/dev/null 2>&1 && command -v ctr >/dev/null 2>&1; then
        return 0
    fi
    log "containerd: not installed; installing Debian's package"
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends containerd >&2 ||
        die "apt-get install containerd failed"
    # The cluster runs its own containerd instance; the package's service is not needed.
    as_root systemctl disable --now containerd >/dev/null 2>&1 || true
}

started=$(date +%s)
ensure_containerd
want="$(stamp)"
if [[ "${MTLS_KUBE_FORCE_BUILD:-0}" != 1 && -f "${cache_dir}/.stamp" && "$(cat "${cache_dir}/.stamp")" == "${want}" ]]; then
    log "kubernetes ${KUBE_VERSION}: cached (${cache_dir}), checked in $(($(date +%s) - started)) s"
    printf '%s\n' "${cache_dir}"
    exit 0
fi

cache_lock "${cache_dir}.lock"
if [[ "${MTLS_KUBE_FORCE_BUILD:-0}" != 1 && -f "${cache_dir}/.stamp" && "$(cat "${cache_dir}/.stamp")" == "${want}" ]]; then
    printf '%s\n' "${cache_dir}"
    exit 0
fi
command -v go >/dev/null 2>&1 || die "kubernetes ${KUBE_VERSION} is not cached and Go is not on PATH to build it"

stage_beside "${cache_dir}"
mkdir -p "${staging_dir}/bin" "${staging_dir}/cni" "${staging_dir}/images"
build_log="${cache_dir}.build.log"
: >"${build_log}"
log "kubernetes ${KUBE_VERSION}: building into ${cache_dir} (cold: minutes; log: ${build_log})"

# build MODULE_DIR OUT PACKAGE [extra go build args...]
build() {
    local module="$1" out="$2" pkg="$3" t0
    shift 3
    t0=$(date +%s)
    if ! (cd "${module}" && CGO_ENABLED=0 GOFLAGS="-mod=readonly -buildvcs=false" \
        go build -trimpath "$@" -o "${out}" "${pkg}") >>"${build_log}" 2>&1; then
        tail -n 30 "${build_log}" >&2 || true
        die "go build ${pkg} failed (log: ${build_log})"
    fi
    log "  $(basename "${out}"): $(($(date +%s) - t0)) s"
    printf '%s %s s\n' "$(basename "${out}")" "$(($(date +%s) - t0))" >>"${staging_dir}/build-times"
}

for b in "${KUBE_BINARIES[@]}"; do
    build "${WRAPPER_DIR}" "${staging_dir}/bin/${b}" "k8s.io/kubernetes/cmd/${b}" -ldflags "${kube_ldflags}"
done
build "${WRAPPER_DIR}/etcd" "${staging_dir}/bin/etcd" . -ldflags "-s -w"
for p in "${CNI_PLUGINS[@]}"; do
    build "${WRAPPER_DIR}/cni" "${staging_dir}/cni/${p%%:*}" "github.com/containernetworking/plugins/plugins/${p#*:}" \
        -ldflags "-s -w -X github.com/containernetworking/plugins/pkg/utils/buildversion.BuildVersion=${CNI_VERSION}"
done

# The pause image: one layer holding /pause, as a docker-archive tar (what `docker save` writes).
image_dir="${staging_dir}/pause-image"
mkdir -p "${image_dir}/rootfs"
build "${WRAPPER_DIR}/pause" "${image_dir}/rootfs/pause" . -ldflags "-s -w"
tar --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner -C "${image_dir}/rootfs" -cf "${image_dir}/layer.tar" pause
layer_sha="$(sha256sum "${image_dir}/layer.tar" | cut -d' ' -f1)"
printf '{"architecture":"amd64","os":"linux","config":{"Entrypoint":["/pause"],"WorkingDir":"/"},"rootfs":{"type":"layers","diff_ids":["sha256:%s"]},"history":[{"created_by":"scripts/setup-kubernetes.sh"}]}' \
    "${layer_sha}" >"${image_dir}/config.json"
config_sha="$(sha256sum "${image_dir}/config.json" | cut -d' ' -f1)"
mkdir -p "${image_dir}/archive/${layer_sha}"
mv "${image_dir}/layer.tar" "${image_dir}/archive/${layer_sha}/layer.tar"
mv "${image_dir}/config.json" "${image_dir}/archive/${config_sha}.json"
printf '[{"Config":"%s.json","RepoTags":["%s"],"Layers":["%s/layer.tar"]}]' "${config_sha}" "${PAUSE_IMAGE}" "${layer_sha}" \
    >"${image_dir}/archive/manifest.json"
tar --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner -C "${image_dir}/archive" -cf "${staging_dir}/images/pause.tar" .
printf '%s\n' "${PAUSE_IMAGE}" >"${staging_dir}/images/pause.ref"
rm -rf "${image_dir}"

"${staging_dir}/bin/kubectl" version --client >/dev/null || die "the built kubectl does not run"
"${staging_dir}/bin/etcd" --version >/dev/null || die "the built etcd does not run"
printf '%s\n' "${want}" >"${staging_dir}/.stamp"
move_into_place "${staging_dir}" "${cache_dir}"
log "kubernetes ${KUBE_VERSION}: built in $(($(date +%s) - started)) s ($(du -sh "${cache_dir}" | cut -f1))"
printf '%s\n' "${cache_dir}"
