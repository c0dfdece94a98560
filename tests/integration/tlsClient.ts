/**
 * A bare HTTP/1.1-over-TLS client on Node's tls module: one request per connection, with every
 * TLS detail the probes assert on (handshake error code, protocol, session reuse, peer chain).
 * Hostname verification is always on: the server certificate must chain to `ca` and carry the
 * SNI name (or, without SNI, the address) in its SANs.
 */
import * as tls from "tls";

export interface TlsRequestOptions {
    readonly port: number;
    /** SNI name, also the name the server certificate must carry; undefined: no SNI is sent. */
    readonly servername: string | undefined;
    /** Trust anchors for the server certificate (PEM). */
    readonly ca: string;
    /** Client certificate chain and key (PEM); omit both to present none. */
    readonly cert?: string;
    readonly key?: string;
    readonly path?: string;
    readonly minVersion?: tls.SecureVersion;
    readonly maxVersion?: tls.SecureVersion;
    readonly ciphers?: string;
    /** A session from an earlier response, to resume. */
    readonly session?: Buffer;
    readonly timeoutMs?: number;
}

export interface TlsResponse {
    readonly status: number;
    readonly headers: Readonly<Record<string, string>>;
    readonly body: string;
    readonly protocol: string | null;
    readonly sessionReused: boolean;
    /** The last session the server handed out on this connection (for resumption). */
    readonly session: Buffer | undefined;
    readonly peerCertificate: tls.PeerCertificate;
}

/** A failure before any HTTP answer; `handshakeCompleted` tells a refused handshake from a later reset. */
export class TlsRequestError extends Error {
    constructor(
        message: string,
        readonly code: string | undefined,
        readonly handshakeCompleted: boolean,
    ) {
        super(message);
        this.name = "TlsRequestError";
    }
}

export const loopback = "127.0.0.1";

export function tlsRequest(options: TlsRequestOptions): Promise<TlsResponse> {
    return new Promise((resolve, reject) => {
        let handshakeCompleted = false;
        let session: Buffer | undefined;
        const chunks: Buffer[] = [];
        const socket = tls.connect({
            host: loopback,
            port: options.port,
            servername: options.servername,
            ca: options.ca,
            cert: options.cert,
            key: options.key,
            minVersion: options.minVersion,
            maxVersion: options.maxVersion,
            ciphers: options.ciphers,
            session: options.session,
            rejectUnauthorized: true,
        });
        const fail = (error: Error & { code?: string }): void => {
            socket.destroy();
            reject(new TlsRequestError(error.message, error.code, handshakeCompleted));
        };
        socket.setTimeout(options.timeoutMs ?? 5000, () => fail(new Error("timed out")));
        socket.on("session", (data: Buffer) => {
            session = data;
        });
        socket.on("secureConnect", () => {
            handshakeCompleted = true;
            socket.write(
                `GET ${options.path ?? "/"} HTTP/1.1\r\n` +
                    `Host: ${options.servername ?? loopback}\r\n` +
                    "Connection: close\r\n\r\n",
            );
        });
        socket.on("data", (chunk: Buffer) => chunks.push(chunk));
        socket.on("error", fail);
        socket.on("end", () => {
            const raw = Buffer.concat(chunks).toString("utf8");
            const split = raw.indexOf("\r\n\r\n");
            const match = /^HTTP\/1\.[01] (\d{3})/.exec(raw);
            if (!handshakeCompleted || split < 0 || !match) {
                fail(new Error(`no HTTP response (handshake ${handshakeCompleted ? "done" : "not done"}): ${raw}`));
                return;
            }
            const headers: Record<string, string> = {};
            for (const line of raw.slice(0, split).split("\r\n").slice(1)) {
                const colon = line.indexOf(":");
                headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
            }
            resolve({
                status: Number(match[1]),
                headers,
                body: raw.slice(split + 4),
                protocol: socket.getProtocol(),
                sessionReused: socket.isSessionReused(),
                session: session ?? socket.getSession(),
                peerCertificate: socket.getPeerCertificate(),
            });
            socket.destroy();
        });
    });
}

/** Resolves with the error of a request that must not get an HTTP answer. */
export async function expectTlsFailure(options: TlsRequestOptions): Promise<TlsRequestError> {
    try {
        const response = await tlsRequest(options);
        throw new Error(`expected the TLS handshake to fail, got HTTP ${response.status} over ${response.protocol}`);
    } catch (error) {
        if (error instanceof TlsRequestError) {
            return error;
        }
        throw error;
    }
}
