import * as assert from "assert";
import { X509Certificate } from "crypto";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import * as tls from "tls";
import {
    buildExpiryReport,
    classifyItem,
    clientItem,
    compareServedCertificate,
    describeRow,
    ExpiryReport,
    findActiveCaSlot,
    normalizeSerial,
    parseCrlText,
    publishedEndpoint,
    renderStatusText,
    revokedClientNames,
    rolloverStages,
    StatusOutputs,
    statusExitCode,
} from "../../scripts/expiryReport";
import { fetchServedCertificate, parseStatusArguments } from "../../scripts/status";
import { CertificateAuthority, openssl, TestPki } from "../../testkit/pki";

const now = new Date("2026-06-01T00:00:00Z");
const inDays = (days: number) => new Date(now.getTime() + days * 24 * 3600 * 1000).toISOString();
const iso = (certificate: X509Certificate | string) =>
    new Date(typeof certificate === "string" ? certificate : certificate.validTo).toISOString();

/** A one-CA dev stack as its outputs read: server 90 days, clients a year, root ten years. */
function devOutputs(overrides: Partial<StatusOutputs> = {}): StatusOutputs {
    const certificateExpiries = {
        server: inDays(90),
        "ca-root": inDays(3650),
        "client-alice": inDays(365),
        "client-bob": inDays(365),
    };
    return {
        certificateExpiries,
        rotationState: Object.fromEntries(
            Object.entries(certificateExpiries).map(([item, notAfter]) => [item, { generation: 0, notAfter }]),
        ),
        rotationDue: {},
        ...overrides,
    };
}

const row = (report: ExpiryReport, item: string) => {
    const found = report.rows.find((candidate) => candidate.item === item);
    assert.ok(found, `a row for ${item}; have ${report.rows.map((candidate) => candidate.item).join(", ")}`);
    return found;
};

describe("expiry report", () => {
    it("names items by kind, client and CA slot", () => {
        assert.deepStrictEqual(classifyItem("server"), { kind: "server" });
        assert.deepStrictEqual(classifyItem("client-ops-oncall"), { kind: "client", client: "ops-oncall" });
        assert.deepStrictEqual(classifyItem(clientItem("ops-oncall")), { kind: "client", client: "ops-oncall" });
        assert.deepStrictEqual(classifyItem("ca-root"), { kind: "ca", caSlot: "a" });
        assert.deepStrictEqual(classifyItem("ca-intermediate"), { kind: "ca", caSlot: "a" });
        assert.deepStrictEqual(classifyItem("ca-b-intermediate"), { kind: "ca", caSlot: "b" });
        assert.deepStrictEqual(classifyItem("crl"), { kind: "crl" });
        assert.deepStrictEqual(classifyItem("something-else"), { kind: "other" });
    });

    it("lists every certificate with days left, CAs first, and alerts on nothing with the default window", () => {
        const report = buildExpiryReport(
            devOutputs(),
            { revokedClients: [], activeCaSlot: "a" },
            { now, warnDays: 30 },
        );
        assert.deepStrictEqual(
            report.rows.map((candidate) => candidate.item),
            ["ca-root", "server", "client-alice", "client-bob"],
        );
        assert.strictEqual(Math.round(row(report, "server").daysLeft), 90);
        assert.strictEqual(row(report, "client-alice").revoked, false);
        assert.strictEqual(row(report, "ca-root").rollover, "none");
        assert.deepStrictEqual(report.expiring, []);
        assert.strictEqual(statusExitCode(report), 0);
    });

    it("alerts on what expires within the window, exit bit 1", () => {
        const report = buildExpiryReport(devOutputs(), { revokedClients: [] }, { now, warnDays: 100 });
        assert.deepStrictEqual(report.expiring, ["server"]);
        assert.strictEqual(statusExitCode(report), 1);
        assert.match(describeRow(row(report, "server"), 100), /EXPIRES WITHIN 100 DAYS/);
        const wide = buildExpiryReport(devOutputs(), { revokedClients: [] }, { now, warnDays: 3650 });
        assert.deepStrictEqual(wide.expiring, ["ca-root", "server", "client-alice", "client-bob"]);
    });

    it("marks expired and unparseable expiries as alerts", () => {
        const outputs = devOutputs();
        const report = buildExpiryReport(
            {
                ...outputs,
                certificateExpiries: { ...outputs.certificateExpiries, server: inDays(-1), "client-bob": "soon" },
            },
            { revokedClients: [] },
            { now, warnDays: 30 },
        );
        assert.ok(row(report, "server").expired);
        assert.match(describeRow(row(report, "server"), 30), /^EXPIRED/);
        assert.match(describeRow(row(report, "client-bob"), 30), /EXPIRY UNKNOWN/);
        assert.deepStrictEqual(report.expiring.sort(), ["client-bob", "server"]);
    });

    it("flags revoked clients and never alerts on their expiry; says when revocation is unknown", () => {
        const outputs = devOutputs({
            rotationState: { ...(devOutputs().rotationState as object), crl: { generation: 2, notAfter: inDays(20) } },
        });
        const report = buildExpiryReport(outputs, { revokedClients: ["bob"] }, { now, warnDays: 400 });
        assert.strictEqual(row(report, "client-bob").revoked, true);
        assert.strictEqual(row(report, "client-bob").alert, false);
        assert.ok(row(report, "client-alice").alert);
        assert.strictEqual(row(report, "crl").kind, "crl");
        assert.match(describeRow(row(report, "client-bob"), 400), /revoked/);
        const unknown = buildExpiryReport(outputs, {}, { now, warnDays: 30 });
        assert.strictEqual(row(unknown, "client-bob").revoked, undefined);
        assert.match(describeRow(row(unknown, "client-bob"), 30), /revocation unknown/);
    });

    it("lists clients taken out of clients whose certificates are still valid, apart from the rows and the exit status", () => {
        const outputs = devOutputs({
            clientCertificateSerials: {
                alice: [{ serial: "0A", notAfter: inDays(365) }],
                dave: [
                    { serial: "0B", notAfter: inDays(-2) },
                    { serial: "0C", notAfter: inDays(40) },
                    { serial: "0D", notAfter: inDays(200) },
                ],
                erin: [{ serial: "0E", notAfter: inDays(-1) }],
                frank: "not a list",
            },
        });
        const report = buildExpiryReport(outputs, { revokedClients: [] }, { now, warnDays: 30 });
        // erin's only certificate has expired since the last up; alice is configured (a row).
        assert.deepStrictEqual(report.removedClients, [{ name: "dave", certificates: 2, validUntil: inDays(200) }]);
        assert.ok(
            !report.rows.some((candidate) => candidate.item === "client-dave"),
            "no row: its expiry is good news",
        );
        assert.strictEqual(
            statusExitCode(report),
            0,
            "a removal that lapses is the operator's call; the alert says it",
        );
        const text = renderStatusText("dev", report);
        assert.match(text, /removed from clients but not revoked, so still admitted/);
        assert.match(text, /^ {2}dave: 2 certificate\(s\) valid until \d{4}-\d\d-\d\d \d\d:\d\d UTC \(200 days\)$/m);
        assert.match(text, /list it in clients and in revokedClients/);

        assert.deepStrictEqual(buildExpiryReport(devOutputs(), {}, { now, warnDays: 30 }).removedClients, []);
        assert.doesNotMatch(
            renderStatusText("dev", buildExpiryReport(devOutputs(), {}, { now, warnDays: 30 })),
            /removed/,
        );
        // Waiting for an intermediate's signature, a stack has no client records: nobody can be told removed.
        const waiting = buildExpiryReport(
            { ...outputs, certificateExpiries: { "ca-root": inDays(3650) }, rotationState: {} },
            {},
            { now, warnDays: 30 },
        );
        assert.deepStrictEqual(waiting.removedClients, []);
    });

    it("takes the CRL's expiry from the deployed CRLs when read, else from rotationState", () => {
        const outputs = devOutputs({
            rotationState: { ...(devOutputs().rotationState as object), crl: { generation: 0, notAfter: inDays(20) } },
        });
        const fromState = buildExpiryReport(outputs, {}, { now, warnDays: 30 });
        assert.strictEqual(row(fromState, "crl").notAfter, inDays(20));
        assert.deepStrictEqual(fromState.expiring, ["crl"], "a CRL expiring refuses everyone: it alerts");
        const deployed = buildExpiryReport(outputs, { crlNextUpdate: inDays(19) }, { now, warnDays: 10 });
        assert.strictEqual(row(deployed, "crl").notAfter, inDays(19));
        assert.deepStrictEqual(deployed.expiring, []);
    });

    it("tells a CA that is due (needs a rollover) from a leaf the last up re-issued", () => {
        const outputs = devOutputs({
            rotationDue: { "ca-root": inDays(3650), server: inDays(10) },
        });
        const report = buildExpiryReport(outputs, { revokedClients: [], activeCaSlot: "a" }, { now, warnDays: 30 });
        assert.strictEqual(row(report, "ca-root").due, true);
        assert.strictEqual(row(report, "ca-root").rollover, "needed");
        assert.strictEqual(row(report, "server").due, false);
        assert.strictEqual(row(report, "server").rotatedAtLastUp, true);
        assert.match(describeRow(row(report, "server"), 30), /re-issued at the last up/);
    });

    describe("CA rollover stages", () => {
        const slotA = { "ca-root": inDays(1000), "ca-intermediate": inDays(500) };
        const slotB = { "ca-b-root": inDays(3650), "ca-b-intermediate": inDays(1800) };
        const expiries = { ...slotA, ...slotB, server: inDays(90) };

        it("step 1: the new CA is introduced (trusted, not issuing), the old one hands over", () => {
            const stages = rolloverStages(expiries, {}, "a");
            assert.strictEqual(stages.get("b"), "introduced");
            assert.strictEqual(stages.get("a"), "handing-over");
            const report = buildExpiryReport(
                { certificateExpiries: expiries },
                { activeCaSlot: "a" },
                { now, warnDays: 30 },
            );
            assert.strictEqual(row(report, "ca-b-intermediate").rollover, "introduced");
            assert.match(describeRow(row(report, "ca-b-root"), 30), /rollover: introduced/);
        });

        it("step 2: the new CA took over, the old one is due to be retired", () => {
            const stages = rolloverStages(expiries, {}, "b");
            assert.strictEqual(stages.get("b"), "took-over");
            assert.strictEqual(stages.get("a"), "retire");
        });

        it("step 3 (only the new CA trusted) and a due lone CA", () => {
            assert.strictEqual(rolloverStages(slotB, {}, "b").get("b"), "none");
            assert.strictEqual(rolloverStages(slotB, { "ca-b-root": inDays(3650) }, undefined).get("b"), "needed");
        });

        it("says unknown when two CAs are trusted and the issuing one could not be told", () => {
            const report = buildExpiryReport({ certificateExpiries: expiries }, {}, { now, warnDays: 30 });
            assert.strictEqual(row(report, "ca-root").rollover, "unknown");
        });
    });

    it("sets exit bit 2 when the endpoint does not serve what state records", () => {
        const report = buildExpiryReport(devOutputs(), {}, { now, warnDays: 100 });
        assert.strictEqual(statusExitCode(report, { matches: false }), 3);
        assert.strictEqual(statusExitCode(report, { matches: true }), 1);
    });

    it("connects only to the address the stack publishes (the curl --resolve pin)", () => {
        const curl = (pin: string) => ({ alice: `curl --cacert ca.pem --resolve ${pin} https://x:8443/` });
        assert.deepStrictEqual(publishedEndpoint("https://localhost:8443/", curl("localhost:8443:127.0.0.1")), {
            host: "127.0.0.1",
            port: 8443,
        });
        assert.deepStrictEqual(
            publishedEndpoint("https://mtls.example.internal/", curl("mtls.example.internal:443:[::1]")),
            {
                host: "::1",
                port: 443,
            },
        );
        assert.deepStrictEqual(publishedEndpoint("https://localhost:9443/", {}), { host: "localhost", port: 9443 });
    });

    it("parses status arguments", () => {
        assert.deepStrictEqual(parseStatusArguments([]), {
            stack: "dev",
            warnDays: 30,
            format: "table",
            checkEndpoint: true,
        });
        assert.deepStrictEqual(parseStatusArguments(["staging", "--warn-days", "3650", "--json", "--skip-endpoint"]), {
            stack: "staging",
            warnDays: 3650,
            format: "json",
            checkEndpoint: false,
        });
        assert.strictEqual(parseStatusArguments(["--warn-days=7"]).warnDays, 7);
        assert.throws(() => parseStatusArguments(["--warn-days", "soon"]), /whole number/);
        assert.throws(() => parseStatusArguments(["a", "b"]), /unexpected argument b/);
    });
});

describe("expiry report: what certificates and CRLs say", () => {
    let directory: string;
    let pki: TestPki;
    let caA: CertificateAuthority;
    let caB: CertificateAuthority;

    before(() => {
        directory = fs.mkdtempSync(path.join(os.tmpdir(), "mtls-status-test-"));
        pki = new TestPki(directory);
        caA = pki.createRootCa("A Root CA", "ECDSA-P256"); // 30 days
        caB = rootCaLastingDays(directory, "B Root CA", 40);
    });

    after(() => fs.rmSync(directory, { recursive: true, force: true }));

    it("finds the issuing CA slot from the newest client certificate, matched to a CA item by expiry", () => {
        const yesterday = new Date(Date.now() - 24 * 3600 * 1000);
        const frozen = pki.issueLeaf({
            name: "bob",
            profile: "client",
            issuer: caA,
            algorithm: "ECDSA-P256",
            notBefore: yesterday,
        });
        const fresh = pki.issueLeaf({ name: "alice", profile: "client", issuer: caB, algorithm: "ECDSA-P256" });
        const expiries = {
            "ca-root": iso(new X509Certificate(caA.certificatePem)),
            "ca-b-root": iso(new X509Certificate(caB.certificatePem)),
        };
        const bundle = caB.certificatePem + caA.certificatePem;
        const clients = { bob: frozen.certificatePem, alice: fresh.certificatePem };
        assert.strictEqual(findActiveCaSlot(expiries, bundle, clients), "b");
        assert.strictEqual(findActiveCaSlot(expiries, bundle, { bob: frozen.certificatePem }), "a");
        assert.strictEqual(findActiveCaSlot(expiries, caA.certificatePem, clients), undefined, "issuer not trusted");
        const sameSecond = { "ca-root": expiries["ca-b-root"], "ca-b-root": expiries["ca-b-root"] };
        assert.strictEqual(findActiveCaSlot(sameSecond, bundle, clients), undefined, "ambiguous: no guess");
    });

    it("reads revoked serials and the next update from a real CRL, and maps them to clients", () => {
        const bob = pki.issueLeaf({ name: "bob", profile: "client", issuer: caA, algorithm: "ECDSA-P256" });
        const alice = pki.issueLeaf({ name: "alice", profile: "client", issuer: caA, algorithm: "ECDSA-P256" });
        pki.revoke(bob, caA);
        const text = openssl(["crl", "-noout", "-text"], { input: pki.crl(caA) });
        const crl = parseCrlText(text);
        assert.strictEqual(crl.revokedSerials.length, 1);
        assert.ok(crl.nextUpdate && Math.abs(Date.parse(crl.nextUpdate) - Date.now() - 2 * 24 * 3600 * 1000) < 60000);
        const clients = { alice: alice.certificatePem, bob: bob.certificatePem };
        assert.deepStrictEqual(revokedClientNames(clients, crl.revokedSerials), ["bob"]);
        assert.strictEqual(normalizeSerial("00:0a:Bc"), "ABC");
    });

    describe("the served certificate against state", () => {
        let server: ReturnType<TestPki["issueLeaf"]>;
        let served: X509Certificate;
        const at = new Date();

        before(() => {
            server = pki.issueLeaf({
                name: "localhost",
                profile: "server",
                issuer: caA,
                algorithm: "ECDSA-P256",
                dnsNames: ["localhost"],
            });
            served = new X509Certificate(server.certificatePem);
        });

        const expected = () => ({
            serverName: "localhost",
            notAfter: iso(served),
            caBundlePem: caB.certificatePem + caA.certificatePem,
            issuer: new X509Certificate(caA.certificatePem),
        });

        it("matches by name, expiry and issuer when state has no server certificate", () => {
            const result = compareServedCertificate(served, expected(), at);
            assert.ok(result.matches, result.checks.join("\n"));
            assert.strictEqual(result.exact, false);
            assert.strictEqual(result.served?.fingerprint256, served.fingerprint256);
        });

        it("reports each mismatch: another expiry, an issuer outside the bundle, not the issuing CA, another name", () => {
            const checksOf = (overrides: object) =>
                compareServedCertificate(served, { ...expected(), ...overrides }, at).checks.filter((line) =>
                    line.startsWith("MISMATCH"),
                );
            assert.match(checksOf({ notAfter: inDays(1) }).join(), /certificateExpiries.server/);
            assert.match(checksOf({ caBundlePem: caB.certificatePem }).join(), /caCertificatePem/);
            assert.match(checksOf({ issuer: new X509Certificate(caB.certificatePem) }).join(), /issues the clients/);
            assert.match(checksOf({ serverName: "other.example" }).join(), /names other.example/);
        });

        it("compares fingerprints exactly when state holds the server certificate", () => {
            const same = compareServedCertificate(served, { ...expected(), certificatePem: server.certificatePem }, at);
            assert.ok(same.matches && same.exact);
            const other = compareServedCertificate(served, { ...expected(), certificatePem: caA.certificatePem }, at);
            assert.strictEqual(other.matches, false);
        });

        it("reads the leaf a TLS server serves for the SNI name, without sending a client certificate", async () => {
            const tlsServer = tls.createServer({
                key: server.keyPem,
                cert: server.certificatePem,
                ca: caA.certificatePem,
                requestCert: true,
                rejectUnauthorized: false,
            });
            await new Promise<void>((resolve) => tlsServer.listen(0, "127.0.0.1", resolve));
            try {
                const port = (tlsServer.address() as { port: number }).port;
                const fetched = await fetchServedCertificate("127.0.0.1", port, "localhost");
                assert.strictEqual(fetched.fingerprint256, served.fingerprint256);
            } finally {
                await new Promise((resolve) => tlsServer.close(resolve));
            }
        });

        it("renders a readable report with the endpoint verdict and the exit status", () => {
            const report = buildExpiryReport(devOutputs(), { revokedClients: [] }, { now, warnDays: 30 });
            const endpoint = {
                address: "127.0.0.1:8443",
                serverName: "localhost",
                reachable: true,
                ...compareServedCertificate(served, expected(), at),
            };
            const text = renderStatusText("dev", report, endpoint);
            assert.match(text, /^stack dev, .*warning window 30 days/);
            assert.match(text, /\nserver +2026-08-30 00:00 +90 +ok\n/);
            assert.match(text, /endpoint 127\.0\.0\.1:8443 \(SNI localhost\): serves the certificate in state/);
            assert.match(text, /nothing expires within 30 days; exit 0$/);
        });
    });
});

/** A self-signed CA with a chosen lifetime (TestPki's roots all last 30 days, so their expiries could collide). */
function rootCaLastingDays(directory: string, name: string, days: number): CertificateAuthority {
    const base = path.join(directory, name.replace(/\W/g, "_"));
    const subject = `/O=mtls-nginx/CN=${name}`;
    openssl(["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", `${base}.key`]);
    fs.chmodSync(`${base}.key`, 0o600);
    fs.writeFileSync(`${base}.cnf`, "[req]\ndistinguished_name = dn\n[dn]\n");
    // prettier-ignore
    openssl([
        "req", "-x509", "-config", `${base}.cnf`, "-key", `${base}.key`, "-subj", subject, "-days", String(days),
        "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign",
        "-out", `${base}.pem`,
    ]);
    const certificatePem = fs.readFileSync(`${base}.pem`, "utf8");
    return {
        name,
        subject,
        subjectDn: `CN=${name},O=mtls-nginx`,
        keyPath: `${base}.key`,
        certificatePath: `${base}.pem`,
        keyPem: fs.readFileSync(`${base}.key`, "utf8"),
        certificatePem,
        chainPem: certificatePem,
        stateDirectory: `${base}-ca-state`,
    };
}
