import { verifyClientModes } from "../domain/endpoint";
import { CaSlot, caSlots, CertificateKind, keyAlgorithms } from "../domain/pki";
import { defaultVerifyDepth } from "./caChainDepth";
import { caMaterialKey, caModeKey } from "./caKeyDeclarations";
import {
    checkCapability,
    checkContainerName,
    checkDockerHost,
    checkEndpointAddress,
    checkPem,
    checkWorkerProcesses,
} from "./endpoint";
import { checkImageReference, imageKeyExchange } from "./image";
import { keyExchangeGroupList } from "./keyExchange";
import { classicalDefaultGroups, hybridFirstGroups } from "../domain/keyExchange";
import { parseLocations } from "./locations";
import { clientEntryList } from "./clientEntries";
import { clientsFilePath } from "./clientsFile";
import { checkClientName, checkOrganization } from "./names";
import { checkIpAddress, checkServerName, serverDnsNameList, serverIpAddressList } from "./network";
import { maxHours, trustedCaList } from "./pki";
import { checkDnsLabel, checkKubeconfig, checkKubernetesContextName } from "./kubernetes";
import {
    ComputedDefault,
    ConfigKey,
    ConfigSettings,
    kubernetesServiceTypes,
    mixedItems,
    platforms,
    publishModes,
    stackEndpointName,
} from "./types";
import { flag, integer, oneOf, stringList, text } from "./values";

// The shapes live in config/types.ts; a key's shape stays importable from here too.
export type { ConfigKey } from "./types";

function key<T>(declaration: ConfigKey<T>): ConfigKey<T> {
    return declaration;
}

const hours = (min: number) => integer(min, maxHours);
const validityHours = (certificates: string, fallback: number) =>
    key({
        type: "integer",
        description: `How long ${certificates} are valid, in hours (at least 2).`,
        default: fallback,
        parse: hours(2),
    });
const renewBeforeHours = (kind: CertificateKind, certificates: string, fallback: number) =>
    key({
        type: "integer",
        description: `Rotate ${certificates} this many hours before they expire (at least 1, less than ${kind}ValidityHours).`,
        default: fallback,
        parse: hours(1),
    });

/**
 * Every key the stack config may set, in the `mtls-nginx` namespace, each also an MtlsEndpoint arg
 * unless marked `stackOnly`. Adding a key: an entry here, its type on ConfigSettings (config/types.ts;
 * the compiler compares the two), a field on StackConfig, and its declaration in Pulumi.yaml (a unit
 * test compares the two).
 */
export const configTable = {
    serverName: key({
        type: "string",
        description: "DNS name clients use; the server certificate's CN and first SAN, and the only SNI accepted.",
        default: "localhost",
        parse: text(checkServerName),
    }),
    serverDnsNames: key({
        type: "array",
        items: "string",
        description:
            "Extra DNS subject alternative names for the server certificate; each may start with one *. wildcard.",
        default: [],
        parse: serverDnsNameList,
    }),
    serverIpAddresses: key({
        type: "array",
        items: "string",
        description: "IP subject alternative names for the server certificate.",
        default: ["127.0.0.1"],
        parse: serverIpAddressList,
    }),
    clients: key({
        type: "array",
        items: mixedItems,
        description:
            "One client certificate per name; the name is the certificate's CN (unique regardless of case, as Nginx compares them). An entry {name, csr} brings the client's own key as a PEM CERTIFICATE REQUEST (CN = name) that the CA signs; the stack then holds no key for it. In stack config, {name, csrFile} reads the CSR from a file (relative to the project directory, or absolute). Default: [client-1], unless clientsFile is set.",
        // Computed, not declared with a default in Pulumi.yaml: Pulumi passes a declared default to the
        // program as if the stack set it, and then clients set next to clientsFile could not be told apart.
        computedDefault: {
            rule: '["client-1"], unless clientsFile is set',
            compute: (_context, settings) => (settings.clientsFile ? undefined : ["client-1"]),
        },
        parse: clientEntryList(
            "must list at least one client; allowed: a non-empty list of client names or {name, csr} objects",
        ),
    }),
    clientsFile: key({
        type: "string",
        description:
            "Stack config only: a YAML or JSON file (relative to the project directory, or absolute) that holds the clients list, entries as in clients, for a list too long for stack config; set it or clients, not both. Empty: clients applies.",
        default: "",
        stackOnly: {
            argInstead: "clients, the list itself (a program reads the file and passes what it holds)",
        },
        parse: clientsFilePath,
    }),
    revokedClients: key({
        type: "array",
        items: "string",
        description: "Clients whose certificates are revoked (must also be listed in clients).",
        default: [],
        parse: stringList({ noun: "client name", item: checkClientName }),
    }),
    keyAlgorithm: key({
        type: "string",
        description: "ECDSA-P256, ECDSA-P384, RSA-2048, RSA-3072 or RSA-4096.",
        default: "ECDSA-P256",
        parse: oneOf(keyAlgorithms),
    }),
    intermediateCa: key({
        type: "boolean",
        description: "Issue leaves from an intermediate CA signed by the root.",
        default: false,
        parse: flag(),
    }),
    activeCa: key({
        type: "string",
        description: "The CA slot (a or b) that issues certificates; a CA rollover moves it.",
        default: "a",
        parse: oneOf(caSlots),
    }),
    trustedCas: key({
        type: "array",
        items: "string",
        description: "CA slots (a, b) clients may chain to; must include activeCa. Default: [activeCa].",
        computedDefault: {
            rule: "[activeCa]",
            compute: (_context, settings) =>
                settings.activeCa === undefined ? undefined : [settings.activeCa as CaSlot],
        },
        parse: trustedCaList,
    }),
    verifyDepth: key({
        type: "integer",
        description:
            "Maximum client certificate chain depth Nginx verifies (1-10). Default: the deepest CA chain of the CA slots (1 for a root, 2 with intermediateCa or an external root).",
        computedDefault: {
            rule: "the deepest CA chain of the CA slots",
            compute: (_context, settings) => defaultVerifyDepth(settings),
        },
        parse: integer(1, 10),
    }),
    // Where each CA slot comes from (config/caKeyDeclarations.ts): slot a's keys, then slot b's, ending in B.
    caMode: caModeKey("a"),
    externalIntermediateCertificate: caMaterialKey("a", "intermediateCertificate"),
    externalRootCertificate: caMaterialKey("a", "rootCertificate"),
    externalRootCrl: caMaterialKey("a", "externalCrl"),
    importedCaCertificate: caMaterialKey("a", "importedCertificate"),
    importedCaKey: caMaterialKey("a", "importedKey"),
    importedCaChain: caMaterialKey("a", "importedChain"),
    caModeB: caModeKey("b"),
    externalIntermediateCertificateB: caMaterialKey("b", "intermediateCertificate"),
    externalRootCertificateB: caMaterialKey("b", "rootCertificate"),
    externalRootCrlB: caMaterialKey("b", "externalCrl"),
    importedCaCertificateB: caMaterialKey("b", "importedCertificate"),
    importedCaKeyB: caMaterialKey("b", "importedKey"),
    importedCaChainB: caMaterialKey("b", "importedChain"),
    verifyClient: key({
        type: "string",
        description: "on (every request needs a client certificate) or optional (enforced per location).",
        default: "on",
        parse: oneOf(verifyClientModes),
    }),
    locations: key({
        type: "array",
        items: "object",
        description: "Nginx locations: {path, allowedClients?, requireClientCertificate? (default true), proxyPass?}.",
        default: [{ path: "/", requireClientCertificate: true }],
        parse: parseLocations,
    }),
    upstreamCaCertificates: key({
        type: "string",
        description:
            "PEM CA certificates an https proxyPass upstream's certificate must chain to (it must also name the proxyPass host); empty: the image's system CA bundle.",
        default: "",
        parse: text(checkPem("CERTIFICATE")),
    }),
    organization: key({
        type: "string",
        description: "Organization (O) in every certificate subject.",
        default: "mtls-nginx",
        parse: text(checkOrganization),
    }),
    image: key({
        type: "string",
        description:
            "Nginx image the container runs (Debian-based: it needs sh, curl and coreutils); pin a version in production.",
        default: "nginx:stable",
        parse: text(checkImageReference),
    }),
    containerName: key({
        type: "string",
        description:
            "Docker container name (its files volume and Swarm service are named after it). Default: mtls-nginx-<stack>; for an MtlsEndpoint not named mtls-nginx, mtls-nginx-<stack>-<endpoint name>.",
        computedDefault: {
            rule: "mtls-nginx-<stack>, or mtls-nginx-<stack>-<endpoint name>",
            compute: (context) =>
                context.endpointName === undefined || context.endpointName === stackEndpointName
                    ? `mtls-nginx-${context.stack}`
                    : `mtls-nginx-${context.stack}-${context.endpointName}`,
        },
        parse: text(checkContainerName),
    }),
    publishAddress: key({
        type: "string",
        description: "Host address the endpoint is published on.",
        default: "127.0.0.1",
        parse: text(checkIpAddress),
    }),
    publishPort: key({
        type: "integer",
        description: "Host port the endpoint is published on.",
        default: 8443,
        parse: integer(1, 65535),
    }),
    platform: key({
        type: "string",
        description:
            "container (one Nginx container), swarm (a Docker Swarm service; dockerHost names a manager) or kubernetes (a Deployment and a Service).",
        default: "container",
        parse: oneOf(platforms),
    }),
    replicas: key({
        type: "integer",
        description:
            "Swarm tasks or Kubernetes pods (platforms swarm and kubernetes); with publishMode host, at most one per node.",
        default: 3,
        parse: integer(1, 100),
    }),
    publishMode: key({
        type: "string",
        description: "ingress (the routing mesh) or host (each node's own port) for platform swarm.",
        default: "ingress",
        parse: oneOf(publishModes),
    }),
    kubeconfig: key({
        type: "string",
        description:
            "Kubeconfig (YAML) of the cluster, for platform kubernetes; set it as a secret (pulumi config set --secret). Empty: the ambient one (KUBECONFIG, else ~/.kube/config).",
        default: "",
        parse: text(checkKubeconfig),
    }),
    kubernetesContext: key({
        type: "string",
        description: "The kubeconfig context to deploy to (platform kubernetes). Empty: its current context.",
        default: "",
        parse: text(checkKubernetesContextName),
    }),
    kubernetesNamespace: key({
        type: "string",
        description: "Namespace of the Deployment, Service, ConfigMap and Secret (platform kubernetes); it must exist.",
        default: "default",
        parse: text(checkDnsLabel),
    }),
    kubernetesServiceType: key({
        type: "string",
        description: "How the Service exposes the endpoint (platform kubernetes): ClusterIP, NodePort or LoadBalancer.",
        default: "ClusterIP",
        parse: oneOf(kubernetesServiceTypes),
    }),
    kubernetesNodePort: key({
        type: "integer",
        description: "The Service's node port, 30000-32767 (kubernetesServiceType NodePort). 0: Kubernetes picks one.",
        default: 0,
        parse: integer(0, 32767),
    }),
    endpointAddresses: key({
        type: "array",
        items: "string",
        description:
            "IP addresses clients reach the endpoint at (one per node with publishMode host); the smoke test probes each. Default: the published address.",
        default: [],
        parse: stringList({ noun: "address", item: checkEndpointAddress }),
    }),
    workerProcesses: key({
        type: "string",
        description: "Nginx worker_processes (auto = one per core).",
        default: "auto",
        parse: text(checkWorkerProcesses),
    }),
    keyExchangeGroups: key({
        type: "array",
        items: "string",
        description:
            "TLS key exchange groups, most preferred first (ssl_ecdh_curve). Default: X25519MLKEM768 (post-quantum hybrid) first, then X25519, prime256v1, secp384r1, for an image on OpenSSL 3.5 or later (a trixie tag); the classical three otherwise.",
        computedDefault: {
            rule: "the hybrid first for an image on OpenSSL 3.5+, else classical",
            compute: (_context, settings) =>
                typeof settings.image !== "string"
                    ? undefined
                    : [...(imageKeyExchange(settings.image) === "hybrid" ? hybridFirstGroups : classicalDefaultGroups)],
        },
        parse: keyExchangeGroupList,
    }),
    smokeTest: key({
        type: "boolean",
        description: "Probe the endpoint with and without a client certificate during pulumi up.",
        default: true,
        parse: flag(),
    }),
    dockerHost: key({
        type: "string",
        description:
            "Docker engine to deploy to: empty (DOCKER_HOST or the local socket), unix://, tcp://host:port (TLS) or ssh://user@host.",
        default: "",
        parse: text(checkDockerHost),
    }),
    dockerTlsCaCertificate: key({
        type: "string",
        description: "PEM CA certificate the tcp:// Docker engine's server certificate must chain to.",
        default: "",
        parse: text(checkPem("CERTIFICATE")),
    }),
    dockerTlsCertificate: key({
        type: "string",
        description: "PEM client certificate for the tcp:// Docker engine.",
        default: "",
        parse: text(checkPem("CERTIFICATE")),
    }),
    dockerTlsKey: key({
        type: "string",
        description: "PEM client key for the tcp:// Docker engine; set it as a secret (pulumi config set --secret).",
        default: "",
        parse: text(checkPem("PRIVATE KEY")),
    }),
    capabilities: key({
        type: "array",
        items: "string",
        description: "Linux capabilities the container keeps; every other one is dropped.",
        default: ["CHOWN", "NET_BIND_SERVICE", "SETGID", "SETUID"],
        parse: stringList({ noun: "capability", item: checkCapability }),
    }),
    noNewPrivileges: key({
        type: "boolean",
        description: "Run the container with no-new-privileges.",
        default: true,
        parse: flag(),
    }),
    readOnlyRootFilesystem: key({
        type: "boolean",
        description: "Read-only root filesystem, with tmpfs where Nginx writes (/run, /tmp, its temp paths).",
        default: true,
        parse: flag(),
    }),
    memoryLimitMb: key({
        type: "integer",
        description: "Container memory limit in MiB (no swap on top).",
        default: 256,
        parse: integer(16, 1048576),
    }),
    pidsLimit: key({
        type: "integer",
        description: "Container process limit.",
        default: 256,
        parse: integer(8, 1048576),
    }),
    logMaxSizeMb: key({
        type: "integer",
        description: "Docker json-file log rotation: size of one log file, in MiB.",
        default: 10,
        parse: integer(1, 10240),
    }),
    logMaxFiles: key({
        type: "integer",
        description: "Docker json-file log rotation: how many log files are kept.",
        default: 3,
        parse: integer(1, 100),
    }),
    rotationLookaheadHours: key({
        type: "integer",
        description: "Also rotate what enters its renewal window within this many hours (0 = only what is due now).",
        default: 0,
        parse: integer(0, maxHours),
    }),
    caValidityHours: validityHours("root CA certificates", 87600), // 10 years
    caRenewBeforeHours: renewBeforeHours("ca", "root CA certificates", 8760),
    intermediateValidityHours: validityHours("intermediate CA certificates", 43800), // 5 years
    intermediateRenewBeforeHours: renewBeforeHours("intermediate", "intermediate CA certificates", 4380),
    serverValidityHours: validityHours("server certificates", 2160), // 90 days
    serverRenewBeforeHours: renewBeforeHours("server", "server certificates", 720),
    clientValidityHours: validityHours("client certificates", 8760), // 1 year
    clientRenewBeforeHours: renewBeforeHours("client", "client certificates", 720),
    // 30 days: `pulumi up` must run at least every 20 days while clients are revoked.
    crlValidityHours: key({
        type: "integer",
        description:
            "Next-update distance of the CRLs, in hours (at least 2; CRLs exist while revokedClients is not empty).",
        default: 720,
        parse: hours(2),
    }),
    crlRenewBeforeHours: key({
        type: "integer",
        description:
            "Re-issue the CRLs this many hours before their next update (at least 1, less than crlValidityHours).",
        default: 240,
        parse: hours(1),
    }),
};

/** What the table's parsers read: config/types.ts's ConfigSettings must be exactly this. */
type TableSettings = {
    -readonly [K in keyof typeof configTable]: (typeof configTable)[K] extends ConfigKey<infer T> ? T : never;
};
type Same<A, B> = (<V>() => V extends A ? 1 : 2) extends <V>() => V extends B ? 1 : 2 ? true : false;
type Holds<T extends true> = T;
/** Compiles only while the table and ConfigSettings have the same keys, each read as the same type. */
export type TableMatchesSettings = Holds<Same<ConfigSettings, TableSettings>>;

/** Keys that existed once and mean nothing now: a clear error says what replaced them. */
export const retiredKeys: ReadonlyMap<string, string> = new Map([
    [
        "hostDirectory",
        "was removed: the endpoint's files now reach the container through the Docker API, into a Docker volume " +
            "the stack owns, and nothing is written on the deploying machine; allowed: delete the key",
    ],
]);

/** The table as a Map: look-ups of untrusted key names never reach Object.prototype. */
export const configTableEntries: ReadonlyMap<string, ConfigKey<unknown>> = new Map(
    Object.entries(configTable) as Array<[string, ConfigKey<unknown>]>,
);

/** Whether a key's default is computed (and what from). */
export function hasComputedDefault<T>(
    declaration: ConfigKey<T>,
): declaration is ConfigKey<T> & { readonly computedDefault: ComputedDefault<T> } {
    return Object.hasOwn(declaration, "computedDefault");
}

/** Every key the stack config may set, in table order. */
export const configKeys: readonly string[] = [...configTableEntries.keys()];

/** Keys only the stack config may set (they name files): every other key is also an MtlsEndpoint arg. */
export const stackOnlyKeys: readonly string[] = configKeys.filter(
    (name) => configTableEntries.get(name)!.stackOnly !== undefined,
);

/** The MtlsEndpoint args, in table order: every key but the stack-only ones. */
export const endpointArgKeys: readonly string[] = configKeys.filter((name) => !stackOnlyKeys.includes(name));

/** Keys whose default depends on the stack or on other keys (no `default:` in Pulumi.yaml). */
export const computedDefaultKeys: readonly string[] = configKeys.filter((name) =>
    hasComputedDefault(configTableEntries.get(name)!),
);

/** The static defaults, as Pulumi.yaml declares them. */
export const configDefaults: Readonly<Partial<ConfigSettings>> = Object.fromEntries(
    [...configTableEntries].flatMap(([name, declaration]) =>
        hasComputedDefault(declaration) ? [] : [[name, declaration.default]],
    ),
);
