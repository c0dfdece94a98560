/**
 * One load generator process (forked by bench/loadGenerator.ts): a fixed number of slots, each
 * running requests back to back over raw TLS sockets with a minimal HTTP/1.1 client, so that the
 * client's own cost per request stays small. The secure context (CA, client certificate and key)
 * is built once per target; the server certificate and name are verified on every handshake.
 */
import { performance } from "perf_hooks";
import * as tls from "tls";

import type { LoadTarget, ParentMessage, RunRequest, RunResult, WorkerMessage } from "./protocol";

const loopback = "127.0.0.1";
const maxErrorSamples = 5;
/** A slot that keeps failing stops, instead of spinning, after this many errors in a row. */
const maxConsecutiveErrors = 50;

interface HttpAnswer {
    readonly status: number;
    readonly serverCloses: boolean;
}

/** HTTP/1.1 over one TLS socket, one request at a time (no pipelining); nginx always sends Content-Length. */
class Connection {
    private buffer: Buffer = Buffer.alloc(0);
    private pending?: { resolve: (answer: HttpAnswer) => void; reject: (error: Error) => void };
    private failure?: Error;
    private session?: Buffer;
    /** Read at secureConnect: once the socket is closed, Node answers null. */
    sessionReused = false;
    protocol: string | null = null;
    readonly closed: Promise<void>;

    private constructor(readonly socket: tls.TLSSocket) {
        socket.on("data", (chunk: Buffer) => {
            this.buffer = this.buffer.length === 0 ? chunk : Buffer.concat([this.buffer, chunk]);
            this.parse();
        });
        socket.on("session", (session: Buffer) => {
            this.session = session;
        });
        socket.on("error", (error: Error) => this.fail(error));
        this.closed = new Promise((resolve) => socket.once("close", () => resolve()));
        void this.closed.then(() => this.fail(new Error("connection closed by the server")));
    }

    static open(
        target: LoadTarget,
        context: tls.SecureContext,
        timeoutMs: number,
        session?: Buffer,
    ): Promise<Connection> {
        return new Promise((resolve, reject) => {
            const socket = tls.connect({
                host: loopback,
                port: target.port,
                servername: target.serverName,
                secureContext: context,
                session,
                rejectUnauthorized: true,
            });
            const connection = new Connection(socket);
            socket.setTimeout(timeoutMs, () => socket.destroy(new Error(`no answer within ${timeoutMs} ms`)));
            const onError = (error: Error): void => reject(error);
            socket.once("error", onError);
            socket.once("close", () => reject(new Error("connection closed during the handshake")));
            socket.once("secureConnect", () => {
                socket.off("error", onError);
                connection.sessionReused = socket.isSessionReused();
                connection.protocol = socket.getProtocol();
                resolve(connection);
            });
        });
    }

    /** The newest session the server handed out on this connection. */
    latestSession(): Buffer | undefined {
        return this.session ?? this.socket.getSession();
    }

    request(bytes: Buffer): Promise<HttpAnswer> {
        if (this.failure) {
            return Promise.reject(this.failure);
        }
        return new Promise((resolve, reject) => {
            this.pending = { resolve, reject };
            this.socket.write(bytes);
        });
    }

    close(): void {
        this.socket.destroy();
    }

    private parse(): void {
        const headerEnd = this.buffer.indexOf("\r\n\r\n");
        if (headerEnd < 0 || !this.pending) {
            return;
        }
        const head = this.buffer.toString("latin1", 0, headerEnd);
        const lengthMatch = /\r\ncontent-length:\s*(\d+)/i.exec(head);
        const total = headerEnd + 4 + (lengthMatch ? Number(lengthMatch[1]) : 0);
        if (this.buffer.length < total) {
            return;
        }
        this.buffer = this.buffer.subarray(total);
        const pending = this.pending;
        this.pending = undefined;
        pending.resolve({
            status: Number(head.slice(9, 12)),
            serverCloses: /\r\nconnection:\s*close/i.test(head),
        });
    }

    private fail(error: Error): void {
        this.failure ??= error;
        const pending = this.pending;
        this.pending = undefined;
        pending?.reject(error);
    }
}

const contexts = new Map<string, tls.SecureContext>();

function contextFor(target: LoadTarget): tls.SecureContext {
    let context = contexts.get(target.label);
    if (!context) {
        context = tls.createSecureContext({ ca: target.caPem, cert: target.certificatePem, key: target.keyPem });
        contexts.set(target.label, context);
    }
    return context;
}

function requestBytes(target: LoadTarget, keepAlive: boolean): Buffer {
    return Buffer.from(
        `GET ${target.path} HTTP/1.1\r\nHost: ${target.serverName}\r\n` +
            (keepAlive ? "\r\n" : "Connection: close\r\n\r\n"),
        "latin1",
    );
}

/** One request on a new connection; resolves after the server has closed it (no TIME_WAIT pile-up here). */
async function oneShot(
    target: LoadTarget,
    context: tls.SecureContext,
    bytes: Buffer,
    timeoutMs: number,
    session: Buffer | undefined,
): Promise<{
    latencyMs: number;
    status: number;
    reused: boolean;
    protocol: string | null;
    session: Buffer | undefined;
}> {
    const started = performance.now();
    const connection = await Connection.open(target, context, timeoutMs, session);
    try {
        const answer = await connection.request(bytes);
        const latencyMs = performance.now() - started;
        await connection.closed;
        return {
            latencyMs,
            status: answer.status,
            reused: connection.sessionReused,
            protocol: connection.protocol,
            session: connection.latestSession(),
        };
    } finally {
        connection.close();
    }
}

async function run(request: RunRequest): Promise<RunResult> {
    const { target, mode, timeoutMs } = request;
    const context = contextFor(target);
    const latencies = new Float64Array(Math.max(1, request.maxRequests));
    const errorSamples: string[] = [];
    let completed = 0;
    let errors = 0;
    let connections = 0;
    let reused = 0;
    const protocols: Record<string, number> = {};
    const countProtocol = (protocol: string | null): void => {
        const key = protocol ?? "unknown";
        protocols[key] = (protocols[key] ?? 0) + 1;
    };
    let stopped = false;
    let startedAt = 0;
    let stoppedAt = 0;
    const stop = (): void => {
        if (!stopped) {
            stopped = true;
            stoppedAt = performance.now();
        }
    };
    const recordError = (error: unknown): void => {
        errors++;
        if (errorSamples.length < maxErrorSamples) {
            errorSamples.push(error instanceof Error ? error.message : String(error));
        }
    };
    const recordSuccess = (latencyMs: number): void => {
        latencies[completed++] = latencyMs;
        if (completed >= request.maxRequests) {
            stop();
        }
    };

    // Resumption needs a session to offer: every slot gets one before the window opens.
    const sessions: Array<Buffer | undefined> = new Array<Buffer | undefined>(request.concurrency).fill(undefined);
    if (mode === "resumed") {
        const closeBytes = requestBytes(target, false);
        await Promise.all(
            sessions.map(async (_, slot) => {
                sessions[slot] = (await oneShot(target, context, closeBytes, timeoutMs, undefined)).session;
            }),
        );
    }

    const wait = request.startAt - Date.now();
    if (wait > 0) {
        await new Promise((resolve) => setTimeout(resolve, wait));
    }
    startedAt = performance.now();
    const timer = setTimeout(stop, request.durationMs);

    const slot = mode === "keepalive" ? keepAliveSlot : connectionSlot;
    await Promise.all(sessions.map((_, index) => slot(index)));
    clearTimeout(timer);
    stop();

    return {
        kind: "result",
        runId: request.runId,
        completed,
        errors,
        errorSamples,
        connections,
        reused,
        protocols,
        elapsedMs: stoppedAt - startedAt,
        latenciesMs: latencies.slice(0, completed),
    };

    /** full / resumed: a new connection per request. */
    async function connectionSlot(index: number): Promise<void> {
        const bytes = requestBytes(target, false);
        let failuresInARow = 0;
        while (!stopped && failuresInARow < maxConsecutiveErrors) {
            try {
                const result = await oneShot(
                    target,
                    context,
                    bytes,
                    timeoutMs,
                    mode === "resumed" ? sessions[index] : undefined,
                );
                if (mode === "resumed" && result.session) {
                    sessions[index] = result.session;
                }
                if (stopped) {
                    break;
                }
                connections++;
                countProtocol(result.protocol);
                if (result.reused) {
                    reused++;
                }
                if (result.status !== 200) {
                    throw new Error(`HTTP ${result.status}`);
                }
                recordSuccess(result.latencyMs);
                failuresInARow = 0;
            } catch (error) {
                failuresInARow++;
                if (!stopped) {
                    recordError(error);
                }
            }
        }
    }

    /** keepalive: one connection, requests back to back; a new (full) handshake when the server closes it. */
    async function keepAliveSlot(_index: number): Promise<void> {
        const bytes = requestBytes(target, true);
        let failuresInARow = 0;
        while (!stopped && failuresInARow < maxConsecutiveErrors) {
            let connection: Connection | undefined;
            try {
                connection = await Connection.open(target, context, timeoutMs);
                if (!stopped) {
                    connections++;
                    countProtocol(connection.protocol);
                }
                while (!stopped) {
                    const started = performance.now();
                    const answer = await connection.request(bytes);
                    if (stopped) {
                        break;
                    }
                    if (answer.status !== 200) {
                        throw new Error(`HTTP ${answer.status}`);
                    }
                    recordSuccess(performance.now() - started);
                    failuresInARow = 0;
                    if (answer.serverCloses) {
                        break;
                    }
                }
            } catch (error) {
                failuresInARow++;
                if (!stopped) {
                    recordError(error);
                }
            } finally {
                connection?.close();
            }
        }
    }
}

function send(message: WorkerMessage): void {
    process.send?.(message);
}

process.on("message", (message: ParentMessage) => {
    if (message.kind === "exit") {
        process.exit(0);
    }
    run(message).then(send, (error: unknown) =>
        send({ kind: "failure", runId: message.runId, error: error instanceof Error ? error.message : String(error) }),
    );
});
// The bench went away (crash, Ctrl-C): do not linger.
process.on("disconnect", () => process.exit(0));
send({ kind: "ready" });
