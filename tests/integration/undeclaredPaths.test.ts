/**
 * Integration tier: a path no location declares is never served, with verifyClient "on" or
 * "optional", with a client certificate or without one. Nginx's compiled-in root holds the image's
 * own pages (Debian: /usr/share/nginx/html/index.html); a control endpoint without the catch-all
 * shows they are there to be served, so the refusals are the renderer's doing.
 */
import * as assert from "assert/strict";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";

import type { VerifyClientMode } from "../../domain/endpoint";
import { containerListenPort } from "../../nginx/files";
import { greetingFor, renderNginxConfig, trustDigest, type NginxLocation } from "../../nginx/renderNginxConfig";
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
const protectedPath = "/app/";
const publicPath = "/public/";

/** Paths of the image's own pages (Debian's and the nginx.org image's), and paths nobody declared. */
const undeclaredPaths = [
    "/",
    "/index.html",
    "/index.nginx-debian.html",
    "/50x.html",
    "/nginx-logo.png",
    "/undeclared",
    "/app",
    "/app/../index.html",
    "/public/../50x.html",
];

/** Words of the welcome page of every Nginx package and image. */
const defaultPage = /Welcome to nginx/i;

function locationsFor(verifyClient: VerifyClientMode): NginxLocation[] {
    return [
        ...(verifyClient === "optional" ? [{ path: publicPath, requireClientCertificate: false }] : []),
        { path: protectedPath, requireClientCertificate: true },
    ];
}

/** The rendered config with the catch-all and the root taken out: what Nginx did before they existed. */
function withoutCatchAll(config: string): string {
    const stripped = config
        .replace(/^\s*root \/nonexistent;\n/gm, "")
        .replace(/^ {8}location \/ \{\n(?: {12}.*\n)*? {8}\}\n/m, "");
    assert.notEqual(stripped, config);
    assert.doesNotMatch(stripped, /^\s*(location \/ \{|root )/m);
    return stripped;
}

describe("paths no location declares", function () {
    this.timeout(120_000);
    let directory: string;
    let pki: TestPki;
    let root: CertificateAuthority;
    let server: IssuedCertificate;
    let client: IssuedCertificate;
    const endpoints: RunningEndpoint[] = [];

    /** Writes a file set for a config, checks it with `nginx -t`, starts Nginx on it. */
    const start = async (name: string, config: string): Promise<RunningEndpoint> => {
        const endpoint = await serveFileSet(
            path.join(directory, name),
            name,
            {
                nginxConfig: config,
                serverChainPem: server.chainPem,
                serverKeyPem: server.keyPem,
                clientTrustBundlePem: root.certificatePem,
            },
            { serverName, caPem: root.certificatePem },
        );
        endpoints.push(endpoint);
        return endpoint;
    };

    const render = (verifyClient: VerifyClientMode): string =>
        renderNginxConfig({
            serverNames: [serverName],
            listenPort: containerListenPort,
            verifyClient,
            verifyDepth: 1,
            workerProcesses: "1",
            locations: locationsFor(verifyClient),
            checkRevocation: false,
            trustDigest: trustDigest(root.certificatePem, ""),
        });

    const get = (
        endpoint: RunningEndpoint,
        requestPath: string,
        as: IssuedCertificate | undefined,
    ): Promise<TlsResponse> =>
        tlsRequest({
            port: endpoint.port,
            servername: serverName,
            ca: root.certificatePem,
            cert: as?.chainPem,
            key: as?.keyPem,
            path: requestPath,
        });

    before("PKI", function () {
        assertDockerReady();
        directory = fs.mkdtempSync(path.join(os.tmpdir(), "mtls-nginx-undeclared-"));
        pki = new TestPki(path.join(directory, "pki"));
        root = pki.createRootCa("mtls-nginx root CA", "ECDSA-P256");
        server = pki.issueServer(serverName, root);
        client = pki.issueLeaf({ name: "client-1", profile: "client", issuer: root, algorithm: "ECDSA-P256" });
    });

    afterEach(function () {
        const test = this.currentTest;
        if (test?.state === "failed" && test.err) {
            for (const endpoint of endpoints) {
                const logs = containerLogs(endpoint.name).trim().split("\n").slice(-10).join("\n");
                test.err.message += `\n--- docker logs ${endpoint.name}, last lines ---\n${logs}`;
            }
        }
    });

    after(() => {
        for (const endpoint of endpoints.splice(0)) {
            removeContainer(endpoint.name);
        }
        fs.rmSync(directory, { recursive: true, force: true });
    });

    it("control: without the catch-all, the image's welcome page is served to a client without a certificate", async () => {
        const endpoint = await start("control", withoutCatchAll(render("optional")));
        const response = await get(endpoint, "/index.html", undefined);
        assert.equal(response.status, 200, response.body);
        assert.match(response.body, defaultPage);
        removeContainer(endpoint.name);
        endpoints.splice(endpoints.indexOf(endpoint), 1);
    });

    for (const verifyClient of ["on", "optional"] as const) {
        it(`verify ${verifyClient}: answers 404 to a client, 400 without a certificate, and never serves a file`, async () => {
            const endpoint = await start(`undeclared-${verifyClient}`, render(verifyClient));
            for (const requestPath of undeclaredPaths) {
                for (const [as, status] of [
                    [client, 404],
                    [undefined, 400],
                ] as const) {
                    const response = await get(endpoint, requestPath, as);
                    const who = as ? as.name : "no certificate";
                    assert.equal(response.status, status, `GET ${requestPath} (${who}): ${response.body}`);
                    assert.doesNotMatch(response.body, defaultPage, `GET ${requestPath} (${who})`);
                }
            }
            // The declared locations answer as before.
            const declared = await get(endpoint, protectedPath, client);
            assert.equal(declared.status, 200, declared.body);
            assert.equal(declared.body.trim(), greetingFor("client-1"));
            assert.equal((await get(endpoint, protectedPath, undefined)).status, 400);
            if (verifyClient === "optional") {
                const open = await get(endpoint, publicPath, undefined);
                assert.equal(open.status, 200, open.body);
                assert.equal(open.body.trim(), "mtls-nginx: ok");
            }
        });
    }
});
