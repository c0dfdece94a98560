/**
 * Section 3: deploy timings with the real engine, through testkit/stack.ts (a throwaway stack per
 * client count, with its own state directory, port, container and host directory). Each stack is
 * destroyed and disposed before the next one starts, whatever happened.
 */
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { performance } from "perf_hooks";

import type { Stack, UpOptions, UpResult } from "@pulumi/pulumi/automation";

import { upInTwoPhases } from "../scripts/upPhases";
import { makeClientRequest } from "../testkit/pki";
import { clientNames } from "../testkit/stack";

export { clientNames };

import type { ThrowawayStack } from "../testkit/stack";
import { onCleanup } from "./cleanup";
import { MemorySampler } from "./procfs";
import { repoRoot } from "./settings";

export type DeployOperationName = "up from empty" | "no-op preview" | "add one client" | "rotate all" | "destroy";

export interface DeployOperation {
    readonly name: DeployOperationName;
    readonly status: "ok" | "failed" | "skipped";
    readonly seconds?: number;
    /** Peak RSS of the `pulumi` CLI process(es): the engine. */
    readonly enginePeakRssBytes?: number;
    /** Peak RSS of everything the bench had running below it: CLI, language host, program, providers. */
    readonly treePeakRssBytes?: number;
    readonly detail?: string;
}

/**
 * Which program deployed: the current one (the stack as a consumer of MtlsEndpoint), or the last one
 * before the component (a `git archive` of that commit), to measure what the component costs.
 */
export type DeployProgram = "component" | "before the component";

export interface DeployRun {
    readonly clients: number;
    readonly program: DeployProgram;
    /** How `up` from empty and the rotation ran (adding one client is always one `up`). */
    readonly upPath: UpPath;
    readonly clientKind: ClientKind;
    /** The machine's 1-minute load average when the run started and ended. */
    readonly loadAverage: readonly [number, number];
    readonly status: "ok" | "failed" | "skipped";
    readonly operations: readonly DeployOperation[];
    /** Bytes of `stack.exportStack()` as JSON, after the first `up` and after the rotation. */
    readonly stateBytesAfterUp?: number;
    readonly stateBytesAfterRotation?: number;
    readonly error?: string;
    /** The complete error text(s) of failed operations, engine output included. */
    readonly engineErrorText?: string;
}

export interface DeployReport {
    readonly status: "ok" | "skipped" | "failed";
    readonly reason?: string;
    /** The file whose absence skipped the section. */
    readonly missing?: string;
    readonly rotationMethod: string;
    readonly runs: readonly DeployRun[];
}

export const pulumiBinary = path.join(repoRoot, ".pulumi-home", "bin", "pulumi");

export const rotationMethod =
    "`stack.up({ replace: [...] })` with the URNs of every tls:index/* resource in the exported state " +
    "(CA, server and client keys, CSRs and certificates): the same as `pulumi up --replace <urn>...`, " +
    "so every certificate and key is re-issued and Nginx reloads, without waiting for a renewal window";

export function toolchainPresent(): boolean {
    return fs.existsSync(pulumiBinary);
}

export async function runDeploy(
    clientCounts: readonly number[],
    deadline: number,
    progress: (line: string) => void,
): Promise<DeployReport> {
    if (!toolchainPresent()) {
        return {
            status: "skipped",
            reason: "toolchain missing, run npm run setup",
            missing: path.relative(repoRoot, pulumiBinary),
            rotationMethod,
            runs: [],
        };
    }
    // Loaded only here: the throwaway-stack fixture pulls in the Automation API.
    const harness = await import("../testkit/stack");
    const runs: DeployRun[] = [];
    // The largest count also runs on the program before the component, in this same run: the cost of
    // the component is the difference (issue 19: at most 10 % on a 100-client preview and up).
    const largest = Math.max(...clientCounts);
    // It runs first: the first deploy of a run pays for cold caches, and that must not count for the component.
    // Only up to 100 clients, where issue 19 set the bound: the old program takes 20 minutes at 1,000.
    const plan = [
        ...(largest <= 100 ? [{ count: largest, program: "before the component" as DeployProgram }] : []),
        ...clientCounts.map((count) => ({ count, program: "component" as DeployProgram })),
    ];
    for (const { count, program } of plan) {
        if (Date.now() > deadline) {
            runs.push({
                clients: count,
                program,
                upPath: benchUpPath(),
                clientKind: benchClientKind(),
                loadAverage: [os.loadavg()[0], os.loadavg()[0]],
                status: "skipped",
                operations: [],
                error: "time budget used up",
            });
            continue;
        }
        runs.push(await runOne(harness, count, program, deadline, progress));
    }
    return {
        status: runs.some((run) => run.status === "failed") ? "failed" : "ok",
        rotationMethod,
        runs,
    };
}

async function runOne(
    harness: typeof import("../testkit/stack"),
    count: number,
    program: DeployProgram,
    deadline: number,
    progress: (line: string) => void,
): Promise<DeployRun> {
    const operations: DeployOperation[] = [];
    let engineOutput = "";
    const onOutput = (text: string): void => {
        engineOutput = (engineOutput + text).slice(-20_000);
    };
    const upPath = program === "component" ? benchUpPath() : "one phase";
    const clientKind = program === "component" ? benchClientKind() : "generated";
    const loadAtStart = os.loadavg()[0];
    const csrDirectory = fs.mkdtempSync(path.join(os.tmpdir(), "mtls-bench-csr-"));
    let deployment: ThrowawayStack | undefined;
    let stateBytesAfterUp: number | undefined;
    let stateBytesAfterRotation: number | undefined;
    let error: string | undefined;
    const fullErrors: string[] = [];
    // Interrupted mid-way: at least the container and the temp directories go (the state goes with them).
    let removeLeftovers: (() => void) | undefined;
    let removeFormer: (() => void) | undefined;

    const measure = async (
        name: DeployOperationName,
        operation: () => Promise<string | undefined>,
    ): Promise<boolean> => {
        if (Date.now() > deadline && name !== "destroy") {
            operations.push({ name, status: "skipped", detail: "time budget used up" });
            return false;
        }
        const sampler = new MemorySampler(process.pid, (info) => info.comm === "pulumi");
        const started = performance.now();
        let status: DeployOperation["status"] = "ok";
        let detail: string | undefined;
        try {
            detail = await operation();
        } catch (failure) {
            status = "failed";
            detail = engineErrors(failure);
            error ??= `${name}: ${detail}`;
            fullErrors.push(`${name}: ${failure instanceof Error ? failure.message : String(failure)}`);
        }
        const seconds = (performance.now() - started) / 1000;
        const memory = sampler.stop();
        operations.push({
            name,
            status,
            seconds,
            enginePeakRssBytes: memory.peakMatchingBytes,
            treePeakRssBytes: memory.peakTreeBytes,
            detail,
        });
        progress(
            `deploy: ${count} client(s), ${program}, ${name}: ${status} in ${seconds.toFixed(1)} s, ` +
                `engine peak ${(memory.peakMatchingBytes / 2 ** 20).toFixed(0)} MiB` +
                (detail ? ` (${detail})` : ""),
        );
        return status === "ok";
    };

    try {
        deployment = await harness.createThrowawayStack(`bench-${count}`, { smokeTest: "true" });
        const created = deployment;
        removeLeftovers = onCleanup(`dispose stack ${created.stackName}`, () => {
            fs.rmSync(path.join(repoRoot, `Pulumi.${created.stackName}.yaml`), { force: true });
            fs.rmSync(created.stateDirectory, { recursive: true, force: true });
            spawnSync("docker", ["rm", "-f", created.containerName], { stdio: "ignore" });
        });
        const former =
            program === "component" ? undefined : await harness.formerProgram(created, harness.programBeforeComponent);
        removeFormer = former?.dispose;
        const stack = former?.stack ?? created.stack;
        await setClientsOfKind(stack, count, clientKind, csrDirectory);

        const upOk = await measure("up from empty", async () => {
            const result = await upOnPath(stack, upPath, { onOutput });
            const smoke = harness.outputValue<string>(result.outputs, "smokeTest");
            if (!/^smoke test passed/.test(smoke)) {
                throw new Error(`endpoint not verified: ${smoke}`);
            }
            return `${result.summary.resourceChanges?.create ?? 0} created; ${smoke.slice(0, 60)}`;
        });
        if (upOk) {
            stateBytesAfterUp = Buffer.byteLength(JSON.stringify(await stack.exportStack()));
            await measure("no-op preview", async () => {
                const preview = await stack.preview({ onOutput });
                const changes = Object.entries(preview.changeSummary).filter(([op, n]) => !isNoChange(op) && n > 0);
                return changes.length === 0 ? "no changes" : `CHANGES: ${JSON.stringify(Object.fromEntries(changes))}`;
            });
            // The config change is not part of the timing: only the `up` that rolls it out.
            await setClientsOfKind(stack, count + 1, clientKind, csrDirectory);
            await measure("add one client", async () => {
                const result = await stack.up({ onOutput });
                return summarizeChanges(result.summary.resourceChanges);
            });
            const state = (await stack.exportStack()).deployment as {
                resources?: Array<{ urn: string; type: string }>;
            };
            const urns = (state.resources ?? [])
                .filter((resource) => resource.type.startsWith("tls:index/"))
                .map((resource) => resource.urn);
            await measure("rotate all", async () => {
                const result = await upOnPath(stack, upPath, { onOutput, replace: urns });
                const smoke = harness.outputValue<string>(result.outputs, "smokeTest");
                if (!/^smoke test passed/.test(smoke)) {
                    throw new Error(`endpoint not verified after the rotation: ${smoke}`);
                }
                return `${urns.length} tls resources replaced (${summarizeChanges(result.summary.resourceChanges)})`;
            });
            stateBytesAfterRotation = Buffer.byteLength(JSON.stringify(await stack.exportStack()));
        }
    } catch (failure) {
        error ??= failure instanceof Error ? failure.message : String(failure);
    } finally {
        if (deployment) {
            const created = deployment;
            await measure("destroy", async () => {
                await created.stack.destroy({ onOutput });
                return undefined;
            });
            await created.dispose().catch(() => undefined);
            removeLeftovers?.();
            removeFormer?.();
        }
        fs.rmSync(csrDirectory, { recursive: true, force: true });
    }
    if (error) {
        console.error(`--- engine output (last lines, ${count} clients) ---\n${engineOutput.slice(-4000)}`);
    }
    const engineErrorText = fullErrors.length > 0 ? fullErrors.join("\n").slice(0, 20_000) : undefined;
    return {
        clients: count,
        program,
        upPath,
        clientKind,
        loadAverage: [loadAtStart, os.loadavg()[0]],
        status: error ? "failed" : "ok",
        operations,
        stateBytesAfterUp,
        stateBytesAfterRotation,
        error,
        engineErrorText,
    };
}

/**
 * The useful part of an Automation API error: its "error:" lines, without the command scripts
 * the engine quotes in them (a CommandError's first line is only "code: ...").
 */
export function engineErrors(failure: unknown): string {
    const text = failure instanceof Error ? failure.message : String(failure);
    const lines = text
        .split("\n")
        .filter((line) => /error:/i.test(line) && !/^\s*(err\?|stderr): /.test(line))
        .map((line) =>
            line
                .replace(/running "(?:[^"\\]|\\.)*"/g, "running <script>")
                .replace(/\[diff: [^\]]*\]|\(\d+(\.\d+)?s\)|^\W+/g, "")
                .replace(/\s+/g, " ")
                .trim(),
        );
    const unique = [...new Set(lines)];
    return unique.length > 0 ? unique.slice(0, 3).join(" | ") : text.split("\n")[0];
}

function summarizeChanges(changes: Record<string, number> | undefined): string {
    const entries = Object.entries(changes ?? {}).filter(([op, n]) => !isNoChange(op) && n > 0);
    return entries.length === 0 ? "no changes" : entries.map(([op, n]) => `${n} ${op}`).join(", ");
}

/**
 * How the bench runs an `up` that changes many certificates: in two phases, as the project's commands
 * do (scripts/upPhases.ts; the default), or in one checkpointed `up`, as before (BENCH_UP_PATH).
 */
export type UpPath = "two phases" | "one phase";

export function benchUpPath(): UpPath {
    const value = process.env.BENCH_UP_PATH?.trim() || "two-phase";
    if (value !== "two-phase" && value !== "one-phase") {
        throw new Error(`BENCH_UP_PATH=${value}: expected two-phase or one-phase`);
    }
    return value === "two-phase" ? "two phases" : "one phase";
}

/** Where the clients' keys are made (BENCH_CLIENT_KIND): by the stack, or by the client, who sends a CSR. */
export type ClientKind = "generated" | "csr";

export function benchClientKind(): ClientKind {
    const value = process.env.BENCH_CLIENT_KIND?.trim() || "generated";
    if (value !== "generated" && value !== "csr") {
        throw new Error(`BENCH_CLIENT_KIND=${value}: expected generated or csr`);
    }
    return value;
}

/**
 * An `up` of many certificate changes (from empty, a rotation of everything) on the given path;
 * the change summary is both phases' together.
 */
export async function upOnPath(stack: Stack, upPath: UpPath, options: UpOptions = {}): Promise<UpResult> {
    if (upPath === "one phase") return stack.up(options);
    const { tls, endpoint } = await upInTwoPhases(stack, options);
    const changes: Record<string, number> = { ...endpoint.summary.resourceChanges };
    for (const [op, count] of Object.entries(tls.summary.resourceChanges ?? {})) {
        if (op !== "same") changes[op] = (changes[op] ?? 0) + count;
    }
    return { ...endpoint, summary: { ...endpoint.summary, resourceChanges: changes } };
}

/**
 * The clients of a stack of n clients: names, or with BENCH_CLIENT_KIND=csr a CSR file each, made
 * with openssl in `directory` (the keys stay there, as a partner's would) and named by a
 * {name, csrFile} entry, and one more client whose key the stack makes, for the smoke test. The
 * list goes into stack config, or into a clients file in `directory` (setClientList).
 */
export async function setClientsOfKind(
    stack: Stack,
    count: number,
    kind: ClientKind,
    directory: string,
): Promise<void> {
    const names = clientNames(count);
    // One client whose key the stack makes, first: the smoke test probes as it (config/smokeProbe.ts).
    const entries: BenchClientEntry[] =
        kind === "generated"
            ? names
            : ["smoke-probe", ...names.map((name) => ({ name, csrFile: clientRequestFile(directory, name) }))];
    await setClientList(stack, entries, directory);
}

/** A bench client as stack config lists it: a name, or a name and the file of its CSR. */
export type BenchClientEntry = string | { readonly name: string; readonly csrFile: string };

/**
 * How much of PULUMI_CONFIG, one environment string of at most 128 KiB (MAX_ARG_STRLEN), a clients
 * list may take in stack config; a longer one goes into a clients file (BENCH_CLIENTS_FILE=always:
 * every list does).
 */
export const stackConfigClientsBudget = 96 * 1024;

/** The bytes a clients list takes in PULUMI_CONFIG: JSON, as a JSON string inside the config's JSON. */
export function clientsConfigBytes(entries: readonly BenchClientEntry[]): number {
    return Buffer.byteLength(JSON.stringify(JSON.stringify(entries)));
}

/** Where a clients list goes: stack config (mtls-nginx:clients), or a clients file (mtls-nginx:clientsFile). */
export function clientListPlace(entries: readonly BenchClientEntry[]): "stack config" | "clients file" {
    const value = process.env.BENCH_CLIENTS_FILE?.trim() || "auto";
    if (value !== "auto" && value !== "always") {
        throw new Error(`BENCH_CLIENTS_FILE=${value}: expected auto or always`);
    }
    return value === "auto" && clientsConfigBytes(entries) <= stackConfigClientsBudget
        ? "stack config"
        : "clients file";
}

/**
 * Sets a stack's clients: in stack config as a structured list (one `pulumi config set-all --path`
 * call), or, when it would not fit (clientListPlace), as `clients.json` in `directory`, which
 * mtls-nginx:clientsFile names.
 */
export async function setClientList(
    stack: Stack,
    entries: readonly BenchClientEntry[],
    directory: string,
): Promise<void> {
    await stack.removeConfig("mtls-nginx:clients").catch(() => undefined);
    await stack.removeConfig("mtls-nginx:clientsFile").catch(() => undefined);
    if (clientListPlace(entries) === "clients file") {
        const file = path.join(directory, "clients.json");
        fs.writeFileSync(file, JSON.stringify(entries));
        await stack.setConfig("mtls-nginx:clientsFile", { value: file });
        return;
    }
    const paths = entries.flatMap(
        (entry, index): Array<[string, { value: string }]> =>
            typeof entry === "string"
                ? [[`mtls-nginx:clients[${index}]`, { value: entry }]]
                : [
                      [`mtls-nginx:clients[${index}].name`, { value: entry.name }],
                      [`mtls-nginx:clients[${index}].csrFile`, { value: entry.csrFile }],
                  ],
    );
    await stack.setAllConfig(Object.fromEntries(paths), true);
}

/** A client's CSR file (absolute), made once per directory. */
function clientRequestFile(directory: string, name: string): string {
    const csrPath = path.join(directory, `${name}.csr`);
    return fs.existsSync(csrPath) ? csrPath : makeClientRequest(directory, name).csrPath;
}

function isNoChange(op: string): boolean {
    return op === "same";
}
