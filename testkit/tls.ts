/**
 * The test TLS clients, both with hostname verification always on: the server certificate must
 * chain to the CA given and carry the SNI name (or, without SNI, the address) in its SANs.
 *
 * - `tlsRequest`: a bare HTTP/1.1-over-TLS client on Node's tls module, one request per
 *   connection, with every TLS detail the probes assert on (handshake error code, protocol,
 *   session reuse, peer chain).
 * - `probe`: one HTTPS request through an `https.Agent` (keep-alive and session reuse are the
 *   caller's choice); it never throws for TLS or HTTP failures, it reports them.
 *
 * Both hand the trust and identity side of the connection (CA, client certificate and key, SNI,
 * the name checked) to `connectionOptions`, so the two cannot drift apart.
 */
import * as https from "https";
import * as tls from "tls";

export const loopback = "127.0.0.1";

const defaultTimeoutMs = 5000;

/** Who the server must be and who we are: what both clients hand to the TLS connection. */
interface Peer {
    /** Address to connect to (a name given here is verified against the certificate, not resolved). */
    readonly host: string;
    /** SNI name, also the name the server certificate must carry; undefined: no SNI, the address is checked. */
    readonly serverName: string | undefined;
    /** Trust anchors for the server certificate (PEM). */
    readonly caPem: string;
    /** Client certificate chain and key (PEM); omit both to present none. */
    readonly certificatePem?: string;
    readonly privateKeyPem?: string;
}

/** TLS options for a peer: the one place the CA, client identity, SNI and hostname check are set. */
function connectionOptions(peer: Peer): tls.ConnectionOptions {
    const expectedName = peer.serverName ?? peer.host;
    return {
        host: peer.host,
        servername: peer.serverName,
        ca: peer.caPem,
        cert: peer.certificatePem,
        key: peer.privateKeyPem,
        rejectUnauthorized: true,
        // The certificate names the server, not (unless there is no SNI) the address we connect to.
        checkServerIdentity: (_host, certificate) => tls.checkServerIdentity(expectedName, certificate),
    };
}

export interface TlsRequestOptions {
    readonly port: number;
    /** SNI name, also the name the server certificate must carry; undefined: no SNI is sent. */
    readonly servername: string | undefined;
    /** Trust anchors for the server certificate (PEM). */
    readonly ca: string;
    /** Client certificate chain and key (PEM); omit both to present none. */
    readonly cert?: string;
    readonly key?: string;
    /** The request target: a path, or an absolute URI ("http://other/") as proxies are sent. */
    readonly path?: string;
    /** The Host header; default: the SNI name (or the loopback address without SNI). */
    readonly hostHeader?: string;
    readonly minVersion?: tls.SecureVersion;
    readonly maxVersion?: tls.SecureVersion;
    readonly ciphers?: string;
    /** Key exchange groups the client offers (OpenSSL names, ':'-separated); default: Node's. */
    readonly ecdhCurve?: string;
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

export function tlsRequest(options: TlsRequestOptions): Promise<TlsResponse> {
    return new Promise((resolve, reject) => {
        let handshakeCompleted = false;
        let session: Buffer | undefined;
        const chunks: Buffer[] = [];
        const socket = tls.connect({
            ...connectionOptions({
                host: loopback,
                serverName: options.servername,
                caPem: options.ca,
                certificatePem: options.cert,
                privateKeyPem: options.key,
            }),
            port: options.port,
            minVersion: options.minVersion,
            maxVersion: options.maxVersion,
            ciphers: options.ciphers,
            ecdhCurve: options.ecdhCurve,
            session: options.session,
        });
        const fail = (error: Error & { code?: string }): void => {
            socket.destroy();
            reject(new TlsRequestError(error.message, error.code, handshakeCompleted));
        };
        socket.setTimeout(options.timeoutMs ?? defaultTimeoutMs, () => fail(new Error("timed out")));
        socket.on("session", (data: Buffer) => {
            session = data;
        });
        socket.on("secureConnect", () => {
            handshakeCompleted = true;
            socket.write(
                `GET ${options.path ?? "/"} HTTP/1.1\r\n` +
                    `Host: ${options.hostHeader ?? options.servername ?? loopback}\r\n` +
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
    /** The request target: a path, or an absolute URI ("http://other/") as proxies are sent. */
    readonly path?: string;
    /** The Host header; default: the server name and port. */
    readonly hostHeader?: string;
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
                ...connectionOptions({
                    host: options.host,
                    serverName: options.serverName,
                    caPem: options.caPem,
                    certificatePem: options.clientCertificatePem,
                    privateKeyPem: options.clientPrivateKeyPem,
                }),
                port: options.port,
                path: options.path ?? "/",
                headers: { host: options.hostHeader ?? `${options.serverName}:${options.port}` },
                agent: options.agent ?? new https.Agent({ keepAlive: false, maxCachedSessions: 0 }),
                timeout: options.timeoutMs ?? defaultTimeoutMs,
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

/**
 * Requests that name another server than the handshake's SNI, as an attacker would send them: by
 * the Host header, and by an absolute-form request target. The endpoint must answer each with 421.
 */
export function misdirectedRequests(options: ProbeOptions): ProbeOptions[] {
    const path = options.path ?? "/";
    return [
        { ...options, hostHeader: "x" },
        { ...options, hostHeader: `other.test:${options.port}` },
        { ...options, path: `http://other.test${path}` },
    ];
}
