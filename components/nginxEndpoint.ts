import * as command from "@pulumi/command";
import * as docker from "@pulumi/docker";
import * as pulumi from "@pulumi/pulumi";
import * as path from "path";

import type { DeliveredFile, DeliveryRequest } from "../delivery/deliverFiles";
import {
    containerConfigDirectory,
    containerListenPort,
    endpointFiles,
    liveConfigPath,
    liveFileSet,
    nginxPidFile,
} from "../nginx/files";
import { dockerProvider, engineAddress, type DockerEngineArgs } from "./dockerEngine";

/** How far the container is locked down; each item can be relaxed by stack config. */
export interface ContainerHardening {
    /** Linux capabilities kept (all others are dropped). */
    readonly capabilities: readonly string[];
    readonly noNewPrivileges: boolean;
    /** Root filesystem read-only, with tmpfs where Nginx writes. */
    readonly readOnlyRootFilesystem: boolean;
    readonly memoryLimitMb: number;
    readonly pidsLimit: number;
    /** Docker json-file log rotation. */
    readonly logMaxSizeMb: number;
    readonly logMaxFiles: number;
}

/** What the hardened container keeps by default: Nginx's master binds 443, then switches workers to nobody. */
export const defaultHardening: ContainerHardening = {
    capabilities: ["CHOWN", "NET_BIND_SERVICE", "SETGID", "SETUID"],
    noNewPrivileges: true,
    readOnlyRootFilesystem: true,
    memoryLimitMb: 256,
    pidsLimit: 256,
    logMaxSizeMb: 10,
    logMaxFiles: 3,
};

/** Where Nginx writes at run time (pid file, temp files in Debian's and the official images' places). */
const writablePaths = ["/run", "/tmp", "/var/lib/nginx", "/var/cache/nginx"];

export interface NginxEndpointArgs {
    /** Rendered nginx.conf (names the other files relative to itself). */
    readonly nginxConfig: pulumi.Input<string>;
    /** Server certificate followed by any intermediate. */
    readonly serverCertificateChainPem: pulumi.Input<string>;
    /** Server private key (secret). */
    readonly serverPrivateKeyPem: pulumi.Input<string>;
    /** CA certificates Nginx verifies clients against. */
    readonly clientTrustBundlePem: pulumi.Input<string>;
    /** CRLs for every CA in the chain; absent: no revocation check. */
    readonly certificateRevocationListPem?: pulumi.Input<string>;
    /** When the CRLs must be replaced (ISO time); the health check turns red after it. */
    readonly certificateRevocationListNextUpdate?: pulumi.Input<string>;
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
        const provider = dockerProvider(`${name}-engine`, args.engine, this);
        const onEngine = { parent: this, provider };

        const volume = new docker.Volume(
            `${name}-files`,
            { name: `${args.containerName}-files`, labels: [{ label: "mtls-nginx.owner", value: args.containerName }] },
            onEngine,
        );
        // keepLocally: the image belongs to the user (or to the local build), not to this stack.
        const image = new docker.RemoteImage(`${name}-image`, { name: args.image, keepLocally: true }, onEngine);
        const container = new docker.Container(
            `${name}-container`,
            {
                name: args.containerName,
                image: image.imageId,
                // Nginx starts once the first file set is live; after a restart it is there at once.
                command: ["sh", "-c", waitForLiveConfig],
                restart: "unless-stopped",
                volumes: [{ volumeName: volume.name, containerPath: containerConfigDirectory }],
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

        const files = pulumi
            .all([
                args.nginxConfig,
                args.serverCertificateChainPem,
                args.serverPrivateKeyPem,
                args.clientTrustBundlePem,
                args.certificateRevocationListPem ?? "",
                args.certificateRevocationListNextUpdate ?? "",
            ])
            .apply(([config, chain, key, bundle, crl, crlNextUpdate]) =>
                fileSet(config, chain, key, bundle, crl, crlNextUpdate),
            );
        const request = pulumi
            .all([engineAddress(args.engine), files, container.name])
            .apply(([engine, fileList, containerName]): DeliveryRequest => {
                return {
                    engine: engine as DeliveryRequest["engine"],
                    container: containerName,
                    directory: containerConfigDirectory,
                    files: fileList,
                    pidFile: nginxPidFile,
                    pidsLimit: hardening.pidsLimit,
                };
            });
        const delivery = new command.local.Command(
            `${name}-delivery`,
            {
                create: deliverCommand,
                // Keys travel on stdin, never in argv, the environment or a file.
                stdin: pulumi.secret(request.apply((value) => JSON.stringify(value))),
                dir: projectDirectory,
                // A new container starts with whatever its volume holds: hand it the files again.
                triggers: [container.id],
            },
            // The provider echoes inputs back as outputs; the keys on stdin must stay secret there too.
            { parent: this, additionalSecretOutputs: ["stdin", "stdout", "stderr"] },
        );

        this.containerId = container.id;
        this.filesVolume = volume.name;
        this.reloadId = pulumi.unsecret(delivery.stdout);
        this.registerOutputs({ containerId: this.containerId, filesVolume: this.filesVolume, reloadId: this.reloadId });
    }
}

/** The project's root: the delivery program lives there (delivery/deliverFiles.ts). */
const projectDirectory = path.join(__dirname, "..");

/** Runs the delivery program with the project's ts-node (transpile only: `npm test` type-checks it). */
const deliverCommand = "node --require ts-node/register/transpile-only delivery/deliverFiles.ts";

/** PID 1 until the first file set is live, then Nginx itself (exec), in the foreground. */
const waitForLiveConfig = [
    `until [ -s ${liveConfigPath} ]; do sleep 0.2; done`,
    `exec nginx -c ${liveConfigPath} -g 'daemon off;'`,
].join("; ");

/** The files of one set, with the modes Nginx needs: the key readable by the master (root) only. */
export function fileSet(
    nginxConfig: string,
    serverChainPem: string,
    serverKeyPem: string,
    trustBundlePem: string,
    crlPem: string,
    crlNextUpdate: string,
): DeliveredFile[] {
    const files: DeliveredFile[] = [
        { name: endpointFiles.nginxConfig, content: nginxConfig, mode: 0o644 },
        { name: endpointFiles.serverCertificateChain, content: serverChainPem, mode: 0o644 },
        { name: endpointFiles.serverPrivateKey, content: serverKeyPem, mode: 0o600 },
        { name: endpointFiles.clientTrustBundle, content: trustBundlePem, mode: 0o644 },
    ];
    if (crlPem) {
        files.push({ name: endpointFiles.certificateRevocationList, content: crlPem, mode: 0o644 });
    }
    if (crlNextUpdate) {
        const seconds = Math.floor(Date.parse(crlNextUpdate) / 1000);
        files.push({ name: crlNextUpdateFile, content: `${seconds}\n`, mode: 0o644 });
    }
    return files;
}

/** Seconds since the epoch at which the live CRLs expire: the health check reads it. */
export const crlNextUpdateFile = "crl-next-update";

/**
 * The container health check, with no client certificate: the live server chain must verify
 * against the live CA bundle for the server's name (a broken chain, an expired certificate or a
 * key Nginx could not load all fail the handshake), and the live CRLs must not have expired
 * (Nginx would then refuse every client). Any HTTP answer after that is fine: 400 is expected.
 */
export function renderHealthProbe(serverName: string): string {
    const live = `${containerConfigDirectory}/${liveFileSet}`;
    return [
        `next_update=$(cat ${live}/${crlNextUpdateFile} 2>/dev/null || echo 0)`,
        `{ [ "$next_update" -eq 0 ] || [ "$(date +%s)" -lt "$next_update" ]; }`,
        `curl -s -o /dev/null --max-time 2 --cacert ${live}/${endpointFiles.clientTrustBundle} ` +
            `--resolve ${serverName}:${containerListenPort}:127.0.0.1 https://${serverName}:${containerListenPort}/`,
    ].join(" && ");
}

/** Docker container settings for a hardening level. */
function containerLockdown(hardening: ContainerHardening): Partial<docker.ContainerArgs> {
    return {
        capabilities: { drops: ["ALL"], adds: [...hardening.capabilities] },
        securityOpts: hardening.noNewPrivileges ? ["no-new-privileges:true"] : [],
        readOnly: hardening.readOnlyRootFilesystem,
        tmpfs: hardening.readOnlyRootFilesystem
            ? Object.fromEntries(writablePaths.map((writable) => [writable, "rw,nosuid,nodev,size=64m"]))
            : undefined,
        memory: hardening.memoryLimitMb,
        // Equal to memory: no swap on top (Docker would otherwise report twice the limit, a diff every run).
        memorySwap: hardening.memoryLimitMb,
        logDriver: "json-file",
        logOpts: { "max-size": `${hardening.logMaxSizeMb}m`, "max-file": String(hardening.logMaxFiles) },
    };
}
