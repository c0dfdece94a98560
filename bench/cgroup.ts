/**
 * A container's CPU time, from its own cgroup: cpuacct.usage (cgroup v1) or cpu.stat (v2). Every
 * process of the container is in it (master, workers), and so is the kernel work done in their
 * context (system calls, and the network stack's softirqs when they run on the container's core).
 */
import * as fs from "fs";

export interface CpuTime {
    /** User + system, in microseconds. */
    readonly totalUs: number;
    /** System (kernel) share, in microseconds; NaN when the cgroup does not say. */
    readonly systemUs: number;
}

export type CpuReader = () => CpuTime;

/** Reads /proc/<pid>/cgroup of a process of the container and returns a reader for its CPU time. */
export function containerCpuReader(pid: number): CpuReader {
    const lines = fs.readFileSync(`/proc/${pid}/cgroup`, "utf8").split("\n").filter(Boolean);
    for (const line of lines) {
        const [, controllers, cgroupPath] = /^\d+:([^:]*):(.*)$/.exec(line) ?? [];
        if (controllers === undefined) {
            continue;
        }
        if (controllers.split(",").includes("cpuacct")) {
            const directory = v1Directory(controllers, cgroupPath);
            if (directory) {
                return () => ({
                    totalUs: Number(fs.readFileSync(`${directory}/cpuacct.usage`, "utf8")) / 1000,
                    systemUs: systemFromCpuacctStat(directory),
                });
            }
        }
    }
    const unified = lines.find((line) => line.startsWith("0::"));
    if (unified) {
        const directory = `/sys/fs/cgroup${unified.slice(3)}`;
        if (fs.existsSync(`${directory}/cpu.stat`)) {
            return () => {
                const stat = keyValues(fs.readFileSync(`${directory}/cpu.stat`, "utf8"));
                return { totalUs: stat.usage_usec, systemUs: stat.system_usec ?? Number.NaN };
            };
        }
    }
    throw new Error(`no cpuacct (v1) or cpu.stat (v2) cgroup found for pid ${pid}:\n${lines.join("\n")}`);
}

function v1Directory(controllers: string, cgroupPath: string): string | undefined {
    // The hierarchy may be mounted as cpuacct, cpu,cpuacct or cpuacct,cpu.
    const candidates = [controllers, "cpuacct", "cpu,cpuacct", "cpuacct,cpu"];
    return candidates
        .map((mount) => `/sys/fs/cgroup/${mount}${cgroupPath}`)
        .find((directory) => fs.existsSync(`${directory}/cpuacct.usage`));
}

const userHz = 100;

function systemFromCpuacctStat(directory: string): number {
    try {
        const stat = keyValues(fs.readFileSync(`${directory}/cpuacct.stat`, "utf8"));
        return ((stat.system ?? Number.NaN) / userHz) * 1e6;
    } catch {
        return Number.NaN;
    }
}

function keyValues(text: string): Record<string, number> {
    const values: Record<string, number> = {};
    for (const line of text.split("\n")) {
        const [key, value] = line.trim().split(/\s+/);
        if (key && value !== undefined) {
            values[key] = Number(value);
        }
    }
    return values;
}
