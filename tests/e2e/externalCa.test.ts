/**
 * Bring your own CA, on the real engine: a root made here with openssl, kept in a temp directory
 * outside Pulumi, signs the stack's intermediate (external-root mode, two `up`s); and an existing
 * CA with its key as a secret (import mode). In both: the smoke test passes, revocation refuses the
 * revoked client (400) and a rotation of the leaves keeps everyone else in.
 */
import * as assert from "assert";
import { execFileSync } from "child_process";
import * as crypto from "crypto";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import type { OutputMap } from "@pulumi/pulumi/automation";
import { probe } from "../../testkit/tls";
import { containerId, outputValue, repoRoot, setConfig, ThrowawayStack, useThrowawayStack } from "../../testkit/stack";

/** A CA whose key lives in a temp directory of the test only: the "offline" root, or a CA to import. */
class OfflineCa {
    readonly directory = fs.mkdtempSync(path.join(os.tmpdir(), "mtls-e2e-offline-ca-"));
    readonly keyPem: string;
    readonly certificatePem: string;
    private serial = 0;

    constructor(commonName: string) {
        this.write("ca.cnf", "[req]\ndistinguished_name = dn\nx509_extensions = ext\n[dn]\n[ext]\n" + caExtensions);
        // prettier-ignore
        this.openssl(["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", "ca.key"]);
        // prettier-ignore
        this.openssl([
            "req", "-x509", "-new", "-key", "ca.key", "-subj", `/O=e2e offline/CN=${commonName}`, "-days", "365",
            "-config", "ca.cnf", "-out", "ca.pem",
        ]);
        this.keyPem = this.read("ca.key");
        this.certificatePem = this.read("ca.pem");
    }

    /** Signs a CSR as an intermediate CA, the way docs/ca-modes.md tells the operator to. */
    signIntermediate(csrPem: string): string {
        this.serial += 1;
        this.write(`request-${this.serial}.csr`, csrPem);
        this.write("intermediate.ext", intermediateExtensions);
        // prettier-ignore
        this.openssl([
            "x509", "-req", "-in", `request-${this.serial}.csr`, "-CA", "ca.pem", "-CAkey", "ca.key",
            "-set_serial", `0x${crypto.randomBytes(16).toString("hex")}`, "-days", "180", "-sha256",
            "-extfile", "intermediate.ext", "-out", `intermediate-${this.serial}.pem`,
        ]);
        return this.read(`intermediate-${this.serial}.pem`);
    }

    /** A CSR for a key of its own (not the stack's): what an operator signing the wrong CSR would send back. */
    foreignCsr(): string {
        // prettier-ignore
        this.openssl([
            "req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", "foreign.key",
            "-subj", "/O=e2e/CN=someone else", "-config", "ca.cnf", "-out", "foreign.csr",
        ]);
        return this.read("foreign.csr");
    }

    /** The root's CRL (nobody revoked), as the openssl ca -gencrl command of docs/ca-modes.md makes it. */
    crl(days: number): string {
        this.write("index.txt", "");
        this.write("crlnumber", "1000\n");
        this.write(
            "crl.cnf",
            "[ca]\ndefault_ca = root\n[root]\ndatabase = index.txt\ncrlnumber = crlnumber\ndefault_md = sha256\n" +
                "crl_extensions = crl_ext\n[crl_ext]\nauthorityKeyIdentifier = keyid:always\n",
        );
        // prettier-ignore
        this.openssl([
            "ca", "-batch", "-gencrl", "-config", "crl.cnf", "-cert", "ca.pem", "-keyfile", "ca.key",
            "-crldays", String(days), "-out", "root-crl.pem",
        ]);
        return this.read("root-crl.pem");
    }

    dispose(): void {
        fs.rmSync(this.directory, { recursive: true, force: true });
    }

    private write(name: string, text: string): void {
        fs.writeFileSync(path.join(this.directory, name), text);
    }

    private read(name: string): string {
        return fs.readFileSync(path.join(this.directory, name), "utf8");
    }

    private openssl(args: string[]): void {
        execFileSync("openssl", args, { cwd: this.directory, stdio: ["ignore", "pipe", "pipe"] });
    }
}

const caExtensions = [
    "basicConstraints = critical, CA:TRUE",
    "keyUsage = critical, keyCertSign, cRLSign, digitalSignature",
    "subjectKeyIdentifier = hash",
    "",
].join("\n");

/** The intermediate's extensions, word for word as docs/ca-modes.md ("Bring your own CA") has them. */
const intermediateExtensions = [
    "basicConstraints = critical, CA:TRUE, pathlen:0",
    "keyUsage = critical, keyCertSign, cRLSign, digitalSignature",
    "subjectKeyIdentifier = hash",
    "authorityKeyIdentifier = keyid:always",
    "",
].join("\n");

/** The state as `pulumi stack export` prints it without --show-secrets (the Automation API decrypts). */
function exportedState(deployment: ThrowawayStack): string {
    return execFileSync("pulumi", ["stack", "export", "--stack", deployment.stackName], {
        cwd: repoRoot,
        env: { ...process.env, ...deployment.environment },
        encoding: "utf8",
    });
}

/** Every file under the stack's state directory (checkpoints, backups, history). */
function stateFiles(deployment: ThrowawayStack): string[] {
    return (fs.readdirSync(deployment.stateDirectory, { recursive: true }) as string[])
        .map((file) => path.join(deployment.stateDirectory, file))
        .filter((file) => fs.statSync(file).isFile());
}

/** The lines of a PEM key's base64 body: any one of them found somewhere means the key is there. */
function keyLines(keyPem: string): string[] {
    return keyPem.split("\n").filter((line) => line !== "" && !line.startsWith("-----"));
}

interface Client {
    readonly certificatePem: string;
    readonly privateKeyPem: string;
}

function clientOf(outputs: OutputMap, name: string): Client {
    return {
        certificatePem: outputValue<Record<string, string>>(outputs, "clientCertificatePems")[name],
        privateKeyPem: outputValue<Record<string, string>>(outputs, "clientPrivateKeyPems")[name],
    };
}

/** One request as a client, trusting `caPem` for the server. */
function request(deployment: ThrowawayStack, outputs: OutputMap, client: Client, caPem?: string) {
    return probe({
        host: "127.0.0.1",
        port: deployment.publishPort,
        serverName: outputValue<string>(outputs, "serverName"),
        caPem: caPem ?? outputValue<string>(outputs, "caCertificatePem"),
        clientCertificatePem: client.certificatePem,
        clientPrivateKeyPem: client.privateKeyPem,
    });
}

/** Leaves re-issued by the next up: everything due within a year is due now. */
async function rotateLeaves(deployment: ThrowawayStack, log: (text: string) => void): Promise<OutputMap> {
    await setConfig(deployment.stack, { rotationLookaheadHours: "8760" });
    const update = await deployment.stack.up({ onOutput: log });
    await setConfig(deployment.stack, { rotationLookaheadHours: "0" });
    return update.outputs;
}

describe("bring your own CA: external root (its key stays outside Pulumi)", function () {
    const fixture = useThrowawayStack("external-root", { caMode: "external-root", clients: ["alice", "bob"] });
    const log = fixture.log;
    let root: OfflineCa;
    let deployment: ThrowawayStack;

    before(() => {
        root = new OfflineCa("e2e Offline Root");
        deployment = fixture.current;
    });
    after(() => root.dispose());

    it("first up: only the intermediate key and its CSR, exported; no endpoint yet, and what to do next", async () => {
        const result = await deployment.stack.up({ onOutput: log });
        assert.strictEqual(result.summary.result, "succeeded");
        assert.match(outputValue<string>(result.outputs, "intermediateCsrPem"), /BEGIN CERTIFICATE REQUEST/);
        assert.match(
            outputValue<string>(result.outputs, "smokeTest"),
            /not run: external-root, waiting: sign the intermediateCsrPem output with the root/,
        );
        assert.match(outputValue<Record<string, string>>(result.outputs, "caStatus").a, /waiting/);
        assert.strictEqual(containerId(deployment.containerName), undefined, "no container before the certificate");
        const state = JSON.parse(exportedState(deployment)) as { deployment: { resources: Array<{ type: string }> } };
        const pki = state.deployment.resources
            .map((resource) => resource.type)
            .filter((type) => type.startsWith("tls:"));
        assert.deepStrictEqual(pki.sort(), ["tls:index/certRequest:CertRequest", "tls:index/privateKey:PrivateKey"]);
    });

    it("refuses a certificate the root signed for another key, naming the setting", async () => {
        await setConfig(deployment.stack, {
            externalIntermediateCertificate: root.signIntermediate(root.foreignCsr()),
            externalRootCertificate: root.certificatePem,
        });
        const failure = await deployment.stack.up({ onOutput: log }).then(
            () => undefined,
            (error: Error) => error,
        );
        assert.ok(failure, "up must fail");
        assert.match(
            String(failure.message),
            /mtls-nginx:externalIntermediateCertificate was not issued for this stack's intermediate key/,
        );
        const state = JSON.parse(exportedState(deployment)) as { deployment: { resources: Array<{ type: string }> } };
        const signed = state.deployment.resources.filter((resource) => resource.type.includes("locallySignedCert"));
        assert.deepStrictEqual(signed, [], "nothing was signed with the mismatched certificate");
    });

    it("second up, with the certificate the root signed for the CSR: leaves issued, deployed, smoke test passed", async () => {
        const csr = outputValue<string>(await deployment.stack.outputs(), "intermediateCsrPem");
        const intermediate = root.signIntermediate(csr);
        await setConfig(deployment.stack, { externalIntermediateCertificate: intermediate });
        const result = await deployment.stack.up({ onOutput: log });
        assert.match(outputValue<string>(result.outputs, "smokeTest"), /smoke test passed/);
        assert.strictEqual(
            outputValue<string>(result.outputs, "caCertificatePem"),
            new crypto.X509Certificate(intermediate).toString() +
                new crypto.X509Certificate(root.certificatePem).toString(),
        );
        const alice = clientOf(result.outputs, "alice");
        const answer = await request(deployment, result.outputs, alice);
        assert.strictEqual(answer.status, 200, answer.error ?? answer.body);
        // A client that trusts only the offline root: the server sends the intermediate after its leaf.
        const rootOnly = await request(deployment, result.outputs, alice, root.certificatePem);
        assert.strictEqual(rootOnly.status, 200, rootOnly.error ?? rootOnly.body);
        const issuer = new crypto.X509Certificate(alice.certificatePem);
        assert.ok(issuer.checkIssued(new crypto.X509Certificate(intermediate)), "alice's issuer is the intermediate");
        assert.match(
            outputValue<Record<string, string>>(result.outputs, "caStatus").a,
            /^external-root \(intermediate signed/,
        );
    });

    it("never lets the root key into state: not in the export, not in any state file, not in the stack file", () => {
        const exported = exportedState(deployment);
        assert.ok(
            exported.includes(keyLines(root.certificatePem)[1]),
            "the root certificate is there (the search works)",
        );
        const files = [...stateFiles(deployment), path.join(repoRoot, `Pulumi.${deployment.stackName}.yaml`)];
        assert.ok(
            files.some((file) => file.endsWith(".json")),
            files.join(", "),
        );
        for (const line of keyLines(root.keyPem)) {
            assert.ok(!exported.includes(line), "a line of the root key is in the export");
            for (const file of files) {
                assert.ok(!fs.readFileSync(file, "utf8").includes(line), `a line of the root key is in ${file}`);
            }
        }
    });

    it("revocation: without the root's CRL up stops naming externalRootCrl; with it bob gets 400, alice 200", async () => {
        const before = await deployment.stack.outputs();
        const containerBefore = containerId(deployment.containerName);
        await setConfig(deployment.stack, { revokedClients: ["bob"] });
        const failure = await deployment.stack.up({ onOutput: log }).then(
            () => undefined,
            (error: Error) => error,
        );
        assert.ok(failure, "up must fail without the root's CRL");
        assert.match(String(failure.message), /"mtls-nginx:externalRootCrl": is required while revokedClients/);
        assert.strictEqual(containerId(deployment.containerName), containerBefore, "nothing changed");

        await setConfig(deployment.stack, { externalRootCrl: root.crl(90) });
        const result = await deployment.stack.up({ onOutput: log });
        const bob = await request(deployment, result.outputs, clientOf(before, "bob"));
        assert.strictEqual(bob.status, 400, `revoked bob: ${bob.status} ${bob.error ?? ""}`);
        const alice = await request(deployment, result.outputs, clientOf(before, "alice"));
        assert.strictEqual(alice.status, 200, alice.error ?? alice.body);
        assert.match(outputValue<string>(result.outputs, "smokeTest"), /smoke test passed/);
        const expiries = outputValue<Record<string, string>>(result.outputs, "certificateExpiries");
        assert.ok(expiries["ca-root-crl"], `the root CRL's expiry is watched: ${JSON.stringify(expiries)}`);
    });

    it("rotates the leaves: alice gets a new certificate from the intermediate, bob stays revoked", async () => {
        const before = await deployment.stack.outputs();
        const after = await rotateLeaves(deployment, log);
        // Everything expiring within a year is due: the leaves rotate (bob is frozen), the CAs and the
        // root's CRL, signed elsewhere, are only reported.
        const due = Object.keys(outputValue<Record<string, string>>(after, "rotationDue"));
        assert.ok(due.includes("client-alice") && due.includes("server") && !due.includes("client-bob"), due.join());
        assert.ok(due.includes("ca-intermediate") && due.includes("ca-root-crl"), due.join());
        assert.strictEqual(
            outputValue<string>(after, "caCertificatePem"),
            outputValue<string>(before, "caCertificatePem"),
            "the CAs stay",
        );
        const alice = clientOf(after, "alice");
        assert.notStrictEqual(alice.certificatePem, clientOf(before, "alice").certificatePem, "a new certificate");
        assert.strictEqual((await request(deployment, after, alice)).status, 200);
        assert.strictEqual(clientOf(after, "bob").certificatePem, clientOf(before, "bob").certificatePem);
        assert.strictEqual((await request(deployment, after, clientOf(after, "bob"))).status, 400);
        assert.match(outputValue<string>(after, "smokeTest"), /smoke test passed/);
    });
});

describe("bring your own CA: import (an existing CA, its key a secret)", function () {
    const fixture = useThrowawayStack("import", { caMode: "import", clients: ["alice", "bob"] });
    const log = fixture.log;
    let imported: OfflineCa;
    let deployment: ThrowawayStack;

    before(async () => {
        imported = new OfflineCa("e2e Imported CA");
        deployment = fixture.current;
        await setConfig(deployment.stack, { importedCaCertificate: imported.certificatePem });
        await deployment.stack.setConfig("mtls-nginx:importedCaKey", { value: imported.keyPem, secret: true });
    });
    after(() => imported.dispose());

    it("up: leaves issued by the imported CA, smoke test passed; its key only as ciphertext", async () => {
        const result = await deployment.stack.up({ onOutput: log });
        assert.match(outputValue<string>(result.outputs, "smokeTest"), /smoke test passed/);
        assert.strictEqual(
            outputValue<string>(result.outputs, "caCertificatePem"),
            new crypto.X509Certificate(imported.certificatePem).toString(),
        );
        const alice = clientOf(result.outputs, "alice");
        const answer = await request(deployment, result.outputs, alice, imported.certificatePem);
        assert.strictEqual(answer.status, 200, answer.error ?? answer.body);
        const exported = exportedState(deployment);
        const stackFile = fs.readFileSync(path.join(repoRoot, `Pulumi.${deployment.stackName}.yaml`), "utf8");
        for (const line of keyLines(imported.keyPem)) {
            assert.ok(!exported.includes(line), "a line of the imported key is in the export");
            assert.ok(!stackFile.includes(line), "a line of the imported key is in the stack file");
        }
        assert.match(stackFile, /importedCaKey:\s+secure:/);
    });

    it("rotates the leaves: new certificates from the imported CA, everyone still in", async () => {
        const before = await deployment.stack.outputs();
        const after = await rotateLeaves(deployment, log);
        // The imported CA (a year) is due too, and only reported: it is never re-issued here.
        const due = Object.keys(outputValue<Record<string, string>>(after, "rotationDue")).sort();
        assert.deepStrictEqual(due, ["ca-root", "client-alice", "client-bob", "server"]);
        assert.strictEqual(
            outputValue<string>(after, "caCertificatePem"),
            outputValue<string>(before, "caCertificatePem"),
        );
        for (const name of ["alice", "bob"]) {
            const client = clientOf(after, name);
            assert.notStrictEqual(client.certificatePem, clientOf(before, name).certificatePem, `${name}: new`);
            assert.ok(
                new crypto.X509Certificate(client.certificatePem).checkIssued(
                    new crypto.X509Certificate(imported.certificatePem),
                ),
            );
            assert.strictEqual((await request(deployment, after, client)).status, 200, name);
        }
        assert.match(outputValue<string>(after, "smokeTest"), /smoke test passed/);
    });

    it("revocation: the stack signs the imported CA's CRL; bob gets 400, alice 200", async () => {
        await setConfig(deployment.stack, { revokedClients: ["bob"] });
        const result = await deployment.stack.up({ onOutput: log });
        const bob = await request(deployment, result.outputs, clientOf(result.outputs, "bob"));
        assert.strictEqual(bob.status, 400, `revoked bob: ${bob.status} ${bob.error ?? ""}`);
        assert.strictEqual((await request(deployment, result.outputs, clientOf(result.outputs, "alice"))).status, 200);
        assert.match(outputValue<string>(result.outputs, "smokeTest"), /smoke test passed/);
    });
});

describe("bring your own CA: roll a running generated CA over to an external root", function () {
    const fixture = useThrowawayStack("to-external-root", { clients: ["alice"] });
    const log = fixture.log;
    let root: OfflineCa;
    let deployment: ThrowawayStack;

    before(() => {
        root = new OfflineCa("e2e Rollover Root");
        deployment = fixture.current;
    });
    after(() => root.dispose());

    it("introduces b (waits for its signature, then trusted), re-issues from b, retires a; alice is never refused", async () => {
        const first = await deployment.stack.up({ onOutput: log });
        const fromA = clientOf(first.outputs, "alice");
        const containerBefore = containerId(deployment.containerName);

        // 1. introduce: b makes its key and CSR; a keeps issuing, and b is not trusted before it is signed.
        await setConfig(deployment.stack, { caModeB: "external-root", trustedCas: ["a", "b"] });
        const waiting = await deployment.stack.up({ onOutput: log });
        assert.match(outputValue<Record<string, string>>(waiting.outputs, "caStatus").b, /waiting/);
        assert.strictEqual((await request(deployment, waiting.outputs, fromA)).status, 200, "alice, while b waits");
        const csr = outputValue<string>(waiting.outputs, "intermediateCsrPem");
        assert.match(csr, /BEGIN CERTIFICATE REQUEST/);

        // 1b. the root signs b's CSR: b joins the trust bundle, a still issues.
        await setConfig(deployment.stack, {
            externalIntermediateCertificateB: root.signIntermediate(csr),
            externalRootCertificateB: root.certificatePem,
        });
        const trusted = await deployment.stack.up({ onOutput: log });
        assert.strictEqual((trusted.outputs.caCertificatePem.value as string).match(/BEGIN CERTIFICATE/g)?.length, 3);
        assert.strictEqual((await request(deployment, trusted.outputs, fromA)).status, 200, "alice, b trusted");

        // 2. re-issue from b: the new certificate chains to the offline root; the old one still works.
        await setConfig(deployment.stack, { activeCa: "b" });
        const reissued = await deployment.stack.up({ onOutput: log });
        const fromB = clientOf(reissued.outputs, "alice");
        assert.strictEqual((await request(deployment, reissued.outputs, fromB)).status, 200, "alice from b");
        assert.strictEqual((await request(deployment, reissued.outputs, fromA)).status, 200, "alice still from a");
        assert.strictEqual((await request(deployment, reissued.outputs, fromB, root.certificatePem)).status, 200);

        // 3. retire a: only b (intermediate and offline root) is trusted.
        await setConfig(deployment.stack, { trustedCas: ["b"] });
        const retired = await deployment.stack.up({ onOutput: log });
        assert.strictEqual((await request(deployment, retired.outputs, fromB)).status, 200, "alice from b");
        assert.strictEqual(
            (await request(deployment, retired.outputs, fromA)).status,
            400,
            "a's certificate is refused",
        );
        assert.match(outputValue<string>(retired.outputs, "smokeTest"), /smoke test passed/);
        assert.strictEqual(containerId(deployment.containerName), containerBefore, "the container was never replaced");
    });
});
