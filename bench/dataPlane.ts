/**
 * Section 1: the data plane. The guide's config and the project's rendered config run side by side
 * in one run, with two references each: `openssl s_server` on the same keys, and the sum of the
 * handshake's public-key operations from `openssl speed` (bench/cryptoBound.ts). Every server is
 * pinned to the server core and reached on its bridge address; the load generators are pinned to
 * the client core. Measurements alternate between servers, round after round.
 */
import * as fs from "fs";
import * as os from "os";
import * as path from "path";

import { validateStackConfig } from "../config/stackConfig";
import { renderNginxConfig, trustDigest } from "../nginx/renderNginxConfig";
import { nginxConfigSpecOf } from "../steps/nginxConfigSpec";
import { assertDockerReady, testImage } from "../testkit/docker";
import { onCleanup } from "./cleanup";
import { measureSpeeds, publicKeySum, speedNamesFor, type PublicKeySum, type SpeedReport } from "./cryptoBound";
import { describeKeys, issueKeySet, type KeySet, type KeyTypes } from "./keys";
import { measureWindow, type Mode, type Sample } from "./measure";
import { probe, type ProbeResult } from "./opensslClient";
import { countLogLines, removeOrphanedContainers, startServer, type RunningServer, type ServerSpec } from "./servers";
import type { BenchSettings } from "./settings";
import { repoRoot } from "./settings";
import { median, ratio } from "./stats";

export type ConfigLabel = "guide" | "project";
export const configLabels: readonly ConfigLabel[] = ["guide", "project"];

export interface ModeSummary {
    /** Medians over rounds. */
    readonly throughput: number;
    readonly p50Ms?: number;
    readonly p99Ms?: number;
    readonly serverCpuUs: number;
    readonly serverSystemShare: number;
    readonly serverBusy: number;
    /** 1e6 / serverCpuUs: what one server core could do if the load generator kept up. */
    readonly perServerCore: number;
    readonly dockerProxyUs?: number;
    /** Share of connections that resumed (resumed modes, when known). */
    readonly reuseRatio?: number;
    readonly errors: number;
}

export interface ServerSummary {
    readonly label: string;
    readonly kind: ServerSpec["kind"];
    readonly config: ConfigLabel;
    readonly keys: KeyTypes;
    readonly description: string;
    readonly workers: number;
    readonly probe: ProbeResult;
    readonly modes: Partial<Record<Mode, ModeSummary>>;
}

export interface ConfigSummary {
    readonly label: ConfigLabel;
    readonly nginx: ServerSummary;
    readonly sServer: ServerSummary;
    readonly publicKeySum?: PublicKeySum;
    /** vegeta at 80 % of the peak full-handshake throughput measured above. */
    readonly at80Percent?: {
        readonly offeredRate: number;
        readonly throughput: number;
        readonly p50Ms: number;
        readonly p99Ms: number;
        readonly serverBusy: number;
        readonly errors: number;
    };
    readonly nginxConfig: string;
}

export interface DataPlaneReport {
    readonly status: "ok";
    readonly image: string;
    readonly seconds: number;
    readonly rounds: number;
    readonly concurrency: number;
    readonly serverCpu: number;
    readonly clientCpu: number;
    readonly speeds?: SpeedReport;
    readonly speedsError?: string;
    readonly configs: Record<ConfigLabel, ConfigSummary>;
    readonly samples: readonly Sample[];
}

export const guideKeys: KeyTypes = { ca: "RSA-4096", server: "RSA-2048", client: "RSA-2048" };

/** The default stack config for the image the bench runs (its key exchange groups follow the image). */
export function projectDefaults(): ReturnType<typeof validateStackConfig> {
    return validateStackConfig({ image: testImage }, { stack: "bench", projectDirectory: repoRoot });
}

export function projectKeys(): KeyTypes {
    const algorithm = projectDefaults().keyAlgorithm;
    return { ca: algorithm, server: algorithm, client: algorithm };
}

/** The renderer's output for the default stack config and these keys' CA, as stack.ts builds it. */
export function renderProjectConfig(keys: KeySet): string {
    const config = projectDefaults();
    return renderNginxConfig(
        nginxConfigSpecOf(config, {
            checkRevocation: false,
            trustDigest: trustDigest(fs.readFileSync(keys.caPath, "utf8"), ""),
        }),
    );
}

/**
 * The same config answering connections without SNI (for `openssl s_time`, which sends none): the
 * server that refuses unknown names goes, and the mTLS server becomes the default one.
 */
export function withoutSniCheck(config: string): string {
    const reject =
        /(\n[ \t]*#[^\n]*)*\n[ \t]*server \{\s*listen (\d+) ssl default_server;\s*ssl_reject_handshake on;[^}]*\}\n/;
    const match = reject.exec(config);
    if (!match) {
        throw new Error(
            "the rendered config has no `ssl_reject_handshake` default server to take out (renderer changed?)",
        );
    }
    const rest = config.replace(reject, "\n");
    const listen = new RegExp(`(listen ${match[2]} ssl);`);
    if (!listen.test(rest)) {
        throw new Error(`the rendered config has no "listen ${match[2]} ssl;" to make the default server`);
    }
    return rest.replace(listen, "$1 default_server;");
}

/** s_server options that match each Nginx config's TLS settings (tickets, groups). */
function sServerOptions(config: ConfigLabel): string[] {
    // The guide leaves tickets on and the groups at OpenSSL's defaults; the project turns tickets off
    // (a shared session cache only) and lists its groups (the hybrid first on the trixie image).
    return config === "guide" ? [] : ["-no_ticket", "-groups", projectDefaults().keyExchangeGroups.join(":")];
}

const nginxModes: readonly Mode[] = ["full", "resumed13", "keepalive", "full12", "resumed12", "published"];
const sServerModes: readonly Mode[] = ["full", "resumed13", "full12", "resumed12"];

interface Planned {
    readonly config: ConfigLabel;
    readonly kind: ServerSpec["kind"];
    readonly description: string;
    readonly modes: readonly Mode[];
    readonly server: RunningServer;
    /** For the project: TLS 1.2 modes go to its "no SNI check" twin. */
    readonly tls12Server?: RunningServer;
}

export async function runDataPlane(
    settings: BenchSettings,
    progress: (line: string) => void,
): Promise<DataPlaneReport> {
    assertDockerReady();
    removeOrphanedContainers();
    const tempRoot = fs.mkdtempSync(path.join(os.tmpdir(), "mtls-bench-"));
    const removeTemp = onCleanup(`remove ${tempRoot}`, () => fs.rmSync(tempRoot, { recursive: true, force: true }));
    const stops: Array<() => void> = [];
    try {
        let speeds: SpeedReport | undefined;
        let speedsError: string | undefined;
        try {
            progress(`data plane: openssl speed in ${testImage} on core ${settings.serverCpu}`);
            speeds = measureSpeeds(
                settings.speedSeconds,
                settings.serverCpu,
                speedNamesFor([guideKeys, projectKeys()]),
            );
        } catch (error) {
            speedsError = error instanceof Error ? error.message : String(error);
        }

        progress("data plane: issuing keys (RSA-4096 takes a few seconds)");
        const defaults = projectDefaults();
        const keySets: Record<ConfigLabel, KeySet> = {
            guide: issueKeySet(path.join(tempRoot, "keys-guide"), guideKeys, "localhost"),
            project: issueKeySet(
                path.join(tempRoot, "keys-project"),
                projectKeys(),
                defaults.serverName,
                defaults.organization,
            ),
        };
        const override = settings.projectConfigOverride;
        const projectConfig = override ? fs.readFileSync(override, "utf8") : renderProjectConfig(keySets.project);
        const nginxConfigs: Record<ConfigLabel, string> = {
            guide: fs.readFileSync(path.join(repoRoot, "bench", "guide-nginx.conf"), "utf8"),
            project: projectConfig,
        };
        const serverNames: Record<ConfigLabel, string> = { guide: "localhost", project: defaults.serverName };

        const start = async (spec: ServerSpec): Promise<RunningServer> => {
            const server = await startServer(spec, settings.serverCpu, tempRoot);
            stops.push(server.stop);
            progress(
                `data plane: ${spec.label} up at ${server.address}` +
                    (server.publishedPort ? ` and 127.0.0.1:${server.publishedPort}` : "") +
                    (spec.kind === "nginx" ? ` (${server.workers} worker(s))` : ""),
            );
            return server;
        };
        const planned: Planned[] = [];
        for (const config of configLabels) {
            const base = { keys: keySets[config], serverName: serverNames[config], requestPath: "/" };
            const nginx = await start({
                ...base,
                label: config,
                kind: "nginx",
                nginxConfig: nginxConfigs[config],
                publish: true,
            });
            const tls12Server =
                config === "project"
                    ? await start({
                          ...base,
                          label: "project (no SNI check)",
                          kind: "nginx",
                          nginxConfig: withoutSniCheck(nginxConfigs[config]),
                      })
                    : undefined;
            planned.push({
                config,
                kind: "nginx",
                description:
                    config === "guide"
                        ? "bench/guide-nginx.conf: a common guide's config (RSA, one worker, default groups, tickets on)"
                        : override
                          ? `OVERRIDE ${override} (BENCH_PROJECT_NGINX_CONF), project keys`
                          : "nginx/renderNginxConfig.ts, default stack config",
                modes: nginxModes,
                server: nginx,
                tls12Server,
            });
            const sServer = await start({
                ...base,
                label: `s_server (${config} keys)`,
                kind: "s_server",
                sServerOptions: sServerOptions(config),
            });
            planned.push({
                config,
                kind: "s_server",
                description: `openssl s_server -WWW on the ${config} keys, ${sServerOptions(config).join(" ") || "default options"}`,
                modes: sServerModes,
                server: sServer,
            });
        }

        const probes = new Map<Planned, ProbeResult>();
        for (const entry of planned) {
            const server = entry.server;
            probes.set(
                entry,
                probe(
                    server.address,
                    server.spec.serverName,
                    server.spec.keys,
                    settings.clientCpu,
                    new URL(server.url).pathname,
                ),
            );
        }

        const window = {
            seconds: settings.seconds,
            concurrency: settings.concurrency,
            clientCpu: settings.clientCpu,
            workDirectory: tempRoot,
        };
        // Warm-up, not recorded: page cache, session caches, the first connections of every worker.
        for (const entry of planned) {
            measureWindow(entry.server, "full", 0, { ...window, seconds: 1 });
        }
        const samples: Sample[] = [];
        for (let round = 1; round <= settings.rounds; round++) {
            for (const mode of nginxModes) {
                for (const entry of planned.filter((candidate) => candidate.modes.includes(mode))) {
                    const server =
                        (mode === "full12" || mode === "resumed12") && entry.tls12Server
                            ? entry.tls12Server
                            : entry.server;
                    const sample = {
                        ...measureWindow(server, mode, round, window),
                        server: `${entry.config}/${entry.kind}`,
                    };
                    samples.push(sample);
                    progress(describeSample(sample));
                }
            }
        }

        // p99 at 80 % of the peak full-handshake rate just measured, per Nginx config.
        const at80 = new Map<ConfigLabel, ConfigSummary["at80Percent"]>();
        for (const entry of planned.filter((candidate) => candidate.kind === "nginx")) {
            const peak = median(
                samples
                    .filter((s) => s.server === `${entry.config}/nginx` && s.mode === "full")
                    .map((s) => s.throughput),
            );
            if (!(peak > 0)) {
                continue;
            }
            const sample = {
                ...measureWindow(entry.server, "full@80%", 1, { ...window, rate: 0.8 * peak }),
                server: `${entry.config}/nginx`,
            };
            samples.push(sample);
            progress(describeSample(sample));
            at80.set(entry.config, {
                offeredRate: 0.8 * peak,
                throughput: sample.throughput,
                p50Ms: sample.p50Ms ?? Number.NaN,
                p99Ms: sample.p99Ms ?? Number.NaN,
                serverBusy: sample.serverBusy,
                errors: sample.requests - sample.succeeded,
            });
        }

        // TLS 1.3 resumption as the project's access log saw it ($ssl_session_reused).
        await new Promise((resolve) => setTimeout(resolve, 1500)); // the log buffer flushes every second
        const projectEntry = planned.find((entry) => entry.config === "project" && entry.kind === "nginx")!;
        const resumedLines = countLogLines(projectEntry.server.containerName, "tls=TLSv1\\.3 session_reused=r");
        const resumed13Requests = samples
            .filter((s) => s.server === "project/nginx" && s.mode === "resumed13")
            .reduce((sum, s) => sum + s.succeeded, 0);
        const projectReuse13 =
            resumed13Requests > 0 && !override ? Math.min(1, resumedLines / resumed13Requests) : undefined;

        const summarizeServer = (entry: Planned): ServerSummary => {
            const label = `${entry.config}/${entry.kind}`;
            const modesSummary: Partial<Record<Mode, ModeSummary>> = {};
            for (const mode of entry.modes) {
                const records = samples.filter((s) => s.server === label && s.mode === mode);
                const reuseRatio =
                    mode === "resumed12"
                        ? ratio(
                              records.reduce((sum, s) => sum + (s.reused ?? 0), 0),
                              records.reduce((sum, s) => sum + s.succeeded, 0),
                          )
                        : mode === "resumed13" && label === "project/nginx"
                          ? projectReuse13
                          : undefined;
                modesSummary[mode] = summarize(records, reuseRatio);
            }
            return {
                label,
                kind: entry.kind,
                config: entry.config,
                keys: entry.server.spec.keys.types,
                description: entry.description,
                workers: entry.server.workers,
                probe: probes.get(entry)!,
                modes: modesSummary,
            };
        };
        const configs = {} as Record<ConfigLabel, ConfigSummary>;
        for (const config of configLabels) {
            const nginx = summarizeServer(planned.find((entry) => entry.config === config && entry.kind === "nginx")!);
            const sServer = summarizeServer(
                planned.find((entry) => entry.config === config && entry.kind === "s_server")!,
            );
            let sum: PublicKeySum | undefined;
            if (speeds) {
                try {
                    sum = publicKeySum(speeds.speeds, keySets[config].types, nginx.probe.tls13Group);
                } catch (error) {
                    speedsError = `${config}: ${error instanceof Error ? error.message : String(error)}`;
                }
            }
            configs[config] = {
                label: config,
                nginx,
                sServer,
                publicKeySum: sum,
                at80Percent: at80.get(config),
                nginxConfig: nginxConfigs[config],
            };
        }
        return {
            status: "ok",
            image: testImage,
            seconds: settings.seconds,
            rounds: settings.rounds,
            concurrency: settings.concurrency,
            serverCpu: settings.serverCpu,
            clientCpu: settings.clientCpu,
            speeds,
            speedsError,
            configs,
            samples,
        };
    } finally {
        for (const stop of stops.reverse()) {
            stop();
        }
        removeTemp();
    }
}

export function summarize(records: readonly Sample[], reuseRatio?: number): ModeSummary {
    const med = (pick: (sample: Sample) => number | undefined): number =>
        median(records.map(pick).filter((value): value is number => value !== undefined));
    const cpu = med((s) => s.serverCpuUs);
    return {
        throughput: med((s) => s.throughput),
        p50Ms: records.some((s) => s.p50Ms !== undefined) ? med((s) => s.p50Ms) : undefined,
        p99Ms: records.some((s) => s.p99Ms !== undefined) ? med((s) => s.p99Ms) : undefined,
        serverCpuUs: cpu,
        serverSystemShare: med((s) => s.serverSystemShare),
        serverBusy: med((s) => s.serverBusy),
        perServerCore: ratio(1e6, cpu),
        dockerProxyUs: records.some((s) => s.dockerProxyUs !== undefined) ? med((s) => s.dockerProxyUs) : undefined,
        reuseRatio,
        errors: records.reduce((sum, s) => sum + (s.requests - s.succeeded), 0),
    };
}

export function describeSample(sample: Sample): string {
    const latency =
        sample.p99Ms !== undefined ? `  p50 ${sample.p50Ms?.toFixed(2)} p99 ${sample.p99Ms.toFixed(2)} ms` : "";
    const reused =
        sample.reused !== undefined
            ? `  reused ${((sample.reused / Math.max(1, sample.succeeded)) * 100).toFixed(1)}%`
            : "";
    const proxy = sample.dockerProxyUs !== undefined ? `  docker-proxy ${sample.dockerProxyUs.toFixed(0)} us` : "";
    const errors =
        sample.requests > sample.succeeded
            ? `  errors ${sample.requests - sample.succeeded} (${sample.errors[0] ?? "?"})`
            : "";
    return (
        `round ${sample.round} ${sample.mode.padEnd(9)} ${sample.server.padEnd(16)} ${sample.throughput.toFixed(0).padStart(6)}/s  ` +
        `server ${sample.serverCpuUs.toFixed(0).padStart(5)} us/req, core busy ${(sample.serverBusy * 100).toFixed(0)}%` +
        latency +
        reused +
        proxy +
        errors
    );
}

export { describeKeys };
