#!/usr/bin/env bash
# A real 3-node Docker Swarm on this machine, for the e2e tier: three Docker engines running in
# containers of the machine's dockerd, each reachable from the host only over TLS-verified
# tcp:// on its own loopback address, like a remote engine that shares no filesystem with us.
#
#   scripts/swarm-nodes.sh up       create (or reuse a healthy) cluster; prints a summary
#   scripts/swarm-nodes.sh down     remove everything `up` made, also after a half-finished `up`
#   scripts/swarm-nodes.sh status   the node containers and the manager's `docker node ls`
#
# Node N (1..3) is the container mtls-swarm-N with the bridge address <subnet>.1N; its engine
# API is published on 127.0.0.2N:2376 (TLS, client certificate required) and its served port on
# 127.0.0.2N:$MTLS_SWARM_SERVICE_PORT. Node 1 is the only manager.
#
# Env:
#   MTLS_SWARM_STATE         state dir: CA, certificates, cluster.json (default ${TMPDIR:-/tmp}/mtls-nginx-swarm)
#   MTLS_SWARM_SUBNET        the nodes' bridge network, a /24 (default 172.31.250.0/24)
#   MTLS_SWARM_NETWORK       its name (default mtls-swarm-net)
#   MTLS_SWARM_SERVICE_PORT  port published on every node's loopback address (default 8443)
#   MTLS_SWARM_FRESH=1       `up` removes a healthy cluster too and starts from nothing
#   MTLS_DIND_IMAGE          node image (default mtls-nginx/dind-node:bookworm-local)
#   MTLS_NGINX_IMAGE         image loaded into every node (default mtls-nginx/nginx:trixie-local)
#
# Clients: DOCKER_CERT_PATH=$MTLS_SWARM_STATE/client DOCKER_TLS_VERIFY=1 DOCKER_HOST=tcp://127.0.0.21:2376 docker ...
set -euo pipefail

script_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
state_dir="${MTLS_SWARM_STATE:-${TMPDIR:-/tmp}/mtls-nginx-swarm}"
subnet="${MTLS_SWARM_SUBNET:-172.31.250.0/24}"
network="${MTLS_SWARM_NETWORK:-mtls-swarm-net}"
service_port="${MTLS_SWARM_SERVICE_PORT:-8443}"
node_image="${MTLS_DIND_IMAGE:-mtls-nginx/dind-node:bookworm-local}"
nginx_image="${MTLS_NGINX_IMAGE:-mtls-nginx/nginx:trixie-local}"
api_port=2376
node_count=3
label="mtls-nginx.swarm"
state_marker=".mtls-nginx-swarm"
readiness_timeout_seconds=90

log() { printf '[swarm-nodes] %s\n' "$*" >&2; }
die() {
    log "ERROR: $*"
    exit 1
}

# --- names and addresses --------------------------------------------------------------------
node_name() { echo "mtls-swarm-$1"; }
node_loopback() { echo "127.0.0.2$1"; }
node_volume() { echo "mtls-swarm-$1-docker"; }
subnet_base() { echo "${subnet%.0/24}"; }
node_bridge() { echo "$(subnet_base).1$1"; }
node_tls_dir() { echo "${state_dir}/nodes/$(node_name "$1")"; }
client_dir() { echo "${state_dir}/client"; }

validate_settings() {
    [[ "${subnet}" =~ ^(25[0-5]|2[0-4][0-9]|1?[0-9]?[0-9])(\.(25[0-5]|2[0-4][0-9]|1?[0-9]?[0-9])){2}\.0/24$ ]] ||
        die "MTLS_SWARM_SUBNET must be a /24 like 172.31.250.0/24 (got '${subnet}')"
    [[ "${service_port}" =~ ^[0-9]+$ && "${service_port}" -ge 1 && "${service_port}" -le 65535 &&
        "${service_port}" -ne "${api_port}" ]] ||
        die "MTLS_SWARM_SERVICE_PORT must be a port number other than ${api_port} (got '${service_port}')"
    [[ "${state_dir}" == /* && "${state_dir}" != "/" ]] || die "MTLS_SWARM_STATE must be an absolute path (got '${state_dir}')"
}

# Docker CLI against node N's engine, the way a remote client reaches it: TLS-verified tcp://.
# -H and the explicit flags win over any DOCKER_HOST/DOCKER_CONTEXT in the caller's environment.
# Bounded (NODE_DOCKER_TIMEOUT seconds): a wedged engine must not hang `up` forever.
node_docker() {
    local index="$1"
    shift
    timeout "${NODE_DOCKER_TIMEOUT:-300}" docker --tlsverify --tlscacert "$(client_dir)/ca.pem" \
        --tlscert "$(client_dir)/cert.pem" --tlskey "$(client_dir)/key.pem" \
        -H "tcp://$(node_loopback "${index}"):${api_port}" "$@"
}

# --- lock: two `up`/`down` at once would fight over the same names --------------------------
# The lock is on this script file itself, so it leaves no lock file behind.
take_lock() {
    exec 9<"${BASH_SOURCE[0]}"
    flock -w 600 9 || die "another swarm-nodes.sh up/down still runs after 600 s"
}

# --- down -----------------------------------------------------------------------------------
# By label and by name: a node whose `docker create` half-failed may have a name but no start.
remove_node_containers() {
    local ids index
    ids="$(docker ps -aq --filter "label=${label}=node")"
    for index in $(seq 1 "${node_count}"); do
        ids+=" $(docker ps -aq --filter "name=^$(node_name "${index}")$")"
    done
    ids="$(echo "${ids}" | tr ' ' '\n' | sed '/^$/d' | sort -u | tr '\n' ' ')"
    [[ -z "${ids// /}" ]] && return 0
    log "removing node containers"
    # shellcheck disable=SC2086 # a list of container ids
    docker rm -f -v ${ids} >/dev/null
}

# The inner engines put their containers' cgroups under /<node-name> in every hierarchy of the
# machine (the nodes bind-mount /sys/fs/cgroup); nothing else removes them. Their processes die
# with the node container, but the kernel may take a moment to release the last of them.
remove_node_cgroups() {
    local index name directory attempt status=0
    for index in $(seq 1 "${node_count}"); do
        name="$(node_name "${index}")"
        for attempt in $(seq 1 20); do
            local left=0
            for directory in /sys/fs/cgroup/*/"${name}" /sys/fs/cgroup/"${name}"; do
                [[ -d "${directory}" ]] || continue
                find "${directory}" -depth -type d -exec rmdir {} + 2>/dev/null || true
                [[ -d "${directory}" ]] && left=1
            done
            ((left == 0)) && break
            if ((attempt == 20)); then
                log "could not remove the cgroup directories of ${name} under /sys/fs/cgroup (processes left in them?)"
                status=1
            fi
            sleep 0.5
        done
    done
    return "${status}"
}

# A volume can stay busy for a moment after its container is gone (the node's mounts unwind).
remove_node_volumes() {
    local volumes index attempt
    volumes="$(docker volume ls -q --filter "label=${label}=volume")"
    for index in $(seq 1 "${node_count}"); do
        docker volume inspect "$(node_volume "${index}")" >/dev/null 2>&1 && volumes+=" $(node_volume "${index}")"
    done
    volumes="$(echo "${volumes}" | tr ' ' '\n' | sed '/^$/d' | sort -u | tr '\n' ' ')"
    [[ -z "${volumes// /}" ]] && return 0
    log "removing volumes: ${volumes}"
    for attempt in $(seq 1 10); do
        # shellcheck disable=SC2086 # a list of volume names
        docker volume rm -f ${volumes} >/dev/null 2>&1 && return 0
        sleep 1
    done
    # shellcheck disable=SC2086
    docker volume rm -f ${volumes} >/dev/null
}

remove_network() {
    local networks
    networks="$(docker network ls -q --no-trunc --filter "label=${label}=network")"
    networks+=" $(docker network inspect --format '{{.Id}}' "${network}" 2>/dev/null || true)"
    [[ -z "${networks// /}" ]] && return 0
    log "removing network ${network}"
    networks="$(echo "${networks}" | tr ' ' '\n' | sed '/^$/d' | sort -u | tr '\n' ' ')"
    # shellcheck disable=SC2086 # a list of network ids/names
    docker network rm ${networks} >/dev/null
}

# Only a directory this script made (it holds the marker) is deleted: MTLS_SWARM_STATE could
# point anywhere by mistake.
remove_state_dir() {
    [[ -e "${state_dir}" ]] || return 0
    if [[ -f "${state_dir}/${state_marker}" ]]; then
        rm -rf --one-file-system "${state_dir}"
    else
        log "WARNING: ${state_dir} was not made by this script (no ${state_marker}); leaving it"
    fi
}

# Every step runs even when an earlier one failed, so a half-made cluster still goes away.
down() {
    local step failed_steps=()
    # Without an answering daemon every "nothing to remove" below would be a false all-clear.
    timeout 15 docker info >/dev/null 2>&1 || die "the Docker daemon does not answer; nothing was removed"
    for step in remove_node_containers remove_node_cgroups remove_node_volumes remove_network remove_state_dir; do
        ("${step}") || failed_steps+=("${step}")
    done
    ((${#failed_steps[@]} == 0)) || die "down left something behind; failed: ${failed_steps[*]}"
}

# --- up: preflight --------------------------------------------------------------------------
check_prerequisites() {
    local tool
    for tool in docker openssl flock; do
        command -v "${tool}" >/dev/null 2>&1 || die "${tool} not found; run: npm run setup"
    done
    timeout 15 docker info >/dev/null 2>&1 || die "the Docker daemon does not answer; run: npm run setup"
    docker image inspect "${nginx_image}" >/dev/null 2>&1 ||
        die "image ${nginx_image} is missing; run: npm run setup (scripts/build-nginx-image.sh)"
    # Cached: returns at once when the node image exists.
    MTLS_DIND_IMAGE="${node_image}" bash "${script_dir}/swarm-node-image.sh"
}

cidr_to_range() {
    local address="${1%/*}" bits="${1#*/}" a b c d
    IFS=. read -r a b c d <<<"${address}"
    local start=$(((a << 24) | (b << 16) | (c << 8) | d))
    local size=$((1 << (32 - bits)))
    start=$((start & ~(size - 1) & 0xFFFFFFFF))
    echo "${start} $((start + size - 1))"
}

cidrs_overlap() {
    local first second
    read -r -a first <<<"$(cidr_to_range "$1")"
    read -r -a second <<<"$(cidr_to_range "$2")"
    ((first[0] <= second[1] && second[0] <= first[1]))
}

# The nodes' subnet must not shadow another docker network or a route of this machine.
check_subnet_is_free() {
    local other
    local others
    local network_ids
    network_ids="$(docker network ls -q)"
    # shellcheck disable=SC2086 # a list of network ids
    others="$(docker network inspect --format '{{range .IPAM.Config}}{{.Subnet}} {{end}}' ${network_ids} 2>/dev/null || true)"
    others+=" $(ip -4 route show 2>/dev/null | awk '$1 ~ /^[0-9.]+(\/[0-9]+)?$/ { print ($1 ~ /\//) ? $1 : $1 "/32" }')"
    for other in ${others}; do
        [[ "${other}" == *:* ]] && continue
        [[ "${other}" == */* ]] || other="${other}/32"
        if cidrs_overlap "${subnet}" "${other}"; then
            die "MTLS_SWARM_SUBNET ${subnet} overlaps ${other} (a docker network or a route here); set MTLS_SWARM_SUBNET to a free /24"
        fi
    done
}

# --- up: certificates -----------------------------------------------------------------------
make_state_dir() {
    mkdir -p "${state_dir}"
    chmod 0700 "${state_dir}"
    touch "${state_dir}/${state_marker}"
    mkdir -p "${state_dir}/nodes" "$(client_dir)"
    chmod 0700 "${state_dir}/nodes" "$(client_dir)"
}

# A throwaway CA, valid two days: it lives only as long as this cluster.
make_ca() {
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
        -subj "/CN=mtls-nginx swarm test CA" \
        -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
        -keyout "${state_dir}/ca-key.pem" -out "${state_dir}/ca.pem" 2>/dev/null
    chmod 0600 "${state_dir}/ca-key.pem"
}

# issue_certificate COMMON_NAME EXTENDED_KEY_USAGE SUBJECT_ALT_NAMES CERT_FILE KEY_FILE
issue_certificate() {
    local common_name="$1" usage="$2" alt_names="$3" cert_file="$4" key_file="$5"
    local csr_file="${cert_file%.pem}.csr"
    local extensions="basicConstraints=critical,CA:FALSE
keyUsage=critical,digitalSignature
extendedKeyUsage=${usage}"
    [[ -n "${alt_names}" ]] && extensions+=$'\n'"subjectAltName=${alt_names}"
    openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=${common_name}" \
        -keyout "${key_file}" -out "${csr_file}" 2>/dev/null
    chmod 0600 "${key_file}"
    openssl x509 -req -in "${csr_file}" -CA "${state_dir}/ca.pem" -CAkey "${state_dir}/ca-key.pem" \
        -set_serial "0x$(openssl rand -hex 16)" -days 2 -extfile <(echo "${extensions}") \
        -out "${cert_file}" 2>/dev/null
    chmod 0644 "${cert_file}"
    rm -f "${csr_file}"
}

make_certificates() {
    local index directory
    make_ca
    # Laid out as DOCKER_CERT_PATH expects (ca.pem, cert.pem, key.pem).
    issue_certificate "mtls-nginx swarm client" clientAuth "" "$(client_dir)/cert.pem" "$(client_dir)/key.pem"
    cp "${state_dir}/ca.pem" "$(client_dir)/ca.pem"
    for index in $(seq 1 "${node_count}"); do
        directory="$(node_tls_dir "${index}")"
        mkdir -p "${directory}"
        chmod 0700 "${directory}"
        issue_certificate "$(node_name "${index}")" serverAuth \
            "IP:$(node_loopback "${index}"),IP:$(node_bridge "${index}"),DNS:localhost,DNS:$(node_name "${index}")" \
            "${directory}/server-cert.pem" "${directory}/server-key.pem"
        cp "${state_dir}/ca.pem" "${directory}/ca.pem"
    done
}

# --- up: nodes ------------------------------------------------------------------------------
create_network() {
    log "creating network ${network} (${subnet})"
    docker network create --driver bridge --subnet "${subnet}" --gateway "$(subnet_base).1" \
        --label "${label}=network" "${network}" >/dev/null
}

# Flags from machine-facts.md: --privileged is refused here (no CAP_SYS_RESOURCE in the bounding
# set); the machine is on cgroup v1, so the inner engine needs the host's cgroup tree; overlay2
# of the inner engine needs a volume, not the container's own overlay root.
create_node() {
    local index="$1"
    local name tls=/etc/docker/tls
    name="$(node_name "${index}")"
    docker volume create --label "${label}=volume" "$(node_volume "${index}")" >/dev/null
    docker create --name "${name}" --hostname "${name}" \
        --label "${label}=node" --label "${label}.state=${state_dir}" \
        --network "${network}" --ip "$(node_bridge "${index}")" \
        --cap-add ALL --cap-drop SYS_RESOURCE \
        --security-opt seccomp=unconfined --security-opt apparmor=unconfined --security-opt systempaths=unconfined \
        -v /sys/fs/cgroup:/sys/fs/cgroup -v "$(node_volume "${index}"):/var/lib/docker" \
        -p "$(node_loopback "${index}"):${api_port}:${api_port}" \
        -p "$(node_loopback "${index}"):${service_port}:${service_port}" \
        "${node_image}" \
        dockerd --cgroup-parent="/${name}" \
        --host unix:///var/run/docker.sock --host "tcp://0.0.0.0:${api_port}" \
        --tlsverify --tlscacert "${tls}/ca.pem" --tlscert "${tls}/server-cert.pem" --tlskey "${tls}/server-key.pem" \
        >/dev/null
    # Copied, not bind-mounted: a node shares no files with this machine, like a remote engine.
    docker cp "$(node_tls_dir "${index}")/." "${name}:${tls}" || die "could not copy the TLS files into ${name} (is ${node_image} a node image?)"
    docker start "${name}" >/dev/null || die "could not start ${name}"
}

# Ready means: the engine answers a TLS-verified client from the host on its loopback address.
wait_for_engine() {
    local index="$1" name deadline=$((SECONDS + readiness_timeout_seconds))
    name="$(node_name "${index}")"
    until NODE_DOCKER_TIMEOUT=15 node_docker "${index}" version --format '{{.Server.Version}}' >/dev/null 2>&1; do
        if [[ "$(docker inspect --format '{{.State.Running}}' "${name}" 2>/dev/null)" != "true" ]]; then
            docker logs --tail 40 "${name}" >&2 2>&1 || true
            die "node ${name} stopped while its engine was starting (logs above)"
        fi
        if ((SECONDS >= deadline)); then
            docker logs --tail 40 "${name}" >&2 2>&1 || true
            NODE_DOCKER_TIMEOUT=15 node_docker "${index}" version >&2 || true
            die "the engine of ${name} did not answer over TLS on $(node_loopback "${index}"):${api_port} within ${readiness_timeout_seconds} s"
        fi
        sleep 0.5
    done
}

# `docker save` once, load into the nodes in parallel; nodes that already hold the same image
# id are skipped (a rebuilt image is loaded again).
load_image() {
    local image="$1" image_id archive index targets=() pids=() failed=0
    image_id="$(docker image inspect --format '{{.Id}}' "${image}")"
    for index in $(seq 1 "${node_count}"); do
        [[ "$(node_docker "${index}" image inspect --format '{{.Id}}' "${image}" 2>/dev/null)" == "${image_id}" ]] ||
            targets+=("${index}")
    done
    ((${#targets[@]} > 0)) || return 0
    log "loading ${image} into node(s) ${targets[*]}"
    archive="$(mktemp "${state_dir}/image.XXXXXX.tar")"
    docker save "${image}" -o "${archive}"
    for index in "${targets[@]}"; do
        node_docker "${index}" load --quiet -i "${archive}" >/dev/null &
        pids+=($!)
    done
    for index in "${!pids[@]}"; do
        wait "${pids[${index}]}" || failed=1
    done
    rm -f "${archive}"
    ((failed == 0)) || die "loading ${image} into the nodes failed"
}

swarm_state() {
    NODE_DOCKER_TIMEOUT=30 node_docker "$1" info --format '{{.Swarm.LocalNodeState}}' 2>/dev/null || echo unknown
}

form_swarm() {
    local manager_address token index attempt
    manager_address="$(node_bridge 1)"
    if [[ "$(swarm_state 1)" != "active" ]]; then
        node_docker 1 swarm init --advertise-addr "${manager_address}" --listen-addr "${manager_address}:2377" >/dev/null
    fi
    token="$(node_docker 1 swarm join-token -q worker)"
    for index in $(seq 2 "${node_count}"); do
        [[ "$(swarm_state "${index}")" == "active" ]] && continue
        for attempt in 1 2 3 4 5; do
            node_docker "${index}" swarm join --token "${token}" --advertise-addr "$(node_bridge "${index}")" \
                "${manager_address}:2377" >/dev/null && break
            ((attempt == 5)) && die "$(node_name "${index}") could not join the swarm at ${manager_address}:2377"
            sleep 2
        done
    done
}

ready_node_count() {
    NODE_DOCKER_TIMEOUT=15 node_docker 1 node ls --format '{{.Status}}' 2>/dev/null | grep -c '^Ready$' || true
}

wait_for_ready_nodes() {
    local deadline=$((SECONDS + readiness_timeout_seconds))
    until [[ "$(ready_node_count)" -eq "${node_count}" ]]; do
        ((SECONDS >= deadline)) && {
            NODE_DOCKER_TIMEOUT=15 node_docker 1 node ls >&2 || true
            die "the swarm has $(ready_node_count) of ${node_count} nodes Ready after ${readiness_timeout_seconds} s"
        }
        sleep 1
    done
}

# Read by testkit/swarm.ts: what a client needs to reach the cluster.
write_cluster_file() {
    local index nodes=() role
    for index in $(seq 1 "${node_count}"); do
        role=worker
        ((index == 1)) && role=manager
        nodes+=("$(printf '{"name":"%s","loopbackAddress":"%s","bridgeAddress":"%s","dockerHost":"tcp://%s:%s","role":"%s"}' \
            "$(node_name "${index}")" "$(node_loopback "${index}")" "$(node_bridge "${index}")" \
            "$(node_loopback "${index}")" "${api_port}" "${role}")")
    done
    local IFS=,
    printf '{"stateDirectory":"%s","network":"%s","subnet":"%s","servicePort":%s,"apiPort":%s,"clientCertPath":"%s","nodes":[%s]}\n' \
        "${state_dir}" "${network}" "${subnet}" "${service_port}" "${api_port}" "$(client_dir)" "${nodes[*]}" \
        >"${state_dir}/cluster.json"
}

# What a reused cluster must have been made with.
settings_line() {
    echo "subnet=${subnet} network=${network} service_port=${service_port} node_image=${node_image}"
}

# A cluster left by an earlier `up` is reused only when it was made with the same settings and
# everything answers; anything less (a killed run, a stopped node) is removed and built again.
cluster_is_healthy() {
    local index
    [[ -f "${state_dir}/ready" && -f "${state_dir}/cluster.json" ]] || return 1
    [[ "$(cat "${state_dir}/settings" 2>/dev/null)" == "$(settings_line)" ]] || return 1
    for index in $(seq 1 "${node_count}"); do
        [[ "$(docker inspect --format '{{.State.Running}}' "$(node_name "${index}")" 2>/dev/null)" == "true" ]] || return 1
    done
    [[ "$(ready_node_count)" -eq "${node_count}" ]]
}

print_summary() {
    local index
    printf 'swarm of %s nodes (state %s, network %s %s)\n' "${node_count}" "${state_dir}" "${network}" "${subnet}"
    for index in $(seq 1 "${node_count}"); do
        printf '  %-13s %-8s bridge %-15s api tcp://%s:%s (TLS)  port %s:%s\n' "$(node_name "${index}")" \
            "$( ((index == 1)) && echo manager || echo worker)" "$(node_bridge "${index}")" \
            "$(node_loopback "${index}")" "${api_port}" "$(node_loopback "${index}")" "${service_port}"
    done
    printf 'client: DOCKER_CERT_PATH=%s DOCKER_TLS_VERIFY=1 DOCKER_HOST=tcp://%s:%s docker node ls\n' \
        "$(client_dir)" "$(node_loopback 1)" "${api_port}"
}

up() {
    local started_at index
    started_at=$(date +%s)
    check_prerequisites
    if [[ "${MTLS_SWARM_FRESH:-0}" != "1" ]] && cluster_is_healthy; then
        log "reusing the healthy cluster in ${state_dir}"
        load_image "${nginx_image}"
        print_summary
        return 0
    fi
    down
    check_subnet_is_free
    make_state_dir
    make_certificates
    create_network
    log "starting ${node_count} nodes (${node_image})"
    for index in $(seq 1 "${node_count}"); do
        create_node "${index}"
    done
    for index in $(seq 1 "${node_count}"); do
        wait_for_engine "${index}"
    done
    log "engines answer over TLS after $(($(date +%s) - started_at)) s"
    load_image "${nginx_image}"
    log "forming the swarm"
    form_swarm
    wait_for_ready_nodes
    write_cluster_file
    settings_line >"${state_dir}/settings"
    touch "${state_dir}/ready"
    log "up in $(($(date +%s) - started_at)) s"
    print_summary
}

status() {
    docker ps -a --filter "label=${label}=node" --format 'table {{.Names}}\t{{.Status}}\t{{.Ports}}'
    if [[ ! -f "$(client_dir)/key.pem" ]]; then
        echo "no cluster state in ${state_dir}"
        return 1
    fi
    node_docker 1 node ls
}

main() {
    validate_settings
    case "${1:-}" in
        up)
            take_lock
            up
            ;;
        down)
            take_lock
            local started_at
            started_at=$(date +%s)
            down
            log "down in $(($(date +%s) - started_at)) s"
            ;;
        status) status ;;
        *)
            echo "usage: $0 up|down|status" >&2
            exit 2
            ;;
    esac
}

main "$@"
