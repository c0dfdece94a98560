import { ipAddressProblem } from "./network";
import type { ConfigProblems } from "./problems";
import type { ConfigSettings } from "./types";
import { Check, show } from "./values";

// Docker's own rule for container names ([a-zA-Z0-9][a-zA-Z0-9_.-]+), kept to 63 characters.
const containerNamePattern = /^[a-zA-Z0-9][a-zA-Z0-9_.-]{1,62}$/;

/** The container's name. */
export const checkContainerName: Check = (name) =>
    containerNamePattern.test(name)
        ? undefined
        : `${show(name)} is not a Docker container name; allowed: 2-63 letters, digits, '_', '.' or '-', ` +
          "starting with a letter or digit";

/** The worker count Nginx runs. */
export const checkWorkerProcesses: Check = (value) =>
    /^(auto|[1-9][0-9]{0,2})$/.test(value) ? undefined : `${show(value)} is not allowed; allowed: "auto" or 1-999`;

const dockerHostAllowed =
    'empty (DOCKER_HOST or the local socket), "unix:///path/docker.sock", "tcp://host:port" (with TLS) ' +
    'or "ssh://[user@]host[:port]"';

/** The Docker engine's address, as the docker CLI and the Docker provider take it. */
export const checkDockerHost: Check = (value) => {
    if (value === "") {
        return undefined;
    }
    let url: URL;
    try {
        url = new URL(value);
    } catch {
        return `${show(value)} is not a URL; allowed: ${dockerHostAllowed}`;
    }
    // The scheme as written, lower case: "TCP://" would pass as tcp: here but skip the TLS rules below.
    const plain = url.search === "" && url.hash === "" && url.password === "" && value.startsWith(url.protocol);
    const wellFormed: Record<string, boolean> = {
        "unix:": url.host === "" && url.pathname.length > 1,
        "tcp:": url.hostname !== "" && url.port !== "" && url.username === "" && ["", "/"].includes(url.pathname),
        "ssh:": url.hostname !== "" && ["", "/"].includes(url.pathname),
    };
    return plain && Object.hasOwn(wellFormed, url.protocol) && wellFormed[url.protocol]
        ? undefined
        : `${show(value)} is not allowed; allowed: ${dockerHostAllowed}`;
};

/** A PEM block of the given kind, or empty. */
export function checkPem(kind: "CERTIFICATE" | "PRIVATE KEY"): Check {
    return (value) =>
        value === "" || new RegExp(`-----BEGIN [A-Z ]*${kind}-----[\\s\\S]+-----END [A-Z ]*${kind}-----`).test(value)
            ? undefined
            : `is not a PEM ${kind.toLowerCase()}; allowed: empty, or one "-----BEGIN ... ${kind}-----" block`;
}

/**
 * The Linux capabilities (linux/capability.h, through CAP_CHECKPOINT_RESTORE), as Docker names them
 * without the CAP_ prefix. Docker refuses any other name, but only when it creates the container.
 */
// prettier-ignore
export const linuxCapabilities: readonly string[] = [
    "CHOWN", "DAC_OVERRIDE", "DAC_READ_SEARCH", "FOWNER", "FSETID", "KILL", "SETGID", "SETUID", "SETPCAP",
    "LINUX_IMMUTABLE", "NET_BIND_SERVICE", "NET_BROADCAST", "NET_ADMIN", "NET_RAW", "IPC_LOCK", "IPC_OWNER",
    "SYS_MODULE", "SYS_RAWIO", "SYS_CHROOT", "SYS_PTRACE", "SYS_PACCT", "SYS_ADMIN", "SYS_BOOT", "SYS_NICE",
    "SYS_RESOURCE", "SYS_TIME", "SYS_TTY_CONFIG", "MKNOD", "LEASE", "AUDIT_WRITE", "AUDIT_CONTROL", "SETFCAP",
    "MAC_OVERRIDE", "MAC_ADMIN", "SYSLOG", "WAKE_ALARM", "BLOCK_SUSPEND", "AUDIT_READ", "PERFMON", "BPF",
    "CHECKPOINT_RESTORE",
];

/** A Linux capability name as Docker takes it, without the CAP_ prefix. */
export const checkCapability: Check = (value) =>
    linuxCapabilities.includes(value)
        ? undefined
        : `${show(value)} is not a Linux capability; allowed: names like NET_BIND_SERVICE ` +
          "(no CAP_ prefix, not ALL; capabilities(7) lists them)";

const tlsKeys = ["dockerTlsCaCertificate", "dockerTlsCertificate", "dockerTlsKey"] as const;

/** Endpoint concern, across keys: a tcp:// engine needs all of its TLS material, and only it uses any. */
export function validateEngine(settings: Partial<ConfigSettings>, problems: ConfigProblems): void {
    const host = settings.dockerHost;
    if (host === undefined) {
        return;
    }
    const isTcp = isTcpEngine(host);
    for (const key of tlsKeys) {
        const value = settings[key];
        if (value === undefined) {
            continue;
        }
        if (isTcp && value === "") {
            problems.add(key, `is required with dockerHost ${show(host)}; allowed: a PEM value (the key as a secret)`);
        } else if (!isTcp && value !== "") {
            problems.add(key, `is only used with a tcp:// dockerHost; allowed: empty with dockerHost ${show(host)}`);
        }
    }
}

/**
 * Swarm publishes a service's port on every interface of every node: a service spec has no host
 * address. An address other than the wildcard cannot be honoured (the default reads as unset).
 */
function validateSwarmPublishAddress(
    settings: Partial<ConfigSettings>,
    defaults: Readonly<Partial<ConfigSettings>>,
    problems: ConfigProblems,
): void {
    const address = settings.publishAddress;
    if (address === undefined || address === defaults.publishAddress || ["0.0.0.0", "::"].includes(address)) {
        return;
    }
    problems.add(
        "publishAddress",
        `${show(address)} cannot be honoured with platform "swarm": Swarm publishes a service's port on every ` +
            'interface of every node (a service spec has no host address); allowed: remove it, or "0.0.0.0" / "::", ' +
            "and limit who reaches the port with a firewall; list client addresses in endpointAddresses",
    );
}

/** Whether a dockerHost is a tcp:// engine (which needs TLS), whatever the scheme's letter case. */
export function isTcpEngine(dockerHost: string): boolean {
    return /^tcp:\/\//i.test(dockerHost);
}

/** An address clients connect to (curl --resolve pins the server name to it, so an IP address). */
export const checkEndpointAddress: Check = (value) =>
    ipAddressProblem(value) === undefined
        ? undefined
        : `${show(value)} is not an IP address; allowed: addresses like 10.0.0.5 or 2001:db8::5`;

const swarmOnlyKeys = ["replicas", "publishMode"] as const;

/**
 * Platform concern: Swarm settings mean nothing to a single container; say so instead of ignoring them.
 * Pulumi passes Pulumi.yaml's defaults to the program as set values, so only a value other than the
 * default (`defaults`: the table's static defaults) counts as set.
 */
export function validatePlatform(
    settings: Partial<ConfigSettings>,
    defaults: Readonly<Partial<ConfigSettings>>,
    problems: ConfigProblems,
): void {
    if (settings.platform === "swarm") {
        validateSwarmPublishAddress(settings, defaults, problems);
        return;
    }
    if (settings.platform !== "container") {
        return;
    }
    for (const key of swarmOnlyKeys) {
        if (settings[key] !== undefined && settings[key] !== defaults[key]) {
            const platformsOfKey = key === "replicas" ? 'platforms "swarm" and "kubernetes"' : 'platform "swarm"';
            problems.add(key, `is used only with ${platformsOfKey}; allowed: remove it, or set platform to swarm`);
        }
    }
    if ((settings.endpointAddresses?.length ?? 0) > 1) {
        problems.add(
            "endpointAddresses",
            'lists several addresses for a single container; allowed: at most one address with platform "container"',
        );
    }
}
