/**
 * Integration tier: revocation and de-trust hold against TLS session resumption. A client saves
 * TLS 1.2 and TLS 1.3 sessions while it is trusted; after a reload that revokes it (a CRL) or
 * retires its CA, resuming those sessions must not bring it back in. A control reload that keeps
 * the trust shows that sessions do survive reloads, so the refusals are the fix at work.
 */
import * as assert from "assert/strict";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";

import { containerListenPort, nginxConfigArgs } from "../../nginx/files";
import { greetingFor, renderNginxConfig, trustDigest } from "../../nginx/renderNginxConfig";
import {
    assertDockerReady,
    docker,
    removeContainer,
    serveFileSet,
    writeCheckedFileSet,
    type RunningEndpoint,
    type TestFileSet,
} from "../../testkit/docker";
import { TestPki, type CertificateAuthority, type IssuedCertificate } from "../../testkit/pki";
import { tlsRequest, type TlsRequestOptions, type TlsResponse } from "../../testkit/tls";

const serverName = "localhost";
const versions = ["TLSv1.2", "TLSv1.3"] as const;
type Version = (typeof versions)[number];

/** What the mounted directory holds for one reload. */
interface TrustState {
    readonly trusted: readonly CertificateAuthority[];
    readonly crlPem: string;
    readonly workerProcesses: string;
}

describe("revocation and de-trust against TLS session resumption", function () {
    this.timeout(120_000);
    let directory: string;
    let mounted: string;
    let pki: TestPki;
    let caA: CertificateAuthority;
    let caB: CertificateAuthority;
    let server: IssuedCertificate;
    let endpoint: RunningEndpoint | undefined;

    /** The files for a trust state (a CRL file always, empty when nothing is revoked). */
    const fileSet = (state: TrustState): TestFileSet => ({
        nginxConfig: renderNginxConfig({
            serverNames: [serverName],
            listenPort: containerListenPort,
            verifyClient: "on",
            verifyDepth: 1,
            workerProcesses: state.workerProcesses,
            locations: [{ path: "/", requireClientCertificate: true }],
            checkRevocation: state.crlPem !== "",
            trustDigest: trustDigest(bundleOf(state.trusted), state.crlPem),
        }),
        serverChainPem: server.chainPem,
        serverKeyPem: server.keyPem,
        clientTrustBundlePem: bundleOf(state.trusted),
        crlPem: state.crlPem,
    });

    /** Reloads Nginx and waits until every worker is a new one (old workers may still hold the old config). */
    const reload = async (state: TrustState): Promise<void> => {
        const running = endpoint!;
        // Config last, as the endpoint writes it; checked with nginx -t before the reload.
        writeCheckedFileSet(mounted, fileSet(state));
        const before = workerPids(running.name);
        const result = docker(["exec", running.name, "nginx", ...nginxConfigArgs, "-s", "reload"]);
        assert.equal(result.status, 0, `nginx -s reload: ${result.stderr}`);
        const deadline = Date.now() + 15_000;
        for (;;) {
            const now = workerPids(running.name);
            if (now.length > 0 && now.every((pid) => !before.includes(pid))) {
                return;
            }
            assert.ok(Date.now() < deadline, `workers were not replaced after reload (before ${before}, now ${now})`);
            await new Promise((resolve) => setTimeout(resolve, 100));
        }
    };

    const as = (client: IssuedCertificate, version: Version, session?: Buffer): TlsRequestOptions => ({
        port: endpoint!.port,
        servername: serverName,
        ca: caA.certificatePem,
        cert: client.chainPem,
        key: client.keyPem,
        minVersion: version,
        maxVersion: version,
        session,
    });

    /** A full handshake that gets in, then one resumption that proves the saved session is good. */
    const saveSession = async (client: IssuedCertificate, version: Version): Promise<Buffer> => {
        const first = await tlsRequest(as(client, version));
        assert.equal(first.status, 200, summary(first));
        assert.ok(first.session, `no ${version} session handed out`);
        const resumed = await tlsRequest(as(client, version, first.session));
        assert.equal(resumed.sessionReused, true, `${version} session not resumable before the change`);
        return resumed.session ?? first.session;
    };

    before("PKI, files and the container", async function () {
        assertDockerReady();
        directory = fs.mkdtempSync(path.join(os.tmpdir(), "mtls-nginx-resumption-"));
        mounted = path.join(directory, "mtls");
        pki = new TestPki(path.join(directory, "pki"));
        caA = pki.createRootCa("CA A", "ECDSA-P256");
        caB = pki.createRootCa("CA B", "ECDSA-P256");
        server = pki.issueServer(serverName, caA);
        endpoint = await serveFileSet(
            mounted,
            "resumption",
            fileSet({ trusted: [caA, caB], crlPem: "", workerProcesses: "1" }),
            { serverName, caPem: caA.certificatePem },
        );
    });

    after(() => {
        if (endpoint) {
            removeContainer(endpoint.name);
        }
        fs.rmSync(directory, { recursive: true, force: true });
    });

    it("keeps sessions across a reload that does not change the trust (control)", async () => {
        const client = pki.issueLeaf({ name: "control", profile: "client", issuer: caA, algorithm: "ECDSA-P256" });
        const sessions = await Promise.all(versions.map((version) => saveSession(client, version)));
        await reload({ trusted: [caA, caB], crlPem: "", workerProcesses: "2" });
        for (const [index, version] of versions.entries()) {
            const resumed = await tlsRequest(as(client, version, sessions[index]));
            assert.equal(resumed.status, 200, summary(resumed));
            assert.equal(resumed.sessionReused, true, `${version}: the session did not survive a plain reload`);
        }
    });

    it("refuses a revoked client that resumes a TLS 1.2 or TLS 1.3 session from before the revocation", async () => {
        const revoked = pki.issueLeaf({ name: "revoked", profile: "client", issuer: caA, algorithm: "ECDSA-P256" });
        const kept = pki.issueLeaf({ name: "kept", profile: "client", issuer: caA, algorithm: "ECDSA-P256" });
        const sessions = await Promise.all(versions.map((version) => saveSession(revoked, version)));
        pki.revoke(revoked, caA);
        // Nginx wants a CRL for every CA it trusts.
        await reload({ trusted: [caA, caB], crlPem: pki.crl(caA) + pki.crl(caB), workerProcesses: "2" });
        for (const [index, version] of versions.entries()) {
            // Twice: a refused resumption must not hand out a new session either.
            for (let attempt = 1; attempt <= 2; attempt++) {
                const resumed = await tlsRequest(as(revoked, version, sessions[index]));
                assert.equal(resumed.sessionReused, false, `${version}: a revoked client resumed its session`);
                assert.equal(resumed.status, 400, `${version} attempt ${attempt}: ${summary(resumed)}`);
            }
            const full = await tlsRequest(as(revoked, version));
            assert.equal(full.status, 400, `${version} full handshake: ${summary(full)}`);
            const other = await tlsRequest(as(kept, version));
            assert.equal(other.status, 200, `${version}, a client that is not revoked: ${summary(other)}`);
            assert.equal(other.body.trim(), greetingFor("kept"));
        }
    });

    it("refuses a client of a retired CA that resumes a session from before the retirement", async () => {
        const ofRetired = pki.issueLeaf({ name: "of-a", profile: "client", issuer: caA, algorithm: "ECDSA-P256" });
        const ofKept = pki.issueLeaf({ name: "of-b", profile: "client", issuer: caB, algorithm: "ECDSA-P256" });
        await reload({ trusted: [caA, caB], crlPem: "", workerProcesses: "1" });
        const sessions = await Promise.all(versions.map((version) => saveSession(ofRetired, version)));
        await reload({ trusted: [caB], crlPem: "", workerProcesses: "1" });
        for (const [index, version] of versions.entries()) {
            const resumed = await tlsRequest(as(ofRetired, version, sessions[index]));
            assert.equal(resumed.sessionReused, false, `${version}: a client of the retired CA resumed its session`);
            assert.equal(resumed.status, 400, `${version}: ${summary(resumed)}`);
            const other = await tlsRequest(as(ofKept, version));
            assert.equal(other.status, 200, `${version}, a client of the CA still trusted: ${summary(other)}`);
        }
    });
});

function bundleOf(authorities: readonly CertificateAuthority[]): string {
    return authorities.map((authority) => authority.certificatePem).join("");
}

function summary(response: TlsResponse): string {
    return `HTTP ${response.status} over ${response.protocol}, reused=${response.sessionReused}: ${response.body.trim()}`;
}

/** PIDs of the Nginx worker processes in a container, read from /proc (the image has no ps). */
function workerPids(container: string): string[] {
    const script =
        'for f in /proc/[0-9]*/cmdline; do tr "\\0" " " < "$f" | grep -q "^nginx: worker" && echo "$f"; done';
    const result = docker(["exec", container, "sh", "-c", script]);
    return result.stdout
        .split("\n")
        .filter(Boolean)
        .map((line) => line.split("/")[2]);
}
