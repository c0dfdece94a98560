import * as assert from "assert";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { requestKeyLimits, requestProblems } from "../../config/clientEntries";
import { StackConfigError, validateStackConfig } from "../../config/stackConfig";
import type { RawStackConfig } from "../../config/stackConfig";
import { parseCertificateRequest } from "../../domain/csr";
import { configRejection } from "../../testkit/config";
import { ClientRequestFiles, makeClientRequest, requestKeyArgs } from "../../testkit/pki";

/**
 * Clients that bring a CSR (config/clientEntries.ts, domain/csr.ts): requests made by `openssl req`
 * in a temp directory at test time, good and bad, read and judged before any resource exists.
 */
describe("client CSRs", function () {
    this.timeout(60_000);
    let directory: string;
    const made: Record<string, ClientRequestFiles> = {};

    before(() => {
        directory = fs.mkdtempSync(path.join(os.tmpdir(), "mtls-csr-test-"));
        made.rsa2048 = makeClientRequest(directory, "rsa", { commonName: "alice", keyArgs: requestKeyArgs.rsa(2048) });
        made.p256 = makeClientRequest(directory, "p256", { commonName: "alice" });
        made.p384 = makeClientRequest(directory, "p384", { commonName: "alice", keyArgs: requestKeyArgs.ec("P-384") });
        made.rsa1024 = makeClientRequest(directory, "weak", { commonName: "alice", keyArgs: requestKeyArgs.rsa(1024) });
        made.p521 = makeClientRequest(directory, "p521", { commonName: "alice", keyArgs: requestKeyArgs.ec("P-521") });
        made.ed25519 = makeClientRequest(directory, "ed", { commonName: "alice", keyArgs: ["-algorithm", "ED25519"] });
        made.wrongCn = makeClientRequest(directory, "mallory", { commonName: "mallory" });
        made.upperCn = makeClientRequest(directory, "upper", { commonName: "Alice" });
        made.ca = makeClientRequest(directory, "ca", {
            commonName: "alice",
            extensions: ["basicConstraints=critical,CA:TRUE"],
        });
        made.notCa = makeClientRequest(directory, "leaf", {
            commonName: "alice",
            extensions: ["basicConstraints=critical,CA:FALSE", "extendedKeyUsage=clientAuth"],
        });
    });

    after(() => fs.rmSync(directory, { recursive: true, force: true }));

    /** The same request with one bit of its signature flipped. */
    function tampered(pem: string): string {
        const body = pem.replace(/-----[A-Z ]+-----/g, "").replace(/\s+/g, "");
        const der = Buffer.from(body, "base64");
        der[der.length - 5] ^= 0x01;
        const lines = der.toString("base64").match(/.{1,64}/g)!;
        return `-----BEGIN CERTIFICATE REQUEST-----\n${lines.join("\n")}\n-----END CERTIFICATE REQUEST-----\n`;
    }

    /** The same request with its CN (bytes "alice") rewritten to "alica": the signature no longer covers it. */
    function alteredSubject(pem: string): string {
        const body = pem.replace(/-----[A-Z ]+-----/g, "").replace(/\s+/g, "");
        const der = Buffer.from(body, "base64");
        const at = der.indexOf(Buffer.from("alice"));
        der[at + 4] = "a".charCodeAt(0);
        return `-----BEGIN CERTIFICATE REQUEST-----\n${der.toString("base64")}\n-----END CERTIFICATE REQUEST-----\n`;
    }

    describe("parseCertificateRequest (domain/csr.ts)", () => {
        it("reads the CN, the key and a valid signature of RSA and EC requests", () => {
            const rsa = parseCertificateRequest(made.rsa2048.csrPem);
            assert.deepStrictEqual(rsa.commonNames, ["alice"]);
            assert.deepStrictEqual(rsa.key, { algorithm: "RSA", rsaBits: 2048 });
            assert.strictEqual(rsa.signatureValid, true);
            assert.strictEqual(rsa.signatureAlgorithm, "sha256WithRSAEncryption");
            assert.strictEqual(rsa.requestsCa, false);
            const ec = parseCertificateRequest(made.p256.csrPem);
            assert.deepStrictEqual(ec.key, { algorithm: "ECDSA", ecdsaCurve: "P256" });
            assert.strictEqual(ec.signatureValid, true);
            assert.strictEqual(ec.signatureAlgorithm, "ecdsa-with-SHA256");
            assert.deepStrictEqual(parseCertificateRequest(made.p384.csrPem).key, {
                algorithm: "ECDSA",
                ecdsaCurve: "P384",
            });
            assert.deepStrictEqual(parseCertificateRequest(made.ed25519.csrPem).key, { algorithm: "ED25519" });
            assert.strictEqual(parseCertificateRequest(made.ed25519.csrPem).signatureValid, true);
        });

        it("finds basicConstraints CA:TRUE among the requested extensions, and not CA:FALSE", () => {
            assert.strictEqual(parseCertificateRequest(made.ca.csrPem).requestsCa, true);
            assert.strictEqual(parseCertificateRequest(made.notCa.csrPem).requestsCa, false);
            assert.strictEqual(parseCertificateRequest(made.notCa.csrPem).signatureValid, true);
        });

        it("tells a tampered signature and an altered subject from a good one", () => {
            assert.strictEqual(parseCertificateRequest(tampered(made.p256.csrPem)).signatureValid, false);
            assert.strictEqual(parseCertificateRequest(tampered(made.rsa2048.csrPem)).signatureValid, false);
            const altered = parseCertificateRequest(alteredSubject(made.p256.csrPem));
            assert.deepStrictEqual(altered.commonNames, ["alica"]);
            assert.strictEqual(altered.signatureValid, false);
        });

        it("throws, saying why, for garbage, a certificate, two requests and truncated DER", () => {
            const cases: Array<[string, RegExp]> = [
                ["not a PEM at all", /no CERTIFICATE REQUEST PEM block/],
                [made.p256.csrPem.replace(/REQUEST/g, "REQUESTX"), /no CERTIFICATE REQUEST PEM block/],
                [made.p256.csrPem + made.rsa2048.csrPem, /2 CERTIFICATE REQUEST blocks, not one/],
                [
                    "-----BEGIN CERTIFICATE REQUEST-----\nMIIBAAAA\n-----END CERTIFICATE REQUEST-----\n",
                    /not a PKCS#10 request/,
                ],
                ["-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n", /not a PKCS#10/],
            ];
            for (const [pem, expected] of cases) {
                assert.throws(() => parseCertificateRequest(pem), expected, pem.slice(0, 60));
            }
        });
    });

    describe("requestProblems (config/clientEntries.ts)", () => {
        it("accepts RSA 2048, EC P-256 and P-384 requests whose CN is the client's name", () => {
            for (const request of [made.rsa2048, made.p256, made.p384, made.notCa]) {
                assert.deepStrictEqual(requestProblems(request.csrPem, "alice"), [], request.csrPath);
            }
        });

        it("allows exactly the stack's key algorithms, judged by the policy pack's key rules", () => {
            assert.deepStrictEqual(requestKeyLimits, {
                allowedAlgorithms: ["ECDSA", "RSA"],
                allowedEcdsaCurves: ["P256", "P384"],
                minimumRsaBits: 2048,
            });
        });

        const refusals: Array<[string, () => string, string, RegExp]> = [
            [
                "an RSA 1024 key",
                () => made.rsa1024.csrPem,
                "alice",
                /RSA key of 1024 bits is below the minimum of 2048/,
            ],
            ["a P-521 key", () => made.p521.csrPem, "alice", /ECDSA curve P521 is not allowed; allowed: P256, P384/],
            ["an Ed25519 key", () => made.ed25519.csrPem, "alice", /key algorithm ED25519 is not allowed/],
            ["another CN", () => made.wrongCn.csrPem, "alice", /subject CN "mallory", not the client's name "alice"/],
            ["a CN in another case", () => made.upperCn.csrPem, "alice", /CN "Alice", not the client's name "alice"/],
            ["a tampered signature", () => tampered(made.p256.csrPem), "alice", /does not verify with the key/],
            ["CA:TRUE", () => made.ca.csrPem, "alice", /requests basicConstraints CA:TRUE/],
            ["garbage", () => "hello", "alice", /does not parse \(no CERTIFICATE REQUEST PEM block\)/],
        ];
        for (const [what, pem, name, expected] of refusals) {
            it(`refuses ${what}, saying what is allowed`, () => {
                const problems = requestProblems(pem(), name);
                assert.strictEqual(problems.length, 1, problems.join("\n"));
                assert.match(problems[0], expected);
                assert.match(problems[0], /allowed: /);
            });
        }

        it("names every failure of one request at once", () => {
            const problems = requestProblems(tampered(made.rsa1024.csrPem), "bob");
            assert.strictEqual(problems.length, 3, problems.join("\n"));
        });
    });

    describe("the clients key: a name or {name, csr}", () => {
        const context = { stack: "unit", projectDirectory: "/srv/mtls" };
        const rejection = (raw: RawStackConfig): StackConfigError => configRejection(raw, context);

        it("reads both forms: names stay clients, a CSR client's request is kept by name", () => {
            const config = validateStackConfig(
                { clients: ["bob", { name: "alice", csr: made.p256.csrPem }], smokeTest: true },
                context,
            );
            assert.deepStrictEqual(config.clients, ["bob", "alice"]);
            assert.deepStrictEqual(config.clientCsrs, { alice: made.p256.csrPem });
            assert.deepStrictEqual(config.smokeProbe, { clientName: "bob", path: "/" }, "the probe needs a key");
        });

        it("reads the form Pulumi gives (the list as JSON text parsed), and CSR clients in allowlists and revocations", () => {
            const config = validateStackConfig(
                {
                    clients: JSON.parse(JSON.stringify(["ops", { name: "alice", csr: made.rsa2048.csrPem }])),
                    revokedClients: ["alice"],
                    verifyClient: "optional",
                    locations: [{ path: "/", allowedClients: ["alice", "ops"] }],
                },
                context,
            );
            assert.deepStrictEqual(config.revokedClients, ["alice"]);
        });

        it("refuses each bad request under clients[i].csr, with every problem of the config at once", () => {
            const error = rejection({
                clients: [
                    "ops",
                    { name: "alice", csr: made.wrongCn.csrPem },
                    { name: "bob", csr: "garbage" },
                    { name: "carol", csr: made.ca.csrPem },
                ],
                publishPort: 0,
            });
            assert.deepStrictEqual(
                error.errors.map((problem) => problem.key),
                ["clients[1].csr", "clients[2].csr", "clients[3].csr", "clients[3].csr", "publishPort"],
            );
            assert.match(error.message, /"mtls-nginx:clients\[1\]\.csr": has subject CN "mallory"/);
            assert.match(error.message, /"mtls-nginx:clients\[3\]\.csr": requests basicConstraints CA:TRUE/);
        });

        it("refuses a bad entry shape, an unknown field, a missing csr and a name twice", () => {
            const keys = (raw: RawStackConfig) => rejection(raw).errors.map((problem) => problem.key);
            assert.deepStrictEqual(keys({ clients: [{ name: "alice" }] }), ["clients[0].csr"]);
            assert.deepStrictEqual(keys({ clients: [{ name: "alice", csr: made.p256.csrPem, key: "x" }] }), [
                "clients[0].key",
            ]);
            assert.deepStrictEqual(keys({ clients: [{ name: "bad name", csr: made.p256.csrPem }] }), [
                "clients[0].name",
                "clients[0].csr",
            ]);
            const twice = rejection({ clients: ["Alice", { name: "alice", csr: made.p256.csrPem }] });
            assert.match(twice.message, /"alice" repeats "Alice".*allowed: each client name once, regardless of case/);
            assert.match(rejection({ clients: [["alice"]] }).message, /allowed: a list like \["a", "b"\]/);
        });

        it("refuses a smoke test when every client allowed at the probed location brought a CSR", () => {
            const error = rejection({ clients: [{ name: "alice", csr: made.p256.csrPem }] });
            assert.deepStrictEqual(
                error.errors.map((problem) => problem.key),
                ["smokeTest"],
            );
            assert.match(error.message, /brought a CSR \(the stack holds no key to probe as it\); allowed: false/);
            const config = validateStackConfig(
                { clients: [{ name: "alice", csr: made.p256.csrPem }], smokeTest: false },
                context,
            );
            assert.deepStrictEqual(config.clients, ["alice"]);
        });
    });
});
