/** Just enough of /proc for CPU accounting and memory sampling (Linux only; best effort everywhere). */
import { spawnSync } from "child_process";
import * as fs from "fs";

export interface ProcessInfo {
    readonly pid: number;
    readonly ppid: number;
    readonly comm: string;
    /** User + system CPU time, in seconds. */
    readonly cpuSeconds: number;
    readonly rssBytes: number;
}

function getconf(name: string, fallback: number): number {
    const result = spawnSync("getconf", [name], { encoding: "utf8" });
    const value = Number(result.stdout?.trim());
    return result.status === 0 && Number.isFinite(value) && value > 0 ? value : fallback;
}

const clockTicks = getconf("CLK_TCK", 100);
const pageSize = getconf("PAGESIZE", 4096);

/** /proc/<pid>/stat of one process, or undefined when it is gone. */
export function readProcess(pid: number): ProcessInfo | undefined {
    let stat: string;
    try {
        stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8");
    } catch {
        return undefined;
    }
    // comm may contain spaces and parentheses: it runs from the first "(" to the last ")".
    const open = stat.indexOf("(");
    const close = stat.lastIndexOf(")");
    const fields = stat.slice(close + 2).split(" ");
    // fields[0] is field 3 (state): ppid is field 4, utime 14, stime 15, rss 24.
    return {
        pid,
        ppid: Number(fields[1]),
        comm: stat.slice(open + 1, close),
        cpuSeconds: (Number(fields[11]) + Number(fields[12])) / clockTicks,
        rssBytes: Number(fields[21]) * pageSize,
    };
}

export function listProcesses(): Map<number, ProcessInfo> {
    const processes = new Map<number, ProcessInfo>();
    for (const entry of fs.readdirSync("/proc")) {
        if (/^\d+$/.test(entry)) {
            const info = readProcess(Number(entry));
            if (info) {
                processes.set(info.pid, info);
            }
        }
    }
    return processes;
}

/** The process and everything below it. */
export function processTree(root: number, processes: Map<number, ProcessInfo>): ProcessInfo[] {
    const children = new Map<number, number[]>();
    for (const info of processes.values()) {
        const siblings = children.get(info.ppid) ?? [];
        siblings.push(info.pid);
        children.set(info.ppid, siblings);
    }
    const tree: ProcessInfo[] = [];
    const queue = [root];
    while (queue.length > 0) {
        const pid = queue.shift()!;
        const info = processes.get(pid);
        if (info) {
            tree.push(info);
        }
        queue.push(...(children.get(pid) ?? []));
    }
    return tree;
}

export function cmdline(pid: number): string[] {
    try {
        return fs.readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0").filter(Boolean);
    } catch {
        return [];
    }
}

/** Busy and total CPU seconds of the whole host since boot (first line of /proc/stat). */
export function hostCpu(): { busySeconds: number; totalSeconds: number } {
    const line = fs.readFileSync("/proc/stat", "utf8").split("\n")[0];
    const values = line.trim().split(/\s+/).slice(1).map(Number);
    // user nice system idle iowait irq softirq steal guest guest_nice: guest time is already in user.
    const total = values.slice(0, 8).reduce((sum, value) => sum + value, 0);
    const idle = values[3] + (values[4] ?? 0);
    return { busySeconds: (total - idle) / clockTicks, totalSeconds: total / clockTicks };
}

/** Samples the RSS of a process tree until stopped; reports the peak of the whole tree and of matching processes. */
export class MemorySampler {
    private peakTreeBytes = 0;
    private peakMatchingBytes = 0;
    private samples = 0;
    private readonly timer: NodeJS.Timeout;

    constructor(
        private readonly root: number,
        /** Which processes count as "the engine", e.g. comm === "pulumi". */
        private readonly matches: (info: ProcessInfo) => boolean,
        intervalMs = 200,
    ) {
        this.timer = setInterval(() => this.sample(), intervalMs);
        this.sample();
    }

    stop(): { peakTreeBytes: number; peakMatchingBytes: number; samples: number } {
        clearInterval(this.timer);
        this.sample();
        return { peakTreeBytes: this.peakTreeBytes, peakMatchingBytes: this.peakMatchingBytes, samples: this.samples };
    }

    private sample(): void {
        const tree = processTree(this.root, listProcesses()).filter((info) => info.pid !== this.root);
        const total = tree.reduce((sum, info) => sum + info.rssBytes, 0);
        const matching = tree.filter(this.matches).reduce((sum, info) => sum + info.rssBytes, 0);
        this.peakTreeBytes = Math.max(this.peakTreeBytes, total);
        this.peakMatchingBytes = Math.max(this.peakMatchingBytes, matching);
        this.samples++;
    }
}
