/**
 * A real 3-node Docker Swarm on this machine for e2e tests (scripts/swarm-nodes.sh makes it).
 *
 * Each node is a Docker engine in a container of the machine's dockerd. Tests reach it only the
 * way they would reach a remote engine: TLS-verified `tcp://127.0.0.2N:2376` with a client
 * certificate, no shared filesystem. Node 1 is the only manager. Each node publishes one served
 * port (`servicePort`, default 8443) on its own loopback address, so a host-mode swarm service
 * published on that port answers on 127.0.0.21..23.
 *
 *     const swarm = useSwarm(); // in a describe block: before -> startSwarm, after -> stopSwarm
 *     await swarm.current.dockerOn(swarm.current.manager, ["node", "ls"]);
 *
 * Or call `startSwarm()` in a before hook and `stopSwarm()` in an after hook.
 */
import { spawn, spawnSync } from "child_process";
import * as fs from "fs";
import * as path from "path";

import type { CommandResult } from "./docker";
import { createThrowawayStack, type ThrowawayStack } from "./stack";

export type { CommandResult };

const repoRoot = path.join(__dirname, "..");
const nodesScript = path.join(repoRoot, "scripts", "swarm-nodes.sh");

/** The state directory swarm-nodes.sh uses, with the same override and default. */
export const swarmStateDirectory =
    process.env.MTLS_SWARM_STATE ?? path.join(process.env.TMPDIR ?? "/tmp", "mtls-nginx-swarm");

/** The client side of an engine's TLS: PEM text, and the files (DOCKER_CERT_PATH layout). */
export interface DockerClientTls {
    readonly caPem: string;
    readonly certPem: string;
    readonly keyPem: string;
    /** Directory holding ca.pem, cert.pem and key.pem: usable as DOCKER_CERT_PATH. */
    readonly certPath: string;
}

export interface SwarmNode {
    /** Container name and swarm hostname: mtls-swarm-1..3. */
    readonly name: string;
    readonly role: "manager" | "worker";
    /** Where the host reaches this node: 127.0.0.2N (API on apiPort, service on servicePort). */
    readonly loopbackAddress: string;
    /** The node's address on the private bridge network; the swarm advertises this one. */
    readonly bridgeAddress: string;
    /** Docker API URL, TLS only: tcp://127.0.0.2N:2376. */
    readonly dockerHost: string;
    readonly tls: DockerClientTls;
}

export interface DockerOnOptions {
    /** Written to the command's stdin (e.g. for `docker config create NAME -`). */
    readonly input?: string;
    readonly timeoutMs?: number;
    /** Resolve with the result on a non-zero exit instead of rejecting. */
    readonly allowFailure?: boolean;
}

export interface SwarmCluster {
    readonly nodes: readonly SwarmNode[];
    /** Node 1, the only manager. */
    readonly manager: SwarmNode;
    /** Port each node publishes on its loopback address for a host-mode service. */
    readonly servicePort: number;
    readonly apiPort: number;
    readonly network: string;
    readonly subnet: string;
    readonly stateDirectory: string;
    dockerOn(node: SwarmNode, args: readonly string[], options?: DockerOnOptions): Promise<CommandResult>;
    stopNodeEngine(node: SwarmNode): Promise<void>;
    startNodeEngine(node: SwarmNode): Promise<void>;
}

/** What `swarm-nodes.sh up` writes to <state>/cluster.json. */
interface ClusterFile {
    stateDirectory: string;
    network: string;
    subnet: string;
    servicePort: number;
    apiPort: number;
    clientCertPath: string;
    nodes: Array<{ name: string; loopbackAddress: string; bridgeAddress: string; dockerHost: string; role: string }>;
}

const upTimeoutMs = 5 * 60_000;
const engineTimeoutMs = 90_000;

let running: SwarmCluster | undefined;
/** Set from the start of `up` until a successful `down`: a half-made cluster needs teardown too. */
let teardownPending = false;
let exitHookInstalled = false;

/** Runs a command without blocking the event loop (mocha's timeouts keep working). */
function run(
    command: string,
    args: readonly string[],
    options: { input?: string; timeoutMs: number; env?: NodeJS.ProcessEnv },
): Promise<CommandResult> {
    return new Promise((resolve) => {
        const child = spawn(command, args, { env: options.env ?? process.env, stdio: ["pipe", "pipe", "pipe"] });
        let stdout = "";
        let stderr = "";
        const timer = setTimeout(() => {
            stderr += `\n(killed after ${options.timeoutMs} ms)`;
            child.kill("SIGKILL");
        }, options.timeoutMs);
        child.stdout.on("data", (chunk: Buffer) => (stdout += chunk.toString()));
        child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
        child.on("error", (error) => {
            clearTimeout(timer);
            resolve({ status: null, stdout, stderr: `${stderr}${String(error)}` });
        });
        child.on("close", (status) => {
            clearTimeout(timer);
            resolve({ status, stdout, stderr });
        });
        child.stdin.end(options.input ?? "");
    });
}

function describeFailure(what: string, result: CommandResult): string {
    return `${what} failed (exit ${result.status ?? "none"}):\n${result.stderr.trim()}\n${result.stdout.trim()}`.trim();
}

/** The caller's DOCKER_* settings must not redirect a command meant for one node. */
function cleanDockerEnvironment(): NodeJS.ProcessEnv {
    const environment = { ...process.env };
    for (const key of ["DOCKER_HOST", "DOCKER_CONTEXT", "DOCKER_TLS_VERIFY", "DOCKER_CERT_PATH", "DOCKER_TLS"]) {
        delete environment[key];
    }
    return environment;
}

async function runNodesScript(action: "up" | "down", environment: NodeJS.ProcessEnv): Promise<CommandResult> {
    return run("bash", [nodesScript, action], { timeoutMs: upTimeoutMs, env: environment });
}

/** The docker CLI against the machine's own engine (which runs the node containers). */
async function outerDocker(args: readonly string[], timeoutMs = 60_000): Promise<CommandResult> {
    const result = await run("docker", args, { timeoutMs, env: cleanDockerEnvironment() });
    if (result.status !== 0) {
        throw new Error(describeFailure(`docker ${args.join(" ")}`, result));
    }
    return result;
}

/** The docker CLI against one node's engine, over TLS with the client certificate. */
export async function dockerOn(
    node: SwarmNode,
    args: readonly string[],
    options: DockerOnOptions = {},
): Promise<CommandResult> {
    // prettier-ignore
    const tlsArgs = [
        "--tlsverify",
        "--tlscacert", path.join(node.tls.certPath, "ca.pem"),
        "--tlscert", path.join(node.tls.certPath, "cert.pem"),
        "--tlskey", path.join(node.tls.certPath, "key.pem"),
        "-H", node.dockerHost,
    ];
    const result = await run("docker", [...tlsArgs, ...args], {
        input: options.input,
        timeoutMs: options.timeoutMs ?? 120_000,
        env: cleanDockerEnvironment(),
    });
    if (result.status !== 0 && !options.allowFailure) {
        throw new Error(describeFailure(`docker -H ${node.dockerHost} ${args.join(" ")}`, result));
    }
    return result;
}

async function waitFor(what: string, timeoutMs: number, check: () => Promise<boolean>): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!(await check())) {
        if (Date.now() > deadline) {
            throw new Error(`${what}: not reached within ${timeoutMs} ms`);
        }
        await new Promise((resolve) => setTimeout(resolve, 500));
    }
}

/**
 * Stops a node's engine by stopping its container: the engine and its tasks go away, its
 * loopback ports refuse connections, and the manager marks it Down after missed heartbeats.
 */
export async function stopNodeEngine(node: SwarmNode): Promise<void> {
    await outerDocker(["stop", "--time", "10", node.name]);
}

/** Starts a stopped node's engine and waits until it answers over TLS and the manager lists it Ready. */
export async function startNodeEngine(node: SwarmNode): Promise<void> {
    await outerDocker(["start", node.name]);
    await waitFor(
        `engine of ${node.name} answering on ${node.dockerHost}`,
        engineTimeoutMs,
        async () => (await dockerOn(node, ["version"], { allowFailure: true, timeoutMs: 10_000 })).status === 0,
    );
    const manager = running?.manager ?? node;
    await waitFor(`${node.name} Ready in the manager's node list`, engineTimeoutMs, async () => {
        const listed = await dockerOn(manager, ["node", "ls", "--format", "{{.Hostname}} {{.Status}}"], {
            allowFailure: true,
            timeoutMs: 10_000,
        });
        return listed.status === 0 && listed.stdout.split("\n").includes(`${node.name} Ready`);
    });
}

function readCluster(): SwarmCluster {
    const file = path.join(swarmStateDirectory, "cluster.json");
    const cluster = JSON.parse(fs.readFileSync(file, "utf8")) as ClusterFile;
    const tls: DockerClientTls = {
        caPem: fs.readFileSync(path.join(cluster.clientCertPath, "ca.pem"), "utf8"),
        certPem: fs.readFileSync(path.join(cluster.clientCertPath, "cert.pem"), "utf8"),
        keyPem: fs.readFileSync(path.join(cluster.clientCertPath, "key.pem"), "utf8"),
        certPath: cluster.clientCertPath,
    };
    const nodes: SwarmNode[] = cluster.nodes.map((node) => ({
        name: node.name,
        role: node.role === "manager" ? "manager" : "worker",
        loopbackAddress: node.loopbackAddress,
        bridgeAddress: node.bridgeAddress,
        dockerHost: node.dockerHost,
        tls,
    }));
    const managers = nodes.filter((node) => node.role === "manager");
    if (managers.length !== 1) {
        throw new Error(`${file} lists ${managers.length} managers; expected exactly one`);
    }
    return {
        nodes,
        manager: managers[0],
        servicePort: cluster.servicePort,
        apiPort: cluster.apiPort,
        network: cluster.network,
        subnet: cluster.subnet,
        stateDirectory: cluster.stateDirectory,
        dockerOn,
        stopNodeEngine,
        startNodeEngine,
    };
}

/**
 * A last resort when the process ends without stopSwarm (an uncaught error, process.exit): only
 * synchronous work can run here. A killed process leaves the nodes; the next `up` removes them.
 */
function installExitHook(): void {
    if (exitHookInstalled) {
        return;
    }
    exitHookInstalled = true;
    process.once("exit", () => {
        if (teardownPending) {
            spawnSync("bash", [nodesScript, "down"], { stdio: "ignore", env: cleanDockerEnvironment() });
        }
    });
}

/**
 * Makes the swarm with `scripts/swarm-nodes.sh up` and describes it. By default it starts from
 * nothing (leftovers of earlier runs, healthy or not, are removed first); `fresh: false` reuses a
 * healthy cluster. Rejects with the script's output when the swarm cannot be formed.
 */
export async function startSwarm(options: { fresh?: boolean } = {}): Promise<SwarmCluster> {
    installExitHook();
    const environment = { ...cleanDockerEnvironment(), MTLS_SWARM_FRESH: options.fresh === false ? "0" : "1" };
    teardownPending = true;
    running = undefined;
    const startedAt = Date.now();
    const result = await runNodesScript("up", environment);
    if (result.status !== 0) {
        await stopSwarm().catch(() => undefined);
        throw new Error(describeFailure("scripts/swarm-nodes.sh up (the 3-node swarm could not be formed)", result));
    }
    running = readCluster();
    process.stderr.write(`      swarm up in ${((Date.now() - startedAt) / 1000).toFixed(1)} s\n`);
    return running;
}

/** Removes the nodes, their volumes and cgroups, the network and the state. Idempotent. */
export async function stopSwarm(): Promise<void> {
    const result = await runNodesScript("down", cleanDockerEnvironment());
    running = undefined;
    if (result.status !== 0) {
        throw new Error(describeFailure("scripts/swarm-nodes.sh down", result));
    }
    teardownPending = false;
}

export interface SwarmFixture {
    /** The cluster (set once the suite's before hook ran). */
    readonly current: SwarmCluster;
}

/** In a describe block: the swarm is made in `before` and removed in `after`, also when a test failed. */
export function useSwarm(options: { fresh?: boolean } = {}): SwarmFixture {
    let current: SwarmCluster | undefined;
    before(async function () {
        this.timeout(upTimeoutMs + 60_000);
        current = await startSwarm(options);
    });
    after(async function () {
        this.timeout(120_000);
        current = undefined;
        await stopSwarm();
    });
    return {
        get current(): SwarmCluster {
            if (!current) throw new Error("the swarm is not started yet (useSwarm's before hook has not run)");
            return current;
        },
    };
}

/**
 * A throwaway stack (testkit/stack.ts) deployed to one node's engine over tcp:// with TLS: the
 * engine settings from the node, its client key set as a Pulumi secret, plus `config`.
 */
export async function createStackOnNode(
    label: string,
    node: SwarmNode,
    config: Record<string, unknown>,
): Promise<ThrowawayStack> {
    const deployment = await createThrowawayStack(label, {
        ...config,
        dockerHost: node.dockerHost,
        dockerTlsCaCertificate: node.tls.caPem,
        dockerTlsCertificate: node.tls.certPem,
    });
    await deployment.stack.setConfig("mtls-nginx:dockerTlsKey", { value: node.tls.keyPem, secret: true });
    return deployment;
}
