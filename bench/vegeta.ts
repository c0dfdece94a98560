/**
 * The load generator: vegeta (built by scripts/setup-vegeta.sh), pinned to the client core with
 * `taskset`. One attack is one `vegeta attack` process; its results file is summarised by
 * `vegeta report -type=json`.
 */
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as path from "path";

import { vegetaBinary, vegetaVersion } from "../testkit/vegeta";

export interface ClientIdentity {
    readonly certificatePath: string;
    readonly keyPath: string;
    readonly caPath: string;
}

export interface AttackOptions {
    /** The URL as the client sees it: its host is the SNI and Host header. */
    readonly url: string;
    /** `host:port:address:port`: where the connections really go (no DNS, no docker-proxy unless asked). */
    readonly connectTo: string;
    readonly identity: ClientIdentity;
    readonly seconds: number;
    /** Requests per second; 0: as fast as `workers` allow. */
    readonly rate: number;
    readonly workers: number;
    /** false: a new connection (a new handshake) per request. */
    readonly keepalive: boolean;
    /** Offer the session from the previous connection (TLS 1.3 PSK, or TLS 1.2 tickets). */
    readonly sessionTickets: boolean;
    readonly clientCpu: number;
    readonly workDirectory: string;
}

export interface AttackResult {
    readonly requests: number;
    /** Requests answered 2xx. */
    readonly succeeded: number;
    /** Successful requests per second over the attack and the wait for the last answers. */
    readonly throughput: number;
    /** Requests sent per second. */
    readonly rate: number;
    readonly p50Ms: number;
    readonly p90Ms: number;
    readonly p99Ms: number;
    readonly maxMs: number;
    readonly errors: readonly string[];
}

interface VegetaReport {
    readonly latencies: Record<string, number>;
    readonly requests: number;
    readonly rate: number;
    readonly throughput: number;
    readonly success: number;
    readonly errors: readonly string[] | null;
}

export function attack(options: AttackOptions): AttackResult {
    const vegeta = vegetaBinary();
    const resultsPath = path.join(options.workDirectory, `attack-${process.pid}.bin`);
    const rate = options.rate > 0 ? `${Math.round(options.rate)}/1s` : "0";
    // prettier-ignore
    const args = [
        "-c", String(options.clientCpu), vegeta, "attack",
        "-duration", `${options.seconds}s`, "-timeout", "10s",
        "-rate", rate, "-workers", String(options.workers), "-max-workers", String(options.workers),
        `-keepalive=${options.keepalive}`, `-session-tickets=${options.sessionTickets}`, "-http2=false",
        "-cert", options.identity.certificatePath, "-key", options.identity.keyPath,
        "-root-certs", options.identity.caPath, "-connect-to", options.connectTo,
        "-output", resultsPath,
    ];
    const run = spawnSync("taskset", args, {
        input: `GET ${options.url}\n`,
        encoding: "utf8",
        timeout: (options.seconds + 40) * 1000,
    });
    try {
        if (run.status !== 0) {
            throw new Error(
                `vegeta attack failed (${run.error ? String(run.error) : `exit ${run.status}`}): ${run.stderr}`,
            );
        }
        const report = spawnSync(vegeta, ["report", "-type=json", resultsPath], { encoding: "utf8", timeout: 60_000 });
        if (report.status !== 0) {
            throw new Error(`vegeta report failed: ${report.stderr}`);
        }
        const parsed = JSON.parse(report.stdout) as VegetaReport;
        const ms = (key: string): number => (parsed.latencies[key] ?? Number.NaN) / 1e6;
        return {
            requests: parsed.requests,
            succeeded: Math.round(parsed.requests * parsed.success),
            throughput: parsed.throughput,
            rate: parsed.rate,
            p50Ms: ms("50th"),
            p90Ms: ms("90th"),
            p99Ms: ms("99th"),
            maxMs: ms("max"),
            errors: (parsed.errors ?? []).slice(0, 5),
        };
    } finally {
        fs.rmSync(resultsPath, { force: true });
    }
}

export function vegetaRuntime(): string {
    const result = spawnSync(vegetaBinary(), ["-version"], { encoding: "utf8", timeout: 10_000 });
    const runtime = /Runtime:\s*(\S+)/.exec(result.stdout ?? "")?.[1];
    return `vegeta ${vegetaVersion}${runtime ? ` (${runtime})` : ""}`;
}
