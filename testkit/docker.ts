/**
 * Docker helpers for the integration tier and the bench: preflight, and Nginx containers started
 * the way the endpoint component starts them (config directory mounted read-only, port published
 * on 127.0.0.1 only, `nginx -c <mounted nginx.conf>`).
 */
import { spawnSync } from "child_process";

import * as fs from "fs";
import * as path from "path";

import { containerConfigDirectory, containerListenPort, endpointFiles, nginxConfigArgs } from "../nginx/files";
import { freePort } from "./ports";
import { tlsRequest } from "./tls";

/** The locally built image (scripts/build-nginx-image.sh); same override as the build script. */
export const testImage = process.env.MTLS_NGINX_IMAGE ?? "mtls-nginx/nginx:trixie-local";

/** Label on every container this tier starts; its value is the owning test process id. */
const ownerLabel = "mtls-nginx.integration-test";

/** `docker run` arguments that mark a container as this test process's: a killed run's are removed by the next. */
export function ownedByThisRun(): string[] {
    return ["--label", `${ownerLabel}=${process.pid}`];
}

const setupHint = "run `npm run setup` (scripts/setup-docker.sh starts dockerd and builds the image)";

export interface CommandResult {
    readonly status: number | null;
    readonly stdout: string;
    readonly stderr: string;
}

export function docker(args: readonly string[], timeoutMs = 60_000): CommandResult {
    const result = spawnSync("docker", args, { encoding: "utf8", timeout: timeoutMs });
    if (result.error) {
        return { status: null, stdout: "", stderr: String(result.error) };
    }
    return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

/** Fails loudly, never skips, when Docker or the image is not there. */
export function assertDockerReady(): void {
    const info = docker(["info", "--format", "{{.ServerVersion}}"], 15_000);
    if (info.status !== 0 || info.stdout.trim() === "") {
        throw new Error(
            `The integration tier needs a Docker daemon, and none answers (${info.stderr.trim() || "no output"}). ` +
                `To fix: ${setupHint}.`,
        );
    }
    const image = docker(["image", "inspect", "--format", "{{.Id}}", testImage]);
    if (image.status !== 0) {
        throw new Error(`The integration tier needs the image ${testImage}, which is missing. To fix: ${setupHint}.`);
    }
    removeOrphanedContainers();
}

/** Removes containers left by earlier test processes that died before their after-hooks ran. */
function removeOrphanedContainers(): void {
    const listed = docker([
        "ps",
        "-a",
        "--filter",
        `label=${ownerLabel}`,
        "--format",
        `{{.ID}} {{.Label "${ownerLabel}"}}`,
    ]);
    for (const line of listed.stdout.split("\n").filter(Boolean)) {
        const [id, owner] = line.split(" ");
        if (!isProcessAlive(Number(owner))) {
            docker(["rm", "-f", id]);
        }
    }
}

function isProcessAlive(pid: number): boolean {
    if (!Number.isInteger(pid) || pid <= 0) {
        return false;
    }
    try {
        process.kill(pid, 0);
        return true;
    } catch {
        return false;
    }
}

/** Names the container resolves through its /etc/hosts (upstreams named by DNS, with no DNS server here). */
export type ExtraHosts = Readonly<Record<string, string>>;

const hostArgs = (hosts: ExtraHosts = {}): string[] =>
    Object.entries(hosts).flatMap(([name, address]) => ["--add-host", `${name}:${address}`]);

/** `nginx -t` on the mounted config, in a throwaway container of the image. */
export function nginxConfigTest(hostDirectory: string, hosts?: ExtraHosts): CommandResult {
    // prettier-ignore
    return docker([
        "run", "--rm", "--network", "none", "--label", `${ownerLabel}=${process.pid}`, ...hostArgs(hosts),
        "-v", `${hostDirectory}:${containerConfigDirectory}:ro`,
        testImage, "nginx", "-t", ...nginxConfigArgs,
    ]);
}

export interface RunningEndpoint {
    readonly name: string;
    readonly port: number;
}

const started = new Set<string>();

/** Starts Nginx on the mounted directory, published on 127.0.0.1:<free port>. */
export async function startEndpoint(
    hostDirectory: string,
    nameHint: string,
    hosts?: ExtraHosts,
): Promise<RunningEndpoint> {
    for (let attempt = 1; ; attempt++) {
        const port = await freePort();
        const name = `mtls-nginx-it-${process.pid}-${nameHint}-${Math.random().toString(36).slice(2, 8)}`;
        started.add(name);
        // prettier-ignore
        const result = docker([
            "run", "-d", "--name", name, "--label", `${ownerLabel}=${process.pid}`, ...hostArgs(hosts),
            "-v", `${hostDirectory}:${containerConfigDirectory}:ro`,
            "-p", `127.0.0.1:${port}:${containerListenPort}`,
            testImage, "nginx", ...nginxConfigArgs, "-g", "daemon off;",
        ]);
        if (result.status === 0) {
            return { name, port };
        }
        removeContainer(name);
        if (attempt >= 3 || !/address already in use|port is already allocated/i.test(result.stderr)) {
            throw new Error(`docker run failed: ${result.stderr.trim()}`);
        }
    }
}

/** The files one endpoint serves, under the names the rendered nginx.conf uses. */
export interface TestFileSet {
    readonly nginxConfig: string;
    readonly serverChainPem: string;
    readonly serverKeyPem: string;
    readonly clientTrustBundlePem: string;
    /** Written (as crl.pem) only when given. */
    readonly crlPem?: string;
}

/** Writes a file set into `directory` (made when missing): the key mode 0600, nginx.conf last, as a delivery writes it. */
export function writeFileSet(directory: string, files: TestFileSet): void {
    fs.mkdirSync(directory, { recursive: true, mode: 0o755 });
    const write = (name: string, content: string, mode = 0o644) =>
        fs.writeFileSync(path.join(directory, name), content, { mode });
    write(endpointFiles.serverCertificateChain, files.serverChainPem);
    write(endpointFiles.serverPrivateKey, files.serverKeyPem, 0o600);
    write(endpointFiles.clientTrustBundle, files.clientTrustBundlePem);
    if (files.crlPem !== undefined) {
        write(endpointFiles.certificateRevocationList, files.crlPem);
    }
    write(endpointFiles.nginxConfig, files.nginxConfig);
}

/** writeFileSet, then `nginx -t` on it: a rejection throws, quoting Nginx and the config. */
export function writeCheckedFileSet(directory: string, files: TestFileSet, hosts?: ExtraHosts): CommandResult {
    writeFileSet(directory, files);
    const check = nginxConfigTest(directory, hosts);
    if (check.status !== 0) {
        throw new Error(
            `nginx -t rejects the file set in ${directory}:\n${check.stderr}\n--- nginx.conf ---\n${files.nginxConfig}`,
        );
    }
    return check;
}

/** An endpoint serveFileSet started, with what `nginx -t` said of its file set before. */
export interface ServedFileSet extends RunningEndpoint {
    readonly configTest: CommandResult;
}

/**
 * The integration tier's usual start: writes a file set into `directory` and checks it with
 * `nginx -t` (writeCheckedFileSet), starts Nginx on it and waits until it completes a handshake for
 * `serverName` verified by `caPem`. A container that does not serve is removed, its log quoted in the error.
 */
export async function serveFileSet(
    directory: string,
    nameHint: string,
    files: TestFileSet,
    verify: { serverName: string; caPem: string },
    hosts?: ExtraHosts,
): Promise<ServedFileSet> {
    const configTest = writeCheckedFileSet(directory, files, hosts);
    const endpoint = await startEndpoint(directory, nameHint, hosts);
    try {
        await waitUntilServing(endpoint, () =>
            tlsRequest({ port: endpoint.port, servername: verify.serverName, ca: verify.caPem, timeoutMs: 2000 }),
        );
    } catch (error) {
        removeContainer(endpoint.name);
        throw error;
    }
    return { ...endpoint, configTest };
}

export function containerLogs(name: string): string {
    const result = docker(["logs", name]);
    return `${result.stdout}${result.stderr}`;
}

export function isRunning(name: string): boolean {
    return docker(["inspect", "--format", "{{.State.Running}}", name]).stdout.trim() === "true";
}

/** Waits until `probe` succeeds; fails early, with `docker logs`, if the container exits. */
export async function waitUntilServing(
    endpoint: RunningEndpoint,
    probe: () => Promise<unknown>,
    timeoutMs = 20_000,
): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    let lastError: unknown;
    while (Date.now() < deadline) {
        if (!isRunning(endpoint.name)) {
            const state = docker(["inspect", "--format", "{{.State.Status}} exit={{.State.ExitCode}}", endpoint.name]);
            throw new Error(
                `container ${endpoint.name} is not running (${state.stdout.trim()}); docker logs:\n` +
                    containerLogs(endpoint.name),
            );
        }
        try {
            await probe();
            return;
        } catch (error) {
            lastError = error;
        }
        await new Promise((resolve) => setTimeout(resolve, 200));
    }
    throw new Error(
        `container ${endpoint.name} did not answer on 127.0.0.1:${endpoint.port} within ${timeoutMs} ms ` +
            `(last error: ${String(lastError)}); docker logs:\n${containerLogs(endpoint.name)}`,
    );
}

export function removeContainer(name: string): void {
    docker(["rm", "-f", "-v", name]);
    started.delete(name);
}

/** Safety net for the root after-hook: every container this process started. */
export function removeAllStartedContainers(): void {
    for (const name of [...started]) {
        removeContainer(name);
    }
}

const networks = new Set<string>();

/** A user-defined network of this process, so that its containers reach each other (and nothing else new). */
export function createNetwork(nameHint: string): string {
    const name = `mtls-nginx-it-${process.pid}-${nameHint}-${Math.random().toString(36).slice(2, 8)}`;
    const result = docker(["network", "create", "--label", `${ownerLabel}=${process.pid}`, name]);
    if (result.status !== 0) {
        throw new Error(`docker network create failed: ${result.stderr.trim()}`);
    }
    networks.add(name);
    return name;
}

/** Attaches a running container to a network (an endpoint started by startEndpoint, say). */
export function connectToNetwork(network: string, container: string): void {
    const result = docker(["network", "connect", network, container]);
    if (result.status !== 0) {
        throw new Error(`docker network connect ${network} ${container} failed: ${result.stderr.trim()}`);
    }
}

/** A container's address on a network. */
export function addressOn(network: string, container: string): string {
    const result = docker([
        "inspect",
        "--format",
        `{{with index .NetworkSettings.Networks "${network}"}}{{.IPAddress}}{{end}}`,
        container,
    ]);
    const address = result.stdout.trim();
    if (result.status !== 0 || !/^\d+\.\d+\.\d+\.\d+$/.test(address)) {
        throw new Error(`no IPv4 address of ${container} on ${network}: ${result.stderr.trim() || address}`);
    }
    return address;
}

/** Removes a network; its containers must be gone first. */
export function removeNetwork(name: string): void {
    docker(["network", "rm", name]);
    networks.delete(name);
}

/** Networks left by earlier test processes that died (run after assertDockerReady removed their containers). */
export function removeOrphanedNetworks(): void {
    const listed = docker(["network", "ls", "--filter", `label=${ownerLabel}`, "--format", "{{.Name}}"]);
    for (const name of listed.stdout.split("\n").filter(Boolean)) {
        const owner = docker(["network", "inspect", "--format", `{{index .Labels "${ownerLabel}"}}`, name]);
        if (!isProcessAlive(Number(owner.stdout.trim()))) {
            docker(["network", "rm", name]);
        }
    }
}

/** Safety net for an after-hook: every network this process created. */
export function removeAllCreatedNetworks(): void {
    for (const name of [...networks]) {
        removeNetwork(name);
    }
}

/** The port the header echo listens on inside its container. */
export const headerEchoPort = 8080;

/**
 * An HTTP server that answers every request with the request head it received, byte for byte: the
 * header lines as sent, in order, duplicates and letter case kept. Perl, because perl-base is part
 * of every Debian image (the test image included) and the tier needs no other image.
 */
const headerEchoScript = `
use strict;
use IO::Socket::INET;
my $server = IO::Socket::INET->new(LocalPort => ${headerEchoPort}, Listen => 64, ReuseAddr => 1) or die "listen: $!";
$| = 1;
print "listening\\n";
while (my $client = $server->accept) {
    my $head = "";
    while (defined(my $line = <$client>)) {
        $head .= $line;
        last if $line eq "\\r\\n" || length($head) > 65536;
    }
    print $client "HTTP/1.1 200 OK\\r\\nContent-Type: text/plain\\r\\nContent-Length: " . length($head) .
        "\\r\\nConnection: close\\r\\n\\r\\n" . $head;
    close $client;
}
`;

export interface HeaderEcho {
    readonly name: string;
    /** Its address on the network: what a proxy_pass URL names (no DNS, so `nginx -t` passes offline). */
    readonly address: string;
    readonly port: number;
}

/** Starts the header echo on a network and waits until it listens. */
export async function startHeaderEcho(network: string, nameHint: string): Promise<HeaderEcho> {
    const name = `mtls-nginx-it-${process.pid}-${nameHint}-${Math.random().toString(36).slice(2, 8)}`;
    started.add(name);
    // prettier-ignore
    const result = docker([
        "run", "-d", "--name", name, "--label", `${ownerLabel}=${process.pid}`, "--network", network,
        testImage, "perl", "-e", headerEchoScript,
    ]);
    if (result.status !== 0) {
        removeContainer(name);
        throw new Error(`docker run (header echo) failed: ${result.stderr.trim()}`);
    }
    const deadline = Date.now() + 20_000;
    while (!containerLogs(name).includes("listening")) {
        if (Date.now() > deadline || !isRunning(name)) {
            throw new Error(`header echo ${name} did not start; docker logs:\n${containerLogs(name)}`);
        }
        await new Promise((resolve) => setTimeout(resolve, 100));
    }
    return { name, address: addressOn(network, name), port: headerEchoPort };
}
