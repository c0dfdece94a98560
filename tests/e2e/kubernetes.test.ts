import * as assert from "assert";
import { execFileSync } from "child_process";
import * as path from "path";
import type { OutputMap } from "@pulumi/pulumi/automation";

import { kubectl, startTestCluster, type TestCluster } from "../../testkit/kubernetes";
import { startRequestLoop } from "../../testkit/requestLoop";
import {
    createThrowawayStack,
    outputValue,
    probeAt,
    readStackConfigFile,
    realChanges,
    setConfig,
    useThrowawayStack,
    type ThrowawayStack,
} from "../../testkit/stack";
import { expectTlsFailure, misdirectedRequests, probe, type ProbeOptions } from "../../testkit/tls";

const repoRoot = path.join(__dirname, "..", "..");

/** The namespace the test's stack deploys into (created by the test, in the test's own cluster). */
const namespace = "mtls-e2e";
/** The Service's node port: clients reach it at 127.0.0.1 through kube-proxy. */
const nodePort = 31443;

interface PodList {
    readonly items: ReadonlyArray<{
        readonly metadata: { readonly name: string; readonly labels?: Record<string, string> };
        readonly status: { readonly podIP?: string; readonly conditions?: Array<{ type: string; status: string }> };
    }>;
}

/**
 * `platform: kubernetes` on a real single-node cluster that the test builds and starts
 * (testkit/kubernetes.ts): 2 replicas behind a NodePort Service, reached at 127.0.0.1:<nodePort>,
 * at the Service's cluster IP, and at each pod's own address on the cluster's pod network.
 */
describe("platform kubernetes on a real single-node cluster", function () {
    let cluster: TestCluster | undefined;
    const fixture = useThrowawayStack(
        "k8s",
        {
            platform: "kubernetes",
            replicas: "2",
            kubernetesNamespace: namespace,
            kubernetesServiceType: "NodePort",
            kubernetesNodePort: String(nodePort),
        },
        {
            create: async (label, config) => {
                const image = String(readStackConfigFile("Pulumi.dev.yaml").image);
                cluster = await startTestCluster({ images: [image] });
                console.log(`      cluster ready in ${cluster.startSeconds.toFixed(1)} s (build or cache included)`);
                kubectl(cluster, ["create", "namespace", namespace]);
                const stack = await createThrowawayStack(label, config);
                await stack.stack.setConfig("mtls-nginx:kubeconfig", { value: cluster.kubeconfig, secret: true });
                return stack;
            },
            afterDispose: async () => cluster?.stop(),
            localContainerLog: false,
        },
    );
    const log = fixture.log;
    let deployment: ThrowawayStack;

    const clusterNow = (): TestCluster => {
        if (!cluster) throw new Error("the test cluster is not started");
        return cluster;
    };
    const servingPods = () =>
        (JSON.parse(kubectl(clusterNow(), ["get", "pods", "-n", namespace, "-o", "json"])) as PodList).items.filter(
            (pod) => pod.metadata.labels?.["mtls-nginx.dev/role"] === "serve",
        );
    const readyPodNames = () =>
        servingPods()
            .filter((pod) => pod.status.conditions?.some((c) => c.type === "Ready" && c.status === "True"))
            .map((pod) => pod.metadata.name)
            .sort();

    const as = (outputs: OutputMap, host: string, port: number, client?: string): ProbeOptions =>
        probeAt(outputs, { host, port }, client);
    const throughService = (outputs: OutputMap, client?: string) => as(outputs, "127.0.0.1", nodePort, client);
    /** Each serving pod on its own address (the pod network of the test's cluster), port 443. */
    const everyPod = (outputs: OutputMap, client?: string) =>
        servingPods().map((pod) => as(outputs, pod.status.podIP!, 443, client));
    /** A JSONPath of the endpoint's Secrets, as the cluster holds them. */
    const endpointSecrets = (jsonPath: string) =>
        kubectl(clusterNow(), [
            "get",
            "secrets",
            "-n",
            namespace,
            "-l",
            `mtls-nginx.dev/endpoint=${deployment.containerName}`,
            "-o",
            `jsonpath=${jsonPath}`,
        ]);
    const statuses = async (targets: ProbeOptions[]) =>
        Promise.all(targets.map(async (target) => (await probe(target)).status ?? "no answer"));

    before(() => {
        deployment = fixture.current;
    });

    it("deploys 2 pods behind a Service: 200 with a certificate, 400 without, 421 for another Host, no handshake for another SNI", async () => {
        const started = Date.now();
        const result = await deployment.stack.up({ onOutput: log });
        console.log(`      kubernetes up from empty: ${((Date.now() - started) / 1000).toFixed(1)} s`);
        assert.match(outputValue<string>(result.outputs, "smokeTest"), /^smoke test passed: /);
        assert.strictEqual(outputValue<string>(result.outputs, "endpointUrl"), `https://localhost:${nodePort}/`);
        assert.strictEqual(readyPodNames().length, 2, "two ready pods");

        assert.strictEqual((await probe(throughService(result.outputs, "alice"))).status, 200);
        assert.strictEqual((await probe(throughService(result.outputs))).status, 400);
        const clusterIp = kubectl(clusterNow(), [
            "get",
            "service",
            deployment.containerName,
            "-n",
            namespace,
            "-o",
            "jsonpath={.spec.clusterIP}",
        ]);
        const servicePort = deployment.publishPort;
        assert.strictEqual((await probe(as(result.outputs, clusterIp, servicePort, "alice"))).status, 200, "ClusterIP");
        for (const target of [throughService(result.outputs, "alice"), throughService(result.outputs)]) {
            assert.deepStrictEqual(await statuses(misdirectedRequests(target)), [421, 421, 421], "another Host");
        }
        const refused = await expectTlsFailure({
            port: nodePort,
            servername: "other.test",
            ca: outputValue<string>(result.outputs, "caCertificatePem"),
        });
        assert.strictEqual(refused.handshakeCompleted, false, `another SNI: ${refused.message}`);

        const secretType = endpointSecrets("{.items[*].type}");
        assert.strictEqual(secretType, "kubernetes.io/tls");
        // The server key (as the cluster holds it, base64) and the kubeconfig's client key: never in plain text in state.
        const keyInCluster = endpointSecrets("{.items[0].data.tls\\.key}");
        const kubeconfigKey = /client-key-data: (\S+)/.exec(clusterNow().kubeconfig)![1];
        // The Automation API's exportStack() decrypts secrets (--show-secrets): ask the CLI directly.
        const exported = execFileSync("pulumi", ["stack", "export", "--stack", deployment.stackName], {
            cwd: repoRoot,
            env: { ...process.env, ...deployment.environment },
            encoding: "utf8",
            maxBuffer: 1 << 26,
        });
        assert.ok(exported.includes("BEGIN CERTIFICATE"), "certificates are in the state (the search works)");
        assert.doesNotMatch(exported, /PRIVATE KEY/);
        for (const [what, secret] of [
            ["the server key, base64", keyInCluster],
            ["the kubeconfig's client key", kubeconfigKey],
        ]) {
            assert.ok(secret.length > 100, `${what} was read`);
            assert.ok(!exported.includes(secret.slice(0, 60)), `${what} is not in the state`);
        }
        const preview = await deployment.stack.preview({ onOutput: log, diff: true });
        assert.deepStrictEqual(
            realChanges(preview.changeSummary),
            [],
            `a second preview changes nothing:\n${preview.stdout}`,
        );
    });

    it("rotates the server certificate by rolling the pods, with zero failed requests", async () => {
        const outputs = await deployment.stack.outputs();
        const before = readyPodNames();
        await setConfig(deployment.stack, { rotationLookaheadHours: "8760" });
        const loop = startRequestLoop(throughService(outputs, "alice"), { maxRequests: 100000, maxSeconds: 400 });
        const started = Date.now();
        const update = await deployment.stack.up({ onOutput: log });
        const seconds = (Date.now() - started) / 1000;
        const report = await loop.stop();
        console.log(
            `      kubernetes rotation: ${seconds.toFixed(1)} s; ${report.requests} requests, ${report.failures} failed`,
        );
        assert.ok(Object.keys(outputValue<Record<string, string>>(update.outputs, "rotationDue")).includes("server"));
        assert.strictEqual(report.failures, 0, report.failureSamples.join("\n"));
        assert.ok(report.requests > 10, "the loop ran through the rollout");
        const after = readyPodNames();
        assert.strictEqual(after.length, 2);
        assert.deepStrictEqual(
            after.filter((name) => before.includes(name)),
            [],
            "every pod was replaced",
        );
        await deployment.stack.removeConfig("mtls-nginx:rotationLookaheadHours");
    });

    it("refuses a revoked client on every pod", async () => {
        const before = await deployment.stack.outputs();
        await setConfig(deployment.stack, { revokedClients: ["bob"] });
        const result = await deployment.stack.up({ onOutput: log });
        assert.deepStrictEqual(await statuses(everyPod(before, "bob")), [400, 400]);
        assert.deepStrictEqual(await statuses(everyPod(result.outputs, "alice")), [200, 200]);
        assert.strictEqual((await probe(throughService(before, "bob"))).status, 400);
    });

    it("keeps a file set that nginx -t refuses from every serving pod: up fails quoting Nginx, the old pods answer", async () => {
        const outputs = await deployment.stack.outputs();
        const before = readyPodNames();
        await setConfig(deployment.stack, {
            locations: [{ path: "/" }, { path: "/api/", proxyPass: "http://no-such-upstream.invalid:8080" }],
        });
        await assert.rejects(deployment.stack.up({ onOutput: log }), (error: Error) => {
            assert.match(error.message, /nginx -t refused the new file set; no serving pod has seen it/);
            assert.match(error.message, /host not found in upstream/);
            return true;
        });
        assert.deepStrictEqual(readyPodNames(), before, "the same pods serve");
        assert.strictEqual((await probe(throughService(outputs, "alice"))).status, 200);
        await deployment.stack.removeConfig("mtls-nginx:locations");
    });

    it("fails up for a rollout that cannot become ready, quoting the pods' events and [emerg] lines, while the old pods answer", async () => {
        const outputs = await deployment.stack.outputs();
        const before = readyPodNames();
        // Without SETUID/SETGID the master cannot start its workers as nobody: nginx -t passes, no worker serves.
        await setConfig(deployment.stack, { capabilities: ["CHOWN", "NET_BIND_SERVICE"] });
        const loop = startRequestLoop(throughService(outputs, "alice"), { maxRequests: 100000, maxSeconds: 400 });
        await assert.rejects(deployment.stack.up({ onOutput: log }), (error: Error) => {
            assert.match(error.message, /the rollout did not become ready/);
            assert.match(error.message, /nginx: .*\[(emerg|alert)\].*(setgid|setuid|Operation not permitted)/);
            assert.match(error.message, /event \w+: /, "the new pods' Warning events");
            console.log(
                `      the failed up said: ${error.message
                    .split("\n")
                    .filter((line) => /rollout|pod |event|nginx:/.test(line))
                    .join(" | ")
                    .slice(0, 500)}`,
            );
            return true;
        });
        const report = await loop.stop();
        console.log(`      during the failed rollout: ${report.requests} requests, ${report.failures} failed`);
        assert.strictEqual(report.failures, 0, report.failureSamples.join("\n"));
        assert.deepStrictEqual(readyPodNames(), before, "the old pods still serve");
        await deployment.stack.removeConfig("mtls-nginx:capabilities");
        const fixed = await deployment.stack.up({ onOutput: log });
        assert.strictEqual(fixed.summary.result, "succeeded");
        assert.strictEqual(readyPodNames().length, 2);
    });

    it("scales a Deployment scaled by hand back at the next up with refresh (the legacy diff is on)", async () => {
        // scripts/env.sh skips a provider's Diff when the inputs are unchanged: the refresh must turn
        // the hand-made change into a changed input, or the up would leave it. patchForce lets the up
        // take .spec.replicas back from kubectl's field manager.
        assert.strictEqual(deployment.environment.PULUMI_ENABLE_LEGACY_DIFF, "true");
        const [name] = kubectl(clusterNow(), ["get", "deployments", "-n", namespace, "-o", "name"]).trim().split("\n");
        const replicas = () => kubectl(clusterNow(), ["get", name, "-n", namespace, "-o", "jsonpath={.spec.replicas}"]);
        assert.strictEqual(replicas(), "2");
        kubectl(clusterNow(), ["scale", name, "-n", namespace, "--replicas=1"]);
        assert.strictEqual(replicas(), "1");
        const result = await deployment.stack.up({ onOutput: log, refresh: true });
        assert.strictEqual(result.summary.result, "succeeded");
        assert.strictEqual(replicas(), "2", "the deployed replica count again");
    });

    it("destroy leaves the namespace as the test made it", async () => {
        await deployment.stack.destroy({ onOutput: log });
        const left = kubectl(clusterNow(), [
            "get",
            "deployments,replicasets,pods,services,configmaps,secrets,jobs",
            "-n",
            namespace,
            "-o",
            "name",
        ])
            .split("\n")
            .filter((name) => name !== "" && name !== "configmap/kube-root-ca.crt");
        assert.deepStrictEqual(left, [], "nothing of the endpoint's is left");
    });
});
