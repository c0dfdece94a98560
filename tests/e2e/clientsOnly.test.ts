import * as assert from "assert";
import * as fs from "fs";
import * as path from "path";
import type { OutputMap } from "@pulumi/pulumi/automation";
import { ClientsOnlyRefused, upClientsOnly } from "../../scripts/upClientsOnly";
import {
    clientProbe,
    containerId,
    outputValue,
    removeRuntimeStackFile,
    runNpmScript,
    setClients,
    setConfig,
    ThrowawayStack,
    useThrowawayStack,
} from "../../testkit/stack";
import { probe } from "../../testkit/tls";

const hour = 3600_000;

/**
 * The clients-only `up` (scripts/upClientsOnly.ts, `npm run up -- STACK --clients-only`) on a deployed
 * stack: new clients are issued and get in, every existing client certificate is held as it was (even
 * one that is due), other config changes are refused before anything runs, and the next full `up`
 * rotates what was held.
 */
describe("the clients-only up on a deployed stack", function () {
    const fixture = useThrowawayStack("clients-only");
    let deployment: ThrowawayStack;
    const clientPems = (outputs: OutputMap) => outputValue<Record<string, string>>(outputs, "clientCertificatePems");
    /** The tls:index resources in state: URN to ID. */
    const tlsResources = async () => {
        const exported = await deployment.stack.exportStack();
        const resources = (exported.deployment as { resources?: Array<{ urn: string; type: string; id?: string }> })
            .resources;
        return new Map(
            (resources ?? []).filter((r) => r.type.startsWith("tls:index/")).map((r) => [r.urn, r.id ?? ""]),
        );
    };

    before(async () => {
        deployment = fixture.current;
        await setClients(deployment.stack, ["alice", "bob"]);
        await deployment.stack.up({ onOutput: fixture.log });
    });

    after(() => removeRuntimeStackFile(deployment.stackName));

    /** The files of one kind (history, backups) the file backend keeps for the stack, by pattern. */
    const stateFiles = (kind: string, pattern: RegExp) => {
        const directory = path.join(deployment.stateDirectory, ".pulumi", kind, "mtls-nginx", deployment.stackName);
        return (fs.existsSync(directory) ? fs.readdirSync(directory) : []).filter((file) => pattern.test(file));
    };

    it("npm run up -- STACK --clients-only issues a new client, who gets in, and holds the others", async () => {
        const before = await deployment.stack.outputs();
        const resourcesBefore = await tlsResources();
        const container = containerId(deployment.containerName);
        await setClients(deployment.stack, ["alice", "bob", "carol"]);
        const historyEntries = stateFiles("history", /\.history\.json$/).length;
        assert.ok(stateFiles("history", /\.checkpoint\.json$/).length >= 1, "the first up left a copy");
        const run = runNpmScript(deployment, "up", ["--clients-only"], { MTLS_STATE_COPIES_KEEP: "1" });
        fixture.log(`${run.stdout}\n${run.stderr}`);
        assert.strictEqual(run.code, 0, `npm run up --clients-only failed:\n${run.stdout}\n${run.stderr}`);
        assert.match(run.stdout, /clients-only: held 6 client resources as they were/);
        // The file backend's copies of the whole state: the newest of each kind stays, and every history entry.
        assert.match(
            run.stdout,
            /\[state\] .*: removed [1-9][0-9]* old copies of the state .*; the newest 1 of each kind stay/,
        );
        assert.strictEqual(stateFiles("history", /\.checkpoint\.json$/).length, 1);
        assert.strictEqual(stateFiles("backups", /\.json$/).length, 1);
        assert.strictEqual(stateFiles("history", /\.history\.json$/).length, historyEntries + 1);

        const after = await deployment.stack.outputs();
        assert.strictEqual(clientPems(after).alice, clientPems(before).alice);
        assert.strictEqual(clientPems(after).bob, clientPems(before).bob);
        const resourcesAfter = await tlsResources();
        for (const [urn, id] of resourcesBefore) {
            assert.strictEqual(resourcesAfter.get(urn), id, `${urn} is held`);
        }
        assert.deepStrictEqual(
            [...resourcesAfter.keys()].filter((urn) => !resourcesBefore.has(urn)).map((urn) => urn.split("::").pop()),
            ["mtls-nginx-client-carol-key", "mtls-nginx-client-carol-csr", "mtls-nginx-client-carol-cert"],
        );
        assert.match(outputValue<string>(after, "smokeTest"), /^smoke test passed/);
        assert.strictEqual(containerId(deployment.containerName), container, "the container stays");
        for (const client of ["carol", "alice"]) {
            const answer = await probe(clientProbe(deployment, after, client));
            assert.strictEqual(answer.status, 200, `${client}: ${answer.error ?? answer.body}`);
        }
        // The next preview has nothing to do: the program recorded what the engine kept.
        const preview = await deployment.stack.preview({ onOutput: fixture.log });
        assert.deepStrictEqual(
            Object.entries(preview.changeSummary).filter(([op]) => op !== "same"),
            [],
        );
    });

    it("holds a client that is due, and the next full up rotates it", async () => {
        const before = await deployment.stack.outputs();
        // Inside the clients' renewal window (8760 h, renewed in the last 720 h), not the server's end.
        const clock = new Date(Date.now() + 8400 * hour).toISOString();
        const envVars = deployment.stack.workspace.envVars as Record<string, string>;
        envVars.MTLS_NOW = clock;
        try {
            await setClients(deployment.stack, ["alice", "bob", "carol", "dave"]);
            const held = await upClientsOnly(deployment.stack, { onOutput: fixture.log });
            assert.strictEqual(held.heldResources, 9);
            const after = await deployment.stack.outputs();
            for (const client of ["alice", "bob", "carol"]) {
                assert.strictEqual(clientPems(after)[client], clientPems(before)[client], `${client} is held`);
            }
            const due = outputValue<Record<string, string>>(after, "rotationDue");
            assert.deepStrictEqual(
                Object.keys(due).filter((item) => item.startsWith("client-")),
                [],
                "a held client is not reported as rotated",
            );
            const dave = await probe(clientProbe(deployment, after, "dave"));
            assert.strictEqual(dave.status, 200, dave.error ?? dave.body);

            // dave, issued at the real time, is inside his window at that clock too.
            const full = await deployment.stack.up({ onOutput: fixture.log });
            const rotated = full.outputs;
            for (const client of ["alice", "bob", "carol"]) {
                assert.notStrictEqual(clientPems(rotated)[client], clientPems(before)[client], `${client} rotates`);
            }
            assert.deepStrictEqual(
                Object.keys(outputValue<Record<string, string>>(rotated, "rotationDue"))
                    .filter((item) => item.startsWith("client-"))
                    .sort(),
                ["client-alice", "client-bob", "client-carol", "client-dave"],
            );
        } finally {
            delete envVars.MTLS_NOW;
        }
    });

    it("refuses, before anything runs, when other stack config changed", async () => {
        const [lastBefore] = await deployment.stack.history(1);
        await setConfig(deployment.stack, { keyAlgorithm: "ECDSA-P384" });
        await assert.rejects(
            upClientsOnly(deployment.stack, { onOutput: fixture.log }),
            (error: unknown) =>
                error instanceof ClientsOnlyRefused && /mtls-nginx:keyAlgorithm.*run a full up/.test(error.message),
        );
        const [lastAfter] = await deployment.stack.history(1);
        assert.strictEqual(lastAfter.version, lastBefore.version, "no update ran");
        await deployment.stack.removeConfig("mtls-nginx:keyAlgorithm");
    });
});
