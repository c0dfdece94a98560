import * as assert from "assert";
import * as pulumi from "@pulumi/pulumi";
import { heldResources } from "../../rotation/clientHold";
import { describeDue } from "../../rotation/rotationPlanner";
import { decideRotation, parseRotationState, rotationTrigger } from "../../rotation/rotationSchedule";
import { ignoredChanges, installMocks, promiseOf, replacementTriggers, resourcesOfType, deliveredFiles } from "./mocks";
import { deployOnMocks } from "./deploy";

installMocks();

const now = new Date("2026-11-28T12:00:00Z");

describe("decideRotation", () => {
    it("starts at generation 0 without a record", () => {
        assert.deepStrictEqual(decideRotation(undefined, 720, now), { generation: 0, due: false });
    });

    it("keeps the generation outside the renewal window", () => {
        const decision = decideRotation({ generation: 3, notAfter: "2027-02-01T00:00:00Z" }, 720, now);
        assert.strictEqual(decision.generation, 3);
        assert.strictEqual(decision.due, false);
    });

    it("bumps the generation inside the renewal window, and past expiry", () => {
        // 29 days before expiry, renewal window 30 days.
        assert.deepStrictEqual(decideRotation({ generation: 3, notAfter: "2026-12-27T12:00:00Z" }, 720, now), {
            generation: 4,
            due: true,
            notAfter: "2026-12-27T12:00:00Z",
        });
        assert.strictEqual(decideRotation({ generation: 0, notAfter: "2026-01-01T00:00:00Z" }, 0, now).due, true);
    });

    it("treats the window's first instant as due", () => {
        assert.strictEqual(decideRotation({ generation: 1, notAfter: "2026-11-28T13:00:00Z" }, 1, now).due, true);
        assert.strictEqual(decideRotation({ generation: 1, notAfter: "2026-11-28T13:00:01Z" }, 1, now).due, false);
    });

    it("reads malformed state as no record", () => {
        assert.deepStrictEqual(parseRotationState(undefined), {});
        assert.deepStrictEqual(parseRotationState({ a: { generation: "1", notAfter: "x" }, b: 5 }), {});
        assert.deepStrictEqual(parseRotationState({ a: { generation: 1, notAfter: "x" } }), {
            a: { generation: 1, notAfter: "x" },
        });
        assert.strictEqual(decideRotation({ generation: 2, notAfter: "not a date" }, 1, now).generation, 2);
    });
});

describe("describeDue (the log line a preview shows)", () => {
    it("names each item due and its expiry, and says nothing when nothing is due", () => {
        assert.strictEqual(
            describeDue({ server: "2027-01-01T00:00:00Z", "client-alice": "2027-02-01T00:00:00Z" }),
            "due for rotation: server (expires 2027-01-01T00:00:00Z), client-alice (expires 2027-02-01T00:00:00Z)",
        );
        assert.strictEqual(describeDue({}), undefined);
    });
});

describe("rotation in the resource graph", () => {
    async function deploy(
        raw: Record<string, unknown>,
        previousRotationState: Record<string, unknown>,
        previousCertificateHistory?: Record<string, unknown>,
    ) {
        replacementTriggers.clear();
        const outputs = await deployOnMocks(raw, {
            now,
            previousRotationState,
            previousCertificateHistory,
            awaiting: ["rotationState", "rotationDue", "containerId"],
        });
        const [state, due] = await Promise.all([promiseOf(outputs.rotationState), promiseOf(outputs.rotationDue)]);
        return { outputs, state, due };
    }

    const farFuture = "2030-01-01T00:00:00Z";
    const steady = {
        "ca-root": { generation: 0, notAfter: farFuture },
        server: { generation: 2, notAfter: farFuture },
        "client-alice": { generation: 1, notAfter: farFuture },
        "client-bob": { generation: 0, notAfter: farFuture },
    };

    it("records a generation and expiry for every certificate", async () => {
        const { state, due } = await deploy({ clients: ["alice", "bob"] }, {});
        assert.deepStrictEqual(Object.keys(state).sort(), ["ca-root", "client-alice", "client-bob", "server"]);
        assert.deepStrictEqual(state["client-bob"], { generation: 0, notAfter: "2027-11-28T00:00:00Z" });
        assert.deepStrictEqual(due, {});
    });

    it("keeps every trigger when nothing is due", async () => {
        const { due } = await deploy({ clients: ["alice", "bob"] }, steady);
        assert.deepStrictEqual(due, {});
        assert.strictEqual(replacementTriggers.get("client-alice-key"), rotationTrigger(1));
        assert.strictEqual(replacementTriggers.get("client-alice-cert"), rotationTrigger(1));
        assert.strictEqual(replacementTriggers.get("server-cert"), rotationTrigger(2));
        assert.strictEqual(replacementTriggers.has("ca-root"), false, "a CA is never re-issued in place");
    });

    it("reports a CA inside its renewal window as due, without re-issuing it", async () => {
        const { due, state } = await deploy(
            { clients: ["alice", "bob"] },
            { ...steady, "ca-root": { generation: 0, notAfter: "2027-06-01T00:00:00Z" } },
        );
        assert.deepStrictEqual(due, { "ca-root": "2027-06-01T00:00:00Z" });
        assert.strictEqual(state["ca-root"].generation, 0);
        assert.strictEqual(replacementTriggers.has("ca-root"), false);
        assert.strictEqual(replacementTriggers.get("client-alice-cert"), rotationTrigger(1));
    });

    it("bumps the key and certificate of exactly the client that is due", async () => {
        const { state, due } = await deploy(
            { clients: ["alice", "bob"] },
            { ...steady, "client-bob": { generation: 0, notAfter: "2026-12-01T00:00:00Z" } },
        );
        assert.deepStrictEqual(due, { "client-bob": "2026-12-01T00:00:00Z" });
        assert.strictEqual(replacementTriggers.get("client-bob-key"), rotationTrigger(1));
        assert.strictEqual(replacementTriggers.get("client-bob-cert"), rotationTrigger(1));
        assert.strictEqual(replacementTriggers.get("client-alice-cert"), rotationTrigger(1));
        assert.strictEqual(state["client-bob"].generation, 1);
    });

    it("with a look-ahead, rotates what enters its window within it", async () => {
        const soon = "2027-01-15T00:00:00Z"; // 48 days away: outside a 30-day window, inside 30 + 30 days
        const previous = { ...steady, server: { generation: 2, notAfter: soon } };
        assert.deepStrictEqual((await deploy({ clients: ["alice", "bob"] }, previous)).due, {});
        const { due } = await deploy({ clients: ["alice", "bob"], rotationLookaheadHours: 720 }, previous);
        assert.deepStrictEqual(due, { server: soon });
        assert.strictEqual(replacementTriggers.get("server-cert"), rotationTrigger(3));
    });

    it("the clients-only up registers no held client, takes its certificate from before, and rotates none", async () => {
        const previous = {
            ...steady,
            server: { generation: 2, notAfter: "2026-12-01T00:00:00Z" },
            "client-bob": { generation: 0, notAfter: "2026-12-01T00:00:00Z" },
        };
        const urnOf = (type: string, name: string) =>
            `urn:pulumi:unit::mtls-nginx::mtls:pki:ClientCertificates$tls:index/${type}::${name}`;
        const lastOutputs: Record<string, { outputs: Record<string, unknown> }> = {};
        for (const client of ["alice", "bob"]) {
            lastOutputs[urnOf("privateKey:PrivateKey", `client-${client}-key`)] = {
                outputs: { privateKeyPem: `HELD KEY OF ${client}` },
            };
            lastOutputs[urnOf("certRequest:CertRequest", `client-${client}-csr`)] = { outputs: {} };
            lastOutputs[urnOf("locallySignedCert:LocallySignedCert", `client-${client}-cert`)] = {
                outputs: {
                    certPem: `HELD CERT OF ${client}`,
                    validityEndTime: (previous as Record<string, { notAfter: string }>)[`client-${client}`].notAfter,
                },
            };
        }
        replacementTriggers.clear();
        const outputs = await deployOnMocks(
            { clients: ["alice", "bob", "carol"] },
            {
                now,
                previousRotationState: previous,
                heldResources: heldResources(new Set(Object.keys(lastOutputs)), Promise.resolve(lastOutputs)),
                awaiting: ["rotationState", "rotationDue", "containerId", "clientPrivateKeyPems"],
            },
        );
        const [state, due, pems, keys] = await Promise.all([
            promiseOf(outputs.rotationState),
            promiseOf(outputs.rotationDue),
            promiseOf(outputs.clientCertificatePems),
            promiseOf(outputs.clientPrivateKeyPems),
        ]);
        // bob is due but held: nothing of his or alice's is registered; the server is not a client, and rotates.
        const registered = [
            ...resourcesOfType("tls:index/privateKey:PrivateKey"),
            ...resourcesOfType("tls:index/locallySignedCert:LocallySignedCert"),
        ].map((resource) => resource.name);
        assert.deepStrictEqual(
            registered.filter((name) => name.startsWith("client-")),
            ["client-carol-key", "client-carol-cert"],
        );
        assert.deepStrictEqual(due, { server: "2026-12-01T00:00:00Z" });
        assert.deepStrictEqual(state["client-bob"], previous["client-bob"]);
        assert.strictEqual(state["client-carol"].generation, 0);
        assert.strictEqual(replacementTriggers.get("server-cert"), rotationTrigger(3));
        assert.strictEqual(pems.bob, "HELD CERT OF bob");
        assert.strictEqual(keys.bob, "HELD KEY OF bob");
        assert.strictEqual(await pulumi.isSecret(outputs.clientPrivateKeyPems), true);
        assert.strictEqual(pems.carol, "CERT OF client-carol-cert\n");

        // The same deployment without the hold registers everyone, and rotates bob.
        const full = await deploy({ clients: ["alice", "bob", "carol"] }, previous);
        assert.deepStrictEqual(Object.keys(full.due).sort(), ["client-bob", "server"]);
        assert.strictEqual(replacementTriggers.get("client-bob-cert"), rotationTrigger(1));
    });

    it("never rotates a revoked client, so the CRL keeps naming its certificate", async () => {
        const { due } = await deploy(
            { clients: ["alice", "bob"], revokedClients: ["bob"] },
            { ...steady, "client-bob": { generation: 0, notAfter: "2026-12-01T00:00:00Z" } },
        );
        assert.deepStrictEqual(due, {});
        assert.strictEqual(replacementTriggers.get("client-bob-cert"), rotationTrigger(0));
        // Not even a CA rollover re-issues it.
        assert.deepStrictEqual(ignoredChanges.get("client-bob-cert")?.slice(0, 2), ["caCertPem", "caPrivateKeyPem"]);
        assert.deepStrictEqual(ignoredChanges.get("client-alice-cert"), []);
    });

    it("issues a CRL for each CA in the chain only while a client is revoked, and checks it", async () => {
        await deploy({ clients: ["alice", "bob"] }, steady);
        assert.strictEqual(resourcesOfType("command:local:Command").filter((r) => r.name === "crl-issue").length, 0);

        // The mocks' certificates carry no serial: bob's comes from the history of earlier deployments.
        const { state } = await deploy(
            { clients: ["alice", "bob"], revokedClients: ["bob"], intermediateCa: true },
            {},
            bobsHistory,
        );
        const issue = resourcesOfType("command:local:Command").find((resource) => resource.name === "crl-issue");
        assert.ok(issue, "a CRL command");
        assert.deepStrictEqual(issue.inputs.environment, { CRL_HOURS: "720" });
        assert.deepStrictEqual(crlIssuers(issue.inputs.stdin as string), [
            ["CERT OF ca-root", "PRIVATE KEY OF ca-root-key", bobsRevokedLine],
            ["CERT OF ca-intermediate", "PRIVATE KEY OF ca-intermediate-key", bobsRevokedLine],
        ]);
        assert.ok(issue.secretInputs.includes("stdin"), "the CA keys are secret");
        assert.strictEqual(state.crl.notAfter, "2026-12-28T12:00:00.000Z");
        const files = deliveredFiles();
        assert.match(files["nginx.conf"].content, /ssl_crl crl\.pem;/);
        assert.strictEqual(files["crl.pem"].content, "stdout of crl-issue");
        assert.strictEqual(files["crl-next-update"].content, `${Date.parse("2026-12-28T12:00:00.000Z") / 1000}\n`);
    });

    it("re-issues the CRL ahead of its next update", async () => {
        const { due, state } = await deploy(
            { clients: ["alice", "bob"], revokedClients: ["bob"] },
            { ...steady, crl: { generation: 4, notAfter: "2026-12-05T00:00:00Z" } },
        );
        assert.deepStrictEqual(due, { crl: "2026-12-05T00:00:00Z" });
        assert.strictEqual(replacementTriggers.get("crl-issue"), undefined, "the CRL rotates through its triggers");
        assert.deepStrictEqual(state.crl, { generation: 5, notAfter: "2026-12-28T12:00:00.000Z" });
    });
});

describe("CA rollover in the resource graph", () => {
    async function deploy(raw: Record<string, unknown>, previousCertificateHistory?: Record<string, unknown>) {
        const outputs = await deployOnMocks(raw, {
            now,
            previousCertificateHistory,
            awaiting: ["caCertificatePem", "containerId"],
        });
        const caBundle = await promiseOf(outputs.caCertificatePem);
        const files = deliveredFiles();
        const issuerOf = (name: string) =>
            resourcesOfType("tls:index/locallySignedCert:LocallySignedCert").find((resource) => resource.name === name)!
                .inputs.caCertPem;
        return { caBundle, clientTrustBundle: files["client-ca.pem"].content, issuerOf };
    }

    it("step 1, introduce: trusts the old and the new CA, still issues from the old", async () => {
        const { caBundle, clientTrustBundle, issuerOf } = await deploy({ trustedCas: ["a", "b"] });
        assert.strictEqual(caBundle, "CERT OF ca-root\nCERT OF ca-b-root\n");
        assert.strictEqual(clientTrustBundle, caBundle);
        assert.strictEqual(issuerOf("server-cert"), "CERT OF ca-root\n");
        assert.strictEqual(issuerOf("client-client-1-cert"), "CERT OF ca-root\n");
        const subjects = resourcesOfType("tls:index/selfSignedCert:SelfSignedCert").map(
            (resource) => (resource.inputs.subject as { commonName: string }).commonName,
        );
        assert.deepStrictEqual(subjects.sort(), ["mtls-nginx B Root CA", "mtls-nginx Root CA"]);
    });

    it("step 2, reissue: issues every leaf from the new CA, still trusting both", async () => {
        const { caBundle, issuerOf } = await deploy({ activeCa: "b", trustedCas: ["a", "b"] });
        assert.strictEqual(caBundle, "CERT OF ca-b-root\nCERT OF ca-root\n");
        assert.strictEqual(issuerOf("server-cert"), "CERT OF ca-b-root\n");
        assert.strictEqual(issuerOf("client-client-1-cert"), "CERT OF ca-b-root\n");
    });

    it("step 3, retire: only the new CA is left", async () => {
        const { caBundle } = await deploy({ activeCa: "b" });
        assert.strictEqual(caBundle, "CERT OF ca-b-root\n");
        assert.strictEqual(resourcesOfType("tls:index/selfSignedCert:SelfSignedCert").length, 1);
    });

    it("with intermediates and a revocation, issues a CRL for every CA of both hierarchies", async () => {
        // y's certificate from slot a, before the rollover: known by its serial only.
        await deploy(
            {
                intermediateCa: true,
                activeCa: "b",
                trustedCas: ["a", "b"],
                clients: ["x", "y"],
                revokedClients: ["y"],
            },
            { y: [{ serial: "0A11", notAfter: "2027-06-01T00:00:00Z" }], x: [{ serial: "0A10", notAfter: farAway }] },
        );
        const issue = resourcesOfType("command:local:Command").find((resource) => resource.name === "crl-issue")!;
        const issuers = crlIssuers(issue.inputs.stdin as string);
        assert.deepStrictEqual(
            issuers.map((issuer) => issuer[0]),
            ["CERT OF ca-b-root", "CERT OF ca-b-intermediate", "CERT OF ca-root", "CERT OF ca-intermediate"],
        );
        const yRevoked = "### revoked 0A11 270601000000Z";
        for (const issuer of issuers) {
            assert.deepStrictEqual(issuer.slice(2), [yRevoked], `every CA's CRL names it, x's not: ${issuer[0]}`);
        }
    });
});

/** Bob's certificate as an earlier deployment recorded it, and the line the CRL command gets for it. */
const bobsHistory = { bob: [{ serial: "0B0B", notAfter: "2027-11-28T00:00:00Z" }] };
const bobsRevokedLine = "### revoked 0B0B 271128000000Z";
const farAway = "2030-01-01T00:00:00Z";

/** The CRL command's stdin, split per CA ("### issuer" sections) into certificate, key and revoked ones. */
function crlIssuers(stdin: string): string[][] {
    return stdin
        .split("### issuer\n")
        .filter(Boolean)
        .map((section) => section.split("\n").filter(Boolean));
}
