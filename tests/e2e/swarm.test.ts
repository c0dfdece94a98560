import * as assert from "assert";

import { createStackOnNode, startSwarm, stopSwarm, type SwarmCluster } from "../../testkit/swarm";
import { misdirectedRequests, probe, type ProbeOptions } from "../../testkit/tls";
import { startFailoverLoop } from "../../testkit/requestLoop";
import {
    outputValue,
    probeAt,
    realChanges,
    setConfig,
    useThrowawayStack,
    type ThrowawayStack,
} from "../../testkit/stack";
import type { OutputMap } from "@pulumi/pulumi/automation";

/**
 * `platform: swarm` on a real 3-node swarm (engines in containers, reached over tcp:// with TLS),
 * 3 replicas published in host mode, one per node, each node on its own 127.0.0.2N address.
 */
describe("a Swarm service on 3 nodes", function () {
    let swarm: SwarmCluster;
    const fixture = useThrowawayStack(
        "swarm",
        { platform: "swarm", replicas: "3", publishMode: "host" },
        {
            create: async (label, config) => {
                swarm = await startSwarm();
                return createStackOnNode(label, swarm.manager, {
                    ...config,
                    publishPort: String(swarm.servicePort),
                    endpointAddresses: swarm.nodes.map((node) => node.loopbackAddress),
                });
            },
            afterDispose: stopSwarm,
            localContainerLog: false,
        },
    );
    const log = fixture.log;
    let deployment: ThrowawayStack;

    /** Probe options for every node, as a client holding `client`'s credentials. */
    const nodesAs = (outputs: OutputMap, client?: string): ProbeOptions[] =>
        swarm.nodes.map((node) => probeAt(outputs, { host: node.loopbackAddress, port: swarm.servicePort }, client));
    const statuses = async (nodes: ProbeOptions[]) =>
        (await Promise.all(nodes.map((node) => probe(node)))).map((answer) => answer.status ?? answer.error);
    /** Running task IDs of the service, per node. */
    const runningTasks = async (): Promise<string[]> => {
        const listed = await swarm.dockerOn(swarm.manager, [
            "service",
            "ps",
            deployment.containerName,
            "--filter",
            "desired-state=running",
            "--format",
            "{{.ID}} {{.Node}}",
        ]);
        return listed.stdout.trim().split("\n").filter(Boolean).sort();
    };

    before(() => {
        deployment = fixture.current;
    });

    it("deploys 3 tasks on 3 nodes: every node answers 200 with a certificate and 400 without", async () => {
        const started = Date.now();
        const result = await deployment.stack.up({ onOutput: log });
        console.log(`      swarm up from empty: ${((Date.now() - started) / 1000).toFixed(1)} s`);
        const smoke = outputValue<string>(result.outputs, "smokeTest");
        assert.match(smoke, /^smoke test passed: /);
        for (const node of swarm.nodes) {
            assert.ok(smoke.includes(node.loopbackAddress), `the smoke test probed ${node.loopbackAddress}: ${smoke}`);
        }
        assert.deepStrictEqual(await statuses(nodesAs(result.outputs, "alice")), [200, 200, 200]);
        assert.deepStrictEqual(await statuses(nodesAs(result.outputs)), [400, 400, 400]);
        // A Host or absolute-form target naming another server: 421 on every node, certificate or not.
        for (const node of [...nodesAs(result.outputs, "alice"), ...nodesAs(result.outputs)]) {
            const answers = await statuses(misdirectedRequests(node));
            assert.deepStrictEqual(answers, [421, 421, 421], `misdirected requests to ${node.host}`);
        }
        const tasks = await runningTasks();
        assert.strictEqual(tasks.length, 3, tasks.join("\n"));
        assert.deepStrictEqual(
            tasks.map((task) => task.split(" ")[1]).sort(),
            swarm.nodes.map((node) => node.name).sort(),
            "one task per node",
        );
        // The provider cannot set it: the rollout watch wrote it through the API.
        const pids = await swarm.dockerOn(swarm.manager, [
            "service",
            "inspect",
            "--format",
            "{{.Spec.TaskTemplate.Resources.Limits.Pids}}",
            deployment.containerName,
        ]);
        assert.strictEqual(pids.stdout.trim(), "256", `the tasks' pids limit: ${pids.stdout}${pids.stderr}`);
        const preview = await deployment.stack.preview({ onOutput: log, diff: true });
        assert.deepStrictEqual(
            realChanges(preview.changeSummary),
            [],
            `a second preview changes nothing:\n${preview.stdout}`,
        );
        const secrets = await swarm.dockerOn(swarm.manager, ["secret", "ls", "--format", "{{.Name}}"]);
        const configs = await swarm.dockerOn(swarm.manager, ["config", "ls", "--format", "{{.Name}}"]);
        // The key's secret is named after the public chain it serves (the chain config's digest), not the key.
        const chain = new RegExp(`^${deployment.containerName}-server-chain-pem-([0-9a-f]{12})$`, "m").exec(
            configs.stdout,
        );
        assert.ok(chain, configs.stdout);
        assert.match(secrets.stdout, new RegExp(`^${deployment.containerName}-server-key-${chain[1]}$`, "m"));
    });

    it("adds a client that no allowlist mentions without restarting any task", async () => {
        const before = await runningTasks();
        await setConfig(deployment.stack, { clients: ["alice", "bob", "carol"] });
        const result = await deployment.stack.up({ onOutput: log });
        assert.deepStrictEqual(await runningTasks(), before, "the same tasks still run");
        assert.deepStrictEqual(await statuses(nodesAs(result.outputs, "carol")), [200, 200, 200]);
    });

    it("rotates the server certificate one task at a time, with at least two nodes serving throughout", async () => {
        const outputs = await deployment.stack.outputs();
        const before = await runningTasks();
        await setConfig(deployment.stack, { rotationLookaheadHours: "8760" });
        const loop = startFailoverLoop(nodesAs(outputs, "alice"), { maxRequests: 100000, maxSeconds: 400 });
        const started = Date.now();
        const update = await deployment.stack.up({ onOutput: log });
        const seconds = (Date.now() - started) / 1000;
        const report = await loop.stop();
        console.log(
            `      swarm rotation: ${seconds.toFixed(1)} s (${(seconds / 3).toFixed(1)} s per replica); ${report.requests} requests, ` +
                `${report.failures} failed, ${report.moved} moved to another node; fewest nodes serving at once: ` +
                `${report.fewestServing} (${report.samplingRounds} rounds)`,
        );
        assert.ok(Object.keys(outputValue<Record<string, string>>(update.outputs, "rotationDue")).includes("server"));
        assert.strictEqual(report.failures, 0, report.failureSamples.join("\n"));
        assert.ok(report.requests > 10, "the loop ran through the rollout");
        assert.ok(report.fewestServing >= 2, `at one moment only ${report.fewestServing} nodes served`);
        const after = await runningTasks();
        assert.strictEqual(after.length, 3);
        for (const task of after) {
            assert.ok(!before.includes(task), `task ${task} was not replaced`);
        }
        assert.deepStrictEqual(await statuses(nodesAs(update.outputs, "alice")), [200, 200, 200]);
        await setConfig(deployment.stack, { rotationLookaheadHours: "0" });
    });

    it("refuses a revoked client on every node", async () => {
        const before = await deployment.stack.outputs();
        await setConfig(deployment.stack, { revokedClients: ["bob"] });
        const result = await deployment.stack.up({ onOutput: log });
        assert.deepStrictEqual(await statuses(nodesAs(before, "bob")), [400, 400, 400]);
        assert.deepStrictEqual(await statuses(nodesAs(result.outputs, "alice")), [200, 200, 200]);
    });

    it("rolls back an update that cannot become healthy: up fails naming the cause, the old version answers", async () => {
        const outputs = await deployment.stack.outputs();
        // Without SETUID/SETGID the master cannot start its workers as nobody: nginx -t passes, no worker serves,
        // the health check fails, and Swarm must roll back.
        await setConfig(deployment.stack, { capabilities: ["CHOWN", "NET_BIND_SERVICE"] });
        const loop = startFailoverLoop(nodesAs(outputs, "alice"), { maxRequests: 100000, maxSeconds: 400 });
        await assert.rejects(deployment.stack.up({ onOutput: log }), (error: Error) => {
            assert.match(error.message, /did not become healthy and Swarm rolled it back/);
            // The cause, quoted: Nginx's own complaint, or the failed tasks' errors.
            assert.match(
                error.message,
                /setgid|setuid|Operation not permitted|task errors: .*(failed|shutdown|rejected|complete)/,
            );
            console.log(
                `      the failed up said: ${error.message
                    .split("\n")
                    .filter((line) => /Swarm|task errors|nginx:/.test(line))
                    .join(" | ")
                    .slice(0, 400)}`,
            );
            return true;
        });
        const report = await loop.stop();
        console.log(
            `      during the failed update: ${report.requests} requests, ${report.failures} failed, ${report.moved} moved; ` +
                `fewest nodes serving: ${report.fewestServing}`,
        );
        assert.strictEqual(report.failures, 0, report.failureSamples.join("\n"));
        assert.ok(report.fewestServing >= 2);
        // Every node serves the old version again once the rolled-back task has started (bounded wait).
        let answers = await statuses(nodesAs(outputs, "alice"));
        for (let attempt = 0; attempt < 60 && answers.some((status) => status !== 200); attempt++) {
            await new Promise((resolve) => setTimeout(resolve, 500));
            answers = await statuses(nodesAs(outputs, "alice"));
        }
        assert.deepStrictEqual(answers, [200, 200, 200], "the old version serves on every node");
        await deployment.stack.removeConfig("mtls-nginx:capabilities");
        const fixed = await deployment.stack.up({ onOutput: log, refresh: true });
        assert.strictEqual(fixed.summary.result, "succeeded");
    });

    it("keeps serving with one node's engine stopped, and up reports the lost node", async () => {
        const outputs = await deployment.stack.outputs();
        const lost = swarm.nodes[2];
        await swarm.stopNodeEngine(lost);
        try {
            const answers = await statuses(nodesAs(outputs, "alice"));
            assert.deepStrictEqual(answers.slice(0, 2), [200, 200], "the other nodes keep serving");
            // A change that rolls the service out again: the third task has nowhere to go.
            await setConfig(deployment.stack, { workerProcesses: "2" });
            await assert.rejects(deployment.stack.up({ onOutput: log }), (error: Error) => {
                assert.match(error.message, new RegExp(`${lost.name}`));
                console.log(
                    `      up with a node down said: ${error.message
                        .split("\n")
                        .filter((line) => line.includes(lost.name))
                        .join(" | ")
                        .slice(0, 300)}`,
                );
                return true;
            });
            const during = await statuses(nodesAs(outputs, "alice"));
            assert.deepStrictEqual(during.slice(0, 2), [200, 200], "still serving on the others");
        } finally {
            await swarm.startNodeEngine(lost);
        }
        // Forward, not back: the file set of before is still a config pending deletion (see docs/platforms.md, "A known limit").
        await setConfig(deployment.stack, { workerProcesses: "1" });
        const healed = await deployment.stack.up({ onOutput: log, refresh: true });
        assert.strictEqual(healed.summary.result, "succeeded");
    });

    it("destroy removes the service, its configs and its secrets", async () => {
        await deployment.stack.destroy({ onOutput: log });
        const name = deployment.containerName;
        const left = await Promise.all(
            [
                ["service", "ls"],
                ["config", "ls"],
                ["secret", "ls"],
            ].map(async (kind) =>
                (await swarm.dockerOn(swarm.manager, [...kind, "--format", "{{.Name}}"])).stdout
                    .split("\n")
                    .filter((line) => line.startsWith(name)),
            ),
        );
        assert.deepStrictEqual(left, [[], [], []]);
    });
});
