/**
 * Integration tier: the rendered nginx.conf, run by the real Nginx image in Docker exactly the
 * way the endpoint component runs it, against certificates issued from the project's X.509
 * profiles. Every probe asserts an HTTP status or a handshake failure.
 *
 * Needs a Docker daemon and the local image: `npm run setup`. Missing either fails the tier.
 */
import * as assert from "assert/strict";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import * as tls from "tls";

import type { VerifyClientMode } from "../../domain/endpoint";
import type { KeyAlgorithm } from "../../domain/pki";
import { containerListenPort } from "../../nginx/files";
import { greetingFor, renderNginxConfig, trustDigest, type NginxLocation } from "../../nginx/renderNginxConfig";
import {
    assertDockerReady,
    containerLogs,
    isRunning,
    removeAllCreatedNetworks,
    removeAllStartedContainers,
    removeContainer,
    serveFileSet,
    type CommandResult,
    type RunningEndpoint,
} from "../../testkit/docker";
import { TestPki, type CertificateAuthority, type IssuedCertificate } from "../../testkit/pki";
import { expectTlsFailure, tlsRequest, type TlsRequestOptions, type TlsResponse } from "../../testkit/tls";

interface Variant {
    readonly name: string;
    readonly algorithm: KeyAlgorithm;
    readonly intermediateCa: boolean;
    readonly verifyClient: VerifyClientMode;
    /** Whether /admin/ is restricted to client-1. */
    readonly allowlist: boolean;
    /** Whether crl.pem is written and checked (one client is revoked). */
    readonly checkRevocation: boolean;
}

// Every value of every axis at least once, without the full cross product.
const variants: readonly Variant[] = [
    {
        name: "root CA, ECDSA-P256, verify on",
        algorithm: "ECDSA-P256",
        intermediateCa: false,
        verifyClient: "on",
        allowlist: false,
        checkRevocation: false,
    },
    {
        name: "intermediate CA, RSA-2048, verify on, allowlist, CRL",
        algorithm: "RSA-2048",
        intermediateCa: true,
        verifyClient: "on",
        allowlist: true,
        checkRevocation: true,
    },
    {
        name: "root CA, RSA-2048, verify optional, CRL",
        algorithm: "RSA-2048",
        intermediateCa: false,
        verifyClient: "optional",
        allowlist: false,
        checkRevocation: true,
    },
    {
        name: "intermediate CA, ECDSA-P256, verify optional, allowlist",
        algorithm: "ECDSA-P256",
        intermediateCa: true,
        verifyClient: "optional",
        allowlist: true,
        checkRevocation: false,
    },
];

const serverDnsNames = ["localhost", "mtls.test"];
const serverIpAddresses = ["127.0.0.1"];
const protectedPath = "/";
const adminPath = "/admin/";
const publicPath = "/public/";
/** Nginx's own 400 bodies, which say why. */
const noCertificateSent = "No required SSL certificate was sent";
const certificateError = "The SSL certificate error";
/** TLS 1.0/1.1 suites need security level 0 in OpenSSL 3: the client must be able to offer them. */
const legacyCiphers = "DEFAULT:@SECLEVEL=0";

function locationsFor(variant: Variant): NginxLocation[] {
    return [
        ...(variant.verifyClient === "optional" ? [{ path: publicPath, requireClientCertificate: false }] : []),
        {
            path: adminPath,
            requireClientCertificate: true,
            // Names a map block would read as its own parameters, unless the renderer escapes them.
            ...(variant.allowlist
                ? { allowedClients: ["client-1", "default", "include", "hostnames", "volatile"] }
                : {}),
        },
        { path: protectedPath, requireClientCertificate: true },
    ];
}

interface Fixture {
    readonly directory: string;
    readonly root: CertificateAuthority;
    readonly issuing: CertificateAuthority;
    readonly server: IssuedCertificate;
    readonly foreignCa: CertificateAuthority;
    readonly client1: IssuedCertificate;
    readonly client2: IssuedCertificate;
    readonly foreignCaClient: IssuedCertificate;
    readonly impostorCaClient: IssuedCertificate;
    readonly selfSigned: IssuedCertificate;
    readonly expired: IssuedCertificate;
    readonly serverAuthOnly: IssuedCertificate;
    readonly revoked?: IssuedCertificate;
    /** With an allowlist: a client named like a map parameter, on the list. */
    readonly namedDefault?: IssuedCertificate;
    readonly configTest: CommandResult;
    readonly endpoint: RunningEndpoint;
}

const temporaryDirectories = new Set<string>();

/** Issues the PKI, writes the mounted directory, checks the config and starts the container. */
async function setUp(variant: Variant): Promise<Fixture> {
    const directory = fs.mkdtempSync(path.join(os.tmpdir(), "mtls-nginx-it-"));
    temporaryDirectories.add(directory);
    const pki = new TestPki(path.join(directory, "pki"));
    const algorithm = variant.algorithm;

    const root = pki.createRootCa("mtls-nginx root CA", algorithm);
    const issuing = variant.intermediateCa
        ? pki.createIntermediateCa("mtls-nginx intermediate CA", root, algorithm)
        : root;
    const server = pki.issueLeaf({
        name: serverDnsNames[0],
        profile: "server",
        issuer: issuing,
        algorithm,
        dnsNames: serverDnsNames,
        ipAddresses: serverIpAddresses,
    });
    const client = (name: string): IssuedCertificate =>
        pki.issueLeaf({ name, profile: "client", issuer: issuing, algorithm });
    const client1 = client("client-1");
    const client2 = client("client-2");
    const namedDefault = variant.allowlist ? client("default") : undefined;

    // A CA nobody trusts, and one that copies the real issuing CA's name with its own key.
    const foreignCa = pki.createRootCa("foreign CA", "ECDSA-P256");
    const impostorCa = pki.createRootCa("impostor CA", "ECDSA-P256", { subject: issuing.subject });
    const foreignCaClient = pki.issueLeaf({ name: "client-1", profile: "client", issuer: foreignCa, algorithm });
    const impostorCaClient = pki.issueLeaf({ name: "client-1", profile: "client", issuer: impostorCa, algorithm });
    const selfSigned = pki.selfSignedClient("client-1", algorithm);
    const day = 24 * 3600 * 1000;
    const expired = pki.issueLeaf({
        name: "client-1",
        profile: "client",
        issuer: issuing,
        algorithm,
        notBefore: new Date(Date.now() - 3 * day),
        notAfter: new Date(Date.now() - day),
    });
    // The server profile (serverAuth, no clientAuth) with a legitimate client's name.
    const serverAuthOnly = pki.issueLeaf({ name: "client-1", profile: "server", issuer: issuing, algorithm });
    let revoked: IssuedCertificate | undefined;
    if (variant.checkRevocation) {
        revoked = client("client-revoked");
        pki.revoke(revoked, issuing);
    }

    // The mounted directory, under the names the renderer refers to.
    const authorities = variant.intermediateCa ? [issuing, root] : [root];
    const trustBundle = authorities.map((ca) => ca.certificatePem).join("");
    const { configTest, ...endpoint } = await serveFileSet(
        path.join(directory, "mtls"),
        variant.name.replace(/[^a-z0-9]+/gi, "-").toLowerCase(),
        {
            nginxConfig: renderNginxConfig({
                serverNames: serverDnsNames,
                listenPort: containerListenPort,
                verifyClient: variant.verifyClient,
                verifyDepth: variant.intermediateCa ? 2 : 1,
                workerProcesses: "auto",
                locations: locationsFor(variant),
                checkRevocation: variant.checkRevocation,
                trustDigest: trustDigest(trustBundle, ""),
            }),
            serverChainPem: server.chainPem,
            serverKeyPem: server.keyPem,
            clientTrustBundlePem: trustBundle,
            // Nginx checks the CRL of every CA in the chain, so the file holds one per CA.
            crlPem: variant.checkRevocation ? authorities.map((ca) => pki.crl(ca)).join("") : undefined,
        },
        { serverName: serverDnsNames[0], caPem: root.certificatePem },
    );
    return {
        directory,
        root,
        issuing,
        server,
        foreignCa,
        client1,
        client2,
        foreignCaClient,
        impostorCaClient,
        selfSigned,
        expired,
        serverAuthOnly,
        revoked,
        namedDefault,
        configTest,
        endpoint,
    };
}

function removeDirectory(directory: string): void {
    fs.rmSync(directory, { recursive: true, force: true });
    temporaryDirectories.delete(directory);
}

/** Polls `docker logs` for a line (the access log reaches Docker asynchronously). */
async function waitForLog(name: string, needle: string, timeoutMs = 5000): Promise<string> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
        const logs = containerLogs(name);
        if (logs.includes(needle) || Date.now() > deadline) {
            return logs;
        }
        await new Promise((resolve) => setTimeout(resolve, 100));
    }
}

function describeResponse(response: TlsResponse): string {
    return `HTTP ${response.status} over ${response.protocol}: ${response.body.trim()}`;
}

before("Docker daemon and image", function () {
    this.timeout(60_000);
    assertDockerReady();
});

after("remove every container, network and temporary directory", () => {
    removeAllStartedContainers();
    removeAllCreatedNetworks();
    for (const directory of [...temporaryDirectories]) {
        removeDirectory(directory);
    }
});

for (const variant of variants) {
    describe(`mTLS endpoint: ${variant.name}`, function () {
        let fixture: Fixture | undefined;

        /** The fixture; a failed before-hook already failed the suite, so this only narrows the type. */
        const f = (): Fixture => {
            assert.ok(fixture, "fixture not set up");
            return fixture;
        };
        /** Request options for a client certificate (or none) and an SNI name (null: no SNI). */
        const as = (
            client: IssuedCertificate | undefined,
            requestPath = protectedPath,
            servername: string | null = serverDnsNames[0],
        ): TlsRequestOptions => ({
            port: f().endpoint.port,
            servername: servername ?? undefined,
            ca: f().root.certificatePem,
            cert: client?.chainPem,
            key: client?.keyPem,
            path: requestPath,
        });
        const expectStatus = async (
            options: TlsRequestOptions,
            status: number,
            bodyIncludes?: string,
        ): Promise<TlsResponse> => {
            const response = await tlsRequest(options);
            assert.equal(response.status, status, `GET ${options.path}: ${describeResponse(response)}`);
            if (bodyIncludes !== undefined) {
                assert.ok(response.body.includes(bodyIncludes), `GET ${options.path}: ${describeResponse(response)}`);
            }
            return response;
        };

        before("issue certificates, render nginx.conf, start the container", async function () {
            this.timeout(120_000);
            fixture = await setUp(variant);
        });

        afterEach(function () {
            // A failed probe reports what Nginx said about it.
            const test = this.currentTest;
            if (test?.state === "failed" && test.err && fixture) {
                const name = fixture.endpoint.name;
                const logs = containerLogs(name).trim().split("\n").slice(-15).join("\n");
                test.err.message += `\n--- docker logs ${name} (${isRunning(name) ? "running" : "NOT running"}), last lines ---\n${logs}`;
            }
        });

        after("remove the container and the temporary directory", () => {
            if (fixture) {
                removeContainer(fixture.endpoint.name);
                removeDirectory(fixture.directory);
            }
            removeAllStartedContainers();
        });

        it("passes `nginx -t` with the rendered config inside the image", () => {
            assert.equal(f().configTest.status, 0, f().configTest.stderr);
            assert.match(f().configTest.stderr, /syntax is ok/);
            assert.match(f().configTest.stderr, /test is successful/);
        });

        it("answers a client of the CA with 200 and its name, and logs its subject DN", async () => {
            const response = await expectStatus(as(f().client1), 200);
            assert.equal(response.body.trim(), greetingFor("client-1"));
            assert.equal(response.headers["strict-transport-security"], "max-age=63072000");
            const logLine = `client_verify=SUCCESS client_dn="${f().client1.subjectDn}"`;
            assert.ok((await waitForLog(f().endpoint.name, logLine)).includes(logLine), `docker logs lack: ${logLine}`);
        });

        it("answers every path under the declared / itself, never with the image's own pages", async () => {
            for (const requestPath of ["/index.html", "/50x.html", "/nginx-logo.png", "/admin/../index.html"]) {
                const response = await expectStatus(as(f().client1, requestPath), 200);
                assert.equal(response.body.trim(), greetingFor("client-1"));
                await expectStatus(as(undefined, requestPath), 400);
            }
        });

        it("presents a server certificate that verifies for its DNS names (hostname checking on)", async () => {
            for (const name of serverDnsNames) {
                const response = await expectStatus(as(f().client1, protectedPath, name), 200);
                const certificate = response.peerCertificate;
                assert.equal(tls.checkServerIdentity(name, certificate), undefined);
                assert.equal(tls.checkServerIdentity("127.0.0.1", certificate), undefined, "IP SAN 127.0.0.1");
                assert.ok(tls.checkServerIdentity("other.test", certificate) instanceof Error, "SAN check is strict");
                assert.match(
                    certificate.subjectaltname ?? "",
                    /DNS:localhost, DNS:mtls\.test, IP Address:127\.0\.0\.1/,
                );
            }
            // And the client really checks: trusting another CA, the same server is refused.
            const untrusted = await expectTlsFailure({ ...as(f().client1), ca: f().foreignCa.certificatePem });
            assert.match(untrusted.code ?? untrusted.message, /UNABLE_TO_VERIFY|UNABLE_TO_GET_ISSUER|SELF_SIGNED/);
        });

        if (variant.verifyClient === "on") {
            it("answers 400 without a client certificate", async () => {
                await expectStatus(as(undefined), 400, noCertificateSent);
                await expectStatus(as(undefined, adminPath), 400, noCertificateSent);
            });
        } else {
            it("serves the public location without a certificate and refuses the protected ones with 400", async () => {
                const response = await expectStatus(as(undefined, publicPath), 200);
                assert.equal(response.body.trim(), "mtls-nginx: ok");
                await expectStatus(as(undefined, protectedPath), 400);
                await expectStatus(as(undefined, adminPath), 400);
                await expectStatus(as(f().client1, publicPath), 200);
                // "optional" still refuses a certificate that fails verification, even on the public location.
                await expectStatus(as(f().foreignCaClient, publicPath), 400, certificateError);
            });
        }

        it("answers 400 to certificates from a foreign CA and from a CA impostor with the same name", async () => {
            await expectStatus(as(f().foreignCaClient), 400, certificateError);
            await expectStatus(as(f().impostorCaClient), 400, certificateError);
        });

        it("answers 400 to a self-signed certificate carrying a legitimate client's name", async () => {
            await expectStatus(as(f().selfSigned), 400, certificateError);
        });

        it("answers 400 to an expired certificate from the right CA", async () => {
            await expectStatus(as(f().expired), 400, certificateError);
        });

        it("answers 400 to a serverAuth-only certificate presented as a client", async () => {
            await expectStatus(as(f().serverAuthOnly), 400, certificateError);
        });

        if (variant.checkRevocation) {
            it("answers 400 to a revoked client certificate (CRL)", async () => {
                const revoked = f().revoked;
                assert.ok(revoked);
                await expectStatus(as(revoked), 400, certificateError);
            });
        }

        if (variant.allowlist) {
            it("answers 403 to an authenticated client outside a location's allowlist", async () => {
                const allowed = await expectStatus(as(f().client1, adminPath), 200);
                assert.equal(allowed.body.trim(), greetingFor("client-1"));
                await expectStatus(as(f().client2, adminPath), 403);
                const namedDefault = await expectStatus(as(f().namedDefault, adminPath), 200);
                assert.equal(namedDefault.body.trim(), greetingFor("default"));
                const elsewhere = await expectStatus(as(f().client2, protectedPath), 200);
                assert.equal(elsewhere.body.trim(), greetingFor("client-2"));
            });
        } else {
            it("lets every authenticated client into a location without an allowlist", async () => {
                const response = await expectStatus(as(f().client2, adminPath), 200);
                assert.equal(response.body.trim(), greetingFor("client-2"));
            });
        }

        it("refuses TLS 1.1 and 1.0 at the handshake, and speaks TLS 1.2 and 1.3", async () => {
            for (const version of ["TLSv1.1", "TLSv1"] as const) {
                const refused = await expectTlsFailure({
                    ...as(f().client1),
                    minVersion: "TLSv1",
                    maxVersion: version,
                    ciphers: legacyCiphers,
                });
                assert.equal(refused.handshakeCompleted, false, `${version}: ${refused.message}`);
                assert.match(
                    refused.code ?? "",
                    /PROTOCOL_VERSION|UNSUPPORTED_PROTOCOL/,
                    `${version}: ${refused.message}`,
                );
            }
            // The same legacy-capable client gets through when it may offer TLS 1.2.
            const tls12 = await expectStatus(
                { ...as(f().client1), minVersion: "TLSv1", maxVersion: "TLSv1.2", ciphers: legacyCiphers },
                200,
            );
            assert.equal(tls12.protocol, "TLSv1.2");
            assert.equal((await expectStatus(as(f().client1), 200)).protocol, "TLSv1.3");
        });

        it("refuses an unknown SNI name and a missing SNI at the handshake", async () => {
            const unknown = await expectTlsFailure(as(f().client1, protectedPath, "unknown.test"));
            assert.equal(unknown.handshakeCompleted, false, unknown.message);
            assert.match(unknown.code ?? "", /UNRECOGNIZED_NAME/, unknown.message);
            const noSni = await expectTlsFailure(as(f().client1, protectedPath, null));
            assert.equal(noSni.handshakeCompleted, false, noSni.message);
            assert.match(noSni.code ?? "", /UNRECOGNIZED_NAME/, noSni.message);
        });

        it("answers 421, never content, when the Host or an absolute-form target names another server than the SNI", async () => {
            // Nginx picks the server for a request by its Host after the handshake: a client must not
            // reach the catch-all server (and the image's pages) by naming another host.
            const paths = variant.verifyClient === "optional" ? [protectedPath, publicPath] : [protectedPath];
            for (const client of [undefined, f().client1]) {
                const who = client ? "with a certificate" : "without a certificate";
                for (const requestPath of paths) {
                    for (const misdirected of [
                        { ...as(client, requestPath), hostHeader: "x" },
                        { ...as(client, requestPath), hostHeader: "other.test:443" },
                        { ...as(client, `http://other.test${requestPath}`) },
                        { ...as(client, `https://x${requestPath}`), hostHeader: serverDnsNames[0] },
                    ]) {
                        const response = await tlsRequest(misdirected);
                        const request = `${who}: GET ${misdirected.path} Host ${misdirected.hostHeader ?? serverDnsNames[0]}`;
                        assert.equal(response.status, 421, `${request}: ${describeResponse(response)}`);
                        assert.doesNotMatch(response.body, /welcome|mtls-nginx:/i, request);
                    }
                }
            }
            // Control: the SNI name in Host (with a port), or in an absolute-form target, is served.
            const sameName = await expectStatus({ ...as(f().client1), hostHeader: `${serverDnsNames[0]}:443` }, 200);
            assert.equal(sameName.body.trim(), greetingFor("client-1"));
            await expectStatus({ ...as(f().client1, `https://${serverDnsNames[0]}/`) }, 200);
            // Even another of our own names: a server that verifies clients must be asked for the SNI name.
            await expectStatus({ ...as(f().client1), hostHeader: serverDnsNames[1] }, 421);
        });

        for (const version of ["TLSv1.3", "TLSv1.2"] as const) {
            it(`maps a resumed ${version} session to the client that authenticated it`, async () => {
                const options = { ...as(f().client1), minVersion: version, maxVersion: version };
                const first = await expectStatus(options, 200);
                assert.equal(first.protocol, version);
                assert.equal(first.sessionReused, false);
                assert.ok(first.session, "the server handed out no session to resume");
                const resumed = await expectStatus({ ...options, session: first.session }, 200);
                assert.equal(resumed.sessionReused, true, `session not resumed: ${describeResponse(resumed)}`);
                assert.equal(resumed.body.trim(), greetingFor("client-1"));
                // The access log agrees: a reused session, still the same verified subject.
                const logLine = `client_verify=SUCCESS client_dn="${f().client1.subjectDn}" `;
                const logs = await waitForLog(f().endpoint.name, `tls=${version} session_reused=r`);
                const reusedLines = logs.split("\n").filter((line) => line.includes(`tls=${version} session_reused=r`));
                assert.ok(reusedLines.length > 0, "no access log line with session_reused=r");
                assert.ok(
                    reusedLines.every((line) => line.includes(logLine)),
                    `reused sessions logged without the client:\n${reusedLines.join("\n")}`,
                );
            });
        }
    });
}
