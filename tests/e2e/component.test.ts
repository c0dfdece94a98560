import * as assert from "assert";
import { execFileSync } from "child_process";

import { MtlsEndpoint, mtlsEndpointType, type MtlsEndpointArgs } from "../../components/mtlsEndpoint";
import { probe } from "../../testkit/tls";
import { createInlineStack, freePort, readStackConfigFile, stepRecorder, useEngineLog } from "../../testkit/stack";

/** What an endpoint's component recorded as its outputs, read from the stack's state (secrets shown). */
type EndpointOutputs = {
    smokeTest: string;
    serverName: string;
    caCertificatePem: string;
    serverCertificatePem: string;
    clientCertificatePems: Record<string, string>;
    clientPrivateKeyPems: Record<string, string>;
    containerId: string;
    certificateRevocationListPem: string;
};

/** A state value with its secrets in the clear: an exported secret (with --show-secrets) is its JSON in `plaintext`. */
function revealed(value: unknown): unknown {
    if (typeof value !== "object" || value === null) {
        return value;
    }
    if (Array.isArray(value)) {
        return value.map(revealed);
    }
    const fields = value as Record<string, unknown>;
    if (secretSignature in fields && typeof fields.plaintext === "string") {
        return revealed(JSON.parse(fields.plaintext));
    }
    return Object.fromEntries(Object.entries(fields).map(([key, field]) => [key, revealed(field)]));
}

/** The key Pulumi marks a secret value with in state. */
const secretSignature = "4dabf18193072939515e22adb298388d";

/**
 * A consumer's program, not this project's stack: two MtlsEndpoints, `partners` and `admin`, on
 * their own ports, and no export at all. Each deploys, rotates, revokes and is destroyed on its own,
 * and rotation still works: the records it decides from are the component's own outputs.
 */
describe("MtlsEndpoint in a program that exports nothing: two endpoints, each on its own", function () {
    const image = String(readStackConfigFile("Pulumi.dev.yaml").image);
    const settings: Record<"partners" | "admin", MtlsEndpointArgs> = {
        partners: { image, clients: ["alice"], serverName: "partners.test" },
        admin: { image, clients: ["alice", "bob"] },
    };
    const program = async () => {
        for (const [name, args] of Object.entries(settings)) {
            new MtlsEndpoint(name, args);
        }
    };
    let consumer: Awaited<ReturnType<typeof createInlineStack>>;
    const log = useEngineLog();

    /** The component outputs of each endpoint, from the last deployment. */
    const deployed = async (): Promise<Record<string, EndpointOutputs>> => {
        const state = (await consumer.stack.exportStack()).deployment as {
            resources?: Array<{ urn: string; type: string; outputs?: EndpointOutputs }>;
        };
        return Object.fromEntries(
            (state.resources ?? [])
                .filter((resource) => resource.type === mtlsEndpointType)
                .map((resource) => [resource.urn.split("::").pop()!, revealed(resource.outputs) as EndpointOutputs]),
        );
    };
    /** `client` of `issuer` asking endpoint `name`: its HTTP status, or the TLS error. */
    const ask = async (
        name: "partners" | "admin",
        issuer: EndpointOutputs,
        client: string,
        server: EndpointOutputs,
    ) => {
        const result = await probe({
            host: "127.0.0.1",
            port: settings[name].publishPort!,
            serverName: server.serverName,
            caPem: server.caCertificatePem,
            clientCertificatePem: issuer.clientCertificatePems[client],
            clientPrivateKeyPem: issuer.clientPrivateKeyPems[client],
            timeoutMs: 5000,
        });
        return result.status ?? `no answer: ${result.error}`;
    };
    const containerNames = () => ["partners", "admin"].map((name) => `mtls-nginx-${consumer.stackName}-${name}`);

    before(async () => {
        settings.partners.publishPort = await freePort();
        settings.admin.publishPort = await freePort();
        consumer = await createInlineStack("component", program);
    });
    after(async () => {
        await consumer?.stack.destroy({ onOutput: log }).catch((error) => console.error(String(error)));
        for (const container of consumer ? containerNames() : []) {
            execFileSync("docker", ["rm", "-f", container], { stdio: "ignore" });
            execFileSync("docker", ["volume", "rm", "-f", `${container}-files`], { stdio: "ignore" });
        }
        await consumer?.dispose();
    });

    it("deploys both with their smoke tests passing; each trusts only its own clients; nothing is exported", async () => {
        const result = await consumer.stack.up({ onOutput: log });
        assert.deepStrictEqual(result.outputs, {}, "the program exports nothing");
        const { partners, admin } = await deployed();
        assert.match(partners.smokeTest, /smoke test passed/);
        assert.match(admin.smokeTest, /smoke test passed/);
        assert.notStrictEqual(partners.caCertificatePem, admin.caCertificatePem, "a CA each");
        assert.strictEqual(await ask("partners", partners, "alice", partners), 200);
        assert.strictEqual(await ask("admin", admin, "alice", admin), 200);
        assert.strictEqual(await ask("admin", partners, "alice", admin), 400, "partners' alice is a stranger to admin");
    });

    it("preview names what is due in one endpoint only, up rotates it there, and the records it keeps end the rotation", async () => {
        const before = await deployed();
        settings.partners.rotationLookaheadHours = 8760;
        const recorder = stepRecorder();
        const preview = await consumer.stack.preview({ onOutput: log, onEvent: recorder.onEvent });
        assert.match(preview.stdout, /due for rotation: server \(expires [^)]+\), client-alice \(expires [^)]+\)/);
        const replaced = recorder.steps.filter((step) => step.op === "replace").map((step) => step.name);
        assert.ok(replaced.includes("partners-server-key") && replaced.includes("partners-client-alice-key"));
        assert.deepStrictEqual(
            replaced.filter((name) => name.startsWith("admin-")),
            [],
            "nothing of admin rotates",
        );

        await consumer.stack.up({ onOutput: log });
        const after = await deployed();
        assert.notStrictEqual(after.partners.serverCertificatePem, before.partners.serverCertificatePem);
        assert.notStrictEqual(after.partners.clientCertificatePems.alice, before.partners.clientCertificatePems.alice);
        assert.strictEqual(after.admin.serverCertificatePem, before.admin.serverCertificatePem);
        assert.strictEqual(after.partners.containerId, before.partners.containerId, "rotated by reload");
        assert.strictEqual(await ask("partners", after.partners, "alice", after.partners), 200);

        // Back to the normal window: the new certificates are recorded as fresh, so nothing is due.
        settings.partners.rotationLookaheadHours = 0;
        const quiet = stepRecorder();
        const next = await consumer.stack.preview({ onOutput: log, onEvent: quiet.onEvent });
        assert.deepStrictEqual(
            quiet.steps.filter((step) => step.op !== "same"),
            [],
        );
        assert.doesNotMatch(next.stdout, /due for rotation/);
    });

    it("revokes a client of one endpoint: refused there, with a CRL only there", async () => {
        settings.admin.revokedClients = ["bob"];
        await consumer.stack.up({ onOutput: log });
        const { partners, admin } = await deployed();
        assert.match(admin.certificateRevocationListPem, /BEGIN X509 CRL/);
        assert.strictEqual(partners.certificateRevocationListPem, "");
        assert.strictEqual(await ask("admin", admin, "bob", admin), 400, "bob is revoked at admin");
        assert.strictEqual(await ask("admin", admin, "alice", admin), 200);
        assert.strictEqual(await ask("partners", partners, "alice", partners), 200);
    });

    it("destroys both, leaving no container, volume or resource", async () => {
        await consumer.stack.destroy({ onOutput: log });
        const state = (await consumer.stack.exportStack()).deployment as { resources?: unknown[] };
        assert.deepStrictEqual(state.resources ?? [], []);
        const left = execFileSync("docker", ["ps", "-a", "--format", "{{.Names}}"], { encoding: "utf8" });
        const volumes = execFileSync("docker", ["volume", "ls", "-q"], { encoding: "utf8" });
        for (const container of containerNames()) {
            assert.ok(!left.split("\n").includes(container), `${container} is gone`);
            assert.ok(!volumes.split("\n").includes(`${container}-files`), `${container}-files is gone`);
        }
    });
});
