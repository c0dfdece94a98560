import * as command from "@pulumi/command";
import * as docker from "@pulumi/docker";
import * as pulumi from "@pulumi/pulumi";

import type { VolumeClaim } from "../delivery/claimVolume";
import { deliveryCommand, projectDirectory } from "../delivery/commands";
import type { DeliveryRequest } from "../delivery/deliverFiles";
import {
    defaultHardening,
    renderHealthProbe,
    tmpfsOptions,
    waitForLiveConfig,
    writablePaths,
    type ContainerHardening,
} from "../nginx/container";
import { containerConfigDirectory, containerListenPort, nginxPidFile } from "../nginx/files";
import { dockerProvider, engineAddress, type DockerEngineArgs } from "./shared/engineProvider";
import { fileSetOf, type EndpointFileArgs } from "./shared/endpointFiles";

export interface NginxEndpointArgs extends EndpointFileArgs {
    /** The Docker engine to run on. */
    readonly engine: DockerEngineArgs;
    /** Nginx image reference (a registry image, or a local tag). */
    readonly image: string;
    /** Docker container name; the files volume is named after it. */
    readonly containerName: string;
    /** Host address the port is published on. */
    readonly publishAddress: string;
    /** Host port. */
    readonly publishPort: number;
    /** A name the server answers to: the health check sends it as SNI. */
    readonly serverName: string;
    /** Container lockdown; default: `defaultHardening`. */
    readonly hardening?: ContainerHardening;
}

/**
 * The running Nginx: a container with a files volume, and the file set handed to it through the
 * Docker API (never through the deploying machine's disk). A new set is checked with `nginx -t`
 * before Nginx switches to it with a reload, so certificates change in place: the container is
 * not replaced, open connections finish, and a set Nginx rejects never becomes live.
 */
export class NginxEndpoint extends pulumi.ComponentResource {
    /** Docker container ID; changes only when the container is replaced. */
    public readonly containerId: pulumi.Output<string>;
    /** The files volume's name. */
    public readonly filesVolume: pulumi.Output<string>;
    /** Changes each time a new file set goes live (the delivery's report, which names the set). */
    public readonly reloadId: pulumi.Output<string>;

    constructor(name: string, args: NginxEndpointArgs, opts?: pulumi.ComponentResourceOptions) {
        super("mtls:nginx:NginxEndpoint", name, {}, opts);
        const hardening = args.hardening ?? defaultHardening;
        const onEngine = { parent: this, provider: dockerProvider(`${name}-engine`, args.engine, this) };
        const volume = this.claimedVolume(name, args, onEngine);
        // keepLocally: the image belongs to the user (or to the local build), not to this stack.
        const image = new docker.RemoteImage(`${name}-image`, { name: args.image, keepLocally: true }, onEngine);
        const container = this.container(name, args, hardening, image.imageId, volume.name, onEngine);
        const request = deliveryRequestOf(args, hardening, container.name);
        const delivery = this.delivery(name, request, container.id);
        this.repairDrift(request, delivery.stdout);

        this.containerId = container.id;
        this.filesVolume = volume.name;
        this.reloadId = pulumi.unsecret(delivery.stdout);
        this.registerOutputs({ containerId: this.containerId, filesVolume: this.filesVolume, reloadId: this.reloadId });
    }

    /** The files volume, claimed first: Docker would hand back someone else's volume of that name. */
    private claimedVolume(
        name: string,
        args: NginxEndpointArgs,
        onEngine: pulumi.CustomResourceOptions,
    ): docker.Volume {
        const volumeName = `${args.containerName}-files`;
        const claim: pulumi.Input<VolumeClaim> = engineAddress(args.engine).apply((engine) => ({
            engine: engine as VolumeClaim["engine"],
            volume: volumeName,
            label: ownerLabel,
            owner: args.containerName,
        }));
        const claimed = new command.local.Command(
            `${name}-files-claim`,
            {
                create: deliveryCommand("claimVolume"),
                stdin: pulumi.secret(pulumi.output(claim).apply((value) => JSON.stringify(value))),
                dir: projectDirectory,
            },
            { parent: this, additionalSecretOutputs: ["stdin"] },
        );
        return new docker.Volume(
            `${name}-files`,
            { name: volumeName, labels: [{ label: ownerLabel, value: args.containerName }] },
            { ...onEngine, dependsOn: [claimed] },
        );
    }

    /** The hardened container: the files read-only, Nginx started once a set is live (and the pids limit on). */
    private container(
        name: string,
        args: NginxEndpointArgs,
        hardening: ContainerHardening,
        imageId: pulumi.Input<string>,
        volumeName: pulumi.Input<string>,
        onEngine: pulumi.CustomResourceOptions,
    ): docker.Container {
        return new docker.Container(
            `${name}-container`,
            {
                name: args.containerName,
                image: imageId,
                // Nginx starts once the first file set is live; after a restart it is there at once.
                command: ["sh", "-c", waitForLiveConfig],
                restart: "unless-stopped",
                // Read-only: Nginx never writes its files; a writer container does (delivery/deliverFiles.ts).
                volumes: [{ volumeName, containerPath: containerConfigDirectory, readOnly: true }],
                ports: [{ internal: containerListenPort, external: args.publishPort, ip: args.publishAddress }],
                healthcheck: {
                    tests: ["CMD-SHELL", renderHealthProbe(args.serverName)],
                    interval: "15s",
                    timeout: "5s",
                    retries: 3,
                    startPeriod: "5s",
                },
                ...containerLockdown(hardening),
            },
            // The name is fixed, so a new container (a new image) can only start once the old one is gone.
            { ...onEngine, deleteBeforeReplace: true },
        );
    }

    /** Hands the file set to the container; a new container starts with whatever its volume holds: again then. */
    private delivery(
        name: string,
        request: pulumi.Output<DeliveryRequest>,
        containerId: pulumi.Output<string>,
    ): command.local.Command {
        return new command.local.Command(
            `${name}-delivery`,
            {
                create: deliveryCommand("deliverFiles"),
                // Keys travel on stdin, never in argv, the environment or a file.
                stdin: pulumi.secret(request.apply((value) => JSON.stringify(value))),
                dir: projectDirectory,
                triggers: [containerId],
            },
            // The provider echoes inputs back as outputs; the keys on stdin must stay secret there too.
            { parent: this, additionalSecretOutputs: ["stdin", "stdout", "stderr"] },
        );
    }

    /** A file changed by hand in the volume is not drift Pulumi can see: compare and repair at each up. */
    private repairDrift(request: pulumi.Output<DeliveryRequest>, deliveredAs: pulumi.Output<string>): void {
        if (pulumi.runtime.isDryRun()) {
            return;
        }
        const repair = command.local.runOutput(
            {
                command: deliveryCommand("deliverFiles", "--restore-if-changed"),
                stdin: pulumi.secret(
                    pulumi
                        .all([request, deliveredAs])
                        .apply(([value, set]) => JSON.stringify({ ...value, deliveredAs: set })),
                ),
                dir: projectDirectory,
            },
            { parent: this },
        );
        repair.stdout.apply((report) => {
            if (report.startsWith("restored")) {
                void pulumi.log.warn(`the endpoint's files had been changed by hand; ${report}`, this);
            }
        });
    }
}

/** What the delivery program is handed (keys included: it travels on stdin only). */
function deliveryRequestOf(
    args: NginxEndpointArgs,
    hardening: ContainerHardening,
    containerName: pulumi.Output<string>,
): pulumi.Output<DeliveryRequest> {
    return pulumi.all([engineAddress(args.engine), fileSetOf(args, { withKey: true }), containerName]).apply(
        ([engine, files, container]): DeliveryRequest => ({
            engine: engine as DeliveryRequest["engine"],
            container,
            directory: containerConfigDirectory,
            files,
            pidFile: nginxPidFile,
            pidsLimit: hardening.pidsLimit,
            limits: {
                capabilities: hardening.capabilities,
                memoryLimitMb: hardening.memoryLimitMb,
                pidsLimit: hardening.pidsLimit,
            },
        }),
    );
}

/** The label that marks the files volume as this stack's (its value: the container's name). */
const ownerLabel = "mtls-nginx.owner";

function containerLockdown(hardening: ContainerHardening): Partial<docker.ContainerArgs> {
    return {
        // Docker reports capabilities with the CAP_ prefix: give them so, or every refresh reads a change.
        capabilities: { drops: ["ALL"], adds: hardening.capabilities.map((capability) => `CAP_${capability}`) },
        securityOpts: hardening.noNewPrivileges ? ["no-new-privileges:true"] : [],
        readOnly: hardening.readOnlyRootFilesystem,
        tmpfs: hardening.readOnlyRootFilesystem
            ? Object.fromEntries(writablePaths.map((writable) => [writable, tmpfsOptions]))
            : undefined,
        memory: hardening.memoryLimitMb,
        // Equal to memory: no swap on top (Docker would otherwise report twice the limit, a diff every run).
        memorySwap: hardening.memoryLimitMb,
        logDriver: "json-file",
        logOpts: { "max-size": `${hardening.logMaxSizeMb}m`, "max-file": String(hardening.logMaxFiles) },
    };
}
