/**
 * `npm run bench`: data plane (guide baseline vs the project's rendered Nginx config), the crypto
 * bound from `openssl speed`, and deploy timings with the real engine when the toolchain is there.
 * Prints tables as sections finish and writes everything to bench/results/latest.json.
 *
 * Knobs (environment): BENCH_SECONDS (5), BENCH_ROUNDS (3), BENCH_CLIENTS (1,10,100), BENCH_WORKERS (2),
 * BENCH_CONCURRENCY (16), BENCH_MAX_REQUESTS (1000000), BENCH_NETWORK (published | host),
 * BENCH_SECTIONS (dataplane,crypto,deploy), BENCH_SPEED_SECONDS (2), BENCH_BUDGET_SECONDS (780),
 * BENCH_OUTPUT (bench/results/latest.json).
 */
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";

import { validateStackConfig } from "../config/stackConfig";
import { testImage } from "../tests/integration/docker";
import { runAll } from "./cleanup";
import { runCryptoBound, type ConfigKeys, type CryptoReport } from "./cryptoBound";
import { runDataPlane, type DataPlaneReport } from "./dataPlane";
import { runDeploy, type DeployReport } from "./deploy";
import {
    computeTargets,
    renderCrypto,
    renderDataPlane,
    renderDeploy,
    renderTargets,
    type TargetFigure,
} from "./report";
import { readSettings, repoRoot, type BenchSettings } from "./settings";

interface Failed {
    readonly status: "failed";
    readonly error: string;
}

interface Skipped {
    readonly status: "skipped";
    readonly reason: string;
}

interface BenchReport {
    readonly generatedAt: string;
    readonly settings: BenchSettings;
    readonly environment: Record<string, unknown>;
    dataPlane?: DataPlaneReport | Failed | Skipped;
    crypto?: CryptoReport | Failed | Skipped;
    deploy?: DeployReport | Failed;
    targets: TargetFigure[];
    durationSeconds?: number;
}

function progress(line: string): void {
    console.error(`[bench ${new Date().toISOString().slice(11, 19)}] ${line}`);
}

function commandOutput(command: string, args: readonly string[]): string {
    const result = spawnSync(command, args, { encoding: "utf8", timeout: 60_000 });
    return `${result.stdout ?? ""}${result.stderr ?? ""}`.trim();
}

/** Compilers and other builds running next to the bench make every figure smaller. */
function concurrentBuilds(): string[] {
    return commandOutput("pgrep", ["-af", "go build|compile"])
        .split("\n")
        .filter((line) => line.trim() !== "" && !line.includes("pgrep"))
        .map((line) => line.slice(0, 100));
}

function environment(): Record<string, unknown> {
    return {
        node: process.version,
        hostOpenssl: commandOutput("openssl", ["version"]),
        image: testImage,
        imageNginx: commandOutput("docker", ["run", "--rm", "--network", "none", testImage, "nginx", "-v"]),
        imageOpenssl: commandOutput("docker", ["run", "--rm", "--network", "none", testImage, "openssl", "version"]),
        cpus: os.cpus().length,
        cpuModel: os.cpus()[0]?.model,
        memoryGiB: Math.round(os.totalmem() / 2 ** 30),
        loadAverage: os.loadavg(),
        concurrentBuildsAtStart: concurrentBuilds(),
    };
}

function isFailed(value: unknown): value is Failed {
    return (value as Failed | undefined)?.status === "failed" && "error" in (value as object);
}

function message(error: unknown): string {
    return error instanceof Error ? error.message : String(error);
}

async function main(): Promise<number> {
    const settings = readSettings();
    const started = Date.now();
    const deadline = started + settings.budgetSeconds * 1000;
    const env = environment();
    const report: BenchReport = { generatedAt: new Date().toISOString(), settings, environment: env, targets: [] };
    let exitCode = 0;
    const section = (text: string): void => console.log(`\n${text}\n`);

    console.log(
        `mtls-nginx bench: ${env.cpus} CPUs (${env.cpuModel}), ${env.memoryGiB} GiB, node ${env.node}, ` +
            `${env.hostOpenssl}; image ${testImage}: ${env.imageNginx}, ${env.imageOpenssl}`,
    );
    const builds = env.concurrentBuildsAtStart as string[];
    if (builds.length > 0) {
        console.log(
            `WARNING: ${builds.length} build process(es) (go build / compile) are running: every figure below ` +
                "is depressed by CPU contention; use them for shape, not for absolute numbers.",
        );
    }

    try {
        if (settings.sections.includes("dataplane")) {
            try {
                report.dataPlane = await runDataPlane(settings, progress);
                section(renderDataPlane(report.dataPlane));
            } catch (error) {
                report.dataPlane = { status: "failed", error: message(error) };
                exitCode = 1;
                section(`1. Data plane: FAILED: ${message(error)}`);
            }
        } else {
            report.dataPlane = { status: "skipped", reason: "not in BENCH_SECTIONS" };
        }

        if (settings.sections.includes("crypto")) {
            try {
                const dataPlane = report.dataPlane?.status === "ok" ? report.dataPlane : undefined;
                const projectDefaults = validateStackConfig({}, { stack: "bench", projectDirectory: repoRoot });
                const configs: ConfigKeys[] = dataPlane
                    ? dataPlane.endpoints.map((endpoint) => ({
                          label: endpoint.label,
                          keyAlgorithms: endpoint.keyAlgorithms,
                          measuredFullHandshakes: dataPlane.summary[endpoint.label].full.rate,
                          nginxWorkers: endpoint.nginxWorkers,
                      }))
                    : [
                          { label: "guide", keyAlgorithms: { ca: "RSA-4096", server: "RSA-2048", client: "RSA-2048" } },
                          {
                              label: "project",
                              keyAlgorithms: {
                                  ca: projectDefaults.keyAlgorithm,
                                  server: projectDefaults.keyAlgorithm,
                                  client: projectDefaults.keyAlgorithm,
                              },
                          },
                      ];
                report.crypto = runCryptoBound(settings.speedSeconds, configs, os.cpus().length, progress);
                if (report.crypto.status !== "ok") {
                    exitCode = 1;
                }
                section(renderCrypto(report.crypto));
            } catch (error) {
                report.crypto = { status: "failed", error: message(error) };
                exitCode = 1;
                section(`2. Crypto bound: FAILED: ${message(error)}`);
            }
        } else {
            report.crypto = { status: "skipped", reason: "not in BENCH_SECTIONS" };
        }

        if (settings.sections.includes("deploy")) {
            try {
                report.deploy = await runDeploy(settings.clientCounts, deadline, progress);
                if (report.deploy.status === "failed") {
                    exitCode = 1;
                }
                section(renderDeploy(report.deploy));
            } catch (error) {
                report.deploy = { status: "failed", error: message(error) };
                exitCode = 1;
                section(`3. Deploy timings: FAILED: ${message(error)}`);
            }
        }
    } finally {
        runAll();
        report.targets = computeTargets(
            report.dataPlane?.status === "ok" ? report.dataPlane : undefined,
            report.deploy && !isFailed(report.deploy) ? report.deploy : undefined,
        );
        if (report.targets.length > 0) {
            section(renderTargets(report.targets));
        }
        report.durationSeconds = (Date.now() - started) / 1000;
        report.environment.concurrentBuildsAtEnd = concurrentBuilds();
        fs.mkdirSync(path.dirname(settings.outputPath), { recursive: true });
        fs.writeFileSync(settings.outputPath, `${JSON.stringify(report, jsonReplacer, 2)}\n`);
        const shown = path.relative(process.cwd(), settings.outputPath);
        console.log(
            `Wrote ${shown.startsWith("..") ? settings.outputPath : shown} (${report.durationSeconds.toFixed(0)} s in all).`,
        );
    }
    return exitCode;
}

/** NaN and Infinity become null in JSON anyway; typed arrays (none expected) become plain arrays. */
function jsonReplacer(_key: string, value: unknown): unknown {
    if (typeof value === "number" && !Number.isFinite(value)) {
        return null;
    }
    if (ArrayBuffer.isView(value) && !(value instanceof DataView)) {
        return Array.from(value as unknown as ArrayLike<number>);
    }
    return value;
}

main().then(
    (code) => {
        process.exitCode = code;
    },
    (error: unknown) => {
        console.error(`bench failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
        runAll();
        process.exitCode = 1;
    },
);
