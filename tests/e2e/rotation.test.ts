import * as assert from "assert";
import { probe, ProbeOptions, tlsRequest } from "../../testkit/tls";
import { startRequestLoop } from "../../testkit/requestLoop";
import {
    containerId,
    outputValue,
    realChanges,
    setConfig,
    stepRecorder,
    ThrowawayStack,
    useThrowawayStack,
} from "../../testkit/stack";
import type { OutputMap } from "@pulumi/pulumi/automation";

const resumableVersions = ["TLSv1.2", "TLSv1.3"] as const;
type ResumableVersion = (typeof resumableVersions)[number];

/** A client as it stands after some step: the certificate and trust bundle it was handed then. */
interface ClientCredentials {
    readonly caPem: string;
    readonly certificatePem: string;
    readonly privateKeyPem: string;
}

function credentials(outputs: OutputMap, client: string): ClientCredentials {
    return {
        caPem: outputValue<string>(outputs, "caCertificatePem"),
        certificatePem: outputValue<Record<string, string>>(outputs, "clientCertificatePems")[client],
        privateKeyPem: outputValue<Record<string, string>>(outputs, "clientPrivateKeyPems")[client],
    };
}

/**
 * Certificate lifecycle on the real engine: due rotation shown by preview and applied by reload
 * with zero failed requests, revocation through CRLs, and a CA rollover walked step by step.
 */
describe("certificate lifecycle", function () {
    const fixture = useThrowawayStack("rotation");
    const log = fixture.log;
    let deployment: ThrowawayStack;
    let endpoint: Omit<ProbeOptions, "caPem">;
    const as = (client: ClientCredentials, path = "/") =>
        probe({
            ...endpoint,
            path,
            caPem: client.caPem,
            clientCertificatePem: client.certificatePem,
            clientPrivateKeyPem: client.privateKeyPem,
        });

    const resumable = (client: ClientCredentials, version: ResumableVersion, session?: Buffer) => ({
        port: endpoint.port,
        servername: endpoint.serverName,
        ca: client.caPem,
        cert: client.certificatePem,
        key: client.privateKeyPem,
        minVersion: version,
        maxVersion: version,
        session,
    });
    /** A TLS 1.2 and a TLS 1.3 session per client, each proven resumable before the change. */
    const saveSessions = async (client: ClientCredentials): Promise<Map<ResumableVersion, Buffer>> => {
        const sessions = new Map<ResumableVersion, Buffer>();
        for (const version of resumableVersions) {
            const first = await tlsRequest(resumable(client, version));
            assert.strictEqual(first.status, 200, `${version} before the change`);
            const again = await tlsRequest(resumable(client, version, first.session));
            assert.ok(again.sessionReused, `${version}: the session resumes before the change`);
            sessions.set(version, again.session ?? first.session!);
        }
        return sessions;
    };
    const assertResumptionRefused = async (
        client: ClientCredentials,
        sessions: Map<ResumableVersion, Buffer>,
        who: string,
    ): Promise<void> => {
        for (const [version, session] of sessions) {
            const answer = await tlsRequest(resumable(client, version, session));
            console.log(
                `      ${who}, resuming a ${version} session from before: ${answer.status}, reused=${answer.sessionReused}`,
            );
            assert.strictEqual(answer.sessionReused, false, `${who} resumed a ${version} session`);
            assert.strictEqual(answer.status, 400, `${who} with a resumed ${version} session`);
        }
    };

    before(async () => {
        deployment = fixture.current;
        const result = await deployment.stack.up({ onOutput: log });
        endpoint = {
            host: "127.0.0.1",
            port: deployment.publishPort,
            serverName: outputValue<string>(result.outputs, "serverName"),
        };
    });

    it("shows due certificates in preview, rotates them by reload with zero failed requests, keeps the container", async () => {
        const before = await deployment.stack.outputs();
        const containerBefore = containerId(deployment.containerName);
        const aliceBefore = credentials(before, "alice");

        // Widen the window: everything that will be due within a year is due now (the server and both clients).
        await setConfig(deployment.stack, { rotationLookaheadHours: "8760" });
        const recorder = stepRecorder();
        const preview = await deployment.stack.preview({ onOutput: log, onEvent: recorder.onEvent });
        // One line per resource: what happens to it (create-replacement / delete-replaced are the same replace).
        const plan = recorder.steps
            .filter((step) => ["create", "update", "replace", "delete"].includes(step.op))
            .map((step) => `${step.op} ${step.name}`)
            .sort();
        const rotated = ["client-alice", "client-bob", "server"].flatMap((leaf) =>
            ["cert", "csr", "key"].map((part) => `replace mtls-nginx-${leaf}-${part}`),
        );
        assert.deepStrictEqual(
            plan,
            [...rotated, "replace mtls-nginx-smoke-test-probe", "update mtls-nginx-endpoint-delivery"].sort(),
            "the due certificates, plus what must follow them: a new file set (delivered, checked, reloaded), the smoke test; no container, no CA",
        );
        assert.match(preview.stdout, /rotationDue/);

        const loop = startRequestLoop(
            {
                ...endpoint,
                ...{ caPem: aliceBefore.caPem },
                clientCertificatePem: aliceBefore.certificatePem,
                clientPrivateKeyPem: aliceBefore.privateKeyPem,
            },
            { maxRequests: 100000, maxSeconds: 300 },
        );
        const keepAliveLoop = startRequestLoop(
            {
                ...endpoint,
                caPem: aliceBefore.caPem,
                clientCertificatePem: aliceBefore.certificatePem,
                clientPrivateKeyPem: aliceBefore.privateKeyPem,
            },
            { maxRequests: 100000, maxSeconds: 300, keepAlive: true },
        );
        const update = await deployment.stack.up({ onOutput: log });
        const [newConnections, keptAlive] = [await loop.stop(), await keepAliveLoop.stop()];
        console.log(
            `      during rotation: ${newConnections.requests} requests on new connections, ${newConnections.failures} failed; ` +
                `${keptAlive.requests} keep-alive requests, ${keptAlive.failures} failed ` +
                `(${keptAlive.retried} re-sent after the server closed an idle connection on reload)`,
        );
        assert.ok(newConnections.requests > 10, "the loop ran through the update");
        assert.strictEqual(newConnections.failures, 0, newConnections.failureSamples.join("\n"));
        assert.strictEqual(keptAlive.failures, 0, keptAlive.failureSamples.join("\n"));

        const due = outputValue<Record<string, string>>(update.outputs, "rotationDue");
        assert.deepStrictEqual(Object.keys(due).sort(), ["client-alice", "client-bob", "server"]);
        assert.strictEqual(containerId(deployment.containerName), containerBefore, "the container was not replaced");
        console.log(
            `      container before ${containerBefore?.slice(0, 12)}, after ${containerId(deployment.containerName)?.slice(0, 12)}`,
        );
        const aliceAfter = credentials(update.outputs, "alice");
        assert.notStrictEqual(aliceAfter.certificatePem, aliceBefore.certificatePem, "alice has a new certificate");
        assert.notStrictEqual(aliceAfter.privateKeyPem, aliceBefore.privateKeyPem, "and a new key");
        assert.strictEqual((await as(aliceAfter)).status, 200, "the new certificate works");
        assert.strictEqual((await as(aliceBefore)).status, 200, "the old one still works: neither revoked nor expired");
        assert.match(outputValue<string>(update.outputs, "smokeTest"), /smoke test passed/);

        await setConfig(deployment.stack, { rotationLookaheadHours: "0" });
        const settled = await deployment.stack.preview({ onOutput: log });
        const changed = realChanges(settled.changeSummary);
        assert.deepStrictEqual(changed, [], "after the rotation nothing is due");
    });

    it("refuses a revoked client after up, resumed sessions included, and keeps serving the others", async () => {
        const before = await deployment.stack.outputs();
        const bob = credentials(before, "bob");
        const alice = credentials(before, "alice");
        const bobSessions = await saveSessions(bob);
        await setConfig(deployment.stack, { revokedClients: ["bob"] });
        const update = await deployment.stack.up({ onOutput: log });
        assert.strictEqual(update.summary.result, "succeeded");
        const bobAnswer = await as(bob);
        assert.strictEqual(bobAnswer.status, 400, `revoked bob: ${bobAnswer.status} ${bobAnswer.error ?? ""}`);
        assert.match(bobAnswer.body, /certificate/i);
        await assertResumptionRefused(bob, bobSessions, "revoked bob");
        assert.strictEqual((await as(alice)).status, 200, "alice still gets in");
        assert.ok("crl" in outputValue<Record<string, unknown>>(update.outputs, "rotationState"), "the CRL is tracked");
    });

    it("rolls the CA over step by step with no valid client refused at any step", async () => {
        const steps: Array<{ name: string; config: Record<string, unknown> }> = [
            { name: "introduce the new CA (trusted, not issuing)", config: { trustedCas: ["a", "b"] } },
            { name: "re-issue everything from the new CA", config: { activeCa: "b", trustedCas: ["a", "b"] } },
            { name: "retire the old CA", config: { activeCa: "b", trustedCas: ["b"] } },
        ];
        let held = credentials(await deployment.stack.outputs(), "alice");
        const issuedByOldCa = held;
        let oldCaSessions: Map<ResumableVersion, Buffer> | undefined;
        const containerBefore = containerId(deployment.containerName);
        for (const step of steps) {
            if (step === steps[steps.length - 1]) {
                // Sessions saved with a certificate of the CA about to be retired, while it is still trusted.
                // (The server is the new CA's by now: verify it with the bundle of the step before.)
                oldCaSessions = await saveSessions({ ...issuedByOldCa, caPem: held.caPem });
            }
            await setConfig(deployment.stack, step.config);
            const update = await deployment.stack.up({ onOutput: log });
            assert.strictEqual(update.summary.result, "succeeded", step.name);
            const fresh = credentials(update.outputs, "alice");
            const stale = await as(held);
            const current = await as(fresh);
            console.log(
                `      ${step.name}: client from the step before -> ${stale.status}, re-fetched -> ${current.status}`,
            );
            assert.strictEqual(
                stale.status,
                200,
                `${step.name}: alice with what she held before: ${stale.error ?? stale.body}`,
            );
            assert.strictEqual(current.status, 200, `${step.name}: alice re-fetched: ${current.error ?? current.body}`);
            held = fresh;
        }
        const finalBundle = held.caPem.match(/BEGIN CERTIFICATE/g) ?? [];
        assert.strictEqual(finalBundle.length, 1, "only the new CA is trusted at the end");
        const retiredAnswer = await as({ ...issuedByOldCa, caPem: held.caPem });
        assert.strictEqual(retiredAnswer.status, 400, "a certificate of the retired CA is refused");
        await assertResumptionRefused(
            { ...issuedByOldCa, caPem: held.caPem },
            oldCaSessions!,
            "the retired CA's client",
        );
        assert.strictEqual(containerId(deployment.containerName), containerBefore, "the container was never replaced");
    });
});
