import * as assert from "assert";
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";

import { revokedLine } from "../../components/certificateRevocationList";
import {
    issuedSerialsOf,
    nextCertificateHistory,
    parseCertificateHistory,
    removedClientsStillValid,
    revokedSerials,
    type CertificateHistory,
} from "../../rotation/certificateHistory";
import { openssl, TestPki, type CertificateAuthority, type IssuedCertificate } from "../../testkit/pki";

const repoRoot = path.join(__dirname, "..", "..");

const now = new Date("2026-12-06T12:00:00Z");
const entry = (serial: string, notAfter: string) => ({ serial, notAfter });

describe("certificate history (what revoking a client refuses)", () => {
    it("carries every unexpired certificate a name held, once, oldest first, and drops the expired", () => {
        const previous: CertificateHistory = {
            carol: [entry("0A", "2026-12-01T00:00:00Z"), entry("0B", "2027-01-05T00:00:00Z")],
            // No longer configured: kept until its certificates expire.
            dave: [entry("0D", "2027-02-01T00:00:00Z")],
            erin: [entry("0E", "2026-12-06T12:00:00Z")],
        };
        const next = nextCertificateHistory(
            previous,
            { carol: [entry("0C", "2027-12-06T00:00:00Z"), entry("0B", "2027-01-05T00:00:00Z")], frank: [] },
            now,
        );
        assert.deepStrictEqual(next, {
            carol: [entry("0B", "2027-01-05T00:00:00Z"), entry("0C", "2027-12-06T00:00:00Z")],
            dave: [entry("0D", "2027-02-01T00:00:00Z")],
        });
        assert.deepStrictEqual(
            revokedSerials(next, ["carol", "nobody"]).map((issued) => issued.serial),
            ["0B", "0C"],
        );
    });

    it("names each client taken out of the list whose certificates still pass, and until when", () => {
        const history: CertificateHistory = {
            carol: [entry("0B", "2027-01-05T00:00:00Z")],
            // Two still valid, the later one last in the list or not.
            dave: [entry("0D", "2027-03-01T00:00:00Z"), entry("0F", "2027-02-01T00:00:00Z")],
            erin: [entry("0E", "2026-12-06T12:00:00Z")],
            Alice: [entry("0A", "2027-01-01T00:00:00Z")],
        };
        assert.deepStrictEqual(removedClientsStillValid(history, ["carol", "alice"], now), [
            { name: "Alice", certificates: 1, validUntil: "2027-01-01T00:00:00Z" },
            { name: "dave", certificates: 2, validUntil: "2027-03-01T00:00:00Z" },
        ]);
        assert.deepStrictEqual(removedClientsStillValid(history, ["carol", "dave", "erin", "Alice"], now), []);
        assert.deepStrictEqual(removedClientsStillValid({}, [], now), []);
    });

    it("reads a previous output defensively: malformed entries and names count as none", () => {
        assert.deepStrictEqual(parseCertificateHistory(undefined), {});
        assert.deepStrictEqual(parseCertificateHistory(["x"]), {});
        assert.deepStrictEqual(
            parseCertificateHistory({
                carol: [entry("abc", "2027-01-01T00:00:00Z"), entry("not hex", "2027-01-01T00:00:00Z")],
                dave: "x",
                erin: [entry("0E", "yesterday")],
            }),
            { carol: [entry("0ABC", "2027-01-01T00:00:00Z")] },
        );
    });

    it("writes an expiry the way the CA database does: UTCTime before 2050, GeneralizedTime after", () => {
        assert.strictEqual(revokedLine(entry("0A1B", "2027-11-28T01:02:03Z")), "### revoked 0A1B 271128010203Z");
        assert.strictEqual(revokedLine(entry("0A1B", "2050-01-01T00:00:00Z")), "### revoked 0A1B 20500101000000Z");
        assert.throws(() => revokedLine(entry("0A", "soon")), /notAfter "soon" is not a date/);
    });

    describe("with real certificates and the real CRL script", () => {
        let directory: string;
        let ca: CertificateAuthority;
        let first: IssuedCertificate;
        let second: IssuedCertificate;
        let other: IssuedCertificate;

        before(function () {
            this.timeout(30_000);
            directory = fs.mkdtempSync(path.join(os.tmpdir(), "mtls-history-"));
            const pki = new TestPki(directory);
            ca = pki.createRootCa("history CA", "ECDSA-P256");
            // The same client twice (a rotation), and another client.
            first = pki.issueLeaf({ name: "carol", profile: "client", issuer: ca, algorithm: "ECDSA-P256" });
            second = pki.issueLeaf({ name: "carol", profile: "client", issuer: ca, algorithm: "ECDSA-P256" });
            other = pki.issueLeaf({ name: "dave", profile: "client", issuer: ca, algorithm: "ECDSA-P256" });
        });

        after(() => fs.rmSync(directory, { recursive: true, force: true }));

        it("reads the serial and expiry OpenSSL reads, and nothing from text without a certificate", () => {
            const [issued] = issuedSerialsOf(first.certificatePem);
            const serial = openssl(["x509", "-noout", "-serial", "-in", first.certificatePath]).trim();
            assert.strictEqual(`serial=${issued.serial}`, serial.replace(/^serial=(00)*/, "serial="));
            const notAfter = openssl(["x509", "-noout", "-enddate", "-in", first.certificatePath]).trim();
            assert.strictEqual(Date.parse(issued.notAfter), Date.parse(notAfter.replace(/^notAfter=/, "")));
            assert.deepStrictEqual(issuedSerialsOf("CERT OF client-carol-cert\n"), []);
        });

        it("a CRL from the history refuses the rotated-away certificate too, and only the revoked client's", () => {
            const history = nextCertificateHistory(
                nextCertificateHistory({}, { carol: issuedSerialsOf(first.certificatePem) }, now),
                { carol: issuedSerialsOf(second.certificatePem), dave: issuedSerialsOf(other.certificatePem) },
                now,
            );
            const stdin = ["### issuer", ca.certificatePem.trim(), ca.keyPem.trim()]
                .concat(revokedSerials(history, ["carol"]).map(revokedLine))
                .join("\n");
            const script = path.join(repoRoot, "components", "revocationListScript.sh");
            const issued = spawnSync("bash", [script], { input: stdin, env: { ...process.env, CRL_HOURS: "24" } });
            assert.strictEqual(issued.status, 0, issued.stderr.toString());
            const crlPath = path.join(directory, "crl.pem");
            fs.writeFileSync(crlPath, issued.stdout);
            const verdict = (certificate: IssuedCertificate) =>
                spawnSync("openssl", [
                    "verify",
                    "-crl_check",
                    "-CAfile",
                    ca.certificatePath,
                    "-CRLfile",
                    crlPath,
                    certificate.certificatePath,
                ]);
            for (const revoked of [first, second]) {
                const result = verdict(revoked);
                assert.notStrictEqual(result.status, 0, "a revoked certificate verified");
                assert.match(result.stdout.toString() + result.stderr.toString(), /certificate revoked/);
            }
            assert.strictEqual(verdict(other).status, 0, verdict(other).stderr.toString());
        });
    });
});
