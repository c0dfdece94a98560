/**
 * Section 1: the data plane, guide baseline against the project's rendered config, side by side
 * in one run. Both containers come from the same image and stay up for the whole section; the
 * measurements alternate between them (A B A B) so drift on a shared machine hits both alike.
 */
import * as fs from "fs";
import * as os from "os";
import * as path from "path";

import { validateStackConfig } from "../config/stackConfig";
import type { KeyAlgorithm } from "../domain/pki";
import { containerConfigDirectory, containerListenPort, endpointFiles, nginxConfigArgs } from "../nginx/files";
import { renderNginxConfig, trustDigest, type NginxConfigSpec } from "../nginx/renderNginxConfig";
import {
    assertDockerReady,
    docker,
    freePort,
    nginxConfigTest,
    removeContainer,
    startEndpoint,
    testImage,
    waitUntilServing,
    type RunningEndpoint,
} from "../tests/integration/docker";
import { TestPki } from "../tests/integration/pki";
import { tlsRequest } from "../tests/integration/tlsClient";
import { onCleanup } from "./cleanup";
import { LoadGeneratorPool, type Measurement } from "./loadGenerator";
import { cmdline, hostCpu, listProcesses, processTree } from "./procfs";
import { loadModes, type LoadMode, type LoadTarget } from "./protocol";
import type { BenchSettings } from "./settings";
import { repoRoot } from "./settings";
import { median, ratio } from "./stats";

export type ConfigLabel = "guide" | "project";
export const configLabels: readonly ConfigLabel[] = ["guide", "project"];

export interface EndpointDescription {
    readonly label: ConfigLabel;
    readonly description: string;
    readonly keyAlgorithms: { readonly ca: KeyAlgorithm; readonly server: KeyAlgorithm; readonly client: KeyAlgorithm };
    /** worker_processes as configured, and the worker count Nginx actually started. */
    readonly workerProcessesSetting: string;
    readonly nginxWorkers: number;
    readonly containerName: string;
    readonly port: number;
    readonly nginxConfig: string;
}

export interface Endpoint extends EndpointDescription {
    readonly target: LoadTarget;
    /** Processes whose CPU time is charged to each side of a measurement. */
    readonly containerPid: number;
    readonly proxyPids: readonly number[];
    readonly dockerPids: readonly number[];
}

/** CPU time per completed request, in microseconds, by who spent it. */
export interface CpuPerRequest {
    readonly nginx: number;
    readonly loadGenerator: number;
    /** docker-proxy: the userland proxy behind a port published on 127.0.0.1 (absent with host networking). */
    readonly dockerProxy: number;
    /** dockerd, containerd and the container's shim (they carry the container's stdout, i.e. its access log). */
    readonly dockerDaemons: number;
    /** The whole host, including anything else running (compilers, other tests). */
    readonly host: number;
}

export interface MeasurementRecord extends Measurement {
    readonly round: number;
    readonly cpuMicrosecondsPerRequest: CpuPerRequest;
    /** Host CPU busy share during the measurement (1 = every core busy). */
    readonly hostBusyShare: number;
}

export interface ModeSummary {
    readonly rate: number;
    readonly p50Ms: number;
    readonly p99Ms: number;
    readonly reuseRatio: number;
    readonly errors: number;
    readonly completed: number;
    readonly cpuMicrosecondsPerRequest: CpuPerRequest;
}

export interface DataPlaneReport {
    readonly status: "ok";
    readonly image: string;
    readonly network: BenchSettings["network"];
    readonly seconds: number;
    readonly rounds: number;
    readonly workers: number;
    readonly concurrency: number;
    readonly maxRequests: number;
    readonly cpus: number;
    readonly sharedCoresNote: string;
    readonly endpoints: readonly EndpointDescription[];
    readonly measurements: readonly MeasurementRecord[];
    /** Medians over rounds, by config then mode. */
    readonly summary: Record<ConfigLabel, Record<LoadMode, ModeSummary>>;
    /** project / guide of the medians, by mode. */
    readonly ratios: Record<LoadMode, { readonly rate: number; readonly p50Ms: number; readonly p99Ms: number }>;
}

const clientName = "bench-client";

export async function runDataPlane(
    settings: BenchSettings,
    progress: (line: string) => void,
): Promise<DataPlaneReport> {
    assertDockerReady();
    const tempRoot = fs.mkdtempSync(path.join(os.tmpdir(), "mtls-bench-"));
    const removeTemp = onCleanup(`remove ${tempRoot}`, () => fs.rmSync(tempRoot, { recursive: true, force: true }));
    const stops: Array<() => void> = [];
    let pool: LoadGeneratorPool | undefined;
    try {
        const endpoints = await startEndpoints(settings, tempRoot, stops, progress);

        pool = await LoadGeneratorPool.start(settings.workers);
        const stopPool = onCleanup("stop load generator", () => pool?.close());
        stops.push(stopPool);

        const options = {
            durationMs: settings.seconds * 1000,
            concurrency: settings.concurrency,
            maxRequests: settings.maxRequests,
        };
        // Warm-up (not recorded): JIT in the workers, Nginx's caches, the session cache.
        for (const endpoint of endpoints) {
            for (const mode of ["keepalive", "full"] as const) {
                const warm = await pool.run(mode, endpoint.target, {
                    ...options,
                    durationMs: Math.min(500, options.durationMs),
                });
                if (warm.completed === 0) {
                    throw new Error(
                        `warm-up against ${endpoint.label} (${mode}) completed no request: ` +
                            (warm.errorSamples.join("; ") || "no error reported"),
                    );
                }
            }
        }

        const measurements: MeasurementRecord[] = [];
        for (let round = 1; round <= settings.rounds; round++) {
            for (const mode of loadModes) {
                for (const endpoint of endpoints) {
                    const pids = pool.pids;
                    let before: CpuSnapshot | undefined;
                    let after: CpuSnapshot | undefined;
                    const measurement = await pool.run(mode, endpoint.target, options, {
                        opened: () => (before = cpuSnapshot(endpoint, pids)),
                        closed: () => (after = cpuSnapshot(endpoint, pids)),
                    });
                    // A window cut short by the request cap closes before its timer: account up to now.
                    after ??= cpuSnapshot(endpoint, pids);
                    before ??= after;
                    const record = withCpu(measurement, round, before, after);
                    measurements.push(record);
                    progress(
                        `data plane: round ${round}/${settings.rounds} ${mode.padEnd(9)} ${endpoint.label.padEnd(7)} ` +
                            `${record.rate.toFixed(0).padStart(7)}/s  p50 ${record.p50Ms.toFixed(2)} ms  ` +
                            `p99 ${record.p99Ms.toFixed(2)} ms` +
                            (mode === "resumed" ? `  reused ${(record.reuseRatio * 100).toFixed(1)}%` : "") +
                            (record.errors > 0 ? `  errors ${record.errors} (${record.errorSamples[0]})` : ""),
                    );
                }
            }
        }

        const summary = Object.fromEntries(
            configLabels.map((label) => [
                label,
                Object.fromEntries(
                    loadModes.map((mode) => [
                        mode,
                        summarize(measurements.filter((entry) => entry.target === label && entry.mode === mode)),
                    ]),
                ),
            ]),
        ) as Record<ConfigLabel, Record<LoadMode, ModeSummary>>;
        const ratios = Object.fromEntries(
            loadModes.map((mode) => [
                mode,
                {
                    rate: ratio(summary.project[mode].rate, summary.guide[mode].rate),
                    p50Ms: ratio(summary.project[mode].p50Ms, summary.guide[mode].p50Ms),
                    p99Ms: ratio(summary.project[mode].p99Ms, summary.guide[mode].p99Ms),
                },
            ]),
        ) as DataPlaneReport["ratios"];

        return {
            status: "ok",
            image: testImage,
            network: settings.network,
            seconds: settings.seconds,
            rounds: settings.rounds,
            workers: settings.workers,
            concurrency: settings.concurrency,
            maxRequests: settings.maxRequests,
            cpus: os.cpus().length,
            sharedCoresNote:
                `the load generator (${settings.workers} Node processes, ${settings.concurrency} requests in flight) ` +
                `and Nginx share the same ${os.cpus().length} cores` +
                (settings.network === "published" ? ", with docker-proxy in between" : ""),
            endpoints: endpoints.map(describe),
            measurements,
            summary,
            ratios,
        };
    } finally {
        for (const stop of stops.reverse()) {
            stop();
        }
        removeTemp();
    }
}

/** Issues both PKIs and starts both containers; `stops` collects their removal. */
export async function startEndpoints(
    settings: BenchSettings,
    tempRoot: string,
    stops: Array<() => void>,
    progress: (line: string) => void,
): Promise<Endpoint[]> {
    const endpoints: Endpoint[] = [];
    for (const prepare of [prepareGuide, prepareProject]) {
        const endpoint = await prepare(settings, tempRoot, stops);
        endpoints.push(endpoint);
        progress(
            `data plane: ${endpoint.label} up on 127.0.0.1:${endpoint.port} ` +
                `(${endpoint.keyAlgorithms.server}, ${endpoint.nginxWorkers} Nginx worker(s))`,
        );
    }
    return endpoints;
}

function describe(endpoint: Endpoint): EndpointDescription {
    return {
        label: endpoint.label,
        description: endpoint.description,
        keyAlgorithms: endpoint.keyAlgorithms,
        workerProcessesSetting: endpoint.workerProcessesSetting,
        nginxWorkers: endpoint.nginxWorkers,
        containerName: endpoint.containerName,
        port: endpoint.port,
        nginxConfig: endpoint.nginxConfig,
    };
}

async function prepareGuide(settings: BenchSettings, tempRoot: string, stops: Array<() => void>): Promise<Endpoint> {
    const pki = new TestPki(path.join(tempRoot, "guide-pki"));
    const root = pki.createRootCa("guide-root-ca", "RSA-4096");
    const server = pki.issueLeaf({
        name: "localhost",
        profile: "server",
        issuer: root,
        algorithm: "RSA-2048",
        dnsNames: ["localhost"],
        ipAddresses: ["127.0.0.1"],
    });
    const client = pki.issueLeaf({ name: clientName, profile: "client", issuer: root, algorithm: "RSA-2048" });
    const templatePath = path.join(repoRoot, "bench", "guide-nginx.conf");
    const template = fs.readFileSync(templatePath, "utf8");
    return startConfig(settings, tempRoot, stops, {
        label: "guide",
        description: "hand-written guide config (bench/guide-nginx.conf)",
        keyAlgorithms: { ca: "RSA-4096", server: "RSA-2048", client: "RSA-2048" },
        workerProcessesSetting: workerProcessesOf(template),
        render: (port) => withListenPort(template, templatePath, port),
        serverChainPem: server.chainPem,
        serverKeyPem: server.keyPem,
        caPem: root.certificatePem,
        client,
        serverName: "localhost",
    });
}

async function prepareProject(settings: BenchSettings, tempRoot: string, stops: Array<() => void>): Promise<Endpoint> {
    // Default settings exactly as a stack with an empty config gets them.
    const config = validateStackConfig({}, { stack: "bench", projectDirectory: repoRoot });
    const pki = new TestPki(path.join(tempRoot, "project-pki"), config.organization);
    const root = pki.createRootCa("project-root-ca", config.keyAlgorithm);
    const server = pki.issueLeaf({
        name: config.serverName,
        profile: "server",
        issuer: root,
        algorithm: config.keyAlgorithm,
        dnsNames: config.serverDnsNames,
        ipAddresses: config.serverIpAddresses,
    });
    const client = pki.issueLeaf({ name: clientName, profile: "client", issuer: root, algorithm: config.keyAlgorithm });
    // The spec stack.ts builds (no CRL: nobody is revoked by default).
    const spec = (port: number): NginxConfigSpec => ({
        serverNames: config.serverDnsNames,
        listenPort: port,
        verifyClient: config.verifyClient,
        verifyDepth: config.verifyDepth,
        workerProcesses: config.workerProcesses,
        locations: config.locations,
        checkRevocation: false,
        trustDigest: trustDigest(root.certificatePem, ""),
    });
    const override = settings.projectConfigOverride;
    const overrideText = override ? fs.readFileSync(override, "utf8") : undefined;
    return startConfig(settings, tempRoot, stops, {
        label: "project",
        description: override
            ? `OVERRIDE ${override} (BENCH_PROJECT_NGINX_CONF), not the renderer's output; project certificates`
            : "nginx/renderNginxConfig.ts with the default stack config",
        keyAlgorithms: { ca: config.keyAlgorithm, server: config.keyAlgorithm, client: config.keyAlgorithm },
        workerProcessesSetting: overrideText ? workerProcessesOf(overrideText) : config.workerProcesses,
        render: (port) =>
            override && overrideText ? withListenPort(overrideText, override, port) : renderNginxConfig(spec(port)),
        // stack.ts: the server certificate followed by the CA chain (empty without an intermediate).
        serverChainPem: server.chainPem,
        serverKeyPem: server.keyPem,
        caPem: root.certificatePem,
        client,
        serverName: config.serverName,
    });
}

function workerProcessesOf(config: string): string {
    return /^\s*worker_processes\s+([^;]+);/m.exec(config)?.[1] ?? "1 (default)";
}

/** A hand-written config listens on the container port; with host networking it moves to `port`. */
function withListenPort(config: string, file: string, port: number): string {
    const listen = new RegExp(`(^\\s*listen\\s+)${containerListenPort}(\\s)`, "gm");
    if (!listen.test(config)) {
        throw new Error(`${file} must listen on ${containerListenPort} ("listen ${containerListenPort} ssl;")`);
    }
    return config.replace(listen, `$1${port}$2`);
}

interface ConfigToStart {
    readonly label: ConfigLabel;
    readonly description: string;
    readonly keyAlgorithms: Endpoint["keyAlgorithms"];
    readonly workerProcessesSetting: string;
    /** The nginx.conf text for a listen port. */
    readonly render: (port: number) => string;
    readonly serverChainPem: string;
    readonly serverKeyPem: string;
    readonly caPem: string;
    readonly client: { readonly certificatePem: string; readonly keyPem: string };
    readonly serverName: string;
}

const benchLabel = "mtls-nginx.bench";

async function startConfig(
    settings: BenchSettings,
    tempRoot: string,
    stops: Array<() => void>,
    config: ConfigToStart,
): Promise<Endpoint> {
    const hostDirectory = path.join(tempRoot, config.label);
    fs.mkdirSync(hostDirectory, { recursive: true });
    // Published: Nginx listens on 443 in its own network namespace. Host network: on a free port of the host.
    const hostPort = settings.network === "host" ? await freePort() : containerListenPort;
    const nginxConfig = config.render(hostPort);
    const write = (name: string, text: string, mode = 0o644): void =>
        fs.writeFileSync(path.join(hostDirectory, name), text, { mode });
    write(endpointFiles.nginxConfig, nginxConfig);
    write(endpointFiles.serverCertificateChain, config.serverChainPem);
    write(endpointFiles.serverPrivateKey, config.serverKeyPem, 0o600);
    write(endpointFiles.clientTrustBundle, config.caPem);

    const test = nginxConfigTest(hostDirectory);
    if (test.status !== 0) {
        throw new Error(`nginx -t rejects the ${config.label} config:\n${test.stderr}${test.stdout}`);
    }

    let endpoint: RunningEndpoint;
    if (settings.network === "published") {
        endpoint = await startEndpoint(hostDirectory, `bench-${config.label}`);
    } else {
        const name = `mtls-nginx-bench-${process.pid}-${config.label}`;
        // prettier-ignore
        const result = docker([
            "run", "-d", "--name", name, "--label", `${benchLabel}=${process.pid}`, "--network", "host",
            "-v", `${hostDirectory}:${containerConfigDirectory}:ro`,
            testImage, "nginx", ...nginxConfigArgs, "-g", "daemon off;",
        ]);
        if (result.status !== 0) {
            docker(["rm", "-f", name]);
            throw new Error(`docker run (${config.label}) failed: ${result.stderr.trim()}`);
        }
        endpoint = { name, port: hostPort };
    }
    stops.push(onCleanup(`remove container ${endpoint.name}`, () => removeContainer(endpoint.name)));

    const target: LoadTarget = {
        label: config.label,
        port: endpoint.port,
        serverName: config.serverName,
        path: "/",
        caPem: config.caPem,
        certificatePem: config.client.certificatePem,
        keyPem: config.client.keyPem,
    };
    await waitUntilServing(endpoint, async () => {
        const response = await tlsRequest({
            port: endpoint.port,
            servername: config.serverName,
            ca: config.caPem,
            cert: config.client.certificatePem,
            key: config.client.keyPem,
        });
        if (response.status !== 200) {
            throw new Error(`HTTP ${response.status}: ${response.body}`);
        }
    });

    const containerPid = Number(docker(["inspect", "--format", "{{.State.Pid}}", endpoint.name]).stdout.trim());
    const processes = listProcesses();
    const nginxWorkers = processTree(containerPid, processes).filter((info) => info.pid !== containerPid).length;
    const proxyPids = [...processes.values()]
        .filter((info) => info.comm === "docker-proxy")
        .filter((info) => {
            const args = cmdline(info.pid);
            const index = args.indexOf("-host-port");
            return index >= 0 && args[index + 1] === String(endpoint.port);
        })
        .map((info) => info.pid);
    const shim = processes.get(processes.get(containerPid)?.ppid ?? -1);
    const dockerPids = [
        ...[...processes.values()]
            .filter((info) => info.comm === "dockerd" || info.comm === "containerd")
            .map((info) => info.pid),
        ...(shim && shim.comm.startsWith("containerd-shim") ? [shim.pid] : []),
    ];

    return {
        label: config.label,
        description: config.description,
        keyAlgorithms: config.keyAlgorithms,
        workerProcessesSetting: config.workerProcessesSetting,
        nginxWorkers,
        containerName: endpoint.name,
        port: endpoint.port,
        nginxConfig,
        target,
        containerPid,
        proxyPids,
        dockerPids,
    };
}

interface CpuSnapshot {
    readonly nginx: number;
    readonly loadGenerator: number;
    readonly dockerProxy: number;
    readonly dockerDaemons: number;
    readonly hostBusy: number;
    readonly hostTotal: number;
}

function cpuSnapshot(endpoint: Endpoint, loadGeneratorPids: readonly number[]): CpuSnapshot {
    const processes = listProcesses();
    const cpuOf = (pids: readonly number[]): number =>
        pids.reduce((sum, pid) => sum + (processes.get(pid)?.cpuSeconds ?? 0), 0);
    const host = hostCpu();
    return {
        nginx: processTree(endpoint.containerPid, processes).reduce((sum, info) => sum + info.cpuSeconds, 0),
        loadGenerator: cpuOf(loadGeneratorPids),
        dockerProxy: cpuOf(endpoint.proxyPids),
        dockerDaemons: cpuOf(endpoint.dockerPids),
        hostBusy: host.busySeconds,
        hostTotal: host.totalSeconds,
    };
}

function withCpu(measurement: Measurement, round: number, before: CpuSnapshot, after: CpuSnapshot): MeasurementRecord {
    const perRequest = (key: keyof CpuSnapshot): number =>
        measurement.completed > 0 ? ((after[key] - before[key]) / measurement.completed) * 1e6 : Number.NaN;
    return {
        ...measurement,
        round,
        cpuMicrosecondsPerRequest: {
            nginx: perRequest("nginx"),
            loadGenerator: perRequest("loadGenerator"),
            dockerProxy: perRequest("dockerProxy"),
            dockerDaemons: perRequest("dockerDaemons"),
            host: perRequest("hostBusy"),
        },
        hostBusyShare: ratio(after.hostBusy - before.hostBusy, after.hostTotal - before.hostTotal),
    };
}

function summarize(records: readonly MeasurementRecord[]): ModeSummary {
    const cpu = (key: keyof CpuPerRequest): number =>
        median(records.map((record) => record.cpuMicrosecondsPerRequest[key]));
    return {
        rate: median(records.map((record) => record.rate)),
        p50Ms: median(records.map((record) => record.p50Ms)),
        p99Ms: median(records.map((record) => record.p99Ms)),
        reuseRatio: median(records.map((record) => record.reuseRatio)),
        errors: records.reduce((sum, record) => sum + record.errors, 0),
        completed: records.reduce((sum, record) => sum + record.completed, 0),
        cpuMicrosecondsPerRequest: {
            nginx: cpu("nginx"),
            loadGenerator: cpu("loadGenerator"),
            dockerProxy: cpu("dockerProxy"),
            dockerDaemons: cpu("dockerDaemons"),
            host: cpu("host"),
        },
    };
}
