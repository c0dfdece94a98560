import * as https from "https";
import * as tls from "tls";

/** What one HTTPS request over mutual TLS came back with. */
export interface ProbeResult {
    /** HTTP status, or undefined when the handshake or connection failed. */
    readonly status?: number;
    readonly body: string;
    /** The error when there was no HTTP answer (handshake refused, connection reset, ...). */
    readonly error?: string;
    /** Whether the TLS session was resumed. */
    readonly sessionReused: boolean;
    /** Whether the request went out on a kept-alive connection from an earlier request. */
    readonly reusedConnection: boolean;
}

export interface ProbeOptions {
    /** Address to connect to (the name is verified against the certificate, not resolved). */
    readonly host: string;
    readonly port: number;
    /** SNI and the name the server certificate must carry. */
    readonly serverName: string;
    readonly path?: string;
    readonly caPem: string;
    readonly clientCertificatePem?: string;
    readonly clientPrivateKeyPem?: string;
    /** A fresh agent per call unless given: keep-alive and session reuse are the caller's choice. */
    readonly agent?: https.Agent;
    readonly timeoutMs?: number;
}

/** One request with hostname verification on; never throws for TLS or HTTP failures, it reports them. */
export function probe(options: ProbeOptions): Promise<ProbeResult> {
    return new Promise((resolve) => {
        const request = https.request(
            {
                host: options.host,
                port: options.port,
                path: options.path ?? "/",
                servername: options.serverName,
                headers: { host: `${options.serverName}:${options.port}` },
                ca: options.caPem,
                cert: options.clientCertificatePem,
                key: options.clientPrivateKeyPem,
                agent: options.agent ?? new https.Agent({ keepAlive: false, maxCachedSessions: 0 }),
                timeout: options.timeoutMs ?? 5000,
                // The certificate names the server, not the address we connect to.
                checkServerIdentity: (_host, certificate) => tls.checkServerIdentity(options.serverName, certificate),
            },
            (response) => {
                // Read now: a keep-alive agent takes the socket back before "end".
                const sessionReused = (response.socket as tls.TLSSocket | null)?.isSessionReused?.() ?? false;
                const chunks: Buffer[] = [];
                response.on("data", (chunk: Buffer) => chunks.push(chunk));
                response.on("end", () =>
                    resolve({
                        status: response.statusCode,
                        body: Buffer.concat(chunks).toString("utf8"),
                        sessionReused,
                        reusedConnection: request.reusedSocket,
                    }),
                );
            },
        );
        request.on("timeout", () => request.destroy(new Error("timed out")));
        request.on("error", (error) =>
            resolve({ body: "", error: error.message, sessionReused: false, reusedConnection: request.reusedSocket }),
        );
        request.end();
    });
}
