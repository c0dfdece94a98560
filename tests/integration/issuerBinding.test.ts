/**
 * Integration tier: clients are bound to the stack's own issuing CAs. With an external root (or an
 * imported CA's chain) in the trust bundle, a certificate from a sibling intermediate under the same
 * root verifies; with the same CN as one of our clients it passed every location and allowlist. The
 * rendered config refuses it with 400, on protected, allowlisted and public locations alike, and keeps
 * serving the stack's own clients. A control without the binding shows the sibling getting in.
 */
import * as assert from "assert/strict";
import * as crypto from "crypto";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";

import { rfc2253Subject } from "../../domain/x509";
import { containerListenPort } from "../../nginx/files";
import { greetingFor, renderNginxConfig, trustDigest } from "../../nginx/renderNginxConfig";
import {
    assertDockerReady,
    containerLogs,
    removeContainer,
    serveFileSet,
    type RunningEndpoint,
} from "../../testkit/docker";
import { TestPki, type CertificateAuthority, type IssuedCertificate } from "../../testkit/pki";
import { tlsRequest, type TlsResponse } from "../../testkit/tls";

const serverName = "localhost";

describe("clients bound to the stack's own issuing CA (external root with a sibling intermediate)", function () {
    this.timeout(120_000);
    let directory: string;
    let root: CertificateAuthority;
    let ours: IssuedCertificate;
    let sibling: IssuedCertificate;
    let bound: RunningEndpoint;
    let unbound: RunningEndpoint;

    const get = (endpoint: RunningEndpoint, client: IssuedCertificate | undefined, requestPath: string) =>
        tlsRequest({
            port: endpoint.port,
            servername: serverName,
            ca: root.certificatePem,
            cert: client?.chainPem,
            key: client?.keyPem,
            path: requestPath,
        });
    const describeAnswer = (answer: TlsResponse) => `HTTP ${answer.status}: ${answer.body.trim().slice(0, 80)}`;

    before(async () => {
        assertDockerReady();
        directory = fs.mkdtempSync(path.join(os.tmpdir(), "mtls-nginx-issuer-"));
        const pki = new TestPki(path.join(directory, "pki"));
        // The organisation's root (held elsewhere), our intermediate, and another team's under the same root.
        root = pki.createRootCa("Example Corp Root CA", "ECDSA-P256");
        // A name with characters RFC 2253 escapes: the DN must reach Nginx's map exactly as Nginx prints it.
        const ourCa = pki.createIntermediateCa('mtls-nginx Intermediate CA, Team "A"', root, "ECDSA-P256");
        const otherCa = pki.createIntermediateCa("Example Corp, Other Team CA", root, "ECDSA-P256");
        const server = pki.issueLeaf({
            name: serverName,
            profile: "server",
            issuer: ourCa,
            algorithm: "ECDSA-P256",
            dnsNames: [serverName],
        });
        ours = pki.issueLeaf({ name: "alice", profile: "client", issuer: ourCa, algorithm: "ECDSA-P256" });
        sibling = pki.issueLeaf({ name: "alice", profile: "client", issuer: otherCa, algorithm: "ECDSA-P256" });

        const trustBundle = ourCa.certificatePem + root.certificatePem;
        const files = (clientIssuers: readonly string[] | undefined) => ({
            nginxConfig: renderNginxConfig({
                serverNames: [serverName],
                listenPort: containerListenPort,
                verifyClient: "optional",
                verifyDepth: 2,
                workerProcesses: "1",
                clientIssuers,
                locations: [
                    { path: "/public/", requireClientCertificate: false },
                    { path: "/admin/", requireClientCertificate: true, allowedClients: ["alice"] },
                    { path: "/", requireClientCertificate: true },
                ],
                checkRevocation: false,
                trustDigest: trustDigest(trustBundle, ""),
            }),
            serverChainPem: server.chainPem,
            serverKeyPem: server.keyPem,
            clientTrustBundlePem: trustBundle,
        });
        const verify = { serverName, caPem: root.certificatePem };
        const ourDn = rfc2253Subject(new crypto.X509Certificate(ourCa.certificatePem));
        assert.match(ourDn, /^CN=mtls-nginx Intermediate CA\\, Team \\"A\\",O=/);
        bound = await serveFileSet(path.join(directory, "bound"), "issuer-bound", files([ourDn]), verify);
        unbound = await serveFileSet(path.join(directory, "unbound"), "issuer-unbound", files(undefined), verify);
    });

    after(() => {
        for (const endpoint of [bound, unbound]) {
            if (endpoint) removeContainer(endpoint.name);
        }
        fs.rmSync(directory, { recursive: true, force: true });
    });

    it("control: without the binding, the sibling's alice gets into the allowlisted location", async () => {
        const answer = await get(unbound, sibling, "/admin/");
        assert.equal(answer.status, 200, describeAnswer(answer));
        assert.equal(answer.body.trim(), greetingFor("alice"));
    });

    it("refuses the sibling's alice with 400 everywhere, public location included", async () => {
        for (const requestPath of ["/", "/admin/", "/public/", "/anything"]) {
            const answer = await get(bound, sibling, requestPath);
            assert.equal(answer.status, 400, `${requestPath}: ${describeAnswer(answer)}\n${containerLogs(bound.name)}`);
            assert.doesNotMatch(answer.body, /mtls-nginx:/, requestPath);
        }
    });

    it("serves our own alice, and the public location without a certificate", async () => {
        for (const requestPath of ["/", "/admin/"]) {
            const answer = await get(bound, ours, requestPath);
            assert.equal(answer.status, 200, `${requestPath}: ${describeAnswer(answer)}`);
            assert.equal(answer.body.trim(), greetingFor("alice"));
        }
        const open = await get(bound, undefined, "/public/");
        assert.equal(open.status, 200, describeAnswer(open));
        assert.equal((await get(bound, undefined, "/")).status, 400);
    });
});
