import * as assert from "assert";
import { spawnSync } from "child_process";

import { createStackOnNode, startSwarm, stopSwarm, type SwarmCluster, type SwarmNode } from "../../testkit/swarm";
import { probe } from "../../testkit/tls";
import { startRequestLoop } from "../../testkit/requestLoop";
import { outputValue, setConfig, useThrowawayStack, type ThrowawayStack } from "../../testkit/stack";

/**
 * A remote Docker engine that shares no filesystem with this machine: one node of the test swarm,
 * reached only over tcp:// with TLS (its client key a Pulumi secret). `up` with the smoke test,
 * rotation by reload under load with zero failed requests, and a destroy that leaves it clean.
 */
describe("a remote Docker engine over tcp:// with TLS", function () {
    let swarm: SwarmCluster;
    let engine: SwarmNode;
    const fixture = useThrowawayStack(
        "remote",
        { publishAddress: "0.0.0.0" },
        {
            create: async (label, config) => {
                swarm = await startSwarm();
                // A worker: the plain container needs no swarm role, only an engine.
                engine = swarm.nodes[1];
                return createStackOnNode(label, engine, { ...config, publishPort: String(swarm.servicePort) });
            },
            afterDispose: stopSwarm,
            localContainerLog: false,
        },
    );
    const log = fixture.log;
    let deployment: ThrowawayStack;
    const on = async (args: readonly string[]) =>
        (await swarm.dockerOn(engine, args, { allowFailure: true })).stdout.trim();

    before(() => {
        deployment = fixture.current;
    });

    const endpoint = () => ({ host: engine.loopbackAddress, port: swarm.servicePort, serverName: "localhost" });

    it("deploys with the smoke test passing, on the remote engine only", async () => {
        const result = await deployment.stack.up({ onOutput: log });
        assert.strictEqual(result.summary.result, "succeeded");
        assert.match(
            outputValue<string>(result.outputs, "smokeTest"),
            new RegExp(`smoke test passed: https://localhost:${swarm.servicePort}/`),
        );
        const containerId = outputValue<string>(result.outputs, "containerId");
        assert.strictEqual(await on(["inspect", "--format", "{{.Id}}", deployment.containerName]), containerId);
        const local = spawnSync("docker", ["inspect", deployment.containerName], { stdio: "ignore" });
        assert.notStrictEqual(local.status, 0, "nothing runs on the deploying machine's engine");
        assert.strictEqual(
            outputValue<string>(result.outputs, "hostDirectory"),
            `docker volume ${deployment.filesVolume}`,
        );

        const outputs = result.outputs;
        const caPem = outputValue<string>(outputs, "caCertificatePem");
        const alice = {
            clientCertificatePem: outputValue<Record<string, string>>(outputs, "clientCertificatePems").alice,
            clientPrivateKeyPem: outputValue<Record<string, string>>(outputs, "clientPrivateKeyPems").alice,
        };
        const withCertificate = await probe({ ...endpoint(), caPem, ...alice });
        assert.strictEqual(withCertificate.status, 200, withCertificate.error ?? withCertificate.body);
        assert.match(withCertificate.body, /hello alice/);
        const without = await probe({ ...endpoint(), caPem });
        assert.strictEqual(without.status, 400, without.error ?? without.body);
    });

    it("rotates by reload under load with zero failed requests, keeping the container", async () => {
        const before = await deployment.stack.outputs();
        const containerBefore = outputValue<string>(before, "containerId");
        const credentials = {
            ...endpoint(),
            caPem: outputValue<string>(before, "caCertificatePem"),
            clientCertificatePem: outputValue<Record<string, string>>(before, "clientCertificatePems").alice,
            clientPrivateKeyPem: outputValue<Record<string, string>>(before, "clientPrivateKeyPems").alice,
        };
        await setConfig(deployment.stack, { rotationLookaheadHours: "8760" });
        const limits = { maxRequests: 100000, maxSeconds: 300 };
        const loops = [
            startRequestLoop(credentials, limits),
            startRequestLoop(credentials, { ...limits, keepAlive: true }),
        ];
        const update = await deployment.stack.up({ onOutput: log });
        const [fresh, kept] = await Promise.all(loops.map((loop) => loop.stop()));
        console.log(
            `      remote rotation: ${fresh.requests} requests on new connections, ${fresh.failures} failed; ` +
                `${kept.requests} keep-alive, ${kept.failures} failed (${kept.retried} re-sent after an idle close)`,
        );
        assert.ok(fresh.requests > 10, "the loop ran through the update");
        assert.strictEqual(fresh.failures, 0, fresh.failureSamples.join("\n"));
        assert.strictEqual(kept.failures, 0, kept.failureSamples.join("\n"));
        assert.deepStrictEqual(Object.keys(outputValue<Record<string, string>>(update.outputs, "rotationDue")).sort(), [
            "client-alice",
            "client-bob",
            "server",
        ]);
        assert.strictEqual(outputValue<string>(update.outputs, "containerId"), containerBefore, "reloaded in place");
        await setConfig(deployment.stack, { rotationLookaheadHours: "0" });
    });

    it("destroy leaves the remote engine clean", async () => {
        await deployment.stack.destroy({ onOutput: log });
        assert.strictEqual(await on(["ps", "-aq", "--filter", `name=^${deployment.containerName}$`]), "");
        assert.strictEqual(await on(["volume", "ls", "-q", "--filter", `name=^${deployment.filesVolume}$`]), "");
    });
});
