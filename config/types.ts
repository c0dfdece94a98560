// The shapes of the stack config, apart from the code that reads and checks it: every module of config/
// may import this one, and it imports only types (cert-manager's apis package, in small).
import type { CaMode } from "../domain/caSource";
import type { ClientEntry } from "../domain/clients";
import type { LocationConfig, VerifyClientMode } from "../domain/endpoint";
import type { CaSlot, KeyAlgorithm } from "../domain/pki";
import type { Parse } from "./values";

/** Context the validator needs that does not come from config. */
export interface ConfigContext {
    readonly stack: string;
    readonly projectDirectory: string;
    /** The MtlsEndpoint's name; absent when the stack config itself is read. */
    readonly endpointName?: string;
    /**
     * Reads a file the stack config names (clientsFile, a client's csrFile) as text, by absolute path,
     * throwing as fs.readFileSync does. The validator does no I/O of its own: the stack's config reader
     * (config/readStackConfig.ts) passes fs, a test its own. MtlsEndpoint args name no files.
     */
    readonly readFile?: (file: string) => string;
}

/**
 * The name the project's own stack gives its MtlsEndpoint. Its resources were deployed at the stack's
 * root before the component existed: under this name they move into it (aliases), keep their records
 * (read from the stack's outputs once) and keep the container name `mtls-nginx-<stack>`.
 */
export const stackEndpointName = "mtls-nginx";

/** What the stack file holds before validation: every key optional, types unknown. */
export type RawStackConfig = Record<string, unknown>;

/** A key's `type` in Pulumi.yaml. */
export type PulumiConfigType = "string" | "integer" | "boolean" | "array" | "object";
/**
 * The items of an array whose entries are strings or objects (`clients`): Pulumi.yaml cannot type
 * such a list, so it declares the key without a type, and the parser checks every entry.
 */
export const mixedItems = "string or object";

/** A default that depends on the stack or on other keys; Pulumi.yaml declares no `default:` for it. */
export interface ComputedDefault<T> {
    /** The rule, as the description and docs/configuration.md state it. */
    readonly rule: string;
    /** The value; undefined when a key it depends on is invalid (that key reports the problem). */
    readonly compute: (context: ConfigContext, settings: Readonly<Record<string, unknown>>) => T | undefined;
}

/** One config key, declared once: Pulumi.yaml's declaration, the default and the parser derive from this. */
export type ConfigKey<T> = {
    /** Its `type` in Pulumi.yaml. */
    readonly type: PulumiConfigType;
    /** Its `items: {type}` in Pulumi.yaml, for arrays (mixedItems: declared without a type). */
    readonly items?: PulumiConfigType | typeof mixedItems;
    /** Its `description` in Pulumi.yaml, word for word. */
    readonly description: string;
    /** Reads a set value, reporting every problem under the key. */
    readonly parse: Parse<T>;
    /**
     * Present on a key only the stack config may set, never an MtlsEndpoint arg: it names a file, which
     * the stack's config reader reads and the component never does. `argInstead`: what an endpoint is
     * given in its place (the "allowed:" of the problem when an arg sets it).
     */
    readonly stackOnly?: { readonly argInstead: string };
} & ({ readonly default: NoInfer<T> } | { readonly computedDefault: ComputedDefault<T> });

/** Where the endpoint runs. */
export const platforms = ["container", "swarm", "kubernetes"] as const;
export type Platform = (typeof platforms)[number];
/** How a Swarm service publishes its port. */
export const publishModes = ["ingress", "host"] as const;
export type PublishMode = (typeof publishModes)[number];
/** How a Kubernetes Service exposes the endpoint. */
export const kubernetesServiceTypes = ["ClusterIP", "NodePort", "LoadBalancer"] as const;
export type KubernetesServiceType = (typeof kubernetesServiceTypes)[number];

/**
 * The value type of each key once read, in config/configTable.ts's order (it fails to compile
 * unless its parsers read exactly these types).
 */
export interface ConfigSettings {
    serverName: string;
    serverDnsNames: string[];
    serverIpAddresses: string[];
    clients: ClientEntry[];
    clientsFile: string;
    revokedClients: string[];
    keyAlgorithm: KeyAlgorithm;
    intermediateCa: boolean;
    activeCa: CaSlot;
    trustedCas: CaSlot[];
    verifyDepth: number;
    caMode: CaMode;
    externalIntermediateCertificate: string;
    externalRootCertificate: string;
    externalRootCrl: string;
    importedCaCertificate: string;
    importedCaKey: string;
    importedCaChain: string;
    caModeB: CaMode;
    externalIntermediateCertificateB: string;
    externalRootCertificateB: string;
    externalRootCrlB: string;
    importedCaCertificateB: string;
    importedCaKeyB: string;
    importedCaChainB: string;
    verifyClient: VerifyClientMode;
    locations: LocationConfig[];
    upstreamCaCertificates: string;
    organization: string;
    image: string;
    containerName: string;
    publishAddress: string;
    publishPort: number;
    platform: Platform;
    replicas: number;
    publishMode: PublishMode;
    kubeconfig: string;
    kubernetesContext: string;
    kubernetesNamespace: string;
    kubernetesServiceType: KubernetesServiceType;
    kubernetesNodePort: number;
    endpointAddresses: string[];
    workerProcesses: string;
    keyExchangeGroups: string[];
    smokeTest: boolean;
    dockerHost: string;
    dockerTlsCaCertificate: string;
    dockerTlsCertificate: string;
    dockerTlsKey: string;
    capabilities: string[];
    noNewPrivileges: boolean;
    readOnlyRootFilesystem: boolean;
    memoryLimitMb: number;
    pidsLimit: number;
    logMaxSizeMb: number;
    logMaxFiles: number;
    rotationLookaheadHours: number;
    caValidityHours: number;
    caRenewBeforeHours: number;
    intermediateValidityHours: number;
    intermediateRenewBeforeHours: number;
    serverValidityHours: number;
    serverRenewBeforeHours: number;
    clientValidityHours: number;
    clientRenewBeforeHours: number;
    crlValidityHours: number;
    crlRenewBeforeHours: number;
}

export type ConfigKeyName = keyof ConfigSettings;
