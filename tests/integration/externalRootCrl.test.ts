/**
 * Why external-root mode needs the root's CRL from the operator (mtls-nginx:externalRootCrl):
 * with `ssl_crl` Nginx sets X509_V_FLAG_CRL_CHECK_ALL, so OpenSSL wants a CRL for every CA of a
 * client's chain, the intermediate included, and that one only the root can sign. Without it
 * every client is refused ("unable to get certificate CRL"); with it, only the revoked one.
 * The root here is made with openssl and never leaves this test's temp directory.
 */
import * as assert from "assert/strict";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";

import { containerListenPort } from "../../nginx/files";
import { renderNginxConfig, trustDigest } from "../../nginx/renderNginxConfig";
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

describe("external root: the CRLs Nginx needs for a chain whose root key is elsewhere", function () {
    this.timeout(120_000);
    let directory: string;
    let root: CertificateAuthority;
    let intermediate: CertificateAuthority;
    let alice: IssuedCertificate;
    let bob: IssuedCertificate;
    let server: IssuedCertificate;
    let crls: { intermediate: string; root: string };
    const endpoints: RunningEndpoint[] = [];

    before(() => {
        assertDockerReady();
        directory = fs.mkdtempSync(path.join(os.tmpdir(), "mtls-nginx-it-external-root-"));
        const pki = new TestPki(path.join(directory, "pki"));
        root = pki.createRootCa("offline root", "ECDSA-P256");
        intermediate = pki.createIntermediateCa("stack intermediate", root, "ECDSA-P256");
        server = pki.issueServer(serverName, intermediate);
        alice = pki.issueLeaf({ name: "alice", profile: "client", issuer: intermediate, algorithm: "ECDSA-P256" });
        bob = pki.issueLeaf({ name: "bob", profile: "client", issuer: intermediate, algorithm: "ECDSA-P256" });
        pki.revoke(bob, intermediate);
        crls = { intermediate: pki.crl(intermediate), root: pki.crl(root) };
    });

    after(() => {
        for (const endpoint of endpoints) {
            removeContainer(endpoint.name);
        }
        fs.rmSync(directory, { recursive: true, force: true });
    });

    /** Nginx with the chain's trust bundle and the given CRL file, as the stack deploys it. */
    async function serve(name: string, crlPem: string): Promise<RunningEndpoint> {
        const bundle = intermediate.certificatePem + root.certificatePem;
        const nginxConfig = renderNginxConfig({
            serverNames: [serverName],
            listenPort: containerListenPort,
            verifyClient: "on",
            verifyDepth: 2,
            workerProcesses: "1",
            locations: [{ path: "/", requireClientCertificate: true }],
            checkRevocation: true,
            trustDigest: trustDigest(bundle, crlPem),
        });
        const endpoint = await serveFileSet(
            path.join(directory, name),
            name,
            {
                nginxConfig,
                serverChainPem: server.chainPem,
                serverKeyPem: server.keyPem,
                clientTrustBundlePem: bundle,
                crlPem,
            },
            { serverName, caPem: root.certificatePem },
        );
        endpoints.push(endpoint);
        return endpoint;
    }

    const as = (endpoint: RunningEndpoint, client: IssuedCertificate): Promise<TlsResponse> =>
        tlsRequest({
            port: endpoint.port,
            servername: serverName,
            ca: root.certificatePem,
            cert: client.chainPem,
            key: client.keyPem,
        });

    it("refuses every client when only the intermediate's CRL is there", async () => {
        const endpoint = await serve("intermediate-crl-only", crls.intermediate);
        const answer = await as(endpoint, alice);
        assert.equal(answer.status, 400, `alice, not revoked: ${answer.body}`);
        // The access log (buffered, flushed every second) says why: client_verify=FAILED:<reason>.
        let logs = "";
        for (const deadline = Date.now() + 5000; Date.now() < deadline; ) {
            logs = containerLogs(endpoint.name);
            if (logs.includes("client_verify=FAILED")) break;
            await new Promise((resolve) => setTimeout(resolve, 200));
        }
        assert.match(logs, /client_verify=FAILED:unable to get certificate CRL/, logs);
    });

    it("lets every client but the revoked one in with the root's CRL beside it", async () => {
        const endpoint = await serve("with-root-crl", crls.intermediate + crls.root);
        assert.equal((await as(endpoint, alice)).status, 200);
        const refused = await as(endpoint, bob);
        assert.equal(refused.status, 400, refused.body);
        assert.match(refused.body, /The SSL certificate error/);
    });
});
