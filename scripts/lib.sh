# Helpers of the setup scripts. Source it (bash) after `set -euo pipefail`, with `log_tag` set to
# the script's name for its messages:
#
#   log MESSAGE...                   "[tag] MESSAGE" on stderr
#   die MESSAGE...                   "[tag] ERROR: MESSAGE" on stderr, then exit 1
#
# A cache entry (Node.js, a Go build) is made the same way on a warm machine and a new one (empty
# HOME, no cache directory yet):
#
#   cache_lock LOCK_FILE             one setup at a time: makes the lock's directory, then waits
#                                    (saying so) while another setup holds the lock (needs flock;
#                                    without it, nothing is locked)
#   stage_beside TARGET              sets staging_dir to a new empty directory beside TARGET (the
#                                    parent is made first; the same file system, so the move into
#                                    place is a rename), removed when the script exits (the
#                                    script's EXIT trap)
#   move_into_place SOURCE TARGET    replaces TARGET (a file or a directory) with SOURCE
#
# A Debian root filesystem for an image (scripts/build-nginx-image.sh, scripts/swarm-node-image.sh):
#
#   debootstrap_rootfs SUITE PACKAGES MIRROR ROOTFS LOG_FILE
#   slim_rootfs ROOTFS               drops apt caches and lists, docs and man pages
#   remove_work_dir DIR              unmounts what debootstrap left mounted below DIR, then removes it

log() { printf '[%s] %s\n' "${log_tag:-setup}" "$*" >&2; }
die() {
    log "ERROR: $*"
    exit 1
}

# as_root CMD...: runs CMD as root (directly, or through sudo); apt and the Docker daemon need it.
as_root() {
    if [[ "$(id -u)" -eq 0 ]]; then
        "$@"
    elif command -v sudo >/dev/null 2>&1; then
        sudo "$@"
    else
        die "need root (or sudo) to run: $*"
    fi
}

cache_lock() {
    local lock_file="$1"
    mkdir -p "$(dirname "${lock_file}")"
    command -v flock >/dev/null 2>&1 || return 0
    exec 9>"${lock_file}"
    if ! flock -n 9; then
        log "another setup is running on $(dirname "${lock_file}"); waiting for it"
        flock 9
    fi
}

stage_beside() {
    local target="$1"
    mkdir -p "$(dirname "${target}")"
    staging_dir="$(mktemp -d "${target}.XXXXXX")"
    trap 'rm -rf "${staging_dir}"' EXIT
}

move_into_place() {
    local source="$1" target="$2"
    if [[ -d "${target}" && ! -L "${target}" ]]; then
        rm -rf "${target}"
    fi
    mv -f "${source}" "${target}"
}

debootstrap_rootfs() {
    local suite="$1" packages="$2" mirror="$3" rootfs="$4" log_file="$5"
    if ! debootstrap --variant=minbase --include="${packages}" "${suite}" "${rootfs}" "${mirror}" \
        >"${log_file}" 2>&1; then
        tail -n 30 "${log_file}" >&2 || true
        [[ -f "${rootfs}/debootstrap/debootstrap.log" ]] && tail -n 30 "${rootfs}/debootstrap/debootstrap.log" >&2
        die "debootstrap failed"
    fi
}

slim_rootfs() {
    local rootfs="$1"
    rm -rf "${rootfs}"/var/cache/apt/archives/*.deb "${rootfs}"/var/cache/apt/archives/partial/* \
        "${rootfs}"/var/cache/apt/*.bin "${rootfs}"/var/lib/apt/lists/* "${rootfs}"/var/log/apt/* \
        "${rootfs}"/var/cache/debconf/*-old "${rootfs}"/var/log/dpkg.log "${rootfs}"/var/log/bootstrap.log \
        "${rootfs}"/usr/share/man/* "${rootfs}"/usr/share/info/* "${rootfs}"/usr/share/locale/*
    find "${rootfs}/usr/share/doc" -mindepth 1 ! -type d ! -name copyright -delete 2>/dev/null || true
    find "${rootfs}/usr/share/doc" -mindepth 1 -type d -empty -delete 2>/dev/null || true
}

# Never crosses into another file system while deleting (a mount left behind is skipped, not emptied).
remove_work_dir() {
    local dir="$1" mount_point
    [[ -n "${dir}" && -d "${dir}" ]] || return 0
    awk -v prefix="${dir}/" 'index($2, prefix) == 1 { print $2 }' /proc/mounts | sort -r |
        while read -r mount_point; do
            umount -l "${mount_point}" 2>/dev/null || true
        done
    rm -rf --one-file-system "${dir}"
}
