#!/usr/bin/env bash
# A throwaway single-node Kubernetes cluster for the e2e test tier (testkit/kubernetes.ts), run from
# the binaries scripts/setup-kubernetes.sh caches. Needs root (mounts, network namespaces, iptables).
#
#   scripts/kube-cluster.sh start DIR    start it; writes DIR/kubeconfig (admin) and returns when the
#                                        node is Ready and the default service account exists
#   scripts/kube-cluster.sh stop DIR     stop it and undo everything start did (also after a failed or
#                                        partial start; a second stop does nothing)
#
# Every listener is on 127.0.0.1 (ports below the kernel's ephemeral range, counted from the
# apiserver's): etcd (plain http), kube-apiserver, kube-controller-manager and kube-scheduler
# (--leader-elect=false), kubelet, kube-proxy (iptables mode: ClusterIPs and NodePorts on
# 127.0.0.1:<nodePort> work from the host) and the cluster's own containerd (Debian's binary, with
# its own config, root, state and socket under DIR: it never talks to the machine's dockerd or to a
# system containerd). Pods get 10.244.0.0/24 on the bridge cni0 (host-local IPAM), each in its own
# network namespace. The node is named after the machine's hostname when that resolves to
# 127.0.0.1 (else "localhost"), and carries no --node-ip: the apiserver reaches the kubelet by
# that name (--kubelet-preferred-address-types Hostname,InternalIP).
#
# Outside DIR, start changes (and stop undoes): host sysctls the kubelet and kube-proxy set (saved in
# DIR/host/sysctls), network namespaces in /run/netns, the cni0 bridge and its veths, /var/lib/cni,
# /var/log/containers, /var/lib/kubelet/device-plugins, kubepods cgroups and the KUBE-*/CNI-*
# iptables chains.
#
# Env: MTLS_KUBE_APISERVER_PORT (default 26443; the other ports are the next 10),
#      MTLS_KUBE_IMAGES (space-separated docker image refs, `docker save`d into the cluster),
#      MTLS_KUBE_READY_TIMEOUT (seconds, default 120), MTLS_KUBE_CACHE / MTLS_CACHE_ROOT (setup-kubernetes.sh).
set -euo pipefail

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)"
log_tag="kube-cluster"
# shellcheck source=scripts/lib.sh
. "${SCRIPT_DIR}/lib.sh"

SERVICE_CIDR="10.96.0.0/24"
POD_CIDR="10.244.0.0/24"
BRIDGE="cni0"
CNI_NETWORK="mtls-kube"
DAEMONS=(etcd containerd kube-apiserver kube-controller-manager kube-scheduler kubelet kube-proxy)
SYSCTLS=(vm.overcommit_memory vm.panic_on_oom kernel.panic kernel.panic_on_oops kernel.keys.root_maxkeys
    kernel.keys.root_maxbytes net.ipv4.ip_forward net.ipv4.conf.all.route_localnet
    net.bridge.bridge-nf-call-iptables net.bridge.bridge-nf-call-ip6tables net.netfilter.nf_conntrack_max)

usage() { die "usage: $0 start|stop DIR"; }
[[ $# -eq 2 ]] || usage
action="$1"
[[ -n "$2" ]] || usage
if [[ "${action}" == stop && ! -d "$2" ]]; then
    log "nothing to stop: $2 does not exist"
    exit 0
fi
mkdir -p "$2"
DIR="$(cd "$2" && pwd -P)"
[[ "${DIR}" != / ]] || die "DIR must not be /"

api_port="${MTLS_KUBE_APISERVER_PORT:-26443}"
etcd_port=$((api_port + 1))
etcd_peer_port=$((api_port + 2))
kubelet_port=$((api_port + 3))
kubelet_healthz_port=$((api_port + 4))
kcm_port=$((api_port + 5))
scheduler_port=$((api_port + 6))
proxy_healthz_port=$((api_port + 7))
proxy_metrics_port=$((api_port + 8))
stream_port=$((api_port + 9))

ctr_() { ctr --address "${DIR}/containerd/containerd.sock" -n k8s.io "$@"; }
kubectl_() { "${DIR}/bin/kubectl" --kubeconfig "${DIR}/kubeconfig" "$@"; }

# --- certificates ----------------------------------------------------------------------------

# cert NAME CN ORG [SAN]: an EC P-256 key and a certificate signed by DIR/pki/ca.
cert() {
    local name="$1" cn="$2" org="$3" san="${4:-}" pki="${DIR}/pki"
    local subj="/CN=${cn}"
    [[ -n "${org}" ]] && subj="/O=${org}${subj}"
    openssl ecparam -name prime256v1 -genkey -noout -out "${pki}/${name}.key" 2>/dev/null
    openssl req -new -key "${pki}/${name}.key" -subj "${subj}" -out "${pki}/${name}.csr" 2>/dev/null
    {
        echo "basicConstraints=CA:FALSE"
        echo "keyUsage=critical,digitalSignature,keyEncipherment"
        echo "extendedKeyUsage=serverAuth,clientAuth"
        [[ -n "${san}" ]] && echo "subjectAltName=${san}"
    } >"${pki}/${name}.ext"
    openssl x509 -req -in "${pki}/${name}.csr" -CA "${pki}/ca.crt" -CAkey "${pki}/ca.key" -CAcreateserial \
        -days 7 -sha256 -extfile "${pki}/${name}.ext" -out "${pki}/${name}.crt" 2>/dev/null
    rm -f "${pki}/${name}.csr" "${pki}/${name}.ext"
}

# kubeconfig FILE USER: a kubeconfig for the cert DIR/pki/USER.
kubeconfig() {
    local file="$1" user="$2" pki="${DIR}/pki"
    cat >"${file}" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: mtls-kube
  cluster:
    server: https://127.0.0.1:${api_port}
    certificate-authority-data: $(base64 -w0 "${pki}/ca.crt")
users:
- name: ${user}
  user:
    client-certificate-data: $(base64 -w0 "${pki}/${user}.crt")
    client-key-data: $(base64 -w0 "${pki}/${user}.key")
contexts:
- name: mtls-kube
  context: {cluster: mtls-kube, user: ${user}}
current-context: mtls-kube
EOF
    chmod 600 "${file}"
}

make_pki() {
    local pki="${DIR}/pki"
    mkdir -p "${pki}"
    chmod 700 "${pki}"
    openssl ecparam -name prime256v1 -genkey -noout -out "${pki}/ca.key" 2>/dev/null
    openssl req -x509 -new -key "${pki}/ca.key" -subj "/CN=mtls-kube-ca" -days 7 -sha256 -out "${pki}/ca.crt" 2>/dev/null
    cert apiserver kube-apiserver "" \
        "DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local,IP:127.0.0.1,IP:10.96.0.1"
    cert apiserver-kubelet-client kube-apiserver-kubelet-client system:masters
    cert admin kubernetes-admin system:masters
    cert controller-manager system:kube-controller-manager ""
    cert scheduler system:kube-scheduler ""
    cert kubelet "system:node:${NODE_NAME}" system:nodes
    cert kube-proxy system:kube-proxy ""
    openssl ecparam -name prime256v1 -genkey -noout -out "${pki}/sa.key" 2>/dev/null
    openssl ec -in "${pki}/sa.key" -pubout -out "${pki}/sa.pub" 2>/dev/null
    kubeconfig "${DIR}/kubeconfig" admin
    for u in controller-manager scheduler kubelet kube-proxy; do
        kubeconfig "${DIR}/${u}.kubeconfig" "${u}"
    done
}

# --- processes ---------------------------------------------------------------------------------

# daemon NAME CMD...: starts CMD in its own session, logs to DIR/logs/NAME.log, pid in DIR/pids/NAME.
daemon() {
    local name="$1"
    shift
    setsid "$@" >"${DIR}/logs/${name}.log" 2>&1 </dev/null &
    echo "$!" >"${DIR}/pids/${name}"
}

alive() { [[ -f "${DIR}/pids/$1" ]] && kill -0 "$(cat "${DIR}/pids/$1")" 2>/dev/null; }

# wait_for WHAT SECONDS CMD...: polls CMD every 0.2 s; fails with the logs of dead daemons.
wait_for() {
    local what="$1" seconds="$2" deadline d
    shift 2
    deadline=$(($(date +%s) + seconds))
    until "$@" >/dev/null 2>&1; do
        for d in "${DAEMONS[@]}"; do
            if [[ -f "${DIR}/pids/${d}" ]] && ! alive "${d}"; then
                tail -n 25 "${DIR}/logs/${d}.log" >&2 || true
                die "${d} exited while waiting for ${what} (log: ${DIR}/logs/${d}.log)"
            fi
        done
        if (($(date +%s) >= deadline)); then
            die "timed out after ${seconds} s waiting for ${what} (logs: ${DIR}/logs)"
        fi
        sleep 0.2
    done
}

# --- host state: recorded before start, restored by stop ------------------------------------------

record_host_state() {
    local host="${DIR}/host" s v
    mkdir -p "${host}"
    for s in "${SYSCTLS[@]}"; do
        if v="$(sysctl -n "${s}" 2>/dev/null)"; then printf '%s=%s\n' "${s}" "${v}"; fi
    done >"${host}/sysctls"
    for p in /run/netns /var/lib/cni /var/log/containers /run/containerd /var/lib/kubelet; do
        [[ -e "${p}" ]] && echo "${p}"
    done >"${host}/existing-dirs"
    ls /run/netns 2>/dev/null >"${host}/netns" || true
    for c in /sys/fs/cgroup/*/kubepods; do
        [[ -d "${c}" ]] && echo "${c}"
    done >"${host}/cgroups"
    for cmd in iptables ip6tables; do
        if command -v "${cmd}-save" >/dev/null 2>&1; then
            "${cmd}-save" >"${host}/${cmd}.rules" 2>/dev/null || true
        fi
    done
}

restore_sysctls() {
    local file="${DIR}/host/sysctls" line key want
    [[ -f "${file}" ]] || return 0
    while IFS= read -r line; do
        key="${line%%=*}"
        want="${line#*=}"
        if [[ "$(sysctl -n "${key}" 2>/dev/null)" != "${want}" ]]; then
            sysctl -q -w "${key}=${want}" >/dev/null || log "WARNING: could not restore ${key}=${want}"
        fi
    done <"${file}"
}

# remove_iptables CMD: deletes the KUBE-*/CNI-* chains (and the rules jumping to them) that were not
# there before start, in every table.
remove_iptables() {
    local cmd="$1" before="${DIR}/host/$1.rules" now
    command -v "${cmd}-save" >/dev/null 2>&1 || return 0
    [[ -f "${before}" ]] || return 0
    now="$("${cmd}-save" 2>/dev/null)" || return 0
    local script
    script="$(printf '%s\n' "${now}" | awk -v before="${before}" '
        BEGIN {
            while ((getline l < before) > 0) {
                if (l ~ /^\*/) t = l
                else if (l ~ /^:/) { split(l, f, " "); oldchain[t SUBSEP substr(f[1], 2)] = 1 }
                else oldrule[t SUBSEP l] = 1
            }
        }
        /^\*/ { table = $0; next }
        /^:(KUBE-|CNI-)/ { c = substr($1, 2); if (!((table SUBSEP c) in oldchain)) { chains[table] = chains[table] " " c; tables[table] = 1 }; next }
        /^-A / && / -j (KUBE-|CNI-)/ && $2 !~ /^(KUBE-|CNI-)/ {
            if (!((table SUBSEP $0) in oldrule)) { sub(/^-A /, "-D "); dels[table] = dels[table] $0 "\n"; tables[table] = 1 }
        }
        END {
            for (t in tables) {
                printf "%s\n%s", t, dels[t]
                n = split(chains[t], cs, " ")
                for (i = 1; i <= n; i++) printf "-F %s\n", cs[i]
                for (i = 1; i <= n; i++) printf "-X %s\n", cs[i]
                print "COMMIT"
            }
        }')"
    [[ -n "${script}" ]] || return 0
    printf '%s\n' "${script}" | "${cmd}-restore" --noflush 2>>"${DIR}/logs/stop.log" ||
        log "WARNING: ${cmd}-restore could not remove every rule (log: ${DIR}/logs/stop.log)"
}

# --- start -------------------------------------------------------------------------------------

start() {
    local t0 cache
    t0=$(date +%s.%N)
    for d in "${DAEMONS[@]}"; do
        alive "${d}" && die "a cluster is already running in ${DIR} (${d}); stop it first"
    done
    [[ "$(id -u)" -eq 0 ]] || die "must run as root (mounts, network namespaces, iptables)"
    command -v containerd >/dev/null 2>&1 || die "containerd is not installed (scripts/setup-kubernetes.sh installs it)"
    if ip link show "${BRIDGE}" >/dev/null 2>&1; then
        die "the bridge ${BRIDGE} already exists: another cluster is running on this machine"
    fi
    cache="$("${SCRIPT_DIR}/setup-kubernetes.sh")"
    [[ -f "${cache}/images/pause.ref" ]] || die "no pause image in ${cache}"

    if getent ahostsv4 "$(hostname)" 2>/dev/null | awk '{print $1}' | grep -q '^127\.'; then
        NODE_NAME="$(hostname | tr '[:upper:]' '[:lower:]')"
    else
        NODE_NAME="localhost"
    fi

    mkdir -p "${DIR}"/{bin,logs,pids,etcd,containerd,kubelet,pod-logs,cni/net.d,cni/ipam}
    chmod 700 "${DIR}/etcd"
    for b in "${cache}"/bin/*; do ln -sfn "${b}" "${DIR}/bin/$(basename "${b}")"; done
    echo "${NODE_NAME}" >"${DIR}/node-name"
    record_host_state
    make_pki

    # etcd, then the apiserver; containerd meanwhile (image imports overlap the apiserver's start).
    daemon etcd "${DIR}/bin/etcd" --name default --data-dir "${DIR}/etcd" \
        --listen-client-urls "http://127.0.0.1:${etcd_port}" --advertise-client-urls "http://127.0.0.1:${etcd_port}" \
        --listen-peer-urls "http://127.0.0.1:${etcd_peer_port}" --initial-advertise-peer-urls "http://127.0.0.1:${etcd_peer_port}" \
        --initial-cluster "default=http://127.0.0.1:${etcd_peer_port}" --unsafe-no-fsync --log-level warn

    cat >"${DIR}/containerd/config.toml" <<EOF
version = 2
root = "${DIR}/containerd/root"
state = "${DIR}/containerd/state"
[grpc]
  address = "${DIR}/containerd/containerd.sock"
[ttrpc]
  address = "${DIR}/containerd/containerd.sock.ttrpc"
[debug]
  address = ""
[metrics]
  address = ""
[plugins."io.containerd.internal.v1.opt"]
  path = "${DIR}/containerd/opt"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "$(cat "${cache}/images/pause.ref")"
  stream_server_address = "127.0.0.1"
  stream_server_port = "${stream_port}"
  # Without CAP_SYS_RESOURCE (as here) runc cannot lower a container's oom_score_adj below
  # containerd's, and the kubelet asks -998 for every sandbox: runc init dies with
  # "can't get final child's PID from pipe: EOF". This clamps the value instead.
  restrict_oom_score_adj = true
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "${cache}/cni"
    conf_dir = "${DIR}/cni/net.d"
    max_conf_num = 1
EOF
    daemon containerd containerd --config "${DIR}/containerd/config.toml" --log-level warn
    cat >"${DIR}/cni/net.d/10-${CNI_NETWORK}.conflist" <<EOF
{
  "cniVersion": "1.0.0",
  "name": "${CNI_NETWORK}",
  "plugins": [
    {
      "type": "bridge",
      "bridge": "${BRIDGE}",
      "isGateway": true,
      "ipMasq": false,
      "hairpinMode": true,
      "ipam": {
        "type": "host-local",
        "dataDir": "${DIR}/cni/ipam",
        "ranges": [[{"subnet": "${POD_CIDR}"}]],
        "routes": [{"dst": "0.0.0.0/0"}]
      }
    },
    {"type": "loopback"}
  ]
}
EOF

    local pki="${DIR}/pki"
    wait_for "etcd" 30 curl -fsS "http://127.0.0.1:${etcd_port}/health"
    daemon kube-apiserver "${DIR}/bin/kube-apiserver" --bind-address 127.0.0.1 --secure-port "${api_port}" \
        --etcd-servers "http://127.0.0.1:${etcd_port}" --service-cluster-ip-range "${SERVICE_CIDR}" \
        --endpoint-reconciler-type none --authorization-mode Node,RBAC --enable-admission-plugins NodeRestriction \
        --client-ca-file "${pki}/ca.crt" --tls-cert-file "${pki}/apiserver.crt" --tls-private-key-file "${pki}/apiserver.key" \
        --kubelet-client-certificate "${pki}/apiserver-kubelet-client.crt" --kubelet-client-key "${pki}/apiserver-kubelet-client.key" \
        --kubelet-preferred-address-types Hostname,InternalIP \
        --service-account-issuer https://kubernetes.default.svc.cluster.local \
        --service-account-key-file "${pki}/sa.pub" --service-account-signing-key-file "${pki}/sa.key" \
        --allow-privileged=true --profiling=false --v=1

    # Images: the pause image and MTLS_KUBE_IMAGES, into the cluster's containerd (k8s.io namespace).
    wait_for "containerd" 30 ctr_ version
    local img imports=()
    ctr_ images import --no-unpack "${cache}/images/pause.tar" >"${DIR}/logs/import-pause.log" 2>&1 &
    imports+=("$!")
    for img in ${MTLS_KUBE_IMAGES:-}; do
        docker image inspect "${img}" >/dev/null 2>&1 || die "image ${img} (MTLS_KUBE_IMAGES) is not in the local Docker engine"
        (docker save "${img}" | ctr_ images import -) >"${DIR}/logs/import-${img//[^a-zA-Z0-9.-]/_}.log" 2>&1 &
        imports+=("$!")
    done

    wait_for "kube-apiserver /readyz" 60 "${DIR}/bin/kubectl" --kubeconfig "${DIR}/kubeconfig" get --raw /readyz
    daemon kube-controller-manager "${DIR}/bin/kube-controller-manager" --bind-address 127.0.0.1 --secure-port "${kcm_port}" \
        --kubeconfig "${DIR}/controller-manager.kubeconfig" --authentication-kubeconfig "${DIR}/controller-manager.kubeconfig" \
        --authorization-kubeconfig "${DIR}/controller-manager.kubeconfig" --leader-elect=false \
        --service-account-private-key-file "${pki}/sa.key" --root-ca-file "${pki}/ca.crt" --use-service-account-credentials \
        --cluster-signing-cert-file "${pki}/ca.crt" --cluster-signing-key-file "${pki}/ca.key" \
        --service-cluster-ip-range "${SERVICE_CIDR}" --profiling=false
    daemon kube-scheduler "${DIR}/bin/kube-scheduler" --bind-address 127.0.0.1 --secure-port "${scheduler_port}" \
        --kubeconfig "${DIR}/scheduler.kubeconfig" --authentication-kubeconfig "${DIR}/scheduler.kubeconfig" \
        --authorization-kubeconfig "${DIR}/scheduler.kubeconfig" --leader-elect=false --profiling=false

    for img in "${imports[@]}"; do
        wait "${img}" || die "an image import failed (logs: ${DIR}/logs/import-*.log)"
    done

    cat >"${DIR}/kubelet/config.yaml" <<EOF
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
address: 127.0.0.1
port: ${kubelet_port}
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: ${kubelet_healthz_port}
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: true}
  x509: {clientCAFile: "${pki}/ca.crt"}
authorization: {mode: Webhook}
cgroupDriver: cgroupfs
failCgroupV1: false
failSwapOn: false
containerRuntimeEndpoint: "unix://${DIR}/containerd/containerd.sock"
podLogsDir: "${DIR}/pod-logs"
clusterDomain: cluster.local
resolvConf: /etc/resolv.conf
serializeImagePulls: false
nodeStatusUpdateFrequency: 2s
syncFrequency: 10s
evictionHard: {memory.available: "100Mi", nodefs.available: "1%", imagefs.available: "1%"}
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
EOF
    daemon kubelet "${DIR}/bin/kubelet" --config "${DIR}/kubelet/config.yaml" --kubeconfig "${DIR}/kubelet.kubeconfig" \
        --root-dir "${DIR}/kubelet/root" --cert-dir "${DIR}/kubelet/pki" --hostname-override "${NODE_NAME}" --v=1

    cat >"${DIR}/kube-proxy.yaml" <<EOF
apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
clientConnection: {kubeconfig: "${DIR}/kube-proxy.kubeconfig"}
mode: iptables
bindAddress: 127.0.0.1
healthzBindAddress: "127.0.0.1:${proxy_healthz_port}"
metricsBindAddress: "127.0.0.1:${proxy_metrics_port}"
clusterCIDR: "${POD_CIDR}"
hostnameOverride: "${NODE_NAME}"
nodePortAddresses: ["127.0.0.0/8"]
iptables: {localhostNodePorts: true, masqueradeAll: false, syncPeriod: 10s, minSyncPeriod: 0s}
conntrack: {maxPerCore: 0, min: 0, tcpEstablishedTimeout: 0s, tcpCloseWaitTimeout: 0s}
EOF
    daemon kube-proxy "${DIR}/bin/kube-proxy" --config "${DIR}/kube-proxy.yaml" --v=1

    wait_for "node ${NODE_NAME} Ready" "${MTLS_KUBE_READY_TIMEOUT:-120}" \
        kubectl_ wait --for=condition=Ready "node/${NODE_NAME}" --timeout=2s
    wait_for "the default service account" 60 kubectl_ -n default get serviceaccount default
    log "cluster up in $(awk -v a="${t0}" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }') s:" \
        "node ${NODE_NAME} Ready, apiserver https://127.0.0.1:${api_port}, kubeconfig ${DIR}/kubeconfig"
}

# --- stop --------------------------------------------------------------------------------------

# kill_pid PID SECONDS: TERM, then KILL after SECONDS.
kill_pid() {
    local pid="$1" i
    kill -TERM "${pid}" 2>/dev/null || return 0
    for ((i = 0; i < $2 * 10; i++)); do
        kill -0 "${pid}" 2>/dev/null || return 0
        sleep 0.1
    done
    kill -KILL "${pid}" 2>/dev/null || true
}

# stop_daemons NAME...: TERM to each still running the command start gave it (a pid can be reused),
# all at once; KILL to what is left after 10 s.
stop_daemons() {
    local name pid pids=() t0=${SECONDS} i running
    for name in "$@"; do
        [[ -f "${DIR}/pids/${name}" ]] || continue
        pid="$(cat "${DIR}/pids/${name}")"
        if [[ -n "${pid}" ]] && tr '\0' ' ' <"/proc/${pid}/cmdline" 2>/dev/null | grep -qF "${DIR}/"; then
            kill -TERM "${pid}" 2>/dev/null && pids+=("${pid}")
        fi
        rm -f "${DIR}/pids/${name}"
    done
    for ((i = 0; i < 100; i++)); do
        running=0
        for pid in "${pids[@]}"; do
            if kill -0 "${pid}" 2>/dev/null; then running=1; fi
        done
        ((running)) || break
        sleep 0.1
    done
    for pid in "${pids[@]}"; do kill -KILL "${pid}" 2>/dev/null || true; done
    printf '%s: %s s\n' "$*" "$((SECONDS - t0))" >>"${DIR}/logs/stop.log"
}

# Processes whose command line names DIR (daemons, containerd shims) and their descendants.
dir_processes() {
    local pid
    for pid in $(pgrep -f -- "${DIR}/" || true); do
        # Not this script (its arguments name DIR too).
        tr '\0' ' ' <"/proc/${pid}/cmdline" 2>/dev/null | grep -q 'kube-cluster\.sh' || echo "${pid}"
    done
}

descendants() {
    local child
    for child in $(pgrep -P "$1" || true); do
        echo "${child}"
        descendants "${child}"
    done
}

stop() {
    local t0 d pid
    t0=$(date +%s.%N)
    mkdir -p "${DIR}/logs"
    # Pods first (kubelet is stopped so it restarts nothing), then the rest in reverse order.
    stop_daemons kubelet
    if alive containerd && command -v ctr >/dev/null 2>&1; then
        for c in $(ctr_ tasks ls -q 2>/dev/null || true); do
            ctr_ tasks kill -a -s SIGKILL "${c}" >/dev/null 2>&1 || true
        done
        sleep 0.3
        for c in $(ctr_ tasks ls -q 2>/dev/null || true); do
            ctr_ tasks delete -f "${c}" >/dev/null 2>&1 || true
        done
    fi
    # The pods' processes, if any survived, and the shims.
    for pid in $(dir_processes); do
        case "$(cat "/proc/${pid}/comm" 2>/dev/null)" in containerd-shim*)
            for d in $(descendants "${pid}"); do kill -KILL "${d}" 2>/dev/null || true; done
            ;;
        esac
    done
    stop_daemons kube-proxy kube-scheduler kube-controller-manager kube-apiserver containerd
    stop_daemons etcd
    for pid in $(dir_processes); do kill_pid "${pid}" 5; done

    # Network namespaces containerd made (bind mounts in /run/netns).
    local ns
    for ns in /run/netns/cni-*; do
        [[ -e "${ns}" ]] || continue
        if [[ -f "${DIR}/host/netns" ]] && grep -qxF "$(basename "${ns}")" "${DIR}/host/netns"; then continue; fi
        umount "${ns}" 2>/dev/null || umount -l "${ns}" 2>/dev/null || true
        rm -f "${ns}"
    done
    # Mounts under DIR, deepest first.
    local m
    awk -v prefix="${DIR}/" 'index($2, prefix) == 1 { print $2 }' /proc/mounts | sort -r | while read -r m; do
        umount "${m}" 2>/dev/null || umount -l "${m}" 2>/dev/null || log "WARNING: cannot unmount ${m}"
    done
    # The bridge and its veths (the pods' ends went with their namespaces).
    local link
    for link in $(ip -o link show master "${BRIDGE}" 2>/dev/null | awk -F': ' '{print $2}' | cut -d@ -f1); do
        ip link delete "${link}" 2>/dev/null || true
    done
    ip link delete "${BRIDGE}" 2>/dev/null || true

    # Files the kubelet and containerd write outside DIR.
    if [[ -d /var/log/containers ]]; then
        find /var/log/containers -maxdepth 1 -type l -lname "${DIR}/*" -delete 2>/dev/null || true
    fi
    rm -rf "/var/lib/cni/results/${CNI_NETWORK}-"* 2>/dev/null || true
    if [[ -f "${DIR}/host/existing-dirs" ]]; then
        # The kubelet's device manager uses /var/lib/kubelet/device-plugins whatever its --root-dir.
        if ! grep -qxF /var/lib/kubelet "${DIR}/host/existing-dirs"; then
            rm -f /var/lib/kubelet/device-plugins/kubelet.sock /var/lib/kubelet/device-plugins/kubelet_internal_checkpoint
        fi
        for d in /var/log/containers /var/lib/cni /run/netns /run/containerd /var/lib/kubelet; do
            if ! grep -qxF "${d}" "${DIR}/host/existing-dirs" && [[ -d "${d}" ]]; then
                # Only when nothing of anyone else's is left in it.
                find "${d}" -depth -type d -empty -delete 2>/dev/null || true
            fi
        done
    fi
    # kubepods cgroups the kubelet made (empty now).
    local c
    for c in /sys/fs/cgroup/*/kubepods; do
        [[ -d "${c}" ]] || continue
        if [[ -f "${DIR}/host/cgroups" ]] && grep -qxF "${c}" "${DIR}/host/cgroups"; then continue; fi
        find "${c}" -depth -type d -exec rmdir {} \; 2>/dev/null || true
    done
    remove_iptables iptables
    remove_iptables ip6tables
    restore_sysctls
    rm -f "${DIR}/host/sysctls"
    log "cluster in ${DIR} stopped in $(awk -v a="${t0}" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }') s"
}

case "${action}" in
start)
    # A failed start leaves nothing running behind.
    if ! (start); then
        log "start failed; stopping what was started"
        stop
        exit 1
    fi
    ;;
stop) stop ;;
*) usage ;;
esac
