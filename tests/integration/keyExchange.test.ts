/**
 * Integration tier: post-quantum key exchange. With the image's OpenSSL 3.5, the rendered config
 * offers the X25519MLKEM768 hybrid first: a client that offers it negotiates it, a classical-only
 * client still connects with X25519, and Nginx logs the group of each handshake. A config without
 * the hybrid (the control) refuses a client that offers nothing else.
 */
import * as assert from "assert/strict";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";

import { classicalDefaultGroups, hybridFirstGroups } from "../../domain/keyExchange";
import { containerListenPort } from "../../nginx/files";
import { greetingFor, renderNginxConfig, trustDigest } from "../../nginx/renderNginxConfig";
import {
    assertDockerReady,
    containerLogs,
    removeContainer,
    serveFileSet,
    testImage,
    type RunningEndpoint,
} from "../../testkit/docker";
import { TestPki, type CertificateAuthority, type IssuedCertificate } from "../../testkit/pki";
import { expectTlsFailure, tlsRequest, type TlsRequestOptions } from "../../testkit/tls";

const serverName = "localhost";

describe("post-quantum key exchange (X25519MLKEM768)", function () {
    this.timeout(120_000);
    let directory: string;
    let root: CertificateAuthority;
    let client: IssuedCertificate;
    let hybridFirst: RunningEndpoint;
    let classicalOnly: RunningEndpoint;

    const as = (endpoint: RunningEndpoint, ecdhCurve: string): TlsRequestOptions => ({
        port: endpoint.port,
        servername: serverName,
        ca: root.certificatePem,
        cert: client.chainPem,
        key: client.keyPem,
        minVersion: "TLSv1.3",
        ecdhCurve,
    });
    const loggedGroups = (endpoint: RunningEndpoint) =>
        [...containerLogs(endpoint.name).matchAll(/ group=(\S+)/g)].map((match) => match[1]);
    /**
     * One request, and the key exchange group Nginx logged for it: OpenSSL's name, or the code point
     * of a group Nginx cannot name. The access log is buffered (flushed each second): wait for the line.
     */
    const groupOf = async (endpoint: RunningEndpoint, ecdhCurve: string): Promise<string> => {
        const before = loggedGroups(endpoint).length;
        const response = await tlsRequest(as(endpoint, ecdhCurve));
        assert.equal(response.status, 200, response.body);
        assert.equal(response.body.trim(), greetingFor("client-1"));
        for (let attempt = 0; attempt < 50; attempt++) {
            const groups = loggedGroups(endpoint);
            if (groups.length > before) {
                return groups[groups.length - 1];
            }
            await new Promise((resolve) => setTimeout(resolve, 100));
        }
        throw new Error(`no new group= line in the access log of ${endpoint.name}:\n${containerLogs(endpoint.name)}`);
    };

    before(async () => {
        assertDockerReady();
        directory = fs.mkdtempSync(path.join(os.tmpdir(), "mtls-nginx-kex-"));
        const pki = new TestPki(path.join(directory, "pki"));
        root = pki.createRootCa("mtls-nginx root CA", "ECDSA-P256");
        const server = pki.issueLeaf({
            name: serverName,
            profile: "server",
            issuer: root,
            algorithm: "ECDSA-P256",
            dnsNames: [serverName],
        });
        client = pki.issueLeaf({ name: "client-1", profile: "client", issuer: root, algorithm: "ECDSA-P256" });
        const files = (keyExchangeGroups: readonly string[]) => ({
            nginxConfig: renderNginxConfig({
                serverNames: [serverName],
                listenPort: containerListenPort,
                verifyClient: "on",
                verifyDepth: 1,
                workerProcesses: "1",
                keyExchangeGroups,
                locations: [{ path: "/", requireClientCertificate: true }],
                checkRevocation: false,
                trustDigest: trustDigest(root.certificatePem, ""),
            }),
            serverChainPem: server.chainPem,
            serverKeyPem: server.keyPem,
            clientTrustBundlePem: root.certificatePem,
        });
        const verify = { serverName, caPem: root.certificatePem };
        hybridFirst = await serveFileSet(
            path.join(directory, "hybrid"),
            "kex-hybrid",
            files(hybridFirstGroups),
            verify,
        );
        classicalOnly = await serveFileSet(
            path.join(directory, "classical"),
            "kex-classical",
            files(classicalDefaultGroups),
            verify,
        );
    });

    after(() => {
        for (const endpoint of [hybridFirst, classicalOnly]) {
            if (endpoint) removeContainer(endpoint.name);
        }
        fs.rmSync(directory, { recursive: true, force: true });
    });

    it(`negotiates X25519MLKEM768 with a client that offers it (${testImage})`, async () => {
        // Nginx 1.26 names groups by OpenSSL NID, which the hybrids lack: it logs the code point 0x11ec.
        assert.match(await groupOf(hybridFirst, "X25519MLKEM768:X25519"), /^(X25519MLKEM768|0x11ec)$/i);
    });

    it("still serves a classical-only client, over X25519 or P-256", async () => {
        assert.match(await groupOf(hybridFirst, "X25519"), /^x25519$/i);
        assert.match(await groupOf(hybridFirst, "prime256v1"), /^prime256v1$/i);
    });

    it("control: a config without the hybrid refuses a client that offers only the hybrid", async () => {
        const refused = await expectTlsFailure(as(classicalOnly, "X25519MLKEM768"));
        assert.equal(refused.handshakeCompleted, false, refused.message);
        assert.match(await groupOf(classicalOnly, "X25519MLKEM768:X25519"), /^x25519$/i);
    });
});
