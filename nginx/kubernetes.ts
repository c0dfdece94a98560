/**
 * The Kubernetes objects of an endpoint, as plain data: the ConfigMap and the TLS Secret that carry
 * the file set, the pod that serves it, the Job that checks a new set with `nginx -t` before any
 * serving pod sees it, the Deployment and the Service. Pure (types only): KubernetesEndpoint passes
 * Outputs where names go, and unit tests pass strings and read the result.
 */
import type * as k8s from "@pulumi/kubernetes";
import type * as pulumi from "@pulumi/pulumi";
import { createHash } from "crypto";

import type { DeliveredFile } from "../delivery/deliverFiles";
import type { KubernetesServiceType } from "../config/types";
import { renderHealthProbe, writablePaths, type ContainerHardening } from "./container";
import { containerConfigDirectory, containerListenPort, endpointFiles } from "./files";

type PodSpec = k8s.types.input.core.v1.PodSpec;
type Container = k8s.types.input.core.v1.Container;

/** The label every object of one endpoint carries; the Service selects the pods by it. */
export const endpointLabel = "mtls-nginx.dev/endpoint";

/** What every spec is made of. */
export interface KubernetesSpecArgs {
    /** The Deployment's and the Service's name; the ConfigMap, Secret and Job are named after it. */
    readonly name: string;
    readonly namespace: string;
    readonly image: string;
    readonly replicas: number;
    /** A name the server answers to: the readiness probe sends it as SNI. */
    readonly serverName: string;
    readonly hardening: ContainerHardening;
    /** The ConfigMap (public files) and the Secret (chain and key) the pods mount. */
    readonly configMapName: pulumi.Input<string>;
    readonly secretName: pulumi.Input<string>;
}

/** The TLS Secret's two keys, as `kubernetes.io/tls` names them, and the files they become. */
export const tlsSecretFiles = {
    "tls.crt": endpointFiles.serverCertificateChain,
    "tls.key": endpointFiles.serverPrivateKey,
} as const;

/** Files that go in the Secret rather than the ConfigMap. */
const secretFileNames: readonly string[] = Object.values(tlsSecretFiles);

/** The ConfigMap's data: every file of the set but the chain and the key, by file name. */
export function configMapData(set: readonly DeliveredFile[]): Record<string, string> {
    return Object.fromEntries(
        set.filter((file) => !secretFileNames.includes(file.name)).map((file) => [file.name, file.content]),
    );
}

function digestOf(...parts: string[]): string {
    const hash = createHash("sha256");
    parts.forEach((part) => hash.update(part).update("\0"));
    return hash.digest("hex").slice(0, 10);
}

/**
 * The ConfigMap's name, from its content: a new file set is a new ConfigMap, so the pod template
 * changes and the Deployment rolls; the old one goes once nothing refers to it.
 */
export function configMapName(name: string, data: Readonly<Record<string, string>>): string {
    const parts = Object.keys(data)
        .sort()
        .flatMap((file) => [file, data[file]]);
    return `${name}-files-${digestOf(...parts)}`;
}

/**
 * The TLS Secret's name, from the chain it serves and never from the key (as the Swarm secret's):
 * a new key always comes with a new certificate.
 */
export function tlsSecretName(name: string, serverCertificateChainPem: string): string {
    return `${name}-tls-${digestOf(serverCertificateChainPem)}`;
}

/**
 * The check Job's name: one per file set (ConfigMap and Secret together) and pod (image, lockdown).
 * A Job's spec cannot change, so any change is a new Job, created before the old one goes: it
 * needs a name of its own.
 */
export function checkJobName(
    args: Pick<KubernetesSpecArgs, "name" | "image" | "hardening">,
    configMap: string,
    secret: string,
): string {
    return `${args.name}-check-${digestOf(configMap, secret, args.image, JSON.stringify(args.hardening))}`;
}

/** The labels of the endpoint's objects; `role` tells serving pods from check pods. */
export function labelsOf(name: string, role: "serve" | "check"): Record<string, string> {
    return { [endpointLabel]: name, "mtls-nginx.dev/role": role };
}

/** The file set as one directory: the ConfigMap's files, and the Secret's chain and key (root only). */
function fileSetVolume(args: KubernetesSpecArgs): k8s.types.input.core.v1.Volume {
    return {
        name: "file-set",
        projected: {
            defaultMode: 0o444,
            sources: [
                { configMap: { name: args.configMapName } },
                {
                    secret: {
                        name: args.secretName,
                        items: Object.entries(tlsSecretFiles).map(([key, path]) => ({
                            key,
                            path,
                            // Readable by root only: the Nginx master, never its workers.
                            mode: path === endpointFiles.serverPrivateKey ? 0o400 : 0o444,
                        })),
                    },
                },
            ],
        },
    };
}

/** Where Nginx writes, one memory-backed emptyDir each (the tmpfs mounts of the Docker platforms). */
function writableVolumes(hardening: ContainerHardening): k8s.types.input.core.v1.Volume[] {
    return hardening.readOnlyRootFilesystem
        ? writablePaths.map((_, index) => ({
              name: `writable-${index}`,
              emptyDir: { medium: "Memory", sizeLimit: "64Mi" },
          }))
        : [];
}

function volumeMounts(hardening: ContainerHardening): k8s.types.input.core.v1.VolumeMount[] {
    return [
        { name: "file-set", mountPath: containerConfigDirectory, readOnly: true },
        ...(hardening.readOnlyRootFilesystem
            ? writablePaths.map((mountPath, index) => ({ name: `writable-${index}`, mountPath }))
            : []),
    ];
}

/**
 * The container's lockdown, as the Docker platforms apply it: every capability dropped but the kept
 * ones, no privilege escalation, a read-only root, a memory limit. It runs as root, as there: the
 * master reads the key (0400) and binds 443, then its workers switch to nobody.
 */
export function containerSecurityContext(hardening: ContainerHardening): k8s.types.input.core.v1.SecurityContext {
    return {
        capabilities: { drop: ["ALL"], add: [...hardening.capabilities] },
        allowPrivilegeEscalation: !hardening.noNewPrivileges,
        readOnlyRootFilesystem: hardening.readOnlyRootFilesystem,
        privileged: false,
        runAsUser: 0,
        seccompProfile: { type: "RuntimeDefault" },
    };
}

function nginxContainer(args: KubernetesSpecArgs, command: string[]): Container {
    const memory = `${args.hardening.memoryLimitMb}Mi`;
    return {
        name: "nginx",
        image: args.image,
        imagePullPolicy: "IfNotPresent",
        command,
        ports: [{ name: "https", containerPort: containerListenPort, protocol: "TCP" }],
        securityContext: containerSecurityContext(args.hardening),
        resources: { limits: { memory }, requests: { memory, cpu: "50m" } },
        volumeMounts: volumeMounts(args.hardening),
    };
}

const nginxConfigPath = `${containerConfigDirectory}/${endpointFiles.nginxConfig}`;

/** The pod settings every pod of the endpoint shares: no API token, no service links, the volumes. */
function podBase(args: KubernetesSpecArgs): Omit<PodSpec, "containers"> {
    return {
        automountServiceAccountToken: false,
        enableServiceLinks: false,
        securityContext: { seccompProfile: { type: "RuntimeDefault" } },
        volumes: [fileSetVolume(args), ...writableVolumes(args.hardening)],
    };
}

/** How long a terminating pod keeps serving before Nginx is told to quit (within the 30 s grace). */
export const drainSeconds = 10;

/**
 * A serving pod: Nginx in the foreground, ready once the readiness probe (no client certificate;
 * renderHealthProbe) passes. On the way out it keeps serving a few seconds, while the Service stops
 * sending it new connections, so a rollout fails no request.
 */
export function servingPodSpec(args: KubernetesSpecArgs): PodSpec {
    const container = nginxContainer(args, ["nginx", "-c", nginxConfigPath, "-g", "daemon off;"]);
    const probe = { exec: { command: ["sh", "-c", renderHealthProbe(args.serverName, containerConfigDirectory)] } };
    return {
        ...podBase(args),
        terminationGracePeriodSeconds: 30,
        containers: [
            {
                ...container,
                readinessProbe: { ...probe, periodSeconds: 2, timeoutSeconds: 3, failureThreshold: 2 },
                livenessProbe: {
                    ...probe,
                    initialDelaySeconds: 10,
                    periodSeconds: 10,
                    timeoutSeconds: 3,
                    failureThreshold: 3,
                },
                // Nginx keeps serving while the Service drops the pod: kube-proxy's rules follow the
                // endpoints asynchronously. 5 s was once too short on a loaded 2-core node (a request
                // sent to a pod already gone timed out, 1 in 3,631, e2e kubernetes rotation).
                lifecycle: { preStop: { exec: { command: ["sleep", String(drainSeconds)] } } },
            },
        ],
    };
}

/** How long a rollout may go without progress before the Deployment reports it failed. */
export const progressDeadlineSeconds = 120;

/** The Deployment: new pods first (maxUnavailable 0), each ready before an old one goes. */
export function deploymentSpec(args: KubernetesSpecArgs): k8s.types.input.apps.v1.DeploymentSpec {
    const labels = labelsOf(args.name, "serve");
    return {
        replicas: args.replicas,
        selector: { matchLabels: labels },
        strategy: { type: "RollingUpdate", rollingUpdate: { maxUnavailable: 0, maxSurge: 1 } },
        minReadySeconds: 2,
        progressDeadlineSeconds,
        revisionHistoryLimit: 3,
        template: { metadata: { labels }, spec: servingPodSpec(args) },
    };
}

/** The check Job: `nginx -t` of the new file set, in a pod like the serving ones, once, before they see it. */
export function checkJobSpec(args: KubernetesSpecArgs): k8s.types.input.batch.v1.JobSpec {
    return {
        backoffLimit: 0,
        activeDeadlineSeconds: 120,
        template: {
            metadata: { labels: labelsOf(args.name, "check") },
            spec: {
                ...podBase(args),
                restartPolicy: "Never",
                containers: [nginxContainer(args, ["nginx", "-t", "-c", nginxConfigPath])],
            },
        },
    };
}

/** What the Service is made of. */
export interface ServiceSpecArgs {
    readonly name: string;
    readonly type: KubernetesServiceType;
    readonly port: number;
    /** NodePort only; 0: Kubernetes picks one. */
    readonly nodePort: number;
}

/** The Service in front of the serving pods (never the check pods). */
export function serviceSpec(args: ServiceSpecArgs): k8s.types.input.core.v1.ServiceSpec {
    return {
        type: args.type,
        selector: labelsOf(args.name, "serve"),
        ports: [
            {
                name: "https",
                protocol: "TCP",
                port: args.port,
                targetPort: "https",
                ...(args.type === "NodePort" && args.nodePort !== 0 ? { nodePort: args.nodePort } : {}),
            },
        ],
    };
}
