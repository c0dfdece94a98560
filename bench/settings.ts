/** Bench knobs, from the environment (and two flags) so `npm run bench` needs no arguments. */
import * as os from "os";
import * as path from "path";

export type SectionName = "dataplane" | "crypto" | "levers" | "swarm" | "deploy";
export const sectionNames: readonly SectionName[] = ["dataplane", "crypto", "levers", "swarm", "deploy"];
/**
 * What `npm run bench` runs without BENCH_SECTIONS or flags: the data plane (about 6 minutes) and the
 * Swarm platform (about 3 minutes). The levers (about 5 minutes) and the deploy timings (about 8
 * minutes) are opt-in, so that the default run stays under 12 minutes.
 */
export const defaultSections: readonly SectionName[] = ["dataplane", "swarm"];
export const flags = ["--levers", "--deploy"] as const;

export interface BenchSettings {
    /** Length of one measurement window, in seconds (BENCH_SECONDS). */
    readonly seconds: number;
    /** Rounds per measurement; medians are taken over them (BENCH_ROUNDS). */
    readonly rounds: number;
    /** vegeta workers, and `openssl s_time` processes: connections in flight (BENCH_CONCURRENCY). */
    readonly concurrency: number;
    /** The core every server container is pinned to (`docker run --cpuset-cpus`, BENCH_SERVER_CPU). */
    readonly serverCpu: number;
    /** The core the load generators are pinned to (`taskset -c`, BENCH_CLIENT_CPU). */
    readonly clientCpu: number;
    /** Client counts for the deploy section (BENCH_CLIENTS). */
    readonly clientCounts: readonly number[];
    /** Sections to run, in this order (BENCH_SECTIONS, plus the flags --levers and --deploy). */
    readonly sections: readonly SectionName[];
    /** Lever variants to measure in the levers section (BENCH_LEVERS; default all). */
    readonly levers?: readonly string[];
    /** `openssl speed -seconds` per algorithm (BENCH_SPEED_SECONDS). */
    readonly speedSeconds: number;
    /** The whole run's budget: deploy steps that would start after it (less a reserve) are skipped (BENCH_BUDGET_SECONDS). */
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

function integer(name: string, fallback: number, min: number, max: number): number {
    const raw = process.env[name];
    if (raw === undefined || raw.trim() === "") {
        return fallback;
    }
    const value = Number(raw);
    if (!Number.isInteger(value) || value < min || value > max) {
        throw new Error(`${name}=${raw}: expected an integer from ${min} to ${max}`);
    }
    return value;
}

function sections(argv: readonly string[]): SectionName[] {
    const raw = process.env.BENCH_SECTIONS;
    let chosen: SectionName[];
    if (raw !== undefined && raw.trim() !== "") {
        chosen = raw.split(",").map((value) => value.trim().toLowerCase()) as SectionName[];
        for (const value of chosen) {
            if (!sectionNames.includes(value)) {
                throw new Error(`BENCH_SECTIONS=${raw}: "${value}" is not one of ${sectionNames.join(", ")}`);
            }
        }
    } else {
        chosen = [...defaultSections];
    }
    for (const flag of flags) {
        const name = flag.slice(2) as SectionName;
        if (argv.includes(flag) && !chosen.includes(name)) {
            chosen.push(name);
        }
    }
    // Always in the canonical order: deploy last, since the budget cuts it first.
    return sectionNames.filter((name) => chosen.includes(name));
}

export function readSettings(argv: readonly string[] = process.argv.slice(2)): BenchSettings {
    const unknown = argv.filter((arg) => !(flags as readonly string[]).includes(arg));
    if (unknown.length > 0) {
        throw new Error(`unknown argument(s) ${unknown.join(" ")}: the bench takes ${flags.join(" and ")}`);
    }
    const clientsRaw = process.env.BENCH_CLIENTS?.trim() || "1,10,100";
    const clientCounts = clientsRaw.split(",").map((value) => Number(value.trim()));
    if (clientCounts.some((count) => !Number.isInteger(count) || count < 1 || count > 1000)) {
        throw new Error(`BENCH_CLIENTS=${clientsRaw}: expected a comma-separated list of integers from 1 to 1000`);
    }
    const lastCpu = os.cpus().length - 1;
    const serverCpu = integer("BENCH_SERVER_CPU", 0, 0, lastCpu);
    const clientCpu = integer("BENCH_CLIENT_CPU", Math.min(1, lastCpu), 0, lastCpu);
    const levers = process.env.BENCH_LEVERS?.trim();
    return {
        seconds: integer("BENCH_SECONDS", 4, 1, 600),
        rounds: integer("BENCH_ROUNDS", 3, 1, 50),
        concurrency: integer("BENCH_CONCURRENCY", 16, 1, 1024),
        serverCpu,
        clientCpu,
        clientCounts,
        sections: sections(argv),
        levers: levers ? levers.split(",").map((name) => name.trim()) : undefined,
        speedSeconds: integer("BENCH_SPEED_SECONDS", 1, 1, 60),
        budgetSeconds: integer("BENCH_BUDGET_SECONDS", 1500, 1, 86_400),
        projectConfigOverride: process.env.BENCH_PROJECT_NGINX_CONF?.trim()
            ? path.resolve(process.env.BENCH_PROJECT_NGINX_CONF.trim())
            : undefined,
        outputPath: path.resolve(
            process.env.BENCH_OUTPUT?.trim() || path.join(repoRoot, "bench", "results", "latest.json"),
        ),
    };
}
