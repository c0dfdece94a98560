import * as command from "@pulumi/command";
import * as docker from "@pulumi/docker";
import * as pulumi from "@pulumi/pulumi";
import { createHash } from "crypto";
import * as path from "path";

import type { DeliveredFile } from "../delivery/deliverFiles";
import { defaultHardening, renderHealthProbe, writablePaths, type ContainerHardening } from "../nginx/container";
import { containerConfigDirectory, containerListenPort, endpointFiles } from "../nginx/files";
import { dockerProvider, engineAddress, type DockerEngineArgs } from "./dockerEngine";
import { fileSetOf, type EndpointFileArgs } from "./endpointFiles";

export interface SwarmEndpointArgs extends EndpointFileArgs {
    /** A Swarm manager's engine. */
    readonly engine: DockerEngineArgs;
    /** Image reference every node can run (a registry image, or a tag loaded on every node). */
    readonly image: string;
    /** Service name; configs and secrets are named after it. */
    readonly serviceName: string;
    readonly replicas: number;
    /** "ingress" (the routing mesh) or "host" (each node's own port; at most one task per node). */
    readonly publishMode: "ingress" | "host";
    readonly publishPort: number;
    /** A name the server answers to: the health check sends it as SNI. */
    readonly serverName: string;
    /** Container lockdown; default: `defaultHardening`. */
    readonly hardening?: ContainerHardening;
    /** How long `up` waits for the rollout to converge. */
    readonly rolloutTimeoutSeconds?: number;
}

/** The program that watches a rollout (see delivery/awaitRollout.ts) and the one that checks a set. */
const awaitRolloutCommand = "node --require ts-node/register/transpile-only delivery/awaitRollout.ts";
const checkFileSetCommand = "node --require ts-node/register/transpile-only delivery/checkFileSet.ts";
const projectDirectory = path.join(__dirname, "..");

/**
 * Nginx as a Docker Swarm service: the certificates, CA bundle, CRL and nginx.conf as Swarm configs
 * and the server key as a Swarm secret, each named by its content, so a change creates the new ones,
 * points the service at them, and only then removes the old ones. A new file set is checked with
 * `nginx -t` on the engine first; Swarm then replaces one task at a time, gated by the health check,
 * and rolls back by itself when the new version does not become healthy; `up` waits for the verdict.
 */
export class SwarmEndpoint extends pulumi.ComponentResource {
    /** The Swarm service ID. */
    public readonly serviceId: pulumi.Output<string>;
    /** What the rollout watcher reported (changes with each rollout). */
    public readonly rolloutReport: pulumi.Output<string>;

    constructor(name: string, args: SwarmEndpointArgs, opts?: pulumi.ComponentResourceOptions) {
        super("mtls:nginx:SwarmEndpoint", name, {}, opts);
        const hardening = args.hardening ?? defaultHardening;
        const provider = dockerProvider(`${name}-engine`, args.engine, this);
        const onEngine = { parent: this, provider };
        const address = engineAddress(args.engine);

        const files = fileSetOf(args, { withKey: true });

        const check = new command.local.Command(
            `${name}-check`,
            {
                create: checkFileSetCommand,
                stdin: pulumi.secret(
                    pulumi
                        .all([address, files])
                        .apply(([engine, set]) => JSON.stringify({ engine, image: args.image, files: set })),
                ),
                dir: projectDirectory,
            },
            { parent: this, additionalSecretOutputs: ["stdin", "stdout", "stderr"] },
        );

        // One Swarm object per file, named by content; known file names only (the set is fixed per stack shape).
        const publicFiles = [
            endpointFiles.nginxConfig,
            endpointFiles.serverCertificateChain,
            endpointFiles.clientTrustBundle,
            ...(args.certificateRevocationListPem ? [endpointFiles.certificateRevocationList, "crl-next-update"] : []),
        ];
        // The same set without the key: not secret, so config names and contents stay readable in state.
        const publicSet = fileSetOf(args, { withKey: false });
        const configs = publicFiles.map((fileName) => {
            const file = publicSet.apply((set) => fileNamed(set, fileName));
            const config = new docker.ServiceConfig(
                `${name}-${fileName}`,
                {
                    name: pulumi.interpolate`${args.serviceName}-${fileName.replace(/\./g, "-")}-${file.apply(contentId)}`,
                    data: file.apply((entry) => Buffer.from(entry.content).toString("base64")),
                },
                { ...onEngine, dependsOn: [check] },
            );
            return { fileName, config };
        });
        const key = pulumi.output(args.serverPrivateKeyPem).apply((content) => ({
            name: endpointFiles.serverPrivateKey,
            content,
            mode: 0o400,
        }));
        const keySecret = new docker.Secret(
            `${name}-${endpointFiles.serverPrivateKey}`,
            {
                name: pulumi.interpolate`${args.serviceName}-server-key-${key.apply(contentId)}`,
                data: pulumi.secret(key.apply((entry) => Buffer.from(entry.content).toString("base64"))),
            },
            { ...onEngine, dependsOn: [check] },
        );

        const directory = containerConfigDirectory;
        const service = new docker.Service(
            `${name}-service`,
            {
                name: args.serviceName,
                taskSpec: {
                    containerSpec: {
                        image: args.image,
                        commands: ["nginx", "-c", `${directory}/${endpointFiles.nginxConfig}`, "-g", "daemon off;"],
                        configs: configs.map(({ fileName, config }) => ({
                            configId: config.id,
                            configName: config.name,
                            fileName: `${directory}/${fileName}`,
                            fileMode: 0o444,
                        })),
                        // Readable by root only: the Nginx master, never its workers.
                        secrets: [
                            {
                                secretId: keySecret.id,
                                secretName: keySecret.name,
                                fileName: `${directory}/${endpointFiles.serverPrivateKey}`,
                                fileMode: 0o400,
                                fileUid: "0",
                                fileGid: "0",
                            },
                        ],
                        healthcheck: {
                            tests: ["CMD-SHELL", renderHealthProbe(args.serverName, directory)],
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
                    },
                    resources: { limits: { memoryBytes: hardening.memoryLimitMb * 1024 * 1024 } },
                    placement: args.publishMode === "host" ? { maxReplicas: 1 } : undefined,
                    restartPolicy: { condition: "any", delay: "2s", window: "0s" },
                    logDriver: {
                        name: "json-file",
                        options: {
                            "max-size": `${hardening.logMaxSizeMb}m`,
                            "max-file": String(hardening.logMaxFiles),
                        },
                    },
                },
                mode: { replicated: { replicas: args.replicas } },
                // One task at a time, health-gated; a task that is not healthy within the monitor window
                // fails the update and Swarm rolls back by itself. Stop-first: in host mode the port is
                // the node's own, so the new task can only bind once the old one is gone.
                updateConfig: {
                    parallelism: 1,
                    delay: "2s",
                    order: "stop-first",
                    failureAction: "rollback",
                    monitor: "20s",
                    maxFailureRatio: "0",
                },
                rollbackConfig: { parallelism: 1, order: "stop-first", failureAction: "pause", monitor: "20s" },
                endpointSpec: {
                    ports: [
                        {
                            targetPort: containerListenPort,
                            publishedPort: args.publishPort,
                            publishMode: args.publishMode,
                            protocol: "tcp",
                        },
                    ],
                },
            },
            // Configs and secrets are replaced by new ones (new names): the service moves first.
            { ...onEngine, dependsOn: [check] },
        );

        const rollout = new command.local.Command(
            `${name}-rollout`,
            {
                create: awaitRolloutCommand,
                stdin: pulumi.secret(
                    pulumi
                        .all([address, pulumi.all(configs.map(({ config }) => config.name)), keySecret.name])
                        .apply(([engine, configNames, secretName]) =>
                            JSON.stringify({
                                engine,
                                service: args.serviceName,
                                timeoutSeconds: args.rolloutTimeoutSeconds ?? 300,
                                expected: {
                                    image: args.image,
                                    configs: configNames,
                                    secrets: [secretName],
                                    capabilityAdd: [...hardening.capabilities],
                                    capabilityDrop: ["ALL"],
                                    readOnly: hardening.readOnlyRootFilesystem,
                                },
                            }),
                        ),
                ),
                dir: projectDirectory,
                // Every change that makes Swarm roll the service out again: the whole spec, as the engine holds it.
                triggers: [service.id, service.taskSpec, service.mode, service.endpointSpec],
            },
            { parent: this, dependsOn: [service], additionalSecretOutputs: ["stdin", "stderr"] },
        );

        this.serviceId = service.id;
        this.rolloutReport = rollout.stdout;
        this.registerOutputs({ serviceId: this.serviceId, rolloutReport: this.rolloutReport });
    }
}

function fileNamed(set: readonly DeliveredFile[], name: string): DeliveredFile {
    const file = set.find((entry) => entry.name === name);
    if (!file) {
        throw new Error(`the file set has no ${name}`);
    }
    return file;
}

/** A short content digest for an object name (Swarm configs and secrets cannot change in place). */
function contentId(file: DeliveredFile): string {
    return createHash("sha256").update(file.content).digest("hex").slice(0, 12);
}
