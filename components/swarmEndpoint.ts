import * as command from "@pulumi/command";
import * as docker from "@pulumi/docker";
import * as pulumi from "@pulumi/pulumi";

import { deliveryCommand, projectDirectory } from "../delivery/commands";
import type { CheckLimits } from "../delivery/fileSetContainer";
import { defaultHardening, type ContainerHardening } from "../nginx/container";
import { endpointFiles } from "../nginx/files";
import {
    configName,
    fileNamed,
    keySecretName,
    publicFileNames,
    serviceSpec,
    type MountedSwarmObject,
} from "../nginx/service";
import { dockerProvider, engineAddress, type DockerEngineArgs } from "./shared/engineProvider";
import { fileSetOf, type EndpointFileArgs } from "./shared/endpointFiles";

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

/** Where a resource of the endpoint goes: under the component, on the engine, after the check. */
type OnEngine = pulumi.CustomResourceOptions;

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
        const address = engineAddress(args.engine);

        const check = checkFileSet(this, name, { args, hardening, address });
        const onEngine: OnEngine = { parent: this, provider, dependsOn: [check] };
        const configs = swarmConfigs(name, args, onEngine);
        const keySecret = serverKeySecret(name, args, onEngine);
        // Configs and secrets are replaced by new ones (new names): the service moves first.
        const service = new docker.Service(
            `${name}-service`,
            serviceSpec({ ...args, hardening, configs: configs.map(mounted), keySecret: mounted(keySecret) }),
            onEngine,
        );
        const rollout = watchRollout(this, name, { args, hardening, address, configs, keySecret, service });

        this.serviceId = service.id;
        this.rolloutReport = rollout.stdout;
        this.registerOutputs({ serviceId: this.serviceId, rolloutReport: this.rolloutReport });
    }
}

/** A Swarm config or secret and the file it becomes in a task. */
interface NamedFile<T extends docker.ServiceConfig | docker.Secret> {
    readonly fileName: string;
    readonly resource: T;
}

function mounted({ fileName, resource }: NamedFile<docker.ServiceConfig | docker.Secret>): MountedSwarmObject {
    return { fileName, id: resource.id, name: resource.name };
}

/** What the file-set check needs to know of the endpoint. */
interface CheckInputs {
    readonly args: SwarmEndpointArgs;
    readonly hardening: ContainerHardening;
    readonly address: pulumi.Output<unknown>;
}

/**
 * `nginx -t` of the whole set (key included) in a throwaway container of the image, on the engine,
 * within the service's limits (delivery/checkFileSet.ts).
 */
function checkFileSet(parent: pulumi.Resource, name: string, inputs: CheckInputs): command.local.Command {
    const { args, hardening } = inputs;
    const files = fileSetOf(args, { withKey: true });
    const limits: CheckLimits = {
        capabilities: hardening.capabilities,
        memoryLimitMb: hardening.memoryLimitMb,
        pidsLimit: hardening.pidsLimit,
    };
    return new command.local.Command(
        `${name}-check`,
        {
            create: deliveryCommand("checkFileSet"),
            stdin: pulumi.secret(
                pulumi
                    .all([inputs.address, files])
                    .apply(([engine, set]) => JSON.stringify({ engine, image: args.image, files: set, limits })),
            ),
            dir: projectDirectory,
        },
        { parent, additionalSecretOutputs: ["stdin", "stdout", "stderr"] },
    );
}

/** One Swarm config per public file, named by content. */
function swarmConfigs(
    name: string,
    args: SwarmEndpointArgs,
    onEngine: OnEngine,
): Array<NamedFile<docker.ServiceConfig>> {
    // The set without the key: not secret, so config names and contents stay readable in state.
    const publicSet = fileSetOf(args, { withKey: false });
    return publicFileNames(Boolean(args.certificateRevocationListPem), Boolean(args.upstreamTrustBundlePem)).map(
        (fileName) => {
            const file = publicSet.apply((set) => fileNamed(set, fileName));
            const resource = new docker.ServiceConfig(
                `${name}-${fileName}`,
                {
                    name: file.apply((entry) => configName(args.serviceName, entry)),
                    data: file.apply((entry) => Buffer.from(entry.content).toString("base64")),
                },
                onEngine,
            );
            return { fileName, resource };
        },
    );
}

/** The server key as a Swarm secret, named after the certificate chain it serves. */
function serverKeySecret(name: string, args: SwarmEndpointArgs, onEngine: OnEngine): NamedFile<docker.Secret> {
    const fileName = endpointFiles.serverPrivateKey;
    const chain = pulumi.output(args.serverCertificateChainPem);
    const resource = new docker.Secret(
        `${name}-${fileName}`,
        {
            name: chain.apply((pem) => keySecretName(args.serviceName, pem)),
            data: pulumi.secret(
                pulumi.output(args.serverPrivateKeyPem).apply((key) => Buffer.from(key).toString("base64")),
            ),
        },
        onEngine,
    );
    return { fileName, resource };
}

/** What the rollout watch needs to know of the endpoint. */
interface RolloutInputs {
    readonly args: SwarmEndpointArgs;
    readonly hardening: ContainerHardening;
    readonly address: pulumi.Output<unknown>;
    readonly configs: ReadonlyArray<NamedFile<docker.ServiceConfig>>;
    readonly keySecret: NamedFile<docker.Secret>;
    readonly service: docker.Service;
}

/** Waits for each rollout of the service and reports how it ended (delivery/awaitRollout.ts). */
function watchRollout(parent: pulumi.Resource, name: string, inputs: RolloutInputs): command.local.Command {
    const { args, hardening, service } = inputs;
    const configNames = pulumi.all(inputs.configs.map(({ resource }) => resource.name));
    return new command.local.Command(
        `${name}-rollout`,
        {
            create: deliveryCommand("awaitRollout"),
            stdin: pulumi.secret(
                pulumi
                    .all([inputs.address, configNames, inputs.keySecret.resource.name])
                    .apply(([engine, configs, secretName]) =>
                        JSON.stringify({
                            engine,
                            service: args.serviceName,
                            timeoutSeconds: args.rolloutTimeoutSeconds ?? 300,
                            expected: {
                                image: args.image,
                                configs,
                                secrets: [secretName],
                                capabilityAdd: [...hardening.capabilities],
                                capabilityDrop: ["ALL"],
                                readOnly: hardening.readOnlyRootFilesystem,
                                // Set by the watch itself: the provider cannot (delivery/awaitRollout.ts).
                                pidsLimit: hardening.pidsLimit,
                            },
                        }),
                    ),
            ),
            dir: projectDirectory,
            // Every update of the service: each rolls it out again, and each drops the pids limit the watch sets.
            triggers: [
                service.id,
                service.taskSpec,
                service.mode,
                service.endpointSpec,
                service.updateConfig,
                service.rollbackConfig,
            ],
        },
        { parent, dependsOn: [service], additionalSecretOutputs: ["stdin", "stderr"] },
    );
}
