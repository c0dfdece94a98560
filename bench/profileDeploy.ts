/**
 * `npm run bench:profile -- [clients]`: where the time of a deploy goes, for one client count.
 * `npm run bench:profile -- --scale 10,100,1000`: how the deploy grows with the client count.
 *
 * On a throwaway stack it times `up` from empty, a no-op preview and adding one client, twice:
 * plainly, and with the engine's gRPC log (PULUMI_DEBUG_GRPC), which splits each operation into
 * the program, this stack's own outputs read, registrations, and each provider's calls. The
 * checkpoint's share is the difference to one more `up` from empty with PULUMI_SKIP_CHECKPOINTS
 * (measured for attribution only: the product never sets it). Writes bench/results/profile-<n>.json.
 */
import * as fs from "fs";
import * as path from "path";
import { performance } from "perf_hooks";

import type { LocalWorkspace } from "@pulumi/pulumi/automation";

import { upClientsOnly } from "../scripts/upClientsOnly";
import { createThrowawayStack, ThrowawayStack } from "../testkit/stack";
import { onCleanup } from "./cleanup";
import * as os from "os";

import {
    benchClientKind,
    benchUpPath,
    clientNames,
    setClientList,
    setClientsOfKind,
    upOnPath,
    type ClientKind,
    type UpPath,
} from "./deploy";
import { MemorySampler } from "./procfs";
import { repoRoot } from "./settings";
import { median } from "./stats";

interface GrpcEntry {
    readonly method: string;
    readonly request?: { tok?: string };
    readonly metadata?: { name?: string; mode?: string } | string;
    readonly progress?: string;
    readonly timestamp: string;
    /** Nanoseconds (Go's time.Duration). */
    readonly duration?: number;
}

/**
 * One operation's time, split by what the gRPC log shows. Times in seconds; "...At" is counted from
 * the moment the Automation API started the CLI. The engine's server side logs only completion
 * times, so its calls are placed by when they completed.
 */
export interface OperationProfile {
    readonly operation: string;
    readonly seconds: number;
    readonly enginePeakRssMiB: number;
    /** CLI start, backend and config load, plugin discovery: until the language host is asked to run. */
    readonly programStartedAt?: number;
    /** The language host's Run call: the Node program from start to its last registration's end. */
    readonly programRunSeconds?: number;
    readonly ownOutputsReadDoneAt?: number;
    readonly firstRegistrationDoneAt?: number;
    readonly lastRegistrationDoneAt?: number;
    readonly registrations?: number;
    /** From the program's end to the CLI's exit: the last steps, the final checkpoint, shutdown. */
    readonly afterProgramSeconds?: number;
    /** Summed durations of each provider's calls by method (they overlap, so they may exceed the wall time). */
    readonly providerCallSeconds?: Record<string, Record<string, number>>;
    /** The same operation while the gRPC log is written (the split below is of this run). */
    readonly tracedSeconds?: number;
    /** The same operation with PULUMI_SKIP_CHECKPOINTS (for "up from empty" only). */
    readonly withoutCheckpointsSeconds?: number;
}

const clients = Number(process.argv.find((arg) => /^\d+$/.test(arg)) ?? 100);

/** Runs one operation, timed, with the engine's RSS sampled; with a gRPC log when `grpcLog` is given. */
async function timed(
    deployment: ThrowawayStack,
    operation: string,
    run: () => Promise<unknown>,
    environment: Record<string, string> = {},
): Promise<{ seconds: number; enginePeakRssMiB: number; startedAt: number }> {
    const workspace = deployment.stack.workspace as LocalWorkspace;
    for (const [key, value] of Object.entries(environment)) workspace.envVars[key] = value;
    const sampler = new MemorySampler(process.pid, (info) => info.comm === "pulumi");
    const startedAt = Date.now();
    const started = performance.now();
    try {
        await run();
    } finally {
        for (const key of Object.keys(environment)) delete workspace.envVars[key];
    }
    const seconds = (performance.now() - started) / 1000;
    const enginePeakRssMiB = sampler.stop().peakMatchingBytes / 2 ** 20;
    console.log(`${operation}: ${seconds.toFixed(1)} s, engine peak ${enginePeakRssMiB.toFixed(0)} MiB`);
    return { seconds, enginePeakRssMiB, startedAt };
}

function readGrpcLog(file: string): GrpcEntry[] {
    if (!fs.existsSync(file)) return [];
    return fs
        .readFileSync(file, "utf8")
        .split("\n")
        .filter((line) => line.trim() !== "")
        .map((line) => JSON.parse(line) as GrpcEntry);
}

function providerName(entry: GrpcEntry): string {
    if (typeof entry.metadata === "object" && entry.metadata?.name) return entry.metadata.name;
    return typeof entry.metadata === "string" ? entry.metadata : "unknown";
}

/** Splits one operation's gRPC log into the figures of OperationProfile. */
export function analyseGrpcLog(
    entries: readonly GrpcEntry[],
    startedAt: number,
    seconds: number,
): Partial<OperationProfile> {
    const at = (entry: GrpcEntry): number => (Date.parse(entry.timestamp) - startedAt) / 1000;
    const took = (entry: GrpcEntry): number => (entry.duration ?? 0) / 1e9;
    const done = entries.filter((entry) => entry.progress === "response_completed");
    const run = done.find((entry) => entry.method.endsWith("LanguageRuntime/Run"));
    const ownRead = done.find(
        (entry) =>
            entry.method.endsWith("ResourceMonitor/Invoke") &&
            ["pulumi:pulumi:readStackOutputs", "pulumi:pulumi:readStackResourceOutputs"].includes(
                entry.request?.tok ?? "",
            ),
    );
    const registrationsDone = done
        .filter((entry) => entry.method.endsWith("ResourceMonitor/RegisterResource"))
        .map(at)
        .sort((a, b) => a - b);
    const providerCallSeconds: Record<string, Record<string, number>> = {};
    for (const entry of done.filter((candidate) => candidate.method.includes("ResourceProvider/"))) {
        const method = entry.method.split("/").pop() ?? entry.method;
        const byMethod = (providerCallSeconds[providerName(entry)] ??= {});
        byMethod[method] = (byMethod[method] ?? 0) + took(entry);
    }
    return {
        programStartedAt: run ? at(run) - took(run) : undefined,
        programRunSeconds: run ? took(run) : undefined,
        ownOutputsReadDoneAt: ownRead ? at(ownRead) : undefined,
        firstRegistrationDoneAt: registrationsDone[0],
        lastRegistrationDoneAt: registrationsDone[registrationsDone.length - 1],
        registrations: registrationsDone.length,
        afterProgramSeconds: run ? seconds - at(run) : undefined,
        providerCallSeconds,
    };
}

async function profileOperation(
    deployment: ThrowawayStack,
    operation: string,
    run: () => Promise<unknown>,
    prepare: () => Promise<void>,
    logDirectory: string,
): Promise<OperationProfile> {
    await prepare();
    const plain = await timed(deployment, operation, run);
    return { operation, seconds: plain.seconds, enginePeakRssMiB: plain.enginePeakRssMiB, ...(await traced()) };

    async function traced(): Promise<Partial<OperationProfile>> {
        const log = path.join(logDirectory, `${operation.replace(/\W+/g, "-")}.jsonl`);
        await prepare();
        const traceRun = await timed(deployment, `${operation} (gRPC log)`, run, { PULUMI_DEBUG_GRPC: log });
        return {
            tracedSeconds: traceRun.seconds,
            ...analyseGrpcLog(readGrpcLog(log), traceRun.startedAt, traceRun.seconds),
        };
    }
}

/** One timed operation of the scale run, with the machine's 1-minute load average when it ended. */
interface ScaleTiming {
    readonly seconds: number;
    readonly enginePeakRssMiB: number;
    readonly loadAverage: number;
    /** A repeated operation: every run's seconds, in order (`seconds` is their median). */
    readonly samples?: readonly number[];
}

/** One client count of the scale run: plain timings, no gRPC log. */
interface ScalePoint {
    readonly clients: number;
    readonly upPath: UpPath;
    readonly clientKind: ClientKind;
    readonly upFromEmpty: ScaleTiming;
    readonly noOpPreview: ScaleTiming;
    readonly addOneClient: ScaleTiming;
    /**
     * Adding one more client through the clients-only `up` (scripts/upClientsOnly.ts): the existing
     * clients' resources held, so the engine skips their provider calls.
     */
    readonly addOneClientClientsOnly: ScaleTiming;
    /** `--replace` of every tls:index resource (BENCH_SCALE_ROTATE=0 leaves it out). */
    readonly rotateAll?: ScaleTiming;
    readonly stateBytes: number;
    readonly resources: number;
}

/** `timed`, with the load average added. */
async function timedWithLoad(
    deployment: ThrowawayStack,
    operation: string,
    run: () => Promise<unknown>,
): Promise<ScaleTiming> {
    const { seconds, enginePeakRssMiB } = await timed(deployment, operation, run);
    const loadAverage = os.loadavg()[0];
    console.log(`  (load average ${loadAverage.toFixed(1)})`);
    return { seconds, enginePeakRssMiB, loadAverage };
}

/**
 * `timedWithLoad`, run `count` times: the median run's figures (its seconds, memory and load), with
 * every run's seconds. One run varies by 10 % or more on this shared 2-core machine, which is as
 * much as a cut is worth at 1,000 clients.
 */
async function timedRepeatedly(count: number, time: (run: number) => Promise<ScaleTiming>): Promise<ScaleTiming> {
    const runs: ScaleTiming[] = [];
    for (let run = 0; run < count; run++) {
        runs.push(await time(run));
    }
    const seconds = runs.map((run) => run.seconds);
    // The memory and load of the middle run: with an odd count, the run the median is.
    const middle = [...runs].sort((a, b) => a.seconds - b.seconds)[Math.floor((runs.length - 1) / 2)];
    return count === 1 ? middle : { ...middle, seconds: median(seconds), samples: seconds };
}

/** BENCH_SCALE_SAMPLES: how many times the scale run times a no-op preview and adding a client. */
function scaleSamples(): number {
    const value = Number(process.env.BENCH_SCALE_SAMPLES ?? "3");
    if (!Number.isInteger(value) || value < 1 || value > 9) {
        throw new Error(`BENCH_SCALE_SAMPLES=${process.env.BENCH_SCALE_SAMPLES}: expected a whole number from 1 to 9`);
    }
    return value;
}

/** The URNs of every tls:index resource in the stack's state: what "rotate all" replaces. */
async function tlsUrns(deployment: ThrowawayStack): Promise<string[]> {
    const state = (await deployment.stack.exportStack()).deployment as {
        resources?: Array<{ urn: string; type: string }>;
    };
    return (state.resources ?? []).filter((resource) => resource.type.startsWith("tls:index/")).map((r) => r.urn);
}

/**
 * `--scale 10,100,1000`: `up` from empty, a no-op preview, adding one client and rotating everything
 * at each count, and the growth exponent between counts (t ~ n^k). `up` from empty and the rotation
 * take BENCH_UP_PATH (default: two phases, as the project's commands); the clients are
 * BENCH_CLIENT_KIND (CSR clients as {name, csrFile} entries), in stack config while the list fits in
 * PULUMI_CONFIG, in a clients file beyond (bench/deploy.ts's setClientList: 10,000 names, say). The
 * stacks are disposed without `destroy`: their state, container and volume are removed directly.
 */
async function scale(counts: readonly number[]): Promise<void> {
    const points: ScalePoint[] = [];
    const upPath = benchUpPath();
    const clientKind = benchClientKind();
    const rotate = process.env.BENCH_SCALE_ROTATE !== "0";
    const samples = scaleSamples();
    // The partners' keys and CSRs, and a clients file when the list needs one.
    const csrDirectory = fs.mkdtempSync(path.join(os.tmpdir(), "mtls-bench-csr-"));
    // They go when the run ends, fails or is interrupted.
    const removeCsrDirectory = onCleanup(`remove ${csrDirectory}`, () =>
        fs.rmSync(csrDirectory, { recursive: true, force: true }),
    );
    try {
        for (const count of counts) {
            const deployment = await createThrowawayStack(`scale-${count}`, { smokeTest: "true" });
            const removeLeftovers = onCleanup(`dispose stack ${deployment.stackName}`, () => void deployment.dispose());
            const stack = deployment.stack;
            const label = `${count} ${clientKind} clients, ${upPath}`;
            try {
                await setClientsOfKind(stack, count, clientKind, csrDirectory);
                const upFromEmpty = await timedWithLoad(deployment, `${label}: up from empty`, () =>
                    upOnPath(stack, upPath),
                );
                const noOpPreview = await timedRepeatedly(samples, (run) =>
                    timedWithLoad(deployment, `${label}: no-op preview (${run + 1} of ${samples})`, () =>
                        stack.preview(),
                    ),
                );
                // Each sample adds one more client: count + 1, count + 2, ...
                const addOneClient = await timedRepeatedly(samples, async (run) => {
                    await setClientsOfKind(stack, count + run + 1, clientKind, csrDirectory);
                    return timedWithLoad(deployment, `${label}: add one client (${run + 1} of ${samples})`, () =>
                        stack.up(),
                    );
                });
                // Then as many more, one at a time, through the clients-only up: count + samples + 1, ...
                const addOneClientClientsOnly = await timedRepeatedly(samples, async (run) => {
                    await setClientsOfKind(stack, count + samples + run + 1, clientKind, csrDirectory);
                    return timedWithLoad(
                        deployment,
                        `${label}: add one client, clients-only up (${run + 1} of ${samples})`,
                        () => upClientsOnly(stack),
                    );
                });
                const state = JSON.stringify(await stack.exportStack());
                const resources = (
                    (JSON.parse(state) as { deployment: { resources?: unknown[] } }).deployment.resources ?? []
                ).length;
                const urns = rotate ? await tlsUrns(deployment) : [];
                const rotateAll = rotate
                    ? await timedWithLoad(deployment, `${label}: rotate all (${urns.length} tls resources)`, () =>
                          upOnPath(stack, upPath, { replace: urns }),
                      )
                    : undefined;
                points.push({
                    clients: count,
                    upPath,
                    clientKind,
                    upFromEmpty,
                    noOpPreview,
                    addOneClient,
                    addOneClientClientsOnly,
                    rotateAll,
                    stateBytes: state.length,
                    resources,
                });
            } finally {
                await deployment.dispose();
                removeLeftovers();
            }
        }
    } finally {
        removeCsrDirectory();
    }
    const exponents = points.slice(1).map((point, index) => {
        const before = points[index];
        const exponent = (pick: (p: ScalePoint) => number) =>
            Math.log(pick(point) / pick(before)) / Math.log(point.clients / before.clients);
        return {
            from: before.clients,
            to: point.clients,
            upFromEmpty: exponent((p) => p.upFromEmpty.seconds),
            noOpPreview: exponent((p) => p.noOpPreview.seconds),
            addOneClient: exponent((p) => p.addOneClient.seconds),
            enginePeakRss: exponent((p) => p.upFromEmpty.enginePeakRssMiB),
            stateBytes: exponent((p) => p.stateBytes),
        };
    });
    const report = { points, exponents };
    const kindSuffix = `${clientKind === "csr" ? "-csr" : ""}${upPath === "one phase" ? "-one-phase" : ""}`;
    const output = path.join(resultsDirectory(), `scale-${counts.join("-")}${kindSuffix}.json`);
    fs.writeFileSync(output, JSON.stringify(report, null, 2) + "\n");
    console.log(JSON.stringify(report, null, 2));
    console.log(`written to ${path.relative(repoRoot, output)}`);
}

/** bench/results, made when missing: it is git-ignored, so a new checkout has none. */
function resultsDirectory(): string {
    const directory = path.join(repoRoot, "bench", "results");
    fs.mkdirSync(directory, { recursive: true });
    return directory;
}

async function main(): Promise<void> {
    const scaleIndex = process.argv.indexOf("--scale");
    if (scaleIndex >= 0) {
        return scale((process.argv[scaleIndex + 1] ?? "10,100,1000").split(",").map(Number));
    }
    const logDirectory = fs.mkdtempSync(path.join(resultsDirectory(), `profile-${clients}-`));
    const deployment = await createThrowawayStack(`profile-${clients}`, { smokeTest: "true" });
    const removeLeftovers = onCleanup(`dispose stack ${deployment.stackName}`, () => void deployment.dispose());
    const stack = deployment.stack;
    const profiles: OperationProfile[] = [];
    try {
        const names = clientNames(clients);
        // In stack config, or in a clients file (in the log directory) when the list would not fit.
        await setClientList(stack, names, logDirectory);
        const emptyState = async (): Promise<void> => {
            await stack.destroy();
            await setClientList(stack, names, logDirectory);
        };
        profiles.push(await profileOperation(deployment, "up from empty", () => stack.up(), emptyState, logDirectory));
        await emptyState();
        const skipped = await timed(deployment, "up from empty (PULUMI_SKIP_CHECKPOINTS)", () => stack.up(), {
            PULUMI_SKIP_CHECKPOINTS: "true",
        });
        // Only the intermediate checkpoints are skipped: the final state is saved as usual.
        await emptyState();
        await stack.up();
        profiles[0] = { ...profiles[0], withoutCheckpointsSeconds: skipped.seconds };
        profiles.push(
            await profileOperation(
                deployment,
                "no-op preview",
                () => stack.preview(),
                () => Promise.resolve(),
                logDirectory,
            ),
        );
        profiles.push(
            await profileOperation(
                deployment,
                "add one client",
                () => stack.up(),
                async () => {
                    await setClientList(stack, names, logDirectory);
                    await stack.up();
                    await setClientList(stack, clientNames(clients + 1), logDirectory);
                },
                logDirectory,
            ),
        );
        const stateBytes = Buffer.byteLength(JSON.stringify(await stack.exportStack()));
        const report = { clients, stateBytes, profiles, grpcLogs: path.relative(repoRoot, logDirectory) };
        const output = path.join(resultsDirectory(), `profile-${clients}.json`);
        fs.writeFileSync(output, JSON.stringify(report, null, 2) + "\n");
        console.log(JSON.stringify(report, null, 2));
        console.log(`written to ${path.relative(repoRoot, output)}`);
    } finally {
        await stack.destroy().catch(() => undefined);
        await deployment.dispose();
        removeLeftovers();
    }
}

main().catch((error: unknown) => {
    console.error(error);
    process.exit(1);
});
