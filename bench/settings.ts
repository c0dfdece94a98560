/** Bench knobs, all from the environment so `npm run bench` needs no arguments. */
import * as path from "path";

export type NetworkMode = "published" | "host";
export type SectionName = "dataplane" | "crypto" | "deploy";

export interface BenchSettings {
    /** Length of one measurement window (BENCH_SECONDS). */
    readonly seconds: number;
    /** A/B rounds per metric; medians are taken over them (BENCH_ROUNDS). */
    readonly rounds: number;
    /** Load generator processes (BENCH_WORKERS). */
    readonly workers: number;
    /** Requests in flight at any time, over all workers (BENCH_CONCURRENCY). */
    readonly concurrency: number;
    /** Cap on completed requests per measurement, over all workers (BENCH_MAX_REQUESTS). */
    readonly maxRequests: number;
    /** "published": `-p 127.0.0.1:port:443` like the project (docker-proxy in the path); "host": host network. */
    readonly network: NetworkMode;
    /** Client counts for the deploy section (BENCH_CLIENTS). */
    readonly clientCounts: readonly number[];
    /** Sections to run (BENCH_SECTIONS), in this order. */
    readonly sections: readonly SectionName[];
    /** `openssl speed -seconds` per algorithm (BENCH_SPEED_SECONDS). */
    readonly speedSeconds: number;
    /** Soft budget for the whole run; the deploy section skips what would start after it (BENCH_BUDGET_SECONDS). */
    readonly budgetSeconds: number;
    /** Where the JSON goes (BENCH_OUTPUT). */
    readonly outputPath: string;
    /**
     * An nginx.conf to run as "project" instead of the renderer's output, with the project's
     * certificates (BENCH_PROJECT_NGINX_CONF): to try a renderer change before making it.
     */
    readonly projectConfigOverride?: string;
}

export const repoRoot = path.join(__dirname, "..");

function positiveInteger(name: string, fallback: number, max: number): number {
    const raw = process.env[name];
    if (raw === undefined || raw.trim() === "") {
        return fallback;
    }
    const value = Number(raw);
    if (!Number.isInteger(value) || value < 1 || value > max) {
        throw new Error(`${name}=${raw}: expected an integer from 1 to ${max}`);
    }
    return value;
}

function list<T extends string>(name: string, allowed: readonly T[], fallback: readonly T[]): T[] {
    const raw = process.env[name];
    if (raw === undefined || raw.trim() === "") {
        return [...fallback];
    }
    const values = raw.split(",").map((value) => value.trim().toLowerCase());
    for (const value of values) {
        if (!(allowed as readonly string[]).includes(value)) {
            throw new Error(`${name}=${raw}: "${value}" is not one of ${allowed.join(", ")}`);
        }
    }
    return values as T[];
}

export function readSettings(): BenchSettings {
    const clientsRaw = process.env.BENCH_CLIENTS?.trim() || "1,10,100";
    const clientCounts = clientsRaw.split(",").map((value) => Number(value.trim()));
    if (clientCounts.some((count) => !Number.isInteger(count) || count < 1 || count > 1000)) {
        throw new Error(`BENCH_CLIENTS=${clientsRaw}: expected a comma-separated list of integers from 1 to 1000`);
    }
    const network = list<NetworkMode>("BENCH_NETWORK", ["published", "host"], ["published"]);
    if (network.length !== 1) {
        throw new Error("BENCH_NETWORK takes one value: published or host");
    }
    return {
        seconds: positiveInteger("BENCH_SECONDS", 5, 600),
        rounds: positiveInteger("BENCH_ROUNDS", 3, 50),
        workers: positiveInteger("BENCH_WORKERS", 2, 16),
        concurrency: positiveInteger("BENCH_CONCURRENCY", 16, 1024),
        maxRequests: positiveInteger("BENCH_MAX_REQUESTS", 1_000_000, 100_000_000),
        network: network[0],
        clientCounts,
        sections: list<SectionName>(
            "BENCH_SECTIONS",
            ["dataplane", "crypto", "deploy"],
            ["dataplane", "crypto", "deploy"],
        ),
        speedSeconds: positiveInteger("BENCH_SPEED_SECONDS", 2, 60),
        budgetSeconds: positiveInteger("BENCH_BUDGET_SECONDS", 780, 86_400),
        projectConfigOverride: process.env.BENCH_PROJECT_NGINX_CONF?.trim()
            ? path.resolve(process.env.BENCH_PROJECT_NGINX_CONF.trim())
            : undefined,
        outputPath: path.resolve(
            process.env.BENCH_OUTPUT?.trim() || path.join(repoRoot, "bench", "results", "latest.json"),
        ),
    };
}
