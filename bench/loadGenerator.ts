/** The parent side of the load generator: a pool of forked workers (bench/loadWorker.ts) driven over IPC. */
import { fork, type ChildProcess } from "child_process";
import * as path from "path";

import type { LoadMode, LoadTarget, RunRequest, RunResult, WorkerMessage } from "./protocol";
import { percentile } from "./stats";

export interface LoadOptions {
    readonly durationMs: number;
    readonly concurrency: number;
    readonly maxRequests: number;
    readonly timeoutMs?: number;
}

/** One measurement, merged over the workers. */
export interface Measurement {
    readonly mode: LoadMode;
    readonly target: string;
    /** Completed requests per second (a request per connection for full and resumed). */
    readonly rate: number;
    readonly completed: number;
    readonly errors: number;
    readonly errorSamples: readonly string[];
    readonly connections: number;
    /** Negotiated TLS versions of the new connections. */
    readonly protocols: Readonly<Record<string, number>>;
    /** Share of the new connections that resumed a session. */
    readonly reuseRatio: number;
    readonly elapsedSeconds: number;
    readonly p50Ms: number;
    readonly p99Ms: number;
}

interface Waiter {
    resolve(result: RunResult): void;
    reject(error: Error): void;
}

export class LoadGeneratorPool {
    private nextRunId = 1;
    private readonly waiters = new Map<string, Waiter>();

    private constructor(private readonly children: readonly ChildProcess[]) {
        children.forEach((child, index) => {
            child.on("message", (message: WorkerMessage) => {
                if (message.kind === "ready") {
                    return;
                }
                const waiter = this.waiters.get(`${index}:${message.runId}`);
                this.waiters.delete(`${index}:${message.runId}`);
                if (message.kind === "result") {
                    waiter?.resolve(message);
                } else {
                    waiter?.reject(new Error(`load worker ${index}: ${message.error}`));
                }
            });
            child.on("exit", (code, signal) => {
                for (const [key, waiter] of this.waiters) {
                    if (key.startsWith(`${index}:`)) {
                        this.waiters.delete(key);
                        waiter.reject(new Error(`load worker ${index} exited (code ${code}, signal ${signal})`));
                    }
                }
            });
        });
    }

    /** Forks the workers (ts-node in transpile-only mode: they start in well under a second each). */
    static async start(workers: number): Promise<LoadGeneratorPool> {
        const children = Array.from({ length: workers }, () =>
            fork(path.join(__dirname, "loadWorker.ts"), [], {
                execArgv: ["-r", "ts-node/register/transpile-only"],
                serialization: "advanced",
                stdio: ["ignore", "inherit", "inherit", "ipc"],
            }),
        );
        const pool = new LoadGeneratorPool(children);
        try {
            await Promise.all(
                children.map(
                    (child, index) =>
                        new Promise<void>((resolve, reject) => {
                            const timer = setTimeout(
                                () => reject(new Error(`load worker ${index} did not start`)),
                                60_000,
                            );
                            child.on("message", (message: WorkerMessage) => {
                                if (message.kind === "ready") {
                                    clearTimeout(timer);
                                    resolve();
                                }
                            });
                            child.once("exit", (code) => {
                                clearTimeout(timer);
                                reject(new Error(`load worker ${index} exited with code ${code} while starting`));
                            });
                        }),
                ),
            );
        } catch (error) {
            pool.close();
            throw error;
        }
        return pool;
    }

    get pids(): number[] {
        return this.children.map((child) => child.pid).filter((pid): pid is number => pid !== undefined);
    }

    /**
     * One measurement over all workers. `window` callbacks run when the window opens and when it
     * is due to close (for CPU accounting of exactly the measured interval).
     */
    async run(
        mode: LoadMode,
        target: LoadTarget,
        options: LoadOptions,
        window?: { readonly opened: () => void; readonly closed: () => void },
    ): Promise<Measurement> {
        const workers = this.children.length;
        const runId = this.nextRunId++;
        // Sessions for "resumed" are primed before startAt; leave room for that.
        const startAt = Date.now() + (mode === "resumed" ? 1500 : 300);
        const timers = window
            ? [
                  setTimeout(window.opened, startAt - Date.now()),
                  setTimeout(window.closed, startAt + options.durationMs - Date.now()),
              ]
            : [];
        const results = await Promise.all(
            this.children.map((child, index) => {
                const share = (total: number): number =>
                    Math.floor(total / workers) + (index < total % workers ? 1 : 0);
                const request: RunRequest = {
                    kind: "run",
                    runId,
                    mode,
                    target,
                    startAt,
                    durationMs: options.durationMs,
                    maxRequests: Math.max(1, share(options.maxRequests)),
                    concurrency: Math.max(1, share(options.concurrency)),
                    timeoutMs: options.timeoutMs ?? 10_000,
                };
                return new Promise<RunResult>((resolve, reject) => {
                    this.waiters.set(`${index}:${runId}`, { resolve, reject });
                    child.send(request);
                });
            }),
        );
        for (const timer of timers) {
            clearTimeout(timer);
        }
        const latencies = new Float64Array(results.reduce((sum, result) => sum + result.latenciesMs.length, 0));
        let offset = 0;
        for (const result of results) {
            latencies.set(result.latenciesMs, offset);
            offset += result.latenciesMs.length;
        }
        latencies.sort();
        const sum = (pick: (result: RunResult) => number): number =>
            results.reduce((total, result) => total + pick(result), 0);
        const connections = sum((result) => result.connections);
        return {
            mode,
            target: target.label,
            // Workers run over the same window: their rates add up.
            rate: sum((result) => (result.elapsedMs > 0 ? result.completed / (result.elapsedMs / 1000) : 0)),
            completed: sum((result) => result.completed),
            errors: sum((result) => result.errors),
            errorSamples: [...new Set(results.flatMap((result) => result.errorSamples))].slice(0, 5),
            connections,
            protocols: results.reduce<Record<string, number>>((merged, result) => {
                for (const [protocol, n] of Object.entries(result.protocols)) {
                    merged[protocol] = (merged[protocol] ?? 0) + n;
                }
                return merged;
            }, {}),
            reuseRatio: connections > 0 ? sum((result) => result.reused) / connections : Number.NaN,
            elapsedSeconds: Math.max(...results.map((result) => result.elapsedMs)) / 1000,
            p50Ms: percentile(latencies, 50),
            p99Ms: percentile(latencies, 99),
        };
    }

    close(): void {
        for (const child of this.children) {
            if (child.connected) {
                child.send({ kind: "exit" });
                child.disconnect();
            }
            if (child.exitCode === null && child.pid !== undefined) {
                child.kill();
            }
        }
    }
}
