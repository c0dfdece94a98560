/**
 * Integration tier: what a real upstream receives from a proxyPass location. The upstream is a
 * header echo in a second container on a network the test creates; Nginx proxies to it by address.
 * It proves the RFC 9440 Client-Cert header carries the DER of the certificate the client used,
 * and that no identity header a client sends itself ever reaches the upstream, with a verified
 * certificate or without one.
 */
import * as assert from "assert/strict";
import * as crypto from "crypto";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import * as tls from "tls";

import { containerListenPort } from "../../nginx/files";
import { clientCertMaxPemLines, renderNginxConfig, trustDigest } from "../../nginx/renderNginxConfig";
import {
    assertDockerReady,
    connectToNetwork,
    containerLogs,
    createNetwork,
    removeContainer,
    removeNetwork,
    removeOrphanedNetworks,
    serveFileSet,
    startHeaderEcho,
    type HeaderEcho,
    type RunningEndpoint,
} from "../../testkit/docker";
import { TestPki, type CertificateAuthority, type IssuedCertificate } from "../../testkit/pki";
import { loopback } from "../../testkit/tls";

const serverName = "localhost";
const protectedPath = "/app/";
const publicPath = "/public/";

/** Header lines a client sends, in order; a name may repeat. */
type HeaderLines = readonly (readonly [string, string])[];

interface Answer {
    readonly status: number;
    readonly body: string;
    readonly sessionReused: boolean;
    /** The last session the server handed out, to resume. */
    readonly session: Buffer | undefined;
}

interface RequestOptions {
    readonly port: number;
    readonly ca: string;
    readonly client: IssuedCertificate | undefined;
    readonly path: string;
    readonly headers?: HeaderLines;
    readonly version?: tls.SecureVersion;
    readonly session?: Buffer;
}

/** One HTTP/1.1 request over TLS with header lines of our choosing (tlsClient sends none). */
function requestWithHeaders(options: RequestOptions): Promise<Answer> {
    const requestPath = options.path;
    return new Promise((resolve, reject) => {
        const chunks: Buffer[] = [];
        let session: Buffer | undefined;
        const socket = tls.connect({
            host: loopback,
            port: options.port,
            servername: serverName,
            ca: options.ca,
            cert: options.client?.chainPem,
            key: options.client?.keyPem,
            minVersion: options.version,
            maxVersion: options.version,
            session: options.session,
            rejectUnauthorized: true,
        });
        socket.setTimeout(5000, () => socket.destroy(new Error(`GET ${requestPath}: timed out`)));
        socket.on("session", (data: Buffer) => {
            session = data;
        });
        socket.on("secureConnect", () => {
            const lines = (options.headers ?? []).map(([name, value]) => `${name}: ${value}\r\n`).join("");
            socket.write(`GET ${requestPath} HTTP/1.1\r\nHost: ${serverName}\r\n${lines}Connection: close\r\n\r\n`);
        });
        socket.on("data", (chunk: Buffer) => chunks.push(chunk));
        socket.on("error", reject);
        socket.on("end", () => {
            const raw = Buffer.concat(chunks).toString("utf8");
            const match = /^HTTP\/1\.[01] (\d{3})/.exec(raw);
            const split = raw.indexOf("\r\n\r\n");
            if (!match || split < 0) {
                reject(new Error(`GET ${requestPath}: no HTTP response: ${raw}`));
                return;
            }
            resolve({
                status: Number(match[1]),
                body: raw.slice(split + 4),
                sessionReused: socket.isSessionReused(),
                session: session ?? socket.getSession(),
            });
            socket.destroy();
        });
    });
}

/** The header lines of a request head as the echo returns it. */
function headerLinesOf(head: string): [string, string][] {
    const lines = head.split("\r\n");
    assert.match(lines[0], /^GET \S+ HTTP\/1\.[01]$/, `not a request head from Nginx:\n${head}`);
    return lines
        .slice(1)
        .filter((line) => line !== "")
        .map((line) => {
            const colon = line.indexOf(":");
            return [line.slice(0, colon), line.slice(colon + 1).trim()];
        });
}

/** Every value the upstream received under a name (any letter case). */
function received(head: string, name: string): string[] {
    return headerLinesOf(head)
        .filter(([sentName]) => sentName.toLowerCase() === name.toLowerCase())
        .map(([, value]) => value);
}

/** Headers that carry the caller's identity when Nginx sets them, listed here apart from the renderer's own list. */
const identityHeaders = ["X-Client-Verify", "X-Client-DN", "X-Client-Serial", "X-Client-CN", "Client-Cert"];
/** Identity headers Nginx never sets (no client chain, no SHA-256 in Nginx core): the upstream gets none. */
const clearedHeaders = [
    "Client-Cert-Chain",
    "X-Client-Fingerprint",
    "X-Forwarded-Client-Cert",
    // Other proxies' names for the client certificate, and RFC 7239's Forwarded.
    "X-SSL-Client-Cert",
    "X-SSL-Client-DN",
    "X-SSL-Client-Verify",
    "X-Forwarded-Tls-Client-Cert",
    "X-Amzn-Mtls-Clientcert",
    "Forwarded",
];

/** What a client that lies sends: every identity header, twice, in two letter cases. */
const spoofedHeaders: HeaderLines = [
    ...[...identityHeaders, ...clearedHeaders].flatMap((name): [string, string][] => [
        [name, name === "X-Client-Verify" ? "SUCCESS" : ":c3Bvb2Zl:"],
        [name.toLowerCase(), "CN=admin,O=mtls-nginx"],
    ]),
    ["X-Client-CN", "admin"],
    ["X-Forwarded-For", "203.0.113.9"],
    ["X-Forwarded-Proto", "http"],
    ["X-Real-IP", "203.0.113.9"],
    ["Forwarded", "for=203.0.113.9;proto=http"],
];

describe("identity headers to a real upstream (RFC 9440 Client-Cert)", function () {
    this.timeout(120_000);
    let directory: string;
    let network: string | undefined;
    let upstream: HeaderEcho | undefined;
    let endpoint: RunningEndpoint | undefined;
    let root: CertificateAuthority;
    let clients: IssuedCertificate[];
    let oversized: IssuedCertificate;

    const request = (client: IssuedCertificate | undefined, requestPath: string, headers: HeaderLines = []) =>
        requestWithHeaders({ port: endpoint!.port, ca: root.certificatePem, client, path: requestPath, headers });

    /** A request that must reach the upstream; resolves with the request head the upstream received. */
    const upstreamSaw = async (
        client: IssuedCertificate | undefined,
        requestPath: string,
        headers: HeaderLines = [],
    ): Promise<string> => {
        const answer = await request(client, requestPath, headers);
        assert.equal(answer.status, 200, `GET ${requestPath}: HTTP ${answer.status}: ${answer.body}`);
        return answer.body;
    };

    /** Asserts what the upstream received for a verified client: its own identity, each header once. */
    const assertIdentityOf = (head: string, client: IssuedCertificate): void => {
        const certificate = new crypto.X509Certificate(client.certificatePem);
        const [clientCert, ...extraClientCerts] = received(head, "Client-Cert");
        assert.deepEqual(extraClientCerts, [], "one Client-Cert header");
        // RFC 9440 section 2.1: a Structured Field Byte Sequence, base64 of the DER between colons.
        const byteSequence = /^:([A-Za-z0-9+/]+={0,2}):$/.exec(clientCert ?? "");
        assert.ok(byteSequence, `Client-Cert is not a byte sequence: ${clientCert}`);
        const der = Buffer.from(byteSequence[1], "base64");
        assert.ok(der.equals(certificate.raw), `Client-Cert does not decode to the DER of ${client.name}`);
        // The SHA-256 fingerprint Nginx cannot compute: the upstream's own hash of Client-Cert matches it.
        const sha256 = crypto.createHash("sha256").update(der).digest("hex").toUpperCase();
        assert.equal(sha256.match(/../g)!.join(":"), certificate.fingerprint256);

        assert.deepEqual(received(head, "X-Client-Verify"), ["SUCCESS"]);
        assert.deepEqual(received(head, "X-Client-CN"), [client.name]);
        assert.deepEqual(received(head, "X-Client-DN"), [client.subjectDn]);
        const [serial, ...extraSerials] = received(head, "X-Client-Serial");
        assert.deepEqual(extraSerials, []);
        assert.equal(serial?.replace(/^0+/, ""), certificate.serialNumber.replace(/^0+/, ""));
        for (const name of clearedHeaders) {
            assert.deepEqual(received(head, name), [], `${name} reached the upstream`);
        }
    };

    before("PKI, a network, the header echo upstream and the endpoint", async function () {
        assertDockerReady();
        removeOrphanedNetworks();
        directory = fs.mkdtempSync(path.join(os.tmpdir(), "mtls-nginx-identity-"));
        const pki = new TestPki(path.join(directory, "pki"));
        root = pki.createRootCa("mtls-nginx root CA", "RSA-4096");
        const server = pki.issueServer(serverName, root);
        // A small certificate and one of the largest a stack can issue (RSA-4096 key and signature).
        clients = [
            pki.issueLeaf({ name: "client-ecdsa", profile: "client", issuer: root, algorithm: "ECDSA-P256" }),
            pki.issueLeaf({ name: "client-rsa", profile: "client", issuer: root, algorithm: "RSA-4096" }),
        ];
        // Verified, but with more PEM lines than the Client-Cert map takes: 400 names of 24 bytes.
        oversized = pki.issueLeaf({
            name: "client-oversized",
            profile: "client",
            issuer: root,
            algorithm: "ECDSA-P256",
            dnsNames: Array.from({ length: 400 }, (_, index) => `name-${index}.oversized.test`),
        });
        const oversizedLines = oversized.certificatePem.trim().split("\n").length - 2;
        assert.ok(oversizedLines > clientCertMaxPemLines, `only ${oversizedLines} PEM lines`);

        network = createNetwork("identity");
        upstream = await startHeaderEcho(network, "identity-upstream");
        const upstreamUrl = `http://${upstream.address}:${upstream.port}`;
        const nginxConfig = renderNginxConfig({
            serverNames: [serverName],
            listenPort: containerListenPort,
            verifyClient: "optional",
            verifyDepth: 1,
            workerProcesses: "1",
            locations: [
                { path: publicPath, requireClientCertificate: false, proxyPass: upstreamUrl },
                { path: protectedPath, requireClientCertificate: true, proxyPass: upstreamUrl },
            ],
            checkRevocation: false,
            trustDigest: trustDigest(root.certificatePem, ""),
        });
        endpoint = await serveFileSet(
            path.join(directory, "mtls"),
            "identity",
            {
                nginxConfig,
                serverChainPem: server.chainPem,
                serverKeyPem: server.keyPem,
                clientTrustBundlePem: root.certificatePem,
            },
            { serverName, caPem: root.certificatePem },
        );
        connectToNetwork(network, endpoint.name);
    });

    afterEach(function () {
        const test = this.currentTest;
        if (test?.state === "failed" && test.err && endpoint) {
            const logs = containerLogs(endpoint.name).trim().split("\n").slice(-15).join("\n");
            test.err.message += `\n--- docker logs ${endpoint.name}, last lines ---\n${logs}`;
        }
    });

    after(() => {
        for (const container of [endpoint, upstream]) {
            if (container) {
                removeContainer(container.name);
            }
        }
        if (network) {
            removeNetwork(network);
        }
        fs.rmSync(directory, { recursive: true, force: true });
    });

    it("forwards the verified certificate in Client-Cert (RFC 9440), with its CN, DN and serial", async () => {
        for (const client of clients) {
            assertIdentityOf(await upstreamSaw(client, protectedPath), client);
            // A public location forwards the identity of a client that does present a certificate.
            assertIdentityOf(await upstreamSaw(client, publicPath), client);
        }
    });

    it("replaces every identity header a verified client sends itself", async () => {
        for (const client of clients) {
            const head = await upstreamSaw(client, protectedPath, spoofedHeaders);
            assertIdentityOf(head, client);
            assert.deepEqual(received(head, "X-Forwarded-Proto"), ["https"]);
            // X-Forwarded-For as before: Nginx appends the address it saw to what the client sent.
            const [forwardedFor, ...extra] = received(head, "X-Forwarded-For");
            assert.deepEqual(extra, []);
            assert.match(forwardedFor ?? "", /^203\.0\.113\.9, \d+\.\d+\.\d+\.\d+$/);
            // X-Real-IP is the address Nginx saw, once; Forwarded never reaches the upstream.
            const seen = forwardedFor!.split(", ")[1];
            assert.deepEqual(received(head, "X-Real-IP"), [seen]);
            assert.deepEqual(received(head, "Forwarded"), []);
        }
    });

    for (const version of ["TLSv1.3", "TLSv1.2"] as const) {
        it(`forwards the same identity on a resumed ${version} session`, async () => {
            const client = clients[0];
            const options = { port: endpoint!.port, ca: root.certificatePem, client, path: protectedPath, version };
            const first = await requestWithHeaders(options);
            assert.equal(first.status, 200, first.body);
            assert.ok(first.session, `no ${version} session handed out`);
            const resumed = await requestWithHeaders({ ...options, session: first.session, headers: spoofedHeaders });
            assert.equal(resumed.sessionReused, true, `${version} session not resumed`);
            assert.equal(resumed.status, 200, resumed.body);
            assertIdentityOf(resumed.body, client);
        });
    }

    it("forwards no identity without a certificate, whatever the client sends", async () => {
        for (const headers of [[], spoofedHeaders]) {
            const head = await upstreamSaw(undefined, publicPath, headers);
            assert.deepEqual(received(head, "X-Client-Verify"), ["NONE"]);
            for (const name of [...identityHeaders, ...clearedHeaders].filter((name) => name !== "X-Client-Verify")) {
                assert.deepEqual(received(head, name), [], `${name} reached the upstream without a certificate`);
            }
        }
        const refused = await request(undefined, protectedPath, spoofedHeaders);
        assert.equal(refused.status, 400, refused.body);
    });

    it("answers 500 to a verified certificate too large for Client-Cert, never proxying it without", async () => {
        for (const requestPath of [protectedPath, publicPath]) {
            const answer = await request(oversized, requestPath, spoofedHeaders);
            assert.equal(answer.status, 500, `GET ${requestPath}: ${answer.body}`);
            assert.doesNotMatch(answer.body, /^GET /m, "the request reached the upstream");
        }
        // Refused by the renderer's guard, not by a regex that gave up (the possessive groups stay linear).
        assert.doesNotMatch(containerLogs(endpoint!.name), /pcre|regex/i);
    });
});
