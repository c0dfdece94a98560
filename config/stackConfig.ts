import * as net from "net";
import * as path from "path";

/** Key algorithms a stack may choose; ECDSA P-256 is the fast default. */
export const keyAlgorithms = ["ECDSA-P256", "ECDSA-P384", "RSA-2048", "RSA-3072", "RSA-4096"] as const;
export type KeyAlgorithm = (typeof keyAlgorithms)[number];

/** How Nginx asks for client certificates. */
export const verifyClientModes = ["on", "optional"] as const;
export type VerifyClientMode = (typeof verifyClientModes)[number];

/** The two CA slots a rollover moves between. */
export const caSlots = ["a", "b"] as const;
export type CaSlot = (typeof caSlots)[number];

/** Things with their own validity and renewal window: four certificate kinds and the CRL. */
export const certificateKinds = ["ca", "intermediate", "server", "client", "crl"] as const;
export type CertificateKind = (typeof certificateKinds)[number];

export interface CertificateLifetime {
    /** How long a certificate of this kind is valid, in hours. */
    readonly validityHours: number;
    /** How long before expiry it is due for rotation, in hours. */
    readonly renewBeforeHours: number;
}

export interface LocationConfig {
    /** Nginx location prefix, e.g. "/" or "/api/". */
    readonly path: string;
    /** Client CNs allowed here; an authenticated client not listed gets 403. Absent: every valid client. */
    readonly allowedClients?: string[];
    /** With verifyClient "optional": false makes this location public (no certificate needed). */
    readonly requireClientCertificate: boolean;
    /** Upstream URL to proxy to; absent: Nginx answers 200 itself. */
    readonly proxyPass?: string;
}

/** The validated, defaulted stack configuration: the only shape components ever see. */
export interface StackConfig {
    readonly serverName: string;
    readonly serverDnsNames: string[];
    readonly serverIpAddresses: string[];
    readonly clients: string[];
    readonly revokedClients: string[];
    readonly keyAlgorithm: KeyAlgorithm;
    readonly intermediateCa: boolean;
    /** The CA slot that issues leaves. */
    readonly activeCa: CaSlot;
    /** CA slots in the trust bundle, the active one first. */
    readonly trustedCas: CaSlot[];
    readonly verifyDepth: number;
    readonly verifyClient: VerifyClientMode;
    readonly locations: LocationConfig[];
    readonly organization: string;
    readonly image: string;
    readonly containerName: string;
    readonly publishAddress: string;
    readonly publishPort: number;
    readonly hostDirectory: string;
    readonly workerProcesses: string;
    readonly smokeTest: boolean;
    readonly lifetimes: Record<CertificateKind, CertificateLifetime>;
    /** Rotate what will be inside its renewal window within this many hours (0: only what is due now). */
    readonly rotationLookaheadHours: number;
}

/** Defaults, mirrored in Pulumi.yaml (a unit test keeps the two in step). */
export const configDefaults = {
    serverName: "localhost",
    clients: ["client-1"],
    revokedClients: [] as string[],
    keyAlgorithm: "ECDSA-P256" as KeyAlgorithm,
    intermediateCa: false,
    activeCa: "a" as CaSlot,
    verifyClient: "on" as VerifyClientMode,
    organization: "mtls-nginx",
    image: "nginx:1.27",
    publishAddress: "127.0.0.1",
    publishPort: 8443,
    workerProcesses: "auto",
    smokeTest: true,
    rotationLookaheadHours: 0,
    caValidityHours: 87600, // 10 years
    caRenewBeforeHours: 8760,
    intermediateValidityHours: 43800, // 5 years
    intermediateRenewBeforeHours: 4380,
    serverValidityHours: 2160, // 90 days
    serverRenewBeforeHours: 720,
    clientValidityHours: 8760, // 1 year
    clientRenewBeforeHours: 720,
    crlValidityHours: 720, // 30 days: `pulumi up` must run at least every 20 days while clients are revoked
    crlRenewBeforeHours: 240,
};

/** Raised for any invalid setting; the message names the key and what is allowed. */
export class StackConfigError extends Error {
    constructor(
        readonly key: string,
        message: string,
    ) {
        super(`Invalid stack config "mtls-nginx:${key}": ${message}`);
        this.name = "StackConfigError";
    }
}

/** What the stack file holds before validation: every key optional, types unknown. */
export type RawStackConfig = Record<string, unknown>;

/** Context the validator needs that does not come from config. */
export interface ConfigContext {
    readonly stack: string;
    readonly projectDirectory: string;
}

// A CN ends up in certificate subjects, Nginx map keys and shell commands: keep it to a safe alphabet.
const clientNamePattern = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
const dnsNamePattern =
    /^(\*\.)?([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/;
const locationPathPattern = /^\/[A-Za-z0-9._~\/-]*$/;
const imagePattern = /^[a-z0-9][a-z0-9._\/:@-]*$/i;
const organizationPattern = /^[A-Za-z0-9][A-Za-z0-9 ._-]{0,63}$/;
const containerNamePattern = /^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,62}$/;

/** Every key the stack config may set, in the `mtls-nginx` namespace. */
export const configKeys: readonly string[] = [
    "serverName",
    "serverDnsNames",
    "serverIpAddresses",
    "clients",
    "revokedClients",
    "keyAlgorithm",
    "intermediateCa",
    "activeCa",
    "trustedCas",
    "verifyDepth",
    "verifyClient",
    "locations",
    "organization",
    "image",
    "containerName",
    "publishAddress",
    "publishPort",
    "hostDirectory",
    "workerProcesses",
    "smokeTest",
    "rotationLookaheadHours",
    ...certificateKinds.flatMap((kind) => [`${kind}ValidityHours`, `${kind}RenewBeforeHours`]),
];
const knownKeys = new Set(configKeys);

/**
 * Validates raw stack config and fills in defaults. Pure: no Pulumi, no I/O, so it runs
 * (and fails) before any resource is registered.
 */
export function validateStackConfig(raw: RawStackConfig, context: ConfigContext): StackConfig {
    for (const key of Object.keys(raw)) {
        if (!knownKeys.has(key)) {
            throw new StackConfigError(key, `unknown key; known keys are ${[...knownKeys].join(", ")}`);
        }
    }

    const serverName = readString(raw, "serverName", configDefaults.serverName);
    if (!dnsNamePattern.test(serverName) || serverName.startsWith("*.")) {
        throw new StackConfigError("serverName", `"${serverName}" is not a DNS name (letters, digits, "-" and ".")`);
    }
    const serverDnsNames = unique([serverName, ...readStringList(raw, "serverDnsNames", [])]);
    for (const name of serverDnsNames) {
        if (!dnsNamePattern.test(name)) {
            throw new StackConfigError("serverDnsNames", `"${name}" is not a DNS name`);
        }
    }
    const serverIpAddresses = readStringList(raw, "serverIpAddresses", ["127.0.0.1"]);
    for (const address of serverIpAddresses) {
        if (!isIpAddress(address)) {
            throw new StackConfigError("serverIpAddresses", `"${address}" is not an IPv4 or IPv6 address`);
        }
    }

    const clients = readStringList(raw, "clients", configDefaults.clients);
    if (clients.length === 0) {
        throw new StackConfigError("clients", "must list at least one client name");
    }
    checkClientNames("clients", clients);
    const revokedClients = readStringList(raw, "revokedClients", configDefaults.revokedClients);
    checkClientNames("revokedClients", revokedClients);
    for (const name of revokedClients) {
        if (!clients.includes(name)) {
            throw new StackConfigError("revokedClients", `"${name}" is not in clients (${clients.join(", ")})`);
        }
    }

    const keyAlgorithm = readEnum(raw, "keyAlgorithm", keyAlgorithms, configDefaults.keyAlgorithm);
    const intermediateCa = readBoolean(raw, "intermediateCa", configDefaults.intermediateCa);
    const activeCa = readEnum(raw, "activeCa", caSlots, configDefaults.activeCa);
    const trustedList = readStringList(raw, "trustedCas", [activeCa]);
    for (const slot of trustedList) {
        if (!(caSlots as readonly string[]).includes(slot)) {
            throw new StackConfigError("trustedCas", `"${slot}" is not a CA slot; allowed: ${caSlots.join(", ")}`);
        }
    }
    if (!trustedList.includes(activeCa)) {
        throw new StackConfigError(
            "trustedCas",
            `must include the active CA "${activeCa}" (mtls-nginx:activeCa); allowed: ${caSlots.join(", ")}`,
        );
    }
    if (new Set(trustedList).size !== trustedList.length) {
        throw new StackConfigError("trustedCas", "lists a CA slot twice");
    }
    const trustedCas = [activeCa, ...(trustedList as CaSlot[]).filter((slot) => slot !== activeCa)];
    const minimumDepth = intermediateCa ? 2 : 1;
    const verifyDepth = readInteger(raw, "verifyDepth", minimumDepth, 1, 10);
    if (verifyDepth < minimumDepth) {
        throw new StackConfigError(
            "verifyDepth",
            `${verifyDepth} is too shallow for ${intermediateCa ? "a root and an intermediate CA" : "a root CA"}; ` +
                `allowed: ${minimumDepth} to 10`,
        );
    }
    const verifyClient = readEnum(raw, "verifyClient", verifyClientModes, configDefaults.verifyClient);
    const locations = readLocations(raw, clients, verifyClient);

    const organization = readString(raw, "organization", configDefaults.organization);
    if (!organizationPattern.test(organization)) {
        throw new StackConfigError("organization", "use 1-64 letters, digits, spaces, '.', '_' or '-'");
    }
    const image = readString(raw, "image", configDefaults.image);
    if (!imagePattern.test(image)) {
        throw new StackConfigError("image", `"${image}" is not a Docker image reference`);
    }
    const containerName = readString(raw, "containerName", `mtls-nginx-${context.stack}`);
    if (!containerNamePattern.test(containerName)) {
        throw new StackConfigError(
            "containerName",
            "use letters, digits, '_', '.' or '-', starting with a letter or digit",
        );
    }
    const publishAddress = readString(raw, "publishAddress", configDefaults.publishAddress);
    if (!isIpAddress(publishAddress)) {
        throw new StackConfigError(
            "publishAddress",
            `"${publishAddress}" is not an IP address (e.g. 127.0.0.1 or 0.0.0.0)`,
        );
    }
    const publishPort = readInteger(raw, "publishPort", configDefaults.publishPort, 1, 65535);
    const hostDirectory = path.resolve(
        context.projectDirectory,
        readString(raw, "hostDirectory", path.join(".mtls-nginx", context.stack)),
    );
    if (hostDirectory === path.parse(hostDirectory).root) {
        throw new StackConfigError("hostDirectory", "must not be the filesystem root");
    }
    const workerProcesses = readString(raw, "workerProcesses", configDefaults.workerProcesses);
    if (!/^(auto|[1-9][0-9]{0,2})$/.test(workerProcesses)) {
        throw new StackConfigError("workerProcesses", `"${workerProcesses}" is not allowed; use "auto" or 1-999`);
    }
    const smokeTest = readBoolean(raw, "smokeTest", configDefaults.smokeTest);
    const rotationLookaheadHours = readInteger(
        raw,
        "rotationLookaheadHours",
        configDefaults.rotationLookaheadHours,
        0,
        876000,
    );

    const lifetimes = {} as Record<CertificateKind, CertificateLifetime>;
    for (const kind of certificateKinds) {
        const defaults = configDefaults as unknown as Record<string, number>;
        const validityKey = `${kind}ValidityHours`;
        const renewKey = `${kind}RenewBeforeHours`;
        const validityHours = readInteger(raw, validityKey, defaults[validityKey], 1, 876000);
        const renewBeforeHours = readInteger(raw, renewKey, defaults[renewKey], 0, 876000);
        if (renewBeforeHours >= validityHours) {
            throw new StackConfigError(
                renewKey,
                `${renewBeforeHours} h is not shorter than ${validityKey} (${validityHours} h); ` +
                    `allowed: 0 to ${validityHours - 1}`,
            );
        }
        lifetimes[kind] = { validityHours, renewBeforeHours };
    }
    // A leaf must not outlive the CA that signs it: the CA would rotate first and strand it.
    const issuerKind: CertificateKind = intermediateCa ? "intermediate" : "ca";
    for (const kind of ["server", "client"] as const) {
        if (lifetimes[kind].validityHours > lifetimes[issuerKind].validityHours) {
            throw new StackConfigError(
                `${kind}ValidityHours`,
                `${lifetimes[kind].validityHours} h exceeds ${issuerKind}ValidityHours ` +
                    `(${lifetimes[issuerKind].validityHours} h); allowed: 1 to ${lifetimes[issuerKind].validityHours}`,
            );
        }
    }
    if (intermediateCa && lifetimes.intermediate.validityHours > lifetimes.ca.validityHours) {
        throw new StackConfigError(
            "intermediateValidityHours",
            `exceeds caValidityHours (${lifetimes.ca.validityHours} h); allowed: 1 to ${lifetimes.ca.validityHours}`,
        );
    }

    return {
        serverName,
        serverDnsNames,
        serverIpAddresses,
        clients,
        revokedClients,
        keyAlgorithm,
        intermediateCa,
        activeCa,
        trustedCas,
        verifyDepth,
        verifyClient,
        locations,
        organization,
        image,
        containerName,
        publishAddress,
        publishPort,
        hostDirectory,
        workerProcesses,
        smokeTest,
        lifetimes,
        rotationLookaheadHours,
    };
}

function readLocations(raw: RawStackConfig, clients: string[], verifyClient: VerifyClientMode): LocationConfig[] {
    const value = raw.locations;
    if (value === undefined) {
        return [{ path: "/", requireClientCertificate: true }];
    }
    if (!Array.isArray(value) || value.length === 0) {
        throw new StackConfigError("locations", 'must be a non-empty list of objects like {"path": "/"}');
    }
    const seen = new Set<string>();
    return value.map((entry: unknown, index: number): LocationConfig => {
        const key = `locations[${index}]`;
        if (typeof entry !== "object" || entry === null || Array.isArray(entry)) {
            throw new StackConfigError(key, 'must be an object like {"path": "/"}');
        }
        const location = entry as Record<string, unknown>;
        for (const field of Object.keys(location)) {
            if (!["path", "allowedClients", "requireClientCertificate", "proxyPass"].includes(field)) {
                throw new StackConfigError(
                    `${key}.${field}`,
                    "unknown field; allowed: path, allowedClients, requireClientCertificate, proxyPass",
                );
            }
        }
        const locationPath = location.path;
        if (typeof locationPath !== "string" || !locationPathPattern.test(locationPath)) {
            throw new StackConfigError(`${key}.path`, "must start with '/' and use only letters, digits and ./_~-");
        }
        if (seen.has(locationPath)) {
            throw new StackConfigError(`${key}.path`, `"${locationPath}" is listed twice`);
        }
        seen.add(locationPath);
        let allowedClients: string[] | undefined;
        if (location.allowedClients !== undefined) {
            allowedClients = asStringList(location.allowedClients, `${key}.allowedClients`);
            for (const name of allowedClients) {
                if (!clients.includes(name)) {
                    throw new StackConfigError(
                        `${key}.allowedClients`,
                        `"${name}" is not in clients (${clients.join(", ")})`,
                    );
                }
            }
        }
        const requireClientCertificate = location.requireClientCertificate ?? true;
        if (typeof requireClientCertificate !== "boolean") {
            throw new StackConfigError(`${key}.requireClientCertificate`, "must be true or false");
        }
        if (!requireClientCertificate && verifyClient === "on") {
            throw new StackConfigError(
                `${key}.requireClientCertificate`,
                'false needs verifyClient "optional"; with "on" every request must present a certificate',
            );
        }
        if (!requireClientCertificate && allowedClients) {
            throw new StackConfigError(`${key}.allowedClients`, "a public location cannot have an allowlist");
        }
        const proxyPass = location.proxyPass;
        if (
            proxyPass !== undefined &&
            (typeof proxyPass !== "string" || !/^https?:\/\/[A-Za-z0-9.:\[\]_\/-]+$/.test(proxyPass))
        ) {
            throw new StackConfigError(`${key}.proxyPass`, "must be an http:// or https:// URL");
        }
        return { path: locationPath, allowedClients, requireClientCertificate, proxyPass };
    });
}

function checkClientNames(key: string, names: string[]): void {
    const seen = new Set<string>();
    for (const name of names) {
        if (name.length === 0) {
            throw new StackConfigError(key, "contains an empty client name");
        }
        if (!clientNamePattern.test(name)) {
            throw new StackConfigError(
                key,
                `"${name}" is not allowed; a client name is 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit`,
            );
        }
        if (seen.has(name)) {
            throw new StackConfigError(key, `"${name}" is listed twice; client names must be unique`);
        }
        seen.add(name);
    }
}

function readString(raw: RawStackConfig, key: string, fallback: string): string {
    const value = raw[key];
    if (value === undefined) {
        return fallback;
    }
    if (typeof value !== "string" || value.length === 0) {
        throw new StackConfigError(key, "must be a non-empty string");
    }
    return value;
}

function readStringList(raw: RawStackConfig, key: string, fallback: string[]): string[] {
    const value = raw[key];
    return value === undefined ? fallback : asStringList(value, key);
}

function asStringList(value: unknown, key: string): string[] {
    if (!Array.isArray(value) || value.some((item) => typeof item !== "string")) {
        throw new StackConfigError(key, 'must be a list of strings, e.g. ["a", "b"]');
    }
    return value as string[];
}

function readBoolean(raw: RawStackConfig, key: string, fallback: boolean): boolean {
    const value = raw[key];
    if (value === undefined) {
        return fallback;
    }
    if (value === true || value === "true") {
        return true;
    }
    if (value === false || value === "false") {
        return false;
    }
    throw new StackConfigError(key, "must be true or false");
}

function readInteger(raw: RawStackConfig, key: string, fallback: number, min: number, max: number): number {
    const value = raw[key];
    if (value === undefined) {
        return fallback;
    }
    const parsed = typeof value === "string" && /^-?[0-9]+$/.test(value) ? Number(value) : value;
    if (typeof parsed !== "number" || !Number.isInteger(parsed) || parsed < min || parsed > max) {
        throw new StackConfigError(
            key,
            `${JSON.stringify(value)} is out of range; allowed: an integer from ${min} to ${max}`,
        );
    }
    return parsed;
}

function readEnum<T extends string>(raw: RawStackConfig, key: string, allowed: readonly T[], fallback: T): T {
    const value = raw[key];
    if (value === undefined) {
        return fallback;
    }
    if (typeof value !== "string" || !(allowed as readonly string[]).includes(value)) {
        throw new StackConfigError(key, `${JSON.stringify(value)} is not allowed; allowed: ${allowed.join(", ")}`);
    }
    return value as T;
}

function isIpAddress(value: string): boolean {
    return net.isIP(value) !== 0;
}

function unique(values: string[]): string[] {
    return [...new Set(values)];
}
