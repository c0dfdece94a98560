import { LocalWorkspace, PulumiCommand, PulumiFn, Stack, OutputMap, EngineEvent } from "@pulumi/pulumi/automation";
import { execFileSync, spawnSync } from "child_process";
import * as crypto from "crypto";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";

import { freePort } from "./ports";
import type { ProbeOptions } from "./tls";

export { freePort };

export const repoRoot = path.join(__dirname, "..");

/** The environment scripts/env.sh sets up (toolchain on PATH, plugins in .pulumi-home), read from the script itself. */
export function toolchainEnvironment(): Record<string, string> {
    const result = spawnSync("bash", ["-c", ". scripts/env.sh && env -0"], { cwd: repoRoot, encoding: "utf8" });
    if (result.status !== 0) {
        throw new Error(`sourcing scripts/env.sh failed (run npm run setup):\n${result.stderr}`);
    }
    return Object.fromEntries(
        result.stdout
            .split("\0")
            .filter((line) => line.includes("="))
            .map((line) => [line.slice(0, line.indexOf("=")), line.slice(line.indexOf("=") + 1)]),
    );
}

/** A throwaway stack with the dev config, its own state directory, port, container and host directory. */
export interface ThrowawayStack {
    readonly stack: Stack;
    readonly stackName: string;
    readonly stateDirectory: string;
    /** TMPDIR of the engine and everything it runs for this stack: where a leaked temp file would be. */
    readonly scratchDirectory: string;
    /** The Docker volume the endpoint's files live in. */
    readonly filesVolume: string;
    readonly containerName: string;
    readonly publishPort: number;
    readonly environment: Record<string, string>;
    /** Removes the stack, its state and its config file (after destroy). */
    dispose(): Promise<void>;
}

/** What an npm script printed, and how it ended. */
export interface NpmScriptRun {
    readonly code: number | null;
    readonly stdout: string;
    readonly stderr: string;
}

/**
 * `npm run SCRIPT -- STACK ARGS...` on a throwaway stack, as cron or an operator runs it: with the
 * stack's backend and passphrase in the environment (plus `extra`), and no clock of the tests'
 * (MTLS_NOW) unless `extra` sets one.
 */
export function runNpmScript(
    deployment: ThrowawayStack,
    script: string,
    args: readonly string[] = [],
    extra: Record<string, string> = {},
): NpmScriptRun {
    const environment: NodeJS.ProcessEnv = { ...process.env, ...deployment.environment };
    delete environment.PULUMI_CONFIG_PASSPHRASE_FILE;
    delete environment.MTLS_NOW;
    const result = spawnSync("npm", ["run", "--silent", script, "--", deployment.stackName, ...args], {
        cwd: repoRoot,
        env: { ...environment, ...extra },
        encoding: "utf8",
        timeout: 540_000,
    });
    return { code: result.status, stdout: result.stdout, stderr: result.stderr };
}

/** A throwaway stack's name, its own state and temp directories, and the engine's environment for them. */
interface ThrowawayPlace {
    readonly stackName: string;
    readonly stateDirectory: string;
    readonly scratchDirectory: string;
    readonly envVars: Record<string, string>;
    readonly pulumiCommand: PulumiCommand;
}

/**
 * A backend of the test's for a throwaway stack (a PostgreSQL database, say) instead of its own file
 * backend in a temp directory.
 */
export interface StateBackend {
    /** PULUMI_BACKEND_URL. */
    readonly url: string;
    /** What else the CLI needs for it (PGPASSWORD, say). */
    readonly environment?: Record<string, string>;
}

async function throwawayPlace(label: string, backend?: StateBackend): Promise<ThrowawayPlace> {
    const stackName = `e2e-${label}-${crypto.randomBytes(3).toString("hex")}`;
    const stateDirectory = fs.mkdtempSync(path.join(os.tmpdir(), "mtls-e2e-state-"));
    const scratchDirectory = fs.mkdtempSync(path.join(os.tmpdir(), "mtls-e2e-tmp-"));
    const envVars = {
        ...toolchainEnvironment(),
        // metadata=skip, as scripts/env.sh: no `.attrs` sidecar (and no MD5 of the state) at each save.
        PULUMI_BACKEND_URL: backend?.url ?? `file://${stateDirectory}?metadata=skip`,
        ...backend?.environment,
        TMPDIR: scratchDirectory,
        PULUMI_CONFIG_PASSPHRASE: crypto.randomBytes(16).toString("hex"),
    };
    delete (envVars as Record<string, string | undefined>).PULUMI_CONFIG_PASSPHRASE_FILE;
    const pulumiCommand = await PulumiCommand.get({
        root: path.join(repoRoot, ".pulumi-home"),
        skipVersionCheck: true,
    });
    return { stackName, stateDirectory, scratchDirectory, envVars, pulumiCommand };
}

/** Removes a throwaway stack and its state and temp directories (after destroy). */
function removal(stack: Stack, place: ThrowawayPlace): () => Promise<void> {
    return async () => {
        await stack.workspace.removeStack(place.stackName, { force: true }).catch(() => undefined);
        fs.rmSync(place.stateDirectory, { recursive: true, force: true });
        fs.rmSync(place.scratchDirectory, { recursive: true, force: true });
    };
}

/**
 * A throwaway stack of an inline program (a consumer's program, written in the test), with its own
 * state and temp directories. `dispose` removes the stack and them, after destroy.
 */
export async function createInlineStack(
    label: string,
    program: PulumiFn,
): Promise<{ stack: Stack; stackName: string; dispose(): Promise<void> }> {
    const place = await throwawayPlace(label);
    const stack = await LocalWorkspace.createStack(
        { stackName: place.stackName, projectName: `mtls-consumer-${label}`, program },
        { envVars: place.envVars, pulumiCommand: place.pulumiCommand },
    );
    return { stack, stackName: place.stackName, dispose: removal(stack, place) };
}

/**
 * A throwaway stack of a program in `workDir` (a consumer's project the test wrote, in any language),
 * with its own state and temp directories; `environment` runs the CLI the same way. `dispose`
 * removes the stack and them, after destroy.
 */
export async function createProjectStack(
    label: string,
    workDir: string,
): Promise<{ stack: Stack; stackName: string; environment: Record<string, string>; dispose(): Promise<void> }> {
    const place = await throwawayPlace(label);
    const stack = await LocalWorkspace.createStack(
        { stackName: place.stackName, workDir },
        { envVars: place.envVars, pulumiCommand: place.pulumiCommand },
    );
    return { stack, stackName: place.stackName, environment: place.envVars, dispose: removal(stack, place) };
}

/**
 * A throwaway stack of this checkout's program with the dev config; `options.backend` keeps its state
 * on a backend of the test's instead of a file backend of its own (`stateDirectory` stays empty then).
 */
export async function createThrowawayStack(
    label: string,
    config: Record<string, string | string[] | unknown>,
    options: { readonly backend?: StateBackend } = {},
): Promise<ThrowawayStack> {
    const { stackName, stateDirectory, scratchDirectory, envVars, pulumiCommand } = await throwawayPlace(
        label,
        options.backend,
    );
    const containerName = `mtls-nginx-${stackName}`;
    const publishPort = await freePort();
    const stack = await LocalWorkspace.createStack({ stackName, workDir: repoRoot }, { envVars, pulumiCommand });
    const devConfig = readStackConfigFile("Pulumi.dev.yaml");
    await setConfig(stack, {
        ...devConfig,
        containerName,
        publishPort: String(publishPort),
        ...config,
    });
    return {
        stack,
        stackName,
        stateDirectory,
        scratchDirectory,
        filesVolume: `${containerName}-files`,
        containerName,
        publishPort,
        environment: envVars,
        async dispose() {
            await stack.workspace.removeStack(stackName, { force: true }).catch(() => undefined);
            fs.rmSync(path.join(repoRoot, `Pulumi.${stackName}.yaml`), { force: true });
            fs.rmSync(stateDirectory, { recursive: true, force: true });
            fs.rmSync(scratchDirectory, { recursive: true, force: true });
            spawnSync("docker", ["rm", "-f", containerName], { stdio: "ignore" });
            spawnSync("docker", ["volume", "rm", "-f", `${containerName}-files`], { stdio: "ignore" });
        },
    };
}

/** Client names for a stack of n clients (bench-001, ...). */
export function clientNames(count: number): string[] {
    return Array.from({ length: count }, (_, index) => `bench-${String(index + 1).padStart(3, "0")}`);
}

/**
 * Sets mtls-nginx:clients as a structured list of names in one `pulumi config set-all --path` call,
 * instead of one CLI call per client.
 */
export async function setClients(stack: Stack, names: readonly string[]): Promise<void> {
    await setListConfig(stack, "clients", names);
}

/** Sets a list of strings (`mtls-nginx:<key>`) in one `pulumi config set-all --path` call. */
export async function setListConfig(stack: Stack, key: string, values: readonly string[]): Promise<void> {
    await stack.removeConfig(`mtls-nginx:${key}`).catch(() => undefined);
    await stack.setAllConfig(
        Object.fromEntries(values.map((value, index) => [`mtls-nginx:${key}[${index}]`, { value }])),
        true,
    );
}

/** Removes the runtime stack file that scripts/stack-file.sh writes for a stack run by `npm run up` or `renew`. */
export function removeRuntimeStackFile(stackName: string): void {
    fs.rmSync(path.join(repoRoot, ".pulumi-state", "stacks", `Pulumi.${stackName}.yaml`), { force: true });
}

/** The `mtls-nginx:*` values of a committed stack file. */
export function readStackConfigFile(file: string): Record<string, unknown> {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const yaml = require("js-yaml") as typeof import("js-yaml");
    const parsed = yaml.load(fs.readFileSync(path.join(repoRoot, file), "utf8")) as { config: Record<string, unknown> };
    return Object.fromEntries(
        Object.entries(parsed.config).map(([key, value]) => [key.replace(/^mtls-nginx:/, ""), value]),
    );
}

/** Sets config values; lists and objects are written as structured config (path by path), like a stack file holds them. */
export async function setConfig(stack: Stack, values: Record<string, unknown>): Promise<void> {
    for (const [key, value] of Object.entries(values)) {
        const fullKey = `mtls-nginx:${key}`;
        if (typeof value === "object" && value !== null) {
            await stack.removeConfig(fullKey).catch(() => undefined);
            for (const [leafPath, leaf] of leaves(fullKey, value)) {
                await stack.setConfig(leafPath, { value: String(leaf) }, true);
            }
        } else {
            await stack.setConfig(fullKey, { value: String(value) });
        }
    }
}

function leaves(prefix: string, value: unknown): Array<[string, unknown]> {
    if (Array.isArray(value)) {
        return value.flatMap((item, index) => leaves(`${prefix}[${index}]`, item));
    }
    if (typeof value === "object" && value !== null) {
        return Object.entries(value).flatMap(([key, item]) => leaves(`${prefix}.${key}`, item));
    }
    return [[prefix, value]];
}

/** What a preview or update does to one resource. */
export interface RecordedStep {
    readonly op: string;
    readonly type: string;
    /** The URN's name part. */
    readonly name: string;
    /** The properties that differ (updates and replacements). */
    readonly diffs: readonly string[];
}

/** Collects what a preview or update would do to each resource: op by URN name. */
export function stepRecorder(): {
    onEvent: (event: EngineEvent) => void;
    steps: RecordedStep[];
} {
    const steps: RecordedStep[] = [];
    return {
        steps,
        onEvent(event: EngineEvent) {
            const metadata = event.resourcePreEvent?.metadata;
            if (metadata) {
                steps.push({
                    op: metadata.op,
                    type: metadata.type,
                    name: metadata.urn.split("::").pop() ?? metadata.urn,
                    diffs: metadata.diffs ?? [],
                });
            }
        },
    };
}

/**
 * The last commit whose program deployed everything at the stack's root, before MtlsEndpoint: what a
 * real `dev` stack of that day ran (the upgrade test moves one into the component, the bench compares).
 */
export const programBeforeComponent = "0367e25e0c0144c45251684790aea3571a75cd6a";

/**
 * The stack, run by the program of an earlier commit: a `git archive` of it in a temporary
 * directory, with this checkout's node_modules and the stack's config file. It shares the stack's
 * backend, so what it deploys is what the current program then finds.
 */
export async function formerProgram(
    deployment: ThrowawayStack,
    commit: string,
): Promise<{ stack: Stack; dispose(): void }> {
    const directory = fs.mkdtempSync(path.join(os.tmpdir(), "mtls-e2e-former-"));
    const archive = spawnSync("git", ["-C", repoRoot, "archive", commit], { maxBuffer: 1 << 28 });
    if (archive.status !== 0) {
        fs.rmSync(directory, { recursive: true, force: true });
        throw new Error(
            `git archive ${commit} failed (${archive.stderr.toString().trim()}): ` +
                "this test needs the repository's history, not a shallow clone",
        );
    }
    execFileSync("tar", ["-x", "-C", directory], { input: archive.stdout });
    fs.symlinkSync(path.join(repoRoot, "node_modules"), path.join(directory, "node_modules"));
    const stackFile = `Pulumi.${deployment.stackName}.yaml`;
    fs.copyFileSync(path.join(repoRoot, stackFile), path.join(directory, stackFile));
    const pulumiCommand = await PulumiCommand.get({
        root: path.join(repoRoot, ".pulumi-home"),
        skipVersionCheck: true,
    });
    const stack = await LocalWorkspace.selectStack(
        { stackName: deployment.stackName, workDir: directory },
        { envVars: deployment.environment, pulumiCommand },
    );
    return { stack, dispose: () => fs.rmSync(directory, { recursive: true, force: true }) };
}

export function outputValue<T>(outputs: OutputMap, name: string): T {
    const output = outputs[name];
    if (!output) {
        throw new Error(`stack output ${name} is missing; have ${Object.keys(outputs).join(", ")}`);
    }
    return output.value as T;
}

/** A probe of the stack's endpoint on 127.0.0.1 as one of its clients, from the stack's outputs. */
export function clientProbe(deployment: ThrowawayStack, outputs: OutputMap, client: string): ProbeOptions {
    return probeAt(outputs, { host: "127.0.0.1", port: deployment.publishPort }, client);
}

/**
 * A client of a deployed endpoint at one address (a node, a pod, a Service), holding `client`'s
 * certificate and key from the outputs; none for an anonymous client.
 */
export function probeAt(outputs: OutputMap, at: { host: string; port: number }, client?: string): ProbeOptions {
    return {
        ...at,
        serverName: outputValue<string>(outputs, "serverName"),
        caPem: outputValue<string>(outputs, "caCertificatePem"),
        clientCertificatePem: client
            ? outputValue<Record<string, string>>(outputs, "clientCertificatePems")[client]
            : undefined,
        clientPrivateKeyPem: client
            ? outputValue<Record<string, string>>(outputs, "clientPrivateKeyPems")[client]
            : undefined,
    };
}

export function containerId(name: string): string | undefined {
    const result = spawnSync("docker", ["inspect", "--format", "{{.Id}}", name], { encoding: "utf8" });
    return result.status === 0 ? result.stdout.trim() : undefined;
}

export function dockerLogs(name: string): string {
    try {
        return execFileSync("docker", ["logs", "--tail", "200", name], {
            encoding: "utf8",
            stdio: ["ignore", "pipe", "pipe"],
        });
    } catch (error) {
        return String(error);
    }
}

/** Operations in a change summary other than "same". */
export function realChanges(summary: Record<string, number> | undefined): Array<[string, number]> {
    return Object.entries(summary ?? {}).filter(([op, count]) => op !== "same" && count > 0);
}

/** A throwaway stack for one describe block: created before, destroyed after, engine output shown on failure. */
export interface StackFixture {
    /** The stack (set once the suite's first before hook ran). */
    readonly current: ThrowawayStack;
    /** Pass as onOutput: collected, and printed (with the container log, when there is one here) when a test fails. */
    readonly log: (text: string) => void;
}

export interface StackFixtureOptions {
    /** Makes the stack in the before hook; default createThrowawayStack (this machine's engine). */
    readonly create?: (label: string, config: Record<string, unknown>) => Promise<ThrowawayStack>;
    /**
     * The suite's own teardown (stopping a swarm, say): runs in the after hook once the stack is
     * destroyed and disposed, also when that failed or the stack was never made.
     */
    readonly afterDispose?: () => Promise<void>;
    /** Whether a failed test also prints `docker logs` of the container from this machine's engine (default true). */
    readonly localContainerLog?: boolean;
    /** How the after hook destroys the stack (default `stack.destroy`; a large stack: `destroyInTwoPhases`). */
    readonly destroy?: (stack: Stack, onOutput: (text: string) => void) => Promise<unknown>;
}

/**
 * The engine's output for the tests of one describe block: pass the function as onOutput. It is
 * printed (with `more()`, say a container's log) when a test fails, and cleared after each test.
 */
export function useEngineLog(more: () => string = () => ""): (text: string) => void {
    let engineOutput = "";
    afterEach(function () {
        if (this.currentTest?.state === "failed") {
            console.error(`--- engine output ---\n${engineOutput}${more()}`);
        }
        engineOutput = "";
    });
    return (text: string) => {
        engineOutput += text;
    };
}

/**
 * Kills this checkout's Pulumi language hosts and plugins whose engine is gone. A test that SIGKILLs
 * the CLI leaves them running, reparented to init (PID 1), idle forever: the after hooks of such
 * suites reap them. A live engine's plugins are its children, so they are never touched. Returns
 * how many were killed; never throws (a process may end while it is read).
 */
export function reapOrphanedPlugins(): number {
    const home = `${path.join(repoRoot, ".pulumi-home")}/`;
    let killed = 0;
    for (const entry of fs.readdirSync("/proc").filter((name) => /^\d+$/.test(name))) {
        try {
            const stat = fs.readFileSync(`/proc/${entry}/stat`, "utf8");
            // Fields after the command's closing parenthesis: state, then the parent's PID.
            const parent = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
            const executable = fs.readlinkSync(`/proc/${entry}/exe`);
            if (
                parent === 1 &&
                executable.startsWith(home) &&
                /^pulumi-(language|resource)-/.test(path.basename(executable))
            ) {
                process.kill(Number(entry), "SIGKILL");
                killed += 1;
            }
        } catch {
            // Gone meanwhile, or not ours to read.
        }
    }
    return killed;
}

export function useThrowawayStack(
    label: string,
    config: Record<string, unknown> = {},
    options: StackFixtureOptions = {},
): StackFixture {
    const {
        create = createThrowawayStack,
        afterDispose,
        localContainerLog = true,
        destroy = (stack: Stack, onOutput: (text: string) => void) => stack.destroy({ onOutput }),
    } = options;
    let current: ThrowawayStack | undefined;
    const fixture: StackFixture = {
        get current() {
            if (!current) throw new Error("the throwaway stack is not created yet");
            return current;
        },
        log: useEngineLog(() =>
            localContainerLog && current ? `\n--- container log ---\n${dockerLogs(current.containerName)}` : "",
        ),
    };
    before(async () => {
        current = await create(label, config);
    });
    after(async () => {
        try {
            if (current) {
                await destroy(current.stack, fixture.log).catch((error) => console.error(String(error)));
                await current.dispose();
            }
        } finally {
            await afterDispose?.();
            reapOrphanedPlugins();
        }
    });
    return fixture;
}

/**
 * docs/operations.md's recovery for a CLI killed while it saved state: the file backend rewrites each
 * checkpoint's `.attrs` sidecar in place (truncate, then write), so a kill in between leaves it empty
 * and every later command fails with "failed to load checkpoint: EOF". A missing sidecar is read as no
 * attributes: removing an empty or unreadable one recovers the stack. Returns what it removed.
 */
export function repairCheckpointSidecars(stateDirectory: string): string[] {
    const removed: string[] = [];
    const walk = (directory: string): void => {
        for (const entry of fs.readdirSync(directory, { withFileTypes: true })) {
            const entryPath = path.join(directory, entry.name);
            if (entry.isDirectory()) {
                walk(entryPath);
            } else if (entry.name.endsWith(".attrs") && !isJson(fs.readFileSync(entryPath, "utf8"))) {
                fs.rmSync(entryPath);
                removed.push(path.relative(stateDirectory, entryPath));
            }
        }
    };
    walk(stateDirectory);
    return removed;
}

function isJson(text: string): boolean {
    try {
        JSON.parse(text);
        return true;
    } catch {
        return false;
    }
}
