import * as command from "@pulumi/command";
import * as docker from "@pulumi/docker";
import * as pulumi from "@pulumi/pulumi";
import { createHash } from "crypto";
import { containerConfigDirectory, containerListenPort, endpointFiles, nginxConfigArgs } from "../nginx/files";

export interface NginxEndpointArgs {
    /** Rendered nginx.conf. */
    readonly nginxConfig: pulumi.Input<string>;
    /** Server certificate followed by any intermediate. */
    readonly serverCertificateChainPem: pulumi.Input<string>;
    /** Server private key (secret). */
    readonly serverPrivateKeyPem: pulumi.Input<string>;
    /** CA certificates Nginx verifies clients against. */
    readonly clientTrustBundlePem: pulumi.Input<string>;
    /** CRLs for every CA in the chain; absent: no revocation check. */
    readonly certificateRevocationListPem?: pulumi.Input<string>;
    /** Directory on the Docker host that holds the files; mounted read-only into the container. */
    readonly hostDirectory: string;
    /** Nginx image reference (a registry image, or a local tag). */
    readonly image: string;
    /** Docker container name. */
    readonly containerName: string;
    /** Host address the port is published on. */
    readonly publishAddress: string;
    /** Host port. */
    readonly publishPort: number;
    /** A name the server answers to: the health check sends it as SNI. */
    readonly serverName: string;
}

/**
 * The running Nginx: files written to a host directory, a container that mounts it, and a
 * reload whenever the files change. Certificates and config change in place: the container
 * is not replaced, so open connections finish and the address stays up.
 */
export class NginxEndpoint extends pulumi.ComponentResource {
    /** Docker container ID; changes only when the container is replaced. */
    public readonly containerId: pulumi.Output<string>;
    /** Digest of the mounted files: changes whenever any file does. */
    public readonly filesDigest: pulumi.Output<string>;
    /** Changes each time Nginx is reloaded with new files. */
    public readonly reloadId: pulumi.Output<string>;

    constructor(name: string, args: NginxEndpointArgs, opts?: pulumi.ComponentResourceOptions) {
        super("mtls:nginx:NginxEndpoint", name, {}, opts);

        const fileContents = pulumi.all([
            args.nginxConfig,
            args.serverCertificateChainPem,
            args.serverPrivateKeyPem,
            args.clientTrustBundlePem,
            args.certificateRevocationListPem ?? "",
        ]);
        // Derived from the key, so it stays secret even though a digest reveals nothing.
        this.filesDigest = pulumi.secret(
            fileContents.apply((parts) => createHash("sha256").update(parts.join("\0")).digest("hex")),
        );

        const writeScript = renderWriteFilesScript(args.certificateRevocationListPem !== undefined);
        const files = new command.local.Command(
            `${name}-files`,
            {
                create: writeScript,
                update: writeScript,
                delete: renderRemoveFilesScript(),
                environment: {
                    MTLS_DIR: args.hostDirectory,
                    MTLS_NGINX_CONF: pulumi.output(args.nginxConfig),
                    MTLS_SERVER_CHAIN: pulumi.output(args.serverCertificateChainPem),
                    MTLS_SERVER_KEY: pulumi.secret(args.serverPrivateKeyPem),
                    MTLS_CLIENT_CA: pulumi.output(args.clientTrustBundlePem),
                    MTLS_CRL: pulumi.output(args.certificateRevocationListPem ?? ""),
                },
            },
            // The provider echoes inputs back as outputs; nested secrets must stay secret there too.
            { parent: this, additionalSecretOutputs: ["environment", "stdout", "stderr"] },
        );

        // keepLocally: the image belongs to the user (or to the local build), not to this stack.
        const image = new docker.RemoteImage(
            `${name}-image`,
            { name: args.image, keepLocally: true },
            { parent: this },
        );
        const nginxArgs = [...nginxConfigArgs];
        const healthProbe =
            `curl -s -o /dev/null --max-time 2 --cacert ${containerConfigDirectory}/${endpointFiles.clientTrustBundle} ` +
            `--resolve ${args.serverName}:${containerListenPort}:127.0.0.1 https://${args.serverName}:${containerListenPort}/`;
        const container = new docker.Container(
            `${name}-container`,
            {
                name: args.containerName,
                image: image.imageId,
                command: ["nginx", ...nginxArgs, "-g", "daemon off;"],
                restart: "unless-stopped",
                volumes: [{ hostPath: args.hostDirectory, containerPath: containerConfigDirectory, readOnly: true }],
                ports: [{ internal: containerListenPort, external: args.publishPort, ip: args.publishAddress }],
                // Any HTTP answer over verified TLS means Nginx is serving (without a client certificate it is 400).
                healthcheck: {
                    tests: ["CMD-SHELL", healthProbe],
                    interval: "15s",
                    timeout: "5s",
                    retries: 3,
                    startPeriod: "5s",
                },
            },
            // The name is fixed, so a new container (a new image) can only start once the old one is gone.
            { parent: this, dependsOn: [files], deleteBeforeReplace: true },
        );

        // Reload in place after any file change; check the config first so a bad one never replaces a good one.
        const reload = new command.local.Command(
            `${name}-reload`,
            {
                create: renderReloadScript(nginxArgs),
                environment: { MTLS_CONTAINER: container.name },
                triggers: [this.filesDigest, container.id],
            },
            { parent: this, dependsOn: [files] },
        );

        this.containerId = container.id;
        this.reloadId = reload.id;
        this.registerOutputs({ containerId: this.containerId, reloadId: this.reloadId });
    }
}

/** POSIX sh that writes every file atomically (temp file + rename), keys 0600. */
export function renderWriteFilesScript(withRevocationList: boolean): string {
    const write = (file: string, variable: string, mode: string): string => `write_file ${file} "$${variable}" ${mode}`;
    return [
        "set -eu",
        "umask 077",
        'mkdir -p "$MTLS_DIR"',
        'chmod 0755 "$MTLS_DIR"',
        'write_file() { tmp="$MTLS_DIR/.$1.tmp"; printf "%s" "$2" > "$tmp"; chmod "$3" "$tmp"; mv -f "$tmp" "$MTLS_DIR/$1"; }',
        write(endpointFiles.nginxConfig, "MTLS_NGINX_CONF", "0644"),
        write(endpointFiles.serverCertificateChain, "MTLS_SERVER_CHAIN", "0644"),
        write(endpointFiles.serverPrivateKey, "MTLS_SERVER_KEY", "0600"),
        write(endpointFiles.clientTrustBundle, "MTLS_CLIENT_CA", "0644"),
        withRevocationList
            ? write(endpointFiles.certificateRevocationList, "MTLS_CRL", "0644")
            : `rm -f "$MTLS_DIR/${endpointFiles.certificateRevocationList}"`,
    ].join("\n");
}

/** Removes exactly the files the endpoint wrote, then the directory if it is empty. */
export function renderRemoveFilesScript(): string {
    const names = Object.values(endpointFiles).map((file) => `"$MTLS_DIR/${file}"`);
    return ["set -eu", `rm -f ${names.join(" ")}`, 'rmdir "$MTLS_DIR" 2>/dev/null || true'].join("\n");
}

/** Waits for the master process, validates the new files, then reloads (graceful: workers finish requests). */
function renderReloadScript(nginxArgs: string[]): string {
    const nginx = `docker exec "$MTLS_CONTAINER" nginx ${nginxArgs.join(" ")}`;
    return [
        "set -eu",
        "i=0",
        'until docker exec "$MTLS_CONTAINER" test -s /run/nginx-mtls.pid; do',
        "  i=$((i + 1))",
        '  if [ "$i" -ge 100 ]; then echo "nginx in $MTLS_CONTAINER did not start" >&2; docker logs --tail 50 "$MTLS_CONTAINER" >&2; exit 1; fi',
        "  sleep 0.1",
        "done",
        `${nginx} -t -q`,
        `${nginx} -s reload`,
    ].join("\n");
}
