#!/usr/bin/env bash
# Builds the image of a Docker-in-Docker swarm node (used by scripts/swarm-nodes.sh) without any
# container registry: debootstrap a minimal Debian bookworm with docker.io from the machine's
# configured Debian mirror, then `docker import` it.
#
#   MTLS_DIND_IMAGE       image tag (default mtls-nginx/dind-node:bookworm-local)
#   MTLS_DIND_REBUILD=1   rebuild even when the tag exists
#   MTLS_DEBIAN_MIRROR    mirror URL; default: the bookworm "main" entry in /etc/apt/sources.list{,.d/*}
#
# The image runs `tini -- dockerd ...`: swarm-nodes.sh passes the dockerd flags as the command.
set -euo pipefail

script_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
image_tag="${MTLS_DIND_IMAGE:-mtls-nginx/dind-node:bookworm-local}"
suite="bookworm"
packages="docker.io,iptables,iproute2,ca-certificates,procps"

# shellcheck source=SCRIPTDIR/debian-mirror.sh
source "${script_dir}/debian-mirror.sh"

log_tag="swarm-node-image"
# shellcheck source=SCRIPTDIR/lib.sh
source "${script_dir}/lib.sh"

image_present() {
    docker image inspect "${image_tag}" >/dev/null 2>&1
}

check_prerequisites() {
    command -v docker >/dev/null 2>&1 || die "docker CLI not found; run: npm run setup"
    timeout 10 docker info >/dev/null 2>&1 || die "Docker daemon does not answer; run: npm run setup"
}

check_build_prerequisites() {
    [[ "$(id -u)" -eq 0 ]] || die "debootstrap needs root"
    command -v debootstrap >/dev/null 2>&1 || die "debootstrap not found; run: npm run setup"
}

# The package's postinst may have left engine state or a daemon config behind: every node must
# start from an empty engine (its own engine and swarm node identity) on its own volume.
prepare_rootfs() {
    local rootfs="$1"
    rm -rf "${rootfs}/var/lib/docker" "${rootfs}/var/lib/containerd" "${rootfs}/etc/docker/key.json"
    mkdir -p "${rootfs}/var/lib/docker" "${rootfs}/etc/docker/tls" "${rootfs}/run"
    chmod 0700 "${rootfs}/etc/docker/tls"
    chmod 1777 "${rootfs}/tmp"
    [[ -x "${rootfs}/usr/bin/tini" ]] || die "tini (a docker.io dependency) missing from the rootfs"
    [[ -x "${rootfs}/usr/sbin/dockerd" ]] || die "dockerd missing from the rootfs"
}

import_rootfs() {
    local rootfs="$1" docker_version="$2"
    local rootfs_tar="${work_dir}/rootfs.tar"
    tar --numeric-owner -C "${rootfs}" --exclude='./dev/*' --exclude='./proc/*' --exclude='./sys/*' \
        -cf "${rootfs_tar}" .
    # tini as PID 1 reaps the containerd shims that dockerd re-parents and forwards SIGTERM, so
    # `docker stop` on a node shuts its engine down cleanly.
    docker import \
        --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
        --change 'EXPOSE 2376' \
        --change "LABEL org.opencontainers.image.title=mtls-nginx-dind-node org.opencontainers.image.version=${docker_version}" \
        --change 'ENTRYPOINT ["/usr/bin/tini","--"]' \
        --change 'CMD ["dockerd","--host","unix:///var/run/docker.sock"]' \
        - "${image_tag}" <"${rootfs_tar}" >/dev/null
    rm -f "${rootfs_tar}"
}

# The imported image must at least run its own engine's binaries.
check_image() {
    docker run --rm --network none --entrypoint /bin/sh "${image_tag}" -ec \
        'dockerd --version >/dev/null && docker --version >/dev/null && iptables --version >/dev/null && ip -V >/dev/null' ||
        die "the imported image cannot run dockerd, docker, iptables and ip"
}

# Two builds at once (a setup and a swarm `up`) would both debootstrap and leave an orphaned
# image; the second one waits here, then finds the tag. The lock is this script file itself.
take_lock() {
    exec 9<"${BASH_SOURCE[0]}"
    flock -w 900 9 || die "another swarm-node-image.sh still runs after 900 s"
}

# A rebuild moves the tag; the image it leaves untagged is removed unless a container uses it.
remove_replaced_image() {
    local previous_id="$1"
    [[ -n "${previous_id}" && "${previous_id}" != "$(docker image inspect --format '{{.Id}}' "${image_tag}")" ]] || return 0
    docker image rm "${previous_id}" >/dev/null 2>&1 || log "kept the replaced image ${previous_id:0:19} (in use)"
}

main() {
    check_prerequisites
    take_lock
    if [[ "${MTLS_DIND_REBUILD:-0}" != "1" ]] && image_present; then
        log "image ${image_tag} present ($(docker image inspect --format '{{.Id}}' "${image_tag}" | cut -c1-19)); reusing it"
        return 0
    fi
    check_build_prerequisites

    local mirror="${MTLS_DEBIAN_MIRROR:-$(debian_configured_mirror "${suite}")}"
    [[ -n "${mirror}" ]] || die "no enabled 'deb' source for ${suite} main in /etc/apt/sources.list{,.d/*}; set MTLS_DEBIAN_MIRROR"
    log "building ${image_tag}: debootstrap ${suite} (${packages}) from ${mirror}"

    local started_at previous_id
    started_at=$(date +%s)
    previous_id="$(docker image inspect --format '{{.Id}}' "${image_tag}" 2>/dev/null || true)"
    work_dir="$(mktemp -d /var/tmp/mtls-dind-rootfs.XXXXXX)"
    # debootstrap may leave proc/sys mounted inside the target after a failure: remove_work_dir unmounts them.
    trap 'remove_work_dir "${work_dir}"' EXIT
    trap 'exit 130' INT TERM
    local rootfs="${work_dir}/rootfs"

    debootstrap_rootfs "${suite}" "${packages}" "${mirror}" "${rootfs}" "${work_dir}/debootstrap.log"
    slim_rootfs "${rootfs}" # apt caches and lists, docs, man pages: nothing a node engine needs
    prepare_rootfs "${rootfs}"
    local docker_version
    docker_version="$(chroot "${rootfs}" /usr/sbin/dockerd --version | sed -E 's/^Docker version ([^,]+),.*/\1/')"
    log "importing ${image_tag} (dockerd ${docker_version}, rootfs $(du -sh --one-file-system "${rootfs}" | cut -f1))"
    import_rootfs "${rootfs}" "${docker_version}"
    check_image
    remove_replaced_image "${previous_id}"
    log "built ${image_tag} in $(($(date +%s) - started_at)) s ($(docker image inspect --format '{{.Size}}' "${image_tag}" | awk '{ printf "%.0f MB", $1 / 1e6 }'))"
}

main "$@"
