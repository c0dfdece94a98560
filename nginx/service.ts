/**
 * The Swarm service, as plain data: the spec the Docker provider takes, the Swarm configs and the
 * secret it mounts, and how they are named. Pure (no Pulumi values, types only): SwarmEndpoint
 * passes Outputs where Swarm IDs and names go, and unit tests pass strings and read the result.
 */
import type * as docker from "@pulumi/docker";
import type * as pulumi from "@pulumi/pulumi";
import { createHash } from "crypto";

import type { DeliveredFile } from "../delivery/deliverFiles";
import { crlNextUpdateFile, renderHealthProbe, writablePaths, type ContainerHardening } from "./container";
import { containerConfigDirectory, containerListenPort, endpointFiles } from "./files";

/** A Swarm config or secret as a task mounts it: its ID and name, and the file it becomes. */
export interface MountedSwarmObject {
    readonly fileName: string;
    readonly id: pulumi.Input<string>;
    readonly name: pulumi.Input<string>;
}

/** What the service spec is made of. */
export interface ServiceSpecArgs {
    readonly serviceName: string;
    readonly image: string;
    readonly replicas: number;
    /** "ingress" (the routing mesh) or "host" (each node's own port; at most one task per node). */
    readonly publishMode: "ingress" | "host";
    readonly publishPort: number;
    /** A name the server answers to: the health check sends it as SNI. */
    readonly serverName: string;
    readonly hardening: ContainerHardening;
    /** The public files, one Swarm config each. */
    readonly configs: readonly MountedSwarmObject[];
    /** The server key, the one Swarm secret. */
    readonly keySecret: MountedSwarmObject;
}

/** The files that become Swarm configs (the key aside), in a fixed order: the set is fixed per stack shape. */
export function publicFileNames(withRevocationList: boolean, withUpstreamTrustBundle = false): string[] {
    return [
        endpointFiles.nginxConfig,
        endpointFiles.serverCertificateChain,
        endpointFiles.clientTrustBundle,
        ...(withRevocationList ? [endpointFiles.certificateRevocationList, crlNextUpdateFile] : []),
        ...(withUpstreamTrustBundle ? [endpointFiles.upstreamTrustBundle] : []),
    ];
}

export function fileNamed(set: readonly DeliveredFile[], name: string): DeliveredFile {
    const file = set.find((entry) => entry.name === name);
    if (!file) {
        throw new Error(`the file set has no ${name}`);
    }
    return file;
}

/** A short content digest for an object name (Swarm configs and secrets cannot change in place). */
export function contentId(file: DeliveredFile): string {
    return digestOf(file.content);
}

function digestOf(text: string): string {
    return createHash("sha256").update(text).digest("hex").slice(0, 12);
}

/** A config's name: the service's, the file's (dots as dashes) and its content's. */
export function configName(serviceName: string, file: DeliveredFile): string {
    return `${serviceName}-${file.name.replace(/\./g, "-")}-${contentId(file)}`;
}

/**
 * The server key secret's name, from the certificate chain it serves and never from the key: the
 * same digest as the chain's config. A new key always comes with a new certificate, so each key gets
 * a name of its own (Swarm secrets are immutable); a key that does not match its chain never gets
 * that far, since `nginx -t` refuses the set before any Swarm object is written.
 */
export function keySecretName(serviceName: string, serverCertificateChainPem: string): string {
    return `${serviceName}-server-key-${digestOf(serverCertificateChainPem)}`;
}

/**
 * One task at a time, health-gated; a task that is not healthy within the monitor window fails
 * the update and Swarm rolls back by itself. Stop-first: in host mode the port is the node's own,
 * so the new task can only bind once the old one is gone.
 */
export const updateConfig: docker.types.input.ServiceUpdateConfig = {
    parallelism: 1,
    delay: "2s",
    order: "stop-first",
    failureAction: "rollback",
    monitor: "20s",
    maxFailureRatio: "0",
};

export const rollbackConfig: docker.types.input.ServiceRollbackConfig = {
    parallelism: 1,
    order: "stop-first",
    failureAction: "pause",
    monitor: "20s",
};

/** The whole service, as the Docker provider's `Service` takes it. */
export function serviceSpec(spec: ServiceSpecArgs): docker.ServiceArgs {
    return {
        name: spec.serviceName,
        taskSpec: taskSpec(spec),
        mode: { replicated: { replicas: spec.replicas } },
        updateConfig,
        rollbackConfig,
        endpointSpec: {
            ports: [
                {
                    targetPort: containerListenPort,
                    publishedPort: spec.publishPort,
                    publishMode: spec.publishMode,
                    protocol: "tcp",
                },
            ],
        },
    };
}

/** A task: the container, its limits, where it may run, how it restarts and logs. */
export function taskSpec(spec: ServiceSpecArgs): docker.types.input.ServiceTaskSpec {
    const { hardening } = spec;
    return {
        containerSpec: containerSpec(spec),
        resources: { limits: { memoryBytes: hardening.memoryLimitMb * 1024 * 1024 } },
        placement: spec.publishMode === "host" ? { maxReplicas: 1 } : undefined,
        restartPolicy: { condition: "any", delay: "2s", window: "0s" },
        logDriver: {
            name: "json-file",
            options: {
                "max-size": `${hardening.logMaxSizeMb}m`,
                "max-file": String(hardening.logMaxFiles),
            },
        },
    };
}

/** The Nginx container of a task: its files as configs and a secret, its health check, its lockdown. */
export function containerSpec(spec: ServiceSpecArgs): docker.types.input.ServiceTaskSpecContainerSpec {
    const { hardening } = spec;
    const directory = containerConfigDirectory;
    return {
        image: spec.image,
        commands: ["nginx", "-c", `${directory}/${endpointFiles.nginxConfig}`, "-g", "daemon off;"],
        configs: spec.configs.map((config) => ({
            configId: config.id,
            configName: config.name,
            fileName: `${directory}/${config.fileName}`,
            fileMode: 0o444,
        })),
        // Readable by root only: the Nginx master, never its workers.
        secrets: [
            {
                secretId: spec.keySecret.id,
                secretName: spec.keySecret.name,
                fileName: `${directory}/${spec.keySecret.fileName}`,
                fileMode: 0o400,
                fileUid: "0",
                fileGid: "0",
            },
        ],
        healthcheck: {
            tests: ["CMD-SHELL", renderHealthProbe(spec.serverName, directory)],
            interval: "5s",
            timeout: "3s",
            retries: 3,
            startPeriod: "5s",
        },
        readOnly: hardening.readOnlyRootFilesystem,
        mounts: hardening.readOnlyRootFilesystem
            ? writablePaths.map((target) => ({
                  target,
                  type: "tmpfs",
                  tmpfsOptions: { sizeBytes: 64 * 1024 * 1024 },
              }))
            : [],
        capDrops: ["ALL"],
        capAdds: [...hardening.capabilities],
        stopGracePeriod: "10s",
        // Set, even empty: the engine reports them, and an unset map reads as a change every run.
        env: {},
        sysctl: {},
    };
}
