/**
 * The Nginx container, as plain data: how it is locked down, how it starts, what it is handed and
 * how its health is checked. Pure (no Pulumi): the endpoint component and the integration tier
 * (which runs the same container with `docker run`) both read it.
 */
import type { DeliveredFile } from "../delivery/deliverFiles";
import { containerConfigDirectory, containerListenPort, endpointFiles, liveConfigPath, liveFileSet } from "./files";

/** How far the container is locked down; each item can be relaxed by stack config. */
export interface ContainerHardening {
    /** Linux capabilities kept (all others are dropped). */
    readonly capabilities: readonly string[];
    readonly noNewPrivileges: boolean;
    /** Root filesystem read-only, with tmpfs where Nginx writes. */
    readonly readOnlyRootFilesystem: boolean;
    readonly memoryLimitMb: number;
    readonly pidsLimit: number;
    /** Docker json-file log rotation. */
    readonly logMaxSizeMb: number;
    readonly logMaxFiles: number;
}

/** What the hardened container keeps by default: Nginx's master binds 443, then switches workers to nobody. */
export const defaultHardening: ContainerHardening = {
    capabilities: ["CHOWN", "NET_BIND_SERVICE", "SETGID", "SETUID"],
    noNewPrivileges: true,
    readOnlyRootFilesystem: true,
    memoryLimitMb: 256,
    pidsLimit: 256,
    logMaxSizeMb: 10,
    logMaxFiles: 3,
};

/** Where Nginx writes at run time (pid file, temp files in Debian's and the official images' places). */
export const writablePaths = ["/run", "/tmp", "/var/lib/nginx", "/var/cache/nginx"];

/** Mount options of those tmpfs mounts. */
export const tmpfsOptions = "rw,nosuid,nodev,size=64m";

/**
 * PID 1 until the first file set is live and the process limit is on, then Nginx itself (exec), in
 * the foreground. The Docker provider cannot create a container with a pids limit: the delivery sets
 * it through the API before the first set lands, and Nginx never runs without it (cgroup v2's
 * pids.max, or v1's; a runtime that shows neither is not waited for).
 */
export const waitForLiveConfig = [
    "pids_max() { cat /sys/fs/cgroup/pids.max 2>/dev/null || cat /sys/fs/cgroup/pids/pids.max 2>/dev/null || echo none; }",
    `until [ -s ${liveConfigPath} ] && [ "$(pids_max)" != max ]; do sleep 0.2; done`,
    `exec nginx -c ${liveConfigPath} -g 'daemon off;'`,
].join("; ");

/** The contents of one file set; an empty optional file is left out. */
export interface FileSetContents {
    readonly nginxConfig: string;
    readonly serverChainPem: string;
    readonly serverKeyPem: string;
    readonly trustBundlePem: string;
    readonly crlPem: string;
    readonly crlNextUpdate: string;
    readonly upstreamTrustBundlePem: string;
}

/** The files of one set, with the modes Nginx needs: the key readable by the master (root) only. */
export function fileSet(contents: FileSetContents): DeliveredFile[] {
    const { crlPem, crlNextUpdate, upstreamTrustBundlePem } = contents;
    const files: DeliveredFile[] = [
        { name: endpointFiles.nginxConfig, content: contents.nginxConfig, mode: 0o644 },
        { name: endpointFiles.serverCertificateChain, content: contents.serverChainPem, mode: 0o644 },
        { name: endpointFiles.serverPrivateKey, content: contents.serverKeyPem, mode: 0o600 },
        { name: endpointFiles.clientTrustBundle, content: contents.trustBundlePem, mode: 0o644 },
    ];
    if (crlPem) {
        files.push({ name: endpointFiles.certificateRevocationList, content: crlPem, mode: 0o644 });
    }
    if (upstreamTrustBundlePem) {
        files.push({ name: endpointFiles.upstreamTrustBundle, content: upstreamTrustBundlePem, mode: 0o644 });
    }
    if (crlNextUpdate) {
        const seconds = Math.floor(Date.parse(crlNextUpdate) / 1000);
        files.push({ name: crlNextUpdateFile, content: `${seconds}\n`, mode: 0o644 });
    }
    return files;
}

/** Seconds since the epoch at which the live CRLs expire: the health check reads it. */
export const crlNextUpdateFile = "crl-next-update";

/**
 * The container health check, with no client certificate: the live server chain must verify
 * against the live CA bundle for the server's name (a broken chain, an expired certificate or a
 * key Nginx could not load all fail the handshake), and the live CRLs must not have expired
 * (Nginx would then refuse every client). Any HTTP answer after that is fine: 400 is expected.
 * `live` is the directory of the served set (a Swarm task mounts its configs straight into one).
 */
export function renderHealthProbe(serverName: string, live = `${containerConfigDirectory}/${liveFileSet}`): string {
    return [
        `next_update=$(cat ${live}/${crlNextUpdateFile} 2>/dev/null || echo 0)`,
        `{ [ "$next_update" -eq 0 ] || [ "$(date +%s)" -lt "$next_update" ]; }`,
        `curl -s -o /dev/null --max-time 2 --cacert ${live}/${endpointFiles.clientTrustBundle} ` +
            `--resolve ${serverName}:${containerListenPort}:127.0.0.1 https://${serverName}:${containerListenPort}/`,
    ].join(" && ");
}

/** Docker container settings for a hardening level. */
