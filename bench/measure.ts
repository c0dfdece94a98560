/**
 * One measurement window against one server: load from vegeta or `openssl s_time` on the client
 * core, and the server's CPU time from its cgroup before and after.
 */
import { sTime } from "./opensslClient";
import { readProcess } from "./procfs";
import type { RunningServer } from "./servers";
import { attack } from "./vegeta";

/**
 * - full: a new connection and a full mTLS handshake per request (vegeta, no session offered; TLS 1.3);
 * - resumed13: a new connection per request offering the last session (vegeta -session-tickets: a TLS 1.3 PSK);
 * - keepalive: requests over kept-alive connections (vegeta);
 * - full12 / resumed12: TLS 1.2 full handshakes, and session-ID resumption (`openssl s_time -new` / `-reuse`);
 * - published: as full, through the port published on 127.0.0.1 (docker-proxy), what a default install gets.
 */
export type Mode = "full" | "resumed13" | "keepalive" | "full12" | "resumed12" | "published";
export const modes: readonly Mode[] = ["full", "resumed13", "keepalive", "full12", "resumed12", "published"];

export interface Sample {
    readonly server: string;
    readonly mode: Mode | "full@80%";
    readonly round: number;
    readonly requests: number;
    readonly succeeded: number;
    /** Succeeded requests per second. */
    readonly throughput: number;
    /** Offered rate for a fixed-rate run. */
    readonly offeredRate?: number;
    readonly p50Ms?: number;
    readonly p99Ms?: number;
    /** Server CPU (cgroup, user + system) per succeeded request, in microseconds. */
    readonly serverCpuUs: number;
    /** Kernel share of that. */
    readonly serverSystemShare: number;
    /** Server CPU time / wall time: 1 = the server core was saturated. */
    readonly serverBusy: number;
    /** docker-proxy CPU per request (published mode only), in microseconds. */
    readonly dockerProxyUs?: number;
    /** Connections that resumed a session (s_time modes: counted by the client). */
    readonly reused?: number;
    readonly errors: readonly string[];
}

export interface WindowOptions {
    readonly seconds: number;
    readonly concurrency: number;
    readonly clientCpu: number;
    readonly workDirectory: string;
    /** Fixed offered rate (requests/s); default: as fast as the workers go. */
    readonly rate?: number;
}

function proxyCpuSeconds(pids: readonly number[]): number {
    return pids.reduce((sum, pid) => sum + (readProcess(pid)?.cpuSeconds ?? 0), 0);
}

export function measureWindow(
    server: RunningServer,
    mode: Mode | "full@80%",
    round: number,
    options: WindowOptions,
): Sample {
    const keys = server.spec.keys;
    const identity = { certificatePath: keys.clientCertificatePath, keyPath: keys.clientKeyPath, caPath: keys.caPath };
    const cpuBefore = server.cpu();
    const proxyBefore = proxyCpuSeconds(server.proxyPids);
    const started = process.hrtime.bigint();
    let sample: Omit<Sample, "serverCpuUs" | "serverSystemShare" | "serverBusy" | "dockerProxyUs">;
    if (mode === "full12" || mode === "resumed12") {
        const result = sTime({
            address: server.address,
            keys,
            requestPath: new URL(server.url).pathname,
            mode: mode === "full12" ? "new" : "reuse",
            protocol: "tls1_2",
            processes: options.concurrency,
            seconds: options.seconds,
            clientCpu: options.clientCpu,
        });
        sample = {
            server: server.spec.label,
            mode,
            round,
            requests: result.connections,
            succeeded: result.connections,
            throughput: result.connections / options.seconds,
            reused: result.reused,
            errors: [],
        };
    } else {
        const published = mode === "published";
        if (published && !server.publishedPort) {
            throw new Error(`${server.spec.label} has no published port`);
        }
        const target = published ? `127.0.0.1:${server.publishedPort}` : `${server.address}:443`;
        const result = attack({
            url: server.url,
            connectTo: `${server.spec.serverName}:443:${target}`,
            identity,
            seconds: options.seconds,
            rate: options.rate ?? 0,
            workers: options.concurrency,
            keepalive: mode === "keepalive",
            sessionTickets: mode === "resumed13",
            clientCpu: options.clientCpu,
            workDirectory: options.workDirectory,
        });
        sample = {
            server: server.spec.label,
            mode,
            round,
            requests: result.requests,
            succeeded: result.succeeded,
            throughput: result.throughput,
            offeredRate: options.rate,
            p50Ms: result.p50Ms,
            p99Ms: result.p99Ms,
            errors: result.errors,
        };
    }
    const wallUs = Number(process.hrtime.bigint() - started) / 1000;
    const cpuAfter = server.cpu();
    const cpuUs = cpuAfter.totalUs - cpuBefore.totalUs;
    const proxyUs = (proxyCpuSeconds(server.proxyPids) - proxyBefore) * 1e6;
    // s_time runs in a container that takes a moment to start: its window is the -time it was given.
    const windowUs = mode === "full12" || mode === "resumed12" ? options.seconds * 1e6 : wallUs;
    return {
        ...sample,
        serverCpuUs: sample.succeeded > 0 ? cpuUs / sample.succeeded : Number.NaN,
        serverSystemShare: cpuUs > 0 ? (cpuAfter.systemUs - cpuBefore.systemUs) / cpuUs : Number.NaN,
        serverBusy: Math.min(1, cpuUs / windowUs),
        dockerProxyUs: mode === "published" && sample.succeeded > 0 ? proxyUs / sample.succeeded : undefined,
    };
}
