/**
 * `npm run bench`: the data plane (the guide's Nginx config against the project's rendered one,
 * each with `openssl s_server` on the same keys and the `openssl speed` sum of its public-key
 * operations as references), and the Swarm platform on the test swarm (up from empty, rotation time
 * per replica). Opt-in: the renderer levers (--levers) and deploy timings with the
 * real engine (--deploy, when the toolchain is there). Prints tables as sections finish and writes
 * everything to bench/results/latest.json.
 *
 * Environment: BENCH_SECONDS (4), BENCH_ROUNDS (3), BENCH_CONCURRENCY (16), BENCH_SERVER_CPU (0),
 * BENCH_CLIENT_CPU (1), BENCH_SECTIONS (dataplane,swarm; also levers, deploy), BENCH_LEVERS (names),
 * BENCH_CLIENTS (1,10,100), BENCH_SPEED_SECONDS (1), BENCH_BUDGET_SECONDS (1500),
 * BENCH_PROJECT_NGINX_CONF, BENCH_OUTPUT.
 */
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";

import { testImage } from "../testkit/docker";
import { runAll } from "./cleanup";
import { runDataPlane, type DataPlaneReport } from "./dataPlane";
import { runDeploy, type DeployReport } from "./deploy";
import { runLevers, type LeversReport } from "./levers";
import { renderSwarm, runSwarm, type SwarmReport } from "./swarm";
import {
    computeTargets,
    renderDataPlane,
    renderDeploy,
    renderLevers,
    renderTargets,
    type TargetFigure,
} from "./report";
import { readSettings, repoRoot, type BenchSettings } from "./settings";
import { vegetaRuntime } from "./vegeta";

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
    levers?: LeversReport | Failed | Skipped;
    swarm?: SwarmReport | Skipped;
    deploy?: DeployReport | Failed | Skipped;
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
        imageBase: imageBase(),
        vegeta: safely(vegetaRuntime),
        imageNginx: commandOutput("docker", ["run", "--rm", "--network", "none", testImage, "nginx", "-v"]),
        imageOpenssl: commandOutput("docker", ["run", "--rm", "--network", "none", testImage, "openssl", "version"]),
        cpus: os.cpus().length,
        cpuModel: os.cpus()[0]?.model,
        memoryGiB: Math.round(os.totalmem() / 2 ** 30),
        loadAverage: os.loadavg(),
        concurrentBuildsAtStart: concurrentBuilds(),
    };
}

function safely(read: () => string): string {
    try {
        return read();
    } catch (error) {
        return `unavailable: ${message(error)}`;
    }
}

/** MTLS_NGINX_SUITE of scripts/nginx-image.env: the one place the image's base is chosen. */
function imageBase(): string {
    const text = fs.readFileSync(path.join(repoRoot, "scripts", "nginx-image.env"), "utf8");
    return `debian ${/^MTLS_NGINX_SUITE=(\S+)/m.exec(text)?.[1] ?? "?"}`;
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
    // Deploy steps that would start later than this are skipped: the reserve leaves room for the
    // last step that does start (up to about two minutes at 100 clients) and the destroy after it.
    const deployReserveSeconds = 150;
    const deadline = started + Math.max(0, settings.budgetSeconds - deployReserveSeconds) * 1000;
    const env = environment();
    const report: BenchReport = { generatedAt: new Date().toISOString(), settings, environment: env, targets: [] };
    let exitCode = 0;
    const section = (text: string): void => console.log(`\n${text}\n`);

    console.log(
        `mtls-nginx bench: ${env.cpus} CPUs (${env.cpuModel}), ${env.memoryGiB} GiB, node ${env.node}, ` +
            `${env.hostOpenssl}; image ${testImage} (${env.imageBase}): ${env.imageNginx}, ${env.imageOpenssl}; ${env.vegeta}`,
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
            report.dataPlane = { status: "skipped", reason: "not in the sections run" };
        }

        if (settings.sections.includes("levers")) {
            try {
                report.levers = await runLevers(settings, progress);
                section(renderLevers(report.levers));
            } catch (error) {
                report.levers = { status: "failed", error: message(error) };
                exitCode = 1;
                section(`2. Levers: FAILED: ${message(error)}`);
            }
        } else {
            report.levers = { status: "skipped", reason: "opt-in: npm run bench -- --levers" };
        }

        if (settings.sections.includes("swarm")) {
            report.swarm = await runSwarm(progress);
            if (report.swarm.status === "failed") {
                exitCode = 1;
            }
            section(renderSwarm(report.swarm));
        } else {
            report.swarm = { status: "skipped", reason: "not in the sections run" };
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
        } else {
            report.deploy = { status: "skipped", reason: "opt-in: npm run bench -- --deploy" };
        }
    } finally {
        runAll();
        report.targets = computeTargets(
            report.dataPlane?.status === "ok" ? report.dataPlane : undefined,
            report.deploy && !isFailed(report.deploy) && report.deploy.status !== "skipped" ? report.deploy : undefined,
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
