import type { LocationConfig, SmokeProbe, VerifyClientMode } from "../domain/endpoint";
import type { CaSource } from "../domain/caSource";
import type { CaSlot, CertificateKind, CertificateLifetime, KeyAlgorithm } from "../domain/pki";
import { validateCaDepth } from "./caChainDepth";
import { validateCaModes } from "./caModeRules";
import { CaSourceKey, caSourceKeyNames } from "./caSlotKeys";
import { caSourcesOf } from "./caSources";
import { clientEntriesOf, clientNamesOf, requestsOf } from "../domain/clients";
import { clientsOf } from "./clientsFile";
import { namesFiles } from "./files";
import {
    configDefaults,
    configKeys,
    configTableEntries,
    endpointArgKeys,
    hasComputedDefault,
    retiredKeys,
    stackOnlyKeys,
} from "./configTable";
import { validateEngine, validatePlatform } from "./endpoint";
import { validateKeyExchange } from "./keyExchange";
import { validateKubernetes } from "./kubernetes";
import { validateLocationAccess, validateUpstreamTrust } from "./locations";
import { validateClientReferences } from "./names";
import { lifetimesOf, validateCaSlots, validateLifetimes } from "./pki";
import { ConfigProblems } from "./problems";
import { validateSmokeProbe } from "./smokeProbe";
import type {
    ComputedDefault,
    ConfigContext,
    ConfigKeyName,
    ConfigSettings,
    KubernetesServiceType,
    Platform,
    PublishMode,
    RawStackConfig,
} from "./types";

// For callers outside components/ (tests, bench): components import the domain types from domain/.
export { keyAlgorithms, caSlots, certificateKinds } from "../domain/pki";
export type { KeyAlgorithm, CaSlot, CertificateKind, CertificateLifetime } from "../domain/pki";
export { verifyClientModes } from "../domain/endpoint";
export type { VerifyClientMode, LocationConfig, SmokeProbe } from "../domain/endpoint";
export { caModes } from "../domain/caSource";
export type { CaMode, CaSource } from "../domain/caSource";
export {
    computedDefaultKeys,
    configDefaults,
    configKeys,
    configTable,
    endpointArgKeys,
    stackOnlyKeys,
} from "./configTable";
export type { ConfigContext, RawStackConfig } from "./types";
export { StackConfigError, type ConfigProblem } from "./problems";

/** The validated, defaulted stack configuration: the only shape components ever see. */
export interface StackConfig {
    readonly serverName: string;
    /** serverName first, then the extra names (repeats of serverName removed). */
    readonly serverDnsNames: string[];
    readonly serverIpAddresses: string[];
    /** Every client's name (its certificate's CN). */
    readonly clients: string[];
    /** The CSR (PEM) of each client that brought one, by name: the CA signs it, and the stack holds no key for it. */
    readonly clientCsrs: Readonly<Record<string, string>>;
    readonly revokedClients: string[];
    readonly keyAlgorithm: KeyAlgorithm;
    readonly intermediateCa: boolean;
    /** The CA slot that issues leaves. */
    readonly activeCa: CaSlot;
    /** CA slots in the trust bundle, the active one first. */
    readonly trustedCas: CaSlot[];
    /** Where each CA slot comes from (the caMode* / external* / imported* keys, folded; the keys are secret). */
    readonly caSources: Record<CaSlot, CaSource>;
    readonly verifyDepth: number;
    readonly verifyClient: VerifyClientMode;
    readonly locations: LocationConfig[];
    /** PEM CAs https upstreams must chain to; empty: the image's system bundle. */
    readonly upstreamCaCertificates: string;
    readonly organization: string;
    readonly image: string;
    readonly containerName: string;
    readonly publishAddress: string;
    readonly publishPort: number;
    readonly platform: Platform;
    readonly replicas: number;
    readonly publishMode: PublishMode;
    /** A kubeconfig (secret: wrap it with pulumi.secret); empty: the ambient one (KUBECONFIG, ~/.kube/config). */
    readonly kubeconfig: string;
    /** The kubeconfig's context; empty: its current one. */
    readonly kubernetesContext: string;
    readonly kubernetesNamespace: string;
    readonly kubernetesServiceType: KubernetesServiceType;
    /** The Service's node port (NodePort only); 0: Kubernetes picks one. */
    readonly kubernetesNodePort: number;
    /** Addresses clients reach the endpoint at; empty: the published address. */
    readonly endpointAddresses: string[];
    readonly dockerHost: string;
    readonly dockerTlsCaCertificate: string;
    readonly dockerTlsCertificate: string;
    /** A secret: wrap it with pulumi.secret wherever it is used. */
    readonly dockerTlsKey: string;
    readonly capabilities: string[];
    readonly noNewPrivileges: boolean;
    readonly readOnlyRootFilesystem: boolean;
    readonly memoryLimitMb: number;
    readonly pidsLimit: number;
    readonly logMaxSizeMb: number;
    readonly logMaxFiles: number;
    readonly workerProcesses: string;
    /** TLS key exchange groups, most preferred first (a post-quantum hybrid first where the image can). */
    readonly keyExchangeGroups: string[];
    readonly smokeTest: boolean;
    /** What the smoke test requests; present exactly when smokeTest is true. */
    readonly smokeProbe?: SmokeProbe;
    readonly lifetimes: Record<CertificateKind, CertificateLifetime>;
    /** Rotate what will be inside its renewal window within this many hours (0: only what is due now). */
    readonly rotationLookaheadHours: number;
}

/** Keys folded into StackConfig.lifetimes rather than copied one to one. */
type LifetimeKey = `${CertificateKind}${"ValidityHours" | "RenewBeforeHours"}`;
/** Keys folded into StackConfig.clients and clientCsrs. */
type ClientsKey = "clients" | "clientsFile";
const clientsKeys: readonly string[] = ["clients", "clientsFile"] satisfies ClientsKey[];
/** Keys copied to the StackConfig field of the same name (a key without such a field fails to compile). */
type FieldKey = Exclude<ConfigKeyName, LifetimeKey | CaSourceKey | ClientsKey>;

/**
 * Validates raw stack config (or an MtlsEndpoint's args: `context.endpointName`) and fills in
 * defaults. Pure: no Pulumi, and no I/O of its own (the files the stack config names are read
 * through `context.readFile`), so it runs (and fails) before any resource is registered. Collects
 * every problem and throws one StackConfigError listing them all.
 */
export function validateStackConfig(raw: RawStackConfig, context: ConfigContext): StackConfig {
    const problems = new ConfigProblems();
    const settings = readSettings(raw, context, problems);
    settings.clients = clientsOf(settings, raw, context, problems);

    // Checks across keys, by concern; each skips what depends on a key that is already invalid.
    validateClientReferences(settings, problems);
    validateCaSlots(settings, problems);
    validateCaModes(settings, problems);
    validateCaDepth(settings, problems);
    validateLifetimes(settings, problems);
    validateLocationAccess(settings, problems);
    validateUpstreamTrust(settings, problems);
    validateEngine(settings, problems);
    validatePlatform(settings, configDefaults, problems);
    validateKubernetes(settings, configDefaults, problems);
    validateKeyExchange(settings, problems);
    const smokeProbe = validateSmokeProbe(settings, problems);

    problems.throwIfAny();
    const valid = settings as ConfigSettings;
    return {
        ...fields(valid),
        clients: clientNamesOf(valid.clients),
        clientCsrs: requestsOf(valid.clients),
        serverDnsNames: [
            valid.serverName,
            ...valid.serverDnsNames.filter((name) => name.toLowerCase() !== valid.serverName.toLowerCase()),
        ],
        trustedCas: [valid.activeCa, ...valid.trustedCas.filter((slot) => slot !== valid.activeCa)],
        lifetimes: lifetimesOf(valid)!,
        caSources: caSourcesOf(valid),
        ...(smokeProbe ? { smokeProbe } : {}),
    };
}

/**
 * The MtlsEndpoint args for a stack config that validated as `config`: its keys as set, less the
 * stack-only ones, with `clients` as read (a clientsFile's list, each csrFile's PEM in place of its
 * path). The component gets PEMs in memory and never a file name.
 */
export function argsOfStackConfig(raw: RawStackConfig, config: StackConfig): RawStackConfig {
    return {
        // Object.fromEntries defines own properties: a key named "__proto__" stays a key.
        ...Object.fromEntries(Object.entries(raw).filter(([name]) => !stackOnlyKeys.includes(name))),
        clients: clientEntriesOf(config.clients, config.clientCsrs),
    };
}

/**
 * Reads every key of the table: unknown keys are reported (an own-property walk, so `__proto__` or
 * `toString` is just another unknown key), set values parsed, the rest defaulted. A key whose value
 * is invalid reads as undefined.
 */
function readSettings(raw: RawStackConfig, context: ConfigContext, problems: ConfigProblems): Partial<ConfigSettings> {
    // An MtlsEndpoint's args are the keys less the stack-only ones: those name files, and it reads none.
    const args = !namesFiles(context);
    const known = args ? endpointArgKeys : configKeys;
    for (const name of Object.keys(raw)) {
        const retired = retiredKeys.get(name);
        const stackOnly = configTableEntries.get(name)?.stackOnly;
        if (retired !== undefined) {
            problems.add(name, retired);
        } else if (args && stackOnly !== undefined) {
            problems.add(name, `is a stack config key, not an MtlsEndpoint arg; allowed: ${stackOnly.argInstead}`);
        } else if (!configTableEntries.has(name)) {
            const suggestion = closestKey(name, known);
            problems.add(
                name,
                `unknown key${suggestion ? ` (did you mean ${suggestion}?)` : ""}; ` +
                    `allowed: the known keys ${known.join(", ")}`,
            );
        }
    }
    const settings = new Map<string, unknown>();
    const computed: Array<[string, ComputedDefault<unknown>]> = [];
    for (const [name, declaration] of configTableEntries) {
        const value = Object.hasOwn(raw, name) && known.includes(name) ? raw[name] : undefined;
        if (value !== undefined) {
            settings.set(name, declaration.parse(value, name, problems, context));
        } else if (hasComputedDefault(declaration)) {
            computed.push([name, declaration.computedDefault]);
        } else {
            // A copy: a caller that changes its config's lists must not change the table's defaults.
            settings.set(name, structuredClone(declaration.default));
        }
    }
    // Computed defaults last: they read other keys (verifyDepth reads intermediateCa).
    const read = Object.fromEntries(settings);
    for (const [name, computedDefault] of computed) {
        settings.set(name, computedDefault.compute(context, read));
    }
    return Object.fromEntries(settings) as Partial<ConfigSettings>;
}

/** The keys StackConfig holds under their own name. */
function fields(settings: ConfigSettings): Pick<StackConfig, FieldKey> {
    const copied = configKeys.filter(
        (name) =>
            !/(ValidityHours|RenewBeforeHours)$/.test(name) &&
            !caSourceKeyNames.includes(name) &&
            !clientsKeys.includes(name),
    );
    return Object.fromEntries(copied.map((name) => [name, settings[name as FieldKey]])) as Pick<StackConfig, FieldKey>;
}

/** The known key a misspelt one most likely meant: same letters ignoring case, or at most two edits away. */
function closestKey(name: string, known: readonly string[]): string | undefined {
    let best: { key: string; distance: number } | undefined;
    for (const key of known) {
        const distance = key.toLowerCase() === name.toLowerCase() ? 0 : editDistance(key, name);
        if (distance <= 2 && (best === undefined || distance < best.distance)) {
            best = { key, distance };
        }
    }
    return best?.key;
}

function editDistance(a: string, b: string): number {
    let previous = Array.from({ length: b.length + 1 }, (_, index) => index);
    for (let i = 1; i <= a.length; i++) {
        const current = [i];
        for (let j = 1; j <= b.length; j++) {
            current[j] = Math.min(
                previous[j] + 1,
                current[j - 1] + 1,
                previous[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1),
            );
        }
        previous = current;
    }
    return previous[b.length];
}
