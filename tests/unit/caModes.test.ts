import * as assert from "assert";
import * as pulumi from "@pulumi/pulumi";
import { X509Certificate } from "crypto";
import { checkIssuedFor } from "../../components/externalRootIntermediate";
import { RawStackConfig, StackConfigError, validateStackConfig } from "../../config/stackConfig";
import { rfc2253Subject } from "../../domain/x509";
import { CaFixtures, CaMaterial } from "./caFixtures";
import {
    deliveredFiles,
    installMocks,
    promiseOf,
    recordedResources,
    resetRecordedResources,
    resourcesOfType,
    stateOverrides,
} from "./mocks";
import { context, deployMtlsEndpoint, deployOnMocks } from "./deploy";

installMocks();

const now = new Date();

/** The problems validation reports for a config, as "key: message" lines (none: []). */
function problemsOf(raw: RawStackConfig): string[] {
    try {
        validateStackConfig(raw, context);
        return [];
    } catch (error) {
        assert.ok(error instanceof StackConfigError, String(error));
        return error.errors.map((problem) => `${problem.key}: ${problem.message}`);
    }
}

function assertProblem(raw: RawStackConfig, key: string, pattern: RegExp): void {
    const problems = problemsOf(raw);
    assert.ok(
        problems.some((problem) => problem.startsWith(`${key}: `) && pattern.test(problem)),
        `expected a problem for ${key} matching ${pattern}; got:\n${problems.join("\n")}`,
    );
}

const fixtures = new CaFixtures();
/** The intermediate key the mocked tls.PrivateKey "ca-intermediate-key" returns. */
const intermediateKey = CaFixtures.keyPair();
let root: CaMaterial;
let otherRoot: CaMaterial;
let signed: CaMaterial;
let signedForAnotherKey: CaMaterial;
let rootCrl: string;
let importable: CaMaterial;
let importedIntermediate: CaMaterial;

before(function () {
    this.timeout(30000);
    root = fixtures.root("Offline Root");
    otherRoot = fixtures.root("Other Root");
    signed = fixtures.intermediate(root, "mtls-nginx Intermediate CA", { keyPem: intermediateKey.privateKeyPem });
    signedForAnotherKey = fixtures.intermediate(root, "mtls-nginx Intermediate CA");
    rootCrl = fixtures.crl(root);
    importable = fixtures.root("Imported CA");
    importedIntermediate = fixtures.intermediate(importable, "Imported Issuing CA");
});

after(() => fixtures.dispose());

const externalRoot = (extra: RawStackConfig = {}): RawStackConfig => ({
    clients: ["alice", "bob"],
    caMode: "external-root",
    externalIntermediateCertificate: signed.certificatePem,
    externalRootCertificate: root.certificatePem,
    ...extra,
});

const imported = (extra: RawStackConfig = {}): RawStackConfig => ({
    clients: ["alice", "bob"],
    caMode: "import",
    importedCaCertificate: importable.certificatePem,
    importedCaKey: importable.keyPem,
    ...extra,
});

describe("CA modes: validation", () => {
    it("defaults every slot to generated, verifying one CA deep", () => {
        const config = validateStackConfig({}, context);
        assert.deepStrictEqual(config.caSources, { a: { mode: "generated" }, b: { mode: "generated" } });
        assert.strictEqual(config.verifyDepth, 1);
    });

    it("names caMode and its allowed values for an unknown mode", () => {
        assertProblem(
            { caMode: "offline" },
            "caMode",
            /"offline" is not allowed; allowed: generated, external-root, import/,
        );
    });

    it("accepts external-root before the certificate is signed, and verifies two CAs deep", () => {
        const config = validateStackConfig({ caMode: "external-root" }, context);
        assert.deepStrictEqual(config.caSources.a, {
            mode: "external-root",
            intermediateCertificatePem: "",
            rootCertificatePem: "",
            rootCrlPem: "",
        });
        assert.strictEqual(config.verifyDepth, 2);
    });

    it("keeps certificates in canonical PEM: whitespace around them changes nothing", () => {
        const sourceOf = (raw: RawStackConfig) => validateStackConfig(raw, context).caSources.a;
        const untidy = `\n\n${root.certificatePem.replace(/\n/g, "\r\n")}  \n`;
        assert.deepStrictEqual(sourceOf(externalRoot({ externalRootCertificate: untidy })), sourceOf(externalRoot()));
    });

    it("needs the root certificate once the intermediate is signed", () => {
        assertProblem(
            externalRoot({ externalRootCertificate: "" }),
            "externalRootCertificate",
            /is required once externalIntermediateCertificate is set/,
        );
    });

    it("refuses an intermediate the given root did not sign", () => {
        assertProblem(
            externalRoot({ externalRootCertificate: otherRoot.certificatePem }),
            "externalIntermediateCertificate",
            /is not signed by externalRootCertificate/,
        );
    });

    it("refuses a root that is not self-signed", () => {
        assertProblem(
            externalRoot({ externalRootCertificate: signed.certificatePem }),
            "externalRootCertificate",
            /is not a root \(a self-signed CA certificate\)/,
        );
    });

    it("refuses an intermediate that is not a CA, or has no subject key identifier", () => {
        const notCa = fixtures.intermediate(root, "leaf", { notCa: true });
        assertProblem(
            externalRoot({ externalIntermediateCertificate: notCa.certificatePem }),
            "externalIntermediateCertificate",
            /is not a CA certificate/,
        );
        const noKeyId = fixtures.intermediate(root, "no key id", { skipKeyIdentifier: true });
        assertProblem(
            externalRoot({ externalIntermediateCertificate: noKeyId.certificatePem }),
            "externalIntermediateCertificate",
            /has no subject key identifier/,
        );
    });

    it("checks PEM shapes, naming the key and never quoting a key", () => {
        assertProblem({ externalRootCertificate: "not a certificate" }, "externalRootCertificate", /not a PEM/);
        assertProblem(
            { externalRootCertificate: root.certificatePem + signed.certificatePem },
            "externalRootCertificate",
            /holds 2 certificates; allowed: empty, or one PEM certificate/,
        );
        assertProblem({ externalRootCrl: root.certificatePem }, "externalRootCrl", /holds a "CERTIFICATE" PEM block/);
        // Its first line of base64 gone: still PEM-shaped, no longer a key.
        const mangled = importable.keyPem
            .split("\n")
            .filter((_line, index) => index !== 1)
            .join("\n");
        const problems = problemsOf(imported({ importedCaKey: mangled }));
        assert.ok(
            problems.some((problem) => problem.startsWith("importedCaKey: ")),
            problems.join("\n"),
        );
        assert.ok(!problems.join("\n").includes(importable.keyPem.split("\n")[2]), "the key is not quoted");
        assertProblem(
            imported({
                importedCaKey: "-----BEGIN ENCRYPTED PRIVATE KEY-----\nAAAA\n-----END ENCRYPTED PRIVATE KEY-----",
            }),
            "importedCaKey",
            /is encrypted/,
        );
    });

    it("needs the root's CRL while anyone is revoked, signed by that root", () => {
        assertProblem(
            externalRoot({ revokedClients: ["bob"] }),
            "externalRootCrl",
            /is required while revokedClients is not empty: Nginx checks a CRL for every CA of a chain/,
        );
        assertProblem(
            externalRoot({ revokedClients: ["bob"], externalRootCrl: fixtures.crl(otherRoot) }),
            "externalRootCrl",
            /holds a CRL not signed by externalRootCertificate/,
        );
        assert.deepStrictEqual(problemsOf(externalRoot({ revokedClients: ["bob"], externalRootCrl: rootCrl })), []);
        // Nobody revoked, or nothing signed yet: no CRL is deployed, none is needed.
        assert.deepStrictEqual(problemsOf(externalRoot()), []);
        assert.deepStrictEqual(
            problemsOf({ caMode: "external-root", clients: ["alice", "bob"], revokedClients: ["bob"] }),
            [],
        );
    });

    it("refuses material of another mode, naming the key and the mode that uses it", () => {
        assertProblem(
            { externalRootCertificate: root.certificatePem },
            "externalRootCertificate",
            /is only used with caMode external-root; allowed: empty with caMode "generated"/,
        );
        assertProblem(
            externalRoot({ importedCaKey: importable.keyPem }),
            "importedCaKey",
            /is only used with caMode import; allowed: empty with caMode "external-root"/,
        );
        assertProblem(
            {
                caModeB: "import",
                importedCaCertificateB: importable.certificatePem,
                importedCaKeyB: importable.keyPem,
                externalRootCertificateB: root.certificatePem,
            },
            "externalRootCertificateB",
            /is only used with caModeB external-root/,
        );
    });

    it("import: needs the certificate and its own key", () => {
        assertProblem({ caMode: "import" }, "importedCaCertificate", /is required with caMode import/);
        assertProblem({ caMode: "import" }, "importedCaKey", /is required with caMode import/);
        assertProblem(
            imported({ importedCaKey: root.keyPem }),
            "importedCaKey",
            /does not belong to importedCaCertificate \(their public keys differ\)/,
        );
        assert.deepStrictEqual(problemsOf(imported()), []);
    });

    it("import: a CA below a root needs its chain, and the chain's CRLs while anyone is revoked", () => {
        const below = imported({
            importedCaCertificate: importedIntermediate.certificatePem,
            importedCaKey: importedIntermediate.keyPem,
        });
        assertProblem(below, "importedCaChain", /is required: importedCaCertificate is not self-signed/);
        assertProblem({ ...below, importedCaChain: otherRoot.certificatePem }, "importedCaChain", /does not chain/);
        const withChain = { ...below, importedCaChain: importable.certificatePem };
        const config = validateStackConfig(withChain, context);
        assert.strictEqual(config.verifyDepth, 2);
        assertProblem({ ...withChain, revokedClients: ["bob"] }, "externalRootCrl", /is required while revokedClients/);
        assert.deepStrictEqual(
            problemsOf({ ...withChain, revokedClients: ["bob"], externalRootCrl: fixtures.crl(importable) }),
            [],
        );
        assertProblem(
            imported({ importedCaChain: otherRoot.certificatePem }),
            "importedCaChain",
            /must be empty: importedCaCertificate is a root/,
        );
    });

    it("keeps a slot that waits for its signed certificate from issuing while another CA is trusted", () => {
        assertProblem(
            { caModeB: "external-root", activeCa: "b", trustedCas: ["a", "b"] },
            "activeCa",
            /"b" waits for its signed certificate \(externalIntermediateCertificateB is empty\) while CA a is trusted; allowed: a until/,
        );
        assert.deepStrictEqual(problemsOf({ caModeB: "external-root", trustedCas: ["a", "b"] }), []);
    });

    it("refuses a verifyDepth too shallow for an external or imported chain", () => {
        assertProblem(
            externalRoot({ verifyDepth: 1 }),
            "verifyDepth",
            /1 is too shallow for CA slot a \(caMode external-root: chains 2 CA certificates deep\); allowed: 2 to 10/,
        );
    });

    it("reports every CA problem in one error, with the others", () => {
        const problems = problemsOf({
            caMode: "import",
            externalRootCertificate: root.certificatePem,
            caModeB: "sideways",
            publishPort: 0,
        });
        assert.deepStrictEqual(problems.map((problem) => problem.split(":")[0]).sort(), [
            "caModeB",
            "externalRootCertificate",
            "importedCaCertificate",
            "importedCaKey",
            "publishPort",
        ]);
    });
});

describe("CA modes: resource graph", () => {
    const deploy = (raw: RawStackConfig) =>
        deployOnMocks(raw, {
            now,
            awaiting: ["caCertificatePem", "certificateExpiries", "containerId", "rotationState", "smokeTest"],
        });
    const names = (type: string) =>
        resourcesOfType(type)
            .map((resource) => resource.name)
            .sort();
    const named = (type: string, name: string) => {
        const found = resourcesOfType(type).find((resource) => resource.name === name);
        assert.ok(found, `no ${type} named ${name}`);
        return found;
    };

    beforeEach(() => stateOverrides.set("ca-intermediate-key", intermediateKey));
    afterEach(() => stateOverrides.clear());

    it("external-root, first up: only the intermediate key and its CSR, exported; nothing that needs the certificate", async () => {
        const outputs = await deploy({ caMode: "external-root", clients: ["alice"] });
        assert.deepStrictEqual(names("tls:index/privateKey:PrivateKey"), ["ca-intermediate-key"]);
        assert.deepStrictEqual(names("tls:index/certRequest:CertRequest"), ["ca-intermediate-csr"]);
        assert.deepStrictEqual(names("tls:index/locallySignedCert:LocallySignedCert"), []);
        assert.deepStrictEqual(names("tls:index/selfSignedCert:SelfSignedCert"), []);
        assert.deepStrictEqual(names("docker:index/container:Container"), []);
        assert.deepStrictEqual(names("command:local:Command"), []);
        assert.ok(recordedResources.some((resource) => resource.type === "mtls:pki:ExternalRootIntermediate"));
        const request = named("tls:index/certRequest:CertRequest", "ca-intermediate-csr");
        assert.deepStrictEqual(request.inputs.subject, {
            commonName: "mtls-nginx Intermediate CA",
            organization: "mtls-nginx",
        });
        assert.strictEqual(await promiseOf(outputs.intermediateCsrPem), "CSR OF ca-intermediate-csr");
        assert.match(
            await promiseOf(outputs.smokeTest),
            /not run: external-root, waiting: sign the intermediateCsrPem output/,
        );
        assert.match((await promiseOf(outputs.caStatus)).a, /mtls-nginx:externalIntermediateCertificate/);
        assert.strictEqual(await promiseOf(outputs.caCertificatePem), "");
    });

    it("external-root, signed: leaves from the intermediate, the root only as a certificate, its key nowhere", async () => {
        const outputs = await deploy(externalRoot());
        assert.deepStrictEqual(names("tls:index/privateKey:PrivateKey"), [
            "ca-intermediate-key",
            "client-alice-key",
            "client-bob-key",
            "server-key",
        ]);
        assert.deepStrictEqual(names("tls:index/selfSignedCert:SelfSignedCert"), []);
        const server = named("tls:index/locallySignedCert:LocallySignedCert", "server-cert");
        assert.strictEqual(server.inputs.caCertPem, signed.certificatePem);
        assert.strictEqual(server.inputs.caPrivateKeyPem, intermediateKey.privateKeyPem);
        const files = deliveredFiles();
        assert.strictEqual(files["client-ca.pem"].content, signed.certificatePem + root.certificatePem);
        assert.strictEqual(files["server-chain.pem"].content, `CERT OF server-cert\n${signed.certificatePem}`);
        assert.match(files["nginx.conf"].content, /ssl_verify_depth 2;/);
        // The root vouches for other intermediates too: only the stack's own issues its clients.
        assert.deepStrictEqual(issuersIn(files["nginx.conf"].content), [subjectOf(signed.certificatePem)]);
        assert.match(files["nginx.conf"].content, /if \(\$mtls_foreign_issuer\) \{ return 400; \}/);
        assert.ok(!JSON.stringify(recordedResources).includes(root.keyPem.split("\n")[1]), "no root key anywhere");
        const expiries = await promiseOf(outputs.certificateExpiries);
        assert.deepStrictEqual(Object.keys(expiries).sort(), [
            "ca-intermediate",
            "ca-root",
            "client-alice",
            "client-bob",
            "server",
        ]);
        const rootExpiry = new Date(new X509Certificate(root.certificatePem).validTo);
        assert.strictEqual(Date.parse(expiries["ca-root"]), rootExpiry.getTime());
        assert.strictEqual(await promiseOf(outputs.intermediateCsrPem), "CSR OF ca-intermediate-csr");
        assert.match((await promiseOf(outputs.caStatus)).a, /^external-root \(intermediate signed/);
    });

    it("external-root, revoking: the stack signs the intermediate's CRL, the root's comes from config", async () => {
        const outputs = await deploy(externalRoot({ revokedClients: ["bob"], externalRootCrl: rootCrl }));
        const issue = named("command:local:Command", "crl-issue");
        const sections = (issue.inputs.stdin as string).split("### issuer\n").filter(Boolean);
        assert.strictEqual(sections.length, 1, "one CA signs here: the intermediate");
        assert.ok(sections[0].startsWith(signed.certificatePem.trim()));
        assert.ok(issue.secretInputs.includes("stdin"));
        const files = deliveredFiles();
        assert.strictEqual(files["crl.pem"].content, `stdout of crl-issue\n${rootCrl}`);
        const expiries = await promiseOf(outputs.certificateExpiries);
        const rootNextUpdate = expiries["ca-root-crl"];
        assert.ok(rootNextUpdate, "the root CRL's expiry is watched");
        const state = await promiseOf(outputs.rotationState);
        assert.strictEqual(state["ca-root-crl"].notAfter, rootNextUpdate);
        // The root CRL (10 days) expires before the stack's own (30 days): the health check watches the first.
        assert.strictEqual(files["crl-next-update"].content, `${Math.floor(Date.parse(rootNextUpdate) / 1000)}\n`);
    });

    it("stops before any resource when the root's CRL has expired and someone is revoked", () => {
        resetRecordedResources();
        const config = validateStackConfig(
            externalRoot({ revokedClients: ["bob"], externalRootCrl: fixtures.crl(root, -1) }),
            context,
        );
        assert.throws(
            () => deployMtlsEndpoint(config, { previousRotationState: {}, now }),
            (error: Error) =>
                pulumi.RunError.isInstance(error) &&
                /"mtls-nginx:externalRootCrl": holds a CRL that expired at .*Nginx would refuse every client/.test(
                    error.message,
                ),
        );
        assert.strictEqual(recordedResources.length, 0);
    });

    it("refuses a certificate that does not carry the intermediate key, naming the setting", () => {
        assert.strictEqual(
            checkIssuedFor(intermediateKey.publicKeyPem, signed.certificatePem, "mtls-nginx:x"),
            signed.certificatePem,
        );
        assert.throws(
            () =>
                checkIssuedFor(
                    intermediateKey.publicKeyPem,
                    signedForAnotherKey.certificatePem,
                    "mtls-nginx:externalIntermediateCertificate",
                ),
            (error: Error) =>
                pulumi.RunError.isInstance(error) &&
                /^mtls-nginx:externalIntermediateCertificate was not issued for this stack's intermediate key/.test(
                    error.message,
                ),
        );
    });

    it("import: no CA resources; leaves signed with the imported key, kept secret; the stack signs its CRL", async () => {
        await deploy(imported({ revokedClients: ["bob"] }));
        assert.deepStrictEqual(names("tls:index/privateKey:PrivateKey"), [
            "client-alice-key",
            "client-bob-key",
            "server-key",
        ]);
        assert.deepStrictEqual(names("tls:index/selfSignedCert:SelfSignedCert"), []);
        assert.deepStrictEqual(names("tls:index/certRequest:CertRequest"), [
            "client-alice-csr",
            "client-bob-csr",
            "server-csr",
        ]);
        assert.ok(recordedResources.some((resource) => resource.type === "mtls:pki:ImportedAuthority"));
        const client = named("tls:index/locallySignedCert:LocallySignedCert", "client-alice-cert");
        assert.strictEqual(client.inputs.caCertPem, importable.certificatePem);
        assert.strictEqual(client.inputs.caPrivateKeyPem, importable.keyPem);
        assert.ok(client.secretInputs.includes("caPrivateKeyPem"), "the imported key stays secret");
        const issue = named("command:local:Command", "crl-issue");
        assert.ok((issue.inputs.stdin as string).startsWith(`### issuer\n${importable.certificatePem.trim()}`));
        const files = deliveredFiles();
        assert.strictEqual(files["client-ca.pem"].content, importable.certificatePem);
        assert.strictEqual(files["server-chain.pem"].content, "CERT OF server-cert\n");
        assert.strictEqual(files["crl.pem"].content, "stdout of crl-issue");
    });

    it("import below a root: the server sends the imported CA, the chain's CRL comes from config", async () => {
        const chainCrl = fixtures.crl(importable);
        const outputs = await deploy(
            imported({
                importedCaCertificate: importedIntermediate.certificatePem,
                importedCaKey: importedIntermediate.keyPem,
                importedCaChain: importable.certificatePem,
                revokedClients: ["bob"],
                externalRootCrl: chainCrl,
            }),
        );
        const files = deliveredFiles();
        assert.strictEqual(
            files["server-chain.pem"].content,
            `CERT OF server-cert\n${importedIntermediate.certificatePem}`,
        );
        assert.strictEqual(
            files["client-ca.pem"].content,
            importedIntermediate.certificatePem + importable.certificatePem,
        );
        assert.strictEqual(files["crl.pem"].content, `stdout of crl-issue\n${chainCrl}`);
        const expiries = await promiseOf(outputs.certificateExpiries);
        assert.deepStrictEqual(
            Object.keys(expiries)
                .filter((item) => item.startsWith("ca"))
                .sort(),
            ["ca-intermediate", "ca-root", "ca-root-crl"],
        );
    });

    it("rolls over from a generated CA to an external one: b waits (a keeps issuing), then takes over", async () => {
        const introduce = await deploy({ clients: ["alice"], caModeB: "external-root", trustedCas: ["a", "b"] });
        assert.strictEqual(
            named("tls:index/locallySignedCert:LocallySignedCert", "server-cert").inputs.caCertPem,
            "CERT OF ca-root\n",
        );
        assert.strictEqual(
            deliveredFiles()["client-ca.pem"].content,
            "CERT OF ca-root\n",
            "b is not trusted before it is signed",
        );
        assert.strictEqual(await promiseOf(introduce.intermediateCsrPem), "CSR OF ca-b-intermediate-csr");
        assert.match((await promiseOf(introduce.caStatus)).b, /waiting: .*mtls-nginx:externalIntermediateCertificateB/);
        stateOverrides.set("ca-b-intermediate-key", intermediateKey);

        const signedB = {
            clients: ["alice"],
            caModeB: "external-root",
            externalIntermediateCertificateB: signed.certificatePem,
            externalRootCertificateB: root.certificatePem,
        };
        await deploy({ ...signedB, trustedCas: ["a", "b"] });
        assert.strictEqual(
            deliveredFiles()["client-ca.pem"].content,
            `CERT OF ca-root\n${signed.certificatePem}${root.certificatePem}`,
            "b joins the bundle once signed; a still issues",
        );
        // From the moment b's root is trusted, clients are bound to the stack's own issuers: a's and b's.
        assert.deepStrictEqual(issuersIn(deliveredFiles()["nginx.conf"].content), [
            "CN=mtls-nginx Root CA,O=mtls-nginx",
            subjectOf(signed.certificatePem),
        ]);
        await deploy({ ...signedB, activeCa: "b", trustedCas: ["a", "b"] });
        assert.strictEqual(
            named("tls:index/locallySignedCert:LocallySignedCert", "client-alice-cert").inputs.caCertPem,
            signed.certificatePem,
        );
        assert.strictEqual(
            deliveredFiles()["client-ca.pem"].content,
            `${signed.certificatePem}${root.certificatePem}CERT OF ca-root\n`,
            "the active CA first",
        );
    });
});

/** The issuer DNs an nginx.conf binds its clients to (none: no binding). */
function issuersIn(nginxConfig: string): string[] {
    const map = /map \$ssl_client_i_dn \$mtls_issuer_ours \{\n([\s\S]*?)\n {4}\}/.exec(nginxConfig);
    return map === null ? [] : [...map[1].matchAll(/^ {8}"(.*)" 1;$/gm)].map((line) => line[1]);
}

/** A certificate's subject as Nginx prints it. */
function subjectOf(pem: string): string {
    return rfc2253Subject(new X509Certificate(pem));
}
