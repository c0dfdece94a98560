import * as assert from "assert";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import * as pulumi from "@pulumi/pulumi";
import {
    clientKeyCustodyDefaults,
    clientKeyCustodyProblems,
    type SignedCertificateFacts,
} from "../../policy/clientKeys";
import { rotationTrigger } from "../../rotation/rotationSchedule";
import { makeClientRequest, requestKeyArgs } from "../../testkit/pki";
import { deployOnMocks } from "./deploy";
import {
    ignoredChanges,
    installMocks,
    promiseOf,
    recordedResources,
    replacementTriggers,
    resourcesOfType,
} from "./mocks";

installMocks();

const now = new Date("2026-11-28T12:00:00Z");
const farFuture = "2030-01-01T00:00:00Z";
const types = {
    key: "tls:index/privateKey:PrivateKey",
    request: "tls:index/certRequest:CertRequest",
    certificate: "tls:index/locallySignedCert:LocallySignedCert",
} as const;

/**
 * A client that brings a CSR, in the resource graph (the program on the mocks): one certificate,
 * signed from the CSR, no key and no CSR resource, no key in any output; rotation re-signs the same
 * CSR, and revocation freezes it as for a generated client.
 */
describe("a client with its own CSR in the resource graph", function () {
    this.timeout(60_000);
    let directory: string;
    let aliceCsr: string;
    let rsaCsr: string;

    before(() => {
        directory = fs.mkdtempSync(path.join(os.tmpdir(), "mtls-csr-stack-"));
        aliceCsr = makeClientRequest(directory, "alice").csrPem;
        rsaCsr = makeClientRequest(directory, "alice-rsa", {
            commonName: "alice",
            keyArgs: requestKeyArgs.rsa(2048),
        }).csrPem;
    });

    after(() => fs.rmSync(directory, { recursive: true, force: true }));

    const deploy = (raw: Record<string, unknown>, previousRotationState: Record<string, unknown> = {}) => {
        replacementTriggers.clear();
        return deployOnMocks(raw, {
            now,
            previousRotationState,
            awaiting: ["clientCertificatePems", "clientPrivateKeyPems", "rotationState", "rotationDue", "containerId"],
        });
    };
    const names = (type: string) =>
        resourcesOfType(type)
            .map((resource) => resource.name)
            .sort();

    it("signs the CSR with one LocallySignedCert, and makes no key or CSR for that client", async () => {
        await deploy({ clients: ["bob", { name: "alice", csr: aliceCsr }] });
        assert.deepStrictEqual(names(types.key), ["ca-root-key", "client-bob-key", "server-key"]);
        assert.deepStrictEqual(names(types.request), ["client-bob-csr", "server-csr"]);
        assert.deepStrictEqual(names(types.certificate), ["client-alice-cert", "client-bob-cert", "server-cert"]);
        const alice = resourcesOfType(types.certificate).find((resource) => resource.name === "client-alice-cert")!;
        assert.strictEqual(alice.inputs.certRequestPem, aliceCsr, "the client's CSR, as brought");
        assert.strictEqual(alice.inputs.caCertPem, "CERT OF ca-root\n");
        // The profile's, never the CSR's: a client leaf.
        assert.strictEqual(alice.inputs.isCaCertificate, false);
        assert.deepStrictEqual(alice.inputs.allowedUses, ["digital_signature", "client_auth"]);
        assert.strictEqual(alice.inputs.validityPeriodHours, 8760);
        assert.ok(!recordedResources.some((resource) => resource.name.startsWith("client-alice-key")));
    });

    it("takes the usages from the CSR's key type: key encipherment for an RSA key", async () => {
        await deploy({ clients: ["bob", { name: "alice", csr: rsaCsr }] });
        const alice = resourcesOfType(types.certificate).find((resource) => resource.name === "client-alice-cert")!;
        assert.deepStrictEqual(alice.inputs.allowedUses, ["digital_signature", "client_auth", "key_encipherment"]);
    });

    it("puts the certificate in the outputs and no key: the client is absent from the key map", async () => {
        const outputs = await deploy({ clients: ["bob", { name: "alice", csr: aliceCsr }] });
        const certificates = await promiseOf(outputs.clientCertificatePems);
        assert.deepStrictEqual(Object.keys(certificates).sort(), ["alice", "bob"]);
        assert.strictEqual(certificates.alice, "CERT OF client-alice-cert\n");
        assert.deepStrictEqual(Object.keys(await promiseOf(outputs.clientPrivateKeyPems)), ["bob"]);
        assert.strictEqual(await pulumi.isSecret(outputs.clientPrivateKeyPems), true);
        assert.ok(Object.keys(await promiseOf(outputs.curlCommands)).includes("alice"));
    });

    it("re-signs the same CSR when it is due (a new generation), and leaves it be when not", async () => {
        const steady = {
            "ca-root": { generation: 0, notAfter: farFuture },
            server: { generation: 0, notAfter: farFuture },
            "client-bob": { generation: 0, notAfter: farFuture },
            "client-alice": { generation: 3, notAfter: farFuture },
        };
        const clients = ["bob", { name: "alice", csr: aliceCsr }];
        let outputs = await deploy({ clients }, steady);
        assert.deepStrictEqual(await promiseOf(outputs.rotationDue), {});
        assert.strictEqual(replacementTriggers.get("client-alice-cert"), rotationTrigger(3));

        const due = { ...steady, "client-alice": { generation: 3, notAfter: "2026-12-01T00:00:00Z" } };
        outputs = await deploy({ clients }, due);
        assert.deepStrictEqual(await promiseOf(outputs.rotationDue), { "client-alice": "2026-12-01T00:00:00Z" });
        assert.strictEqual(replacementTriggers.get("client-alice-cert"), rotationTrigger(4));
        assert.strictEqual(replacementTriggers.get("client-bob-cert"), rotationTrigger(0));
        const alice = resourcesOfType(types.certificate).find((resource) => resource.name === "client-alice-cert")!;
        assert.strictEqual(alice.inputs.certRequestPem, aliceCsr, "the same CSR, signed again");
        assert.strictEqual((await promiseOf(outputs.rotationState))["client-alice"].generation, 4);
    });

    it("freezes a revoked CSR client's certificate, a new CSR included, as for a generated client", async () => {
        const due = { "client-alice": { generation: 1, notAfter: "2026-12-01T00:00:00Z" } };
        await deploy({ clients: ["bob", { name: "alice", csr: aliceCsr }], revokedClients: ["alice"] }, due);
        assert.strictEqual(replacementTriggers.get("client-alice-cert"), rotationTrigger(1));
        assert.deepStrictEqual(ignoredChanges.get("client-alice-cert"), [
            "certRequestPem",
            "caCertPem",
            "caPrivateKeyPem",
            "allowedUses",
            "validityPeriodHours",
        ]);
        assert.deepStrictEqual(ignoredChanges.get("client-bob-cert"), []);
    });
});

describe("policy: client-key-custody (policy/clientKeys.ts)", function () {
    this.timeout(60_000);
    let directory: string;
    before(() => (directory = fs.mkdtempSync(path.join(os.tmpdir(), "mtls-csr-policy-"))));
    after(() => fs.rmSync(directory, { recursive: true, force: true }));

    /**
     * The facts the stack policy reads, from the program on the mocks: a certificate whose request is
     * a mocked CertRequest's output ("CSR OF ...") depends on that CertRequest, as in the real graph.
     */
    async function certificateFacts(raw: Record<string, unknown>): Promise<SignedCertificateFacts[]> {
        await deployOnMocks(raw, { now, awaiting: ["clientCertificatePems", "containerId"] });
        return resourcesOfType(types.certificate).map((resource) => ({
            name: resource.name,
            inputs: resource.inputs,
            requestFrom: String(resource.inputs.certRequestPem).startsWith("CSR OF ") ? [types.request] : [],
        }));
    }
    const problems = (facts: SignedCertificateFacts[], requireClientCsr: boolean) =>
        facts.flatMap((certificate) => clientKeyCustodyProblems(certificate, { requireClientCsr }));

    it("is off by default, and then refuses exactly the clients whose key the stack made", async () => {
        const csr = makeClientRequest(directory, "alice").csrPem;
        const facts = await certificateFacts({ clients: ["bob", { name: "alice", csr }], intermediateCa: true });
        assert.deepStrictEqual(problems(facts, clientKeyCustodyDefaults.requireClientCsr), []);
        const found = problems(facts, true);
        assert.strictEqual(found.length, 1, found.join("\n"));
        assert.match(found[0], /^client-bob-cert: a client certificate whose key the stack made.*requireClientCsr/);
    });

    it("passes a stack whose every client brought a CSR (the server and the CAs are not clients)", async () => {
        const csr = makeClientRequest(directory, "carol").csrPem;
        const facts = await certificateFacts({ clients: [{ name: "carol", csr }], smokeTest: false });
        assert.ok(facts.some((certificate) => certificate.name === "server-cert"));
        assert.deepStrictEqual(problems(facts, true), []);
    });
});
