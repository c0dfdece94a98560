#!/usr/bin/env bash
# Builds the local Nginx image without any container registry: debootstrap a minimal Debian root
# filesystem with Nginx from the machine's configured Debian mirror, then `docker import` it.
# The suite, the packages and the default tag come from scripts/nginx-image.env (Debian 13 trixie:
# Nginx 1.26, OpenSSL 3.5).
#
#   MTLS_NGINX_IMAGE      image tag (default: MTLS_NGINX_DEFAULT_IMAGE of nginx-image.env)
#   MTLS_NGINX_REBUILD=1  rebuild even when the tag exists
#   MTLS_DEBIAN_MIRROR    mirror URL; default: the "main" entry of the suite in /etc/apt/sources.list{,.d/*},
#                         else the archive the machine uses for its own suite (it carries every suite)
#
# The image runs `nginx -c /etc/nginx/mtls/nginx.conf` against the rendered config mounted
# read-only at /etc/nginx/mtls (pid /run/nginx-mtls.pid, logs on stdout/stderr).
set -euo pipefail

image_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=SCRIPTDIR/nginx-image.env
source "${image_dir}/nginx-image.env"
image_tag="${MTLS_NGINX_IMAGE:-${MTLS_NGINX_DEFAULT_IMAGE}}"
suite="${MTLS_NGINX_SUITE}"
packages="${MTLS_NGINX_PACKAGES}"

log_tag="build-local-image"
# shellcheck source=SCRIPTDIR/lib.sh
source "${image_dir}/lib.sh"

command -v docker >/dev/null 2>&1 || die "docker CLI not found; run: npm run setup"
timeout 10 docker info >/dev/null 2>&1 || die "Docker daemon does not answer; run: npm run setup"

if [[ "${MTLS_NGINX_REBUILD:-0}" != "1" ]] && docker image inspect "${image_tag}" >/dev/null 2>&1; then
    log "image ${image_tag} present ($(docker image inspect --format '{{.Id}}' "${image_tag}" | cut -c1-19)); reusing it"
    exit 0
fi

[[ "$(id -u)" -eq 0 ]] || die "debootstrap needs root"
command -v debootstrap >/dev/null 2>&1 || die "debootstrap not found; run: npm run setup"

# --- mirror: the Debian archive apt already uses on this machine -----------------------------
# shellcheck source=SCRIPTDIR/debian-mirror.sh
source "${image_dir}/debian-mirror.sh"

# A machine on an older release lists only its own suite: the same Debian archive serves the newer one.
own_suite="$(. /etc/os-release 2>/dev/null && printf '%s' "${VERSION_CODENAME:-}")"
mirror="${MTLS_DEBIAN_MIRROR:-$(debian_configured_mirror "${suite}")}"
if [[ -z "${mirror}" && -n "${own_suite}" ]]; then
    mirror="$(debian_configured_mirror "${own_suite}")"
fi
[[ -n "${mirror}" ]] || die "no enabled 'deb' source for ${suite} (or ${own_suite:-its own suite}) main in /etc/apt/sources.list{,.d/*}; set MTLS_DEBIAN_MIRROR"
log "building ${image_tag}: debootstrap ${suite} from ${mirror}"

started_at=$(date +%s)
work_dir="$(mktemp -d /var/tmp/mtls-nginx-rootfs.XXXXXX)"
rootfs="${work_dir}/rootfs"
# debootstrap may leave proc/sys mounted inside the target after a failure: remove_work_dir unmounts them.
trap 'remove_work_dir "${work_dir}"' EXIT

debootstrap_rootfs "${suite}" "${packages}" "${mirror}" "${rootfs}" "${work_dir}/debootstrap.log"

# --- slim down: apt caches and lists, docs, man pages --------------------------------------
slim_rootfs "${rootfs}"

# --- what `nginx -c /etc/nginx/mtls/nginx.conf` needs at run time -------------------------
mkdir -p "${rootfs}/run" "${rootfs}/etc/nginx/mtls" "${rootfs}/var/log/nginx"
for temp in body proxy fastcgi uwsgi scgi; do
    mkdir -p "${rootfs}/var/lib/nginx/${temp}"
done
chroot "${rootfs}" chown -R www-data:www-data /var/lib/nginx
chmod 0755 "${rootfs}/run"
# Debian's nginx runs workers as "nobody" when a config has no `user` line (the rendered one
# has none): the temp dirs must be writable for it too.
chmod 0777 "${rootfs}"/var/lib/nginx/{body,proxy,fastcgi,uwsgi,scgi}
chmod 1777 "${rootfs}/tmp"
nginx_version="$(chroot "${rootfs}" /usr/sbin/nginx -v 2>&1 | sed 's/^nginx version: //')"
chroot "${rootfs}" /usr/sbin/nginx -V 2>&1 | grep -q -- '--with-http_ssl_module' || die "nginx in the rootfs lacks the SSL module"
# The bench runs `openssl speed` and `openssl s_server` in this image (ca-certificates pulls the CLI in).
openssl_version="$(chroot "${rootfs}" /usr/bin/openssl version 2>/dev/null | awk '{ print $2 }')" ||
    die "the rootfs has no openssl command"

# --- import -------------------------------------------------------------------------------
log "importing ${image_tag} (${nginx_version}, OpenSSL ${openssl_version}, rootfs $(du -sh --one-file-system "${rootfs}" | cut -f1))"
rootfs_tar="${work_dir}/rootfs.tar"
tar --numeric-owner -C "${rootfs}" --exclude='./dev/*' --exclude='./proc/*' --exclude='./sys/*' -cf "${rootfs_tar}" .
import_changes=(
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'
    --change 'EXPOSE 443'
    --change "LABEL org.opencontainers.image.title=mtls-nginx org.opencontainers.image.version=${nginx_version// /_} org.opencontainers.image.base.name=debian:${suite} mtls-nginx.openssl=${openssl_version}"
    --change 'CMD ["nginx","-g","daemon off;"]'
)
# SIGQUIT lets nginx finish in-flight requests on `docker stop`. Daemons before Docker 23
# (Debian bookworm ships 20.10) refuse STOPSIGNAL in `docker import --change`; there the
# signal is added by a metadata-only build step on top of the imported root filesystem.
if ! docker import "${import_changes[@]}" --change 'STOPSIGNAL SIGQUIT' - "${image_tag}" <"${rootfs_tar}" \
    >/dev/null 2>"${work_dir}/import.err"; then
    grep -qi 'stopsignal' "${work_dir}/import.err" || {
        cat "${work_dir}/import.err" >&2
        die "docker import failed"
    }
    log "this daemon refuses STOPSIGNAL on import; adding it with a one-line build"
    base_tag="mtls-nginx-rootfs-tmp:$(date +%s)-$$"
    docker import "${import_changes[@]}" - "${base_tag}" <"${rootfs_tar}" >/dev/null
    printf 'FROM %s\nSTOPSIGNAL SIGQUIT\n' "${base_tag}" |
        DOCKER_BUILDKIT=0 docker build --quiet --tag "${image_tag}" - >/dev/null 2>"${work_dir}/build.err" || {
        cat "${work_dir}/build.err" >&2
        die "docker build (STOPSIGNAL layer) failed"
    }
    docker image rm "${base_tag}" >/dev/null
fi
rm -f "${rootfs_tar}"
[[ "$(docker image inspect --format '{{.Config.StopSignal}}' "${image_tag}")" == "SIGQUIT" ]] ||
    die "image ${image_tag} lacks STOPSIGNAL SIGQUIT"

# --- check: a config shaped like the rendered one passes `nginx -t` in the image ---------
docker run --rm --network none "${image_tag}" sh -ec '
    test -d /run && test -d /var/lib/nginx/body && test -d /etc/nginx/mtls
    mkdir -p /tmp/check
    printf "%s\n" "pid /run/nginx-mtls.pid;" "error_log stderr warn;" "events {}" \
        "http { access_log /dev/stdout; server { listen 8443; location / { return 200 ok; } } }" >/tmp/check/nginx.conf
    nginx -q -t -c /tmp/check/nginx.conf
' || die "the imported image cannot run nginx with a config like the rendered one"

log "built ${image_tag} in $(($(date +%s) - started_at)) s ($(docker image inspect --format '{{.Size}}' "${image_tag}" | awk '{ printf "%.0f MB", $1 / 1e6 }'))"
