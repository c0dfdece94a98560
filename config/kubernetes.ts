/**
 * The Kubernetes settings: the cluster (a kubeconfig and its context), the namespace, how the Service
 * exposes the endpoint, and the rules across keys that make `platform: kubernetes` mean one thing.
 */
import * as yaml from "js-yaml";

import type { ConfigProblems } from "./problems";
import type { ConfigSettings } from "./types";
import { type Check, show } from "./values";

/** An RFC 1123 label, the rule for namespaces and for the Deployment's and Service's names. */
const dnsLabelPattern = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;

const dnsLabelAllowed = "1-63 lower-case letters, digits or '-', starting and ending with a letter or digit";

/** A Kubernetes namespace (an RFC 1123 label). */
export const checkDnsLabel: Check = (value) =>
    dnsLabelPattern.test(value) ? undefined : `${show(value)} is not an RFC 1123 label; allowed: ${dnsLabelAllowed}`;

/** A context's name as kubectl writes it: anything but empty space and control characters. */
export const checkKubernetesContextName: Check = (value) =>
    /^[^\s\p{Cc}]*$/u.test(value)
        ? undefined
        : `${show(value)} is not a context name; allowed: empty, or a name without spaces`;

/** The parts of a kubeconfig this project reads. */
export interface Kubeconfig {
    readonly "current-context"?: string;
    readonly contexts: ReadonlyArray<{ readonly name: string; readonly context: KubeconfigContext }>;
    readonly clusters: ReadonlyArray<{ readonly name: string; readonly cluster: Record<string, unknown> }>;
    readonly users: ReadonlyArray<{ readonly name: string; readonly user: Record<string, unknown> }>;
}

export interface KubeconfigContext {
    readonly cluster: string;
    readonly user: string;
    readonly namespace?: string;
}

/** A kubeconfig parsed and checked for shape; a message naming what is wrong otherwise. */
export function parseKubeconfig(text: string): Kubeconfig | string {
    let document: unknown;
    try {
        document = yaml.load(text);
    } catch (error) {
        return `is not YAML (${(error as Error).message.split("\n")[0]}); allowed: a kubeconfig, as kubectl writes it`;
    }
    if (typeof document !== "object" || document === null) {
        return "is not a kubeconfig; allowed: a YAML mapping with clusters, contexts and users";
    }
    const config = document as Record<string, unknown>;
    const missing = ["clusters", "contexts", "users"].filter((list) => !Array.isArray(config[list]));
    if (missing.length > 0) {
        return `is not a kubeconfig: it has no ${missing.join(", ")} list; allowed: a kubeconfig, as kubectl writes it`;
    }
    return config as unknown as Kubeconfig;
}

/** The kubeconfig key's own check: empty (the ambient one), or a parseable kubeconfig. */
export const checkKubeconfig: Check = (value) => {
    if (value === "") {
        return undefined;
    }
    const parsed = parseKubeconfig(value);
    return typeof parsed === "string" ? parsed : undefined;
};

/** The context a kubeconfig deploys to: the named one, else its current one; a message when it has none. */
export function contextOf(config: Kubeconfig, name: string): KubeconfigContext | string {
    const wanted = name !== "" ? name : config["current-context"];
    if (!wanted) {
        return "names no context and the kubeconfig has no current-context; allowed: one of its contexts";
    }
    const found = config.contexts.find((entry) => entry.name === wanted);
    if (!found) {
        const names = config.contexts.map((entry) => show(entry.name)).join(", ") || "none";
        return `${show(wanted)} is not a context of the kubeconfig; allowed: ${names}`;
    }
    for (const [list, reference] of [
        ["clusters", found.context.cluster],
        ["users", found.context.user],
    ] as const) {
        if (!config[list].some((entry) => entry.name === reference)) {
            return `context ${show(wanted)} names ${list.slice(0, -1)} ${show(reference)}, which the kubeconfig lacks`;
        }
    }
    return found.context;
}

/** Keys that mean something only on Kubernetes; set elsewhere, they are reported. */
const kubernetesOnlyKeys = [
    "kubeconfig",
    "kubernetesContext",
    "kubernetesNamespace",
    "kubernetesServiceType",
    "kubernetesNodePort",
] as const;

/**
 * Keys of the Docker platforms that a Kubernetes endpoint would silently ignore: a pod spec has no
 * process limit (the kubelet's podPidsLimit sets one per node) and the kubelet rotates logs.
 */
const dockerOnlyKeys = [
    "publishMode",
    "dockerHost",
    "dockerTlsCaCertificate",
    "dockerTlsCertificate",
    "dockerTlsKey",
    "pidsLimit",
    "logMaxSizeMb",
    "logMaxFiles",
] as const;

/** The node ports a Service may take (the API server's default range). */
export const nodePortRange = { min: 30000, max: 32767 } as const;

/**
 * Kubernetes concern, across keys. Pulumi passes Pulumi.yaml's defaults to the program as set
 * values, so only a value other than the default (`defaults`) counts as set.
 */
export function validateKubernetes(
    settings: Partial<ConfigSettings>,
    defaults: Readonly<Partial<ConfigSettings>>,
    problems: ConfigProblems,
): void {
    const isSet = (key: keyof ConfigSettings) => settings[key] !== undefined && settings[key] !== defaults[key];
    if (settings.platform !== "kubernetes") {
        if (settings.platform !== undefined) {
            for (const key of kubernetesOnlyKeys.filter(isSet)) {
                problems.add(
                    key,
                    'is used only with platform "kubernetes"; allowed: remove it, or set platform to kubernetes',
                );
            }
        }
        return;
    }
    for (const key of dockerOnlyKeys.filter(isSet)) {
        problems.add(
            key,
            'is not used with platform "kubernetes" (the cluster runs the pods); allowed: remove it, or choose platform container or swarm',
        );
    }
    const name = settings.containerName;
    if (name !== undefined && !dnsLabelPattern.test(name)) {
        problems.add(
            "containerName",
            `${show(name)} cannot name a Deployment and a Service; allowed: ${dnsLabelAllowed} (platform "kubernetes")`,
        );
    }
    validateNodePort(settings, problems);
    validateContext(settings, problems);
}

function validateNodePort(settings: Partial<ConfigSettings>, problems: ConfigProblems): void {
    const port = settings.kubernetesNodePort;
    if (port === undefined || port === 0) {
        return;
    }
    if (settings.kubernetesServiceType !== undefined && settings.kubernetesServiceType !== "NodePort") {
        problems.add(
            "kubernetesNodePort",
            `is used only with kubernetesServiceType "NodePort"; allowed: 0, or set kubernetesServiceType to NodePort`,
        );
    } else if (port < nodePortRange.min || port > nodePortRange.max) {
        problems.add(
            "kubernetesNodePort",
            `${port} is outside the node port range; allowed: 0 (Kubernetes picks) or ${nodePortRange.min}-${nodePortRange.max}`,
        );
    }
}

/** A given kubeconfig must hold the context: checked here, before the provider meets it. */
function validateContext(settings: Partial<ConfigSettings>, problems: ConfigProblems): void {
    if (!settings.kubeconfig || settings.kubernetesContext === undefined) {
        return;
    }
    const parsed = parseKubeconfig(settings.kubeconfig);
    if (typeof parsed === "string") {
        return; // the kubeconfig key reported it
    }
    const context = contextOf(parsed, settings.kubernetesContext);
    if (typeof context === "string") {
        problems.add(settings.kubernetesContext === "" ? "kubeconfig" : "kubernetesContext", context);
    }
}
