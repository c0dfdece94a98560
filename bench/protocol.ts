/** Messages between the bench (parent) and its load generator processes (bench/loadWorker.ts). */

/**
 * - full: a new TLS connection per request, never offering a session (every handshake is a full mTLS handshake);
 * - resumed: a new TLS connection per request, offering the session the previous connection of the same slot got;
 * - keepalive: requests one after another over a kept-alive connection (reconnecting when the server closes it).
 */
export type LoadMode = "full" | "resumed" | "keepalive";

export const loadModes: readonly LoadMode[] = ["full", "resumed", "keepalive"];

/** One endpoint and the client identity presented to it. */
export interface LoadTarget {
    /** Key for the worker's secure-context cache. */
    readonly label: string;
    readonly port: number;
    /** SNI, Host header and the name the server certificate must carry. */
    readonly serverName: string;
    readonly path: string;
    readonly caPem: string;
    readonly certificatePem: string;
    readonly keyPem: string;
}

export interface RunRequest {
    readonly kind: "run";
    readonly runId: number;
    readonly mode: LoadMode;
    readonly target: LoadTarget;
    /** Epoch milliseconds at which every worker starts counting (sessions are primed before). */
    readonly startAt: number;
    readonly durationMs: number;
    /** This worker's share of the request cap. */
    readonly maxRequests: number;
    /** This worker's share of the concurrency. */
    readonly concurrency: number;
    readonly timeoutMs: number;
}

export interface RunResult {
    readonly kind: "result";
    readonly runId: number;
    /** Requests answered 200 inside the window. */
    readonly completed: number;
    readonly errors: number;
    readonly errorSamples: readonly string[];
    /** New TLS connections made inside the window, and how many of them resumed a session. */
    readonly connections: number;
    readonly reused: number;
    /** Negotiated TLS versions of those connections, e.g. { "TLSv1.3": 1234 }. */
    readonly protocols: Readonly<Record<string, number>>;
    /** Window length as this worker saw it: start to deadline, or to the moment the cap was reached. */
    readonly elapsedMs: number;
    /** One latency per completed request, in milliseconds. */
    readonly latenciesMs: Float64Array;
}

export interface RunFailure {
    readonly kind: "failure";
    readonly runId: number;
    readonly error: string;
}

export type ParentMessage = RunRequest | { readonly kind: "exit" };
export type WorkerMessage = RunResult | RunFailure | { readonly kind: "ready" };
