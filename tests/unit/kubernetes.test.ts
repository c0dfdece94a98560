/**
 * The Kubernetes platform on the mocks: which objects the endpoint is made of, how they are named,
 * locked down and ordered, and that the key and the kubeconfig stay secrets.
 */
import * as assert from "assert";
import type * as k8s from "@pulumi/kubernetes";

import { deployOnMocks } from "./deploy";
import { recordedResources, resourcesOfType, type RecordedResource } from "./mocks";
import { configMapName, drainSeconds, tlsSecretName } from "../../nginx/kubernetes";

const now = new Date("2026-11-28T12:00:00Z");
const kubeconfig = [
    "apiVersion: v1",
    "current-context: test",
    "clusters: [{name: local, cluster: {server: 'https://127.0.0.1:26443'}}]",
    "users: [{name: admin, user: {token: unit-token}}]",
    "contexts: [{name: test, context: {cluster: local, user: admin}}]",
].join("\n");
const kubernetesStack = { platform: "kubernetes", kubeconfig, kubernetesNamespace: "edge", replicas: "2" };

const only = (type: string): RecordedResource => {
    const found = resourcesOfType(type);
    assert.strictEqual(found.length, 1, `one ${type}; got ${found.map((resource) => resource.name).join(", ")}`);
    return found[0];
};

type PodSpec = k8s.types.output.core.v1.PodSpec;
type ObjectMeta = k8s.types.output.meta.v1.ObjectMeta;
/** A recorded input, read as the provider's plain output shape of the same object. */
const as = <T>(value: unknown): T => value as T;

describe("platform kubernetes: the endpoint's objects", () => {
    it("serves the file set from a content-named ConfigMap and TLS Secret, the key only in the Secret", async () => {
        await deployOnMocks(kubernetesStack, { now, awaiting: ["smokeTest", "endpointUrl"] });
        const configMap = only("kubernetes:core/v1:ConfigMap");
        const secret = only("kubernetes:core/v1:Secret");
        const data = configMap.inputs.data as Record<string, string>;
        assert.deepStrictEqual(Object.keys(data).sort(), ["client-ca.pem", "nginx.conf"].sort(), "no chain, no key");
        assert.strictEqual(as<ObjectMeta>(configMap.inputs.metadata).name, configMapName("mtls-nginx-unit", data));
        assert.strictEqual(configMap.inputs.immutable, true);

        assert.strictEqual(secret.inputs.type, "kubernetes.io/tls");
        assert.ok(secret.secretInputs.includes("stringData"), "the chain and key arrive as a secret");
        const tls = secret.inputs.stringData as Record<string, string>;
        assert.match(tls["tls.key"], /PRIVATE KEY OF/);
        assert.strictEqual(
            as<ObjectMeta>(secret.inputs.metadata).name,
            tlsSecretName("mtls-nginx-unit", tls["tls.crt"]),
        );
        for (const resource of recordedResources.filter((r) => r !== secret && !r.type.startsWith("tls:"))) {
            const plain = JSON.stringify(resource.inputs);
            if (plain.includes("PRIVATE KEY OF server")) {
                assert.ok(resource.secretInputs.length > 0, `${resource.name} carries the key as a secret`);
            }
        }
    });

    it("checks the set with nginx -t in a Job before the Deployment moves, then waits for the rollout", async () => {
        await deployOnMocks(kubernetesStack, { now, awaiting: ["smokeTest"] });
        const job = only("kubernetes:batch/v1:Job");
        const jobSpec = as<k8s.types.output.batch.v1.JobSpec>(job.inputs.spec);
        const jobPod = jobSpec.template.spec;
        assert.deepStrictEqual(jobPod.containers[0].command.slice(0, 2), ["nginx", "-t"]);
        assert.strictEqual(jobSpec.backoffLimit, 0);
        const watches = resourcesOfType("command:local:Command").filter((command) =>
            /awaitKubernetes/.test(String(command.inputs.create)),
        );
        assert.deepStrictEqual(
            watches.map((command) => command.name).sort(),
            ["endpoint-check-watch", "endpoint-rollout-watch"].sort(),
        );
        for (const watch of watches) {
            assert.ok(watch.secretInputs.includes("stdin"), `${watch.name}: the kubeconfig on stdin stays secret`);
            const input = JSON.parse(String(watch.inputs.stdin));
            assert.strictEqual(input.cluster.kubeconfig, kubeconfig);
            assert.strictEqual(input.namespace, "edge");
        }
        const teardown = resourcesOfType("command:local:Command").find(
            (command) => command.name === "endpoint-teardown-watch",
        );
        assert.ok(teardown, "a teardown watch");
        assert.strictEqual(teardown.inputs.create, undefined, "it does nothing on create");
        assert.match(String(teardown.inputs.delete), /awaitKubernetes/, "it waits on delete");
        assert.strictEqual(JSON.parse(String(teardown.inputs.stdin)).gate, "teardown");
        const provider = only("pulumi:providers:kubernetes");
        assert.ok(provider.secretInputs.includes("kubeconfig"), "the provider's kubeconfig is a secret");
        assert.strictEqual(provider.inputs.namespace, "edge");
    });

    it("rolls new pods in before old ones go, each locked down as the Docker platforms' container", async () => {
        await deployOnMocks(kubernetesStack, { now, awaiting: ["smokeTest"] });
        const deployment = only("kubernetes:apps/v1:Deployment");
        const spec = as<k8s.types.output.apps.v1.DeploymentSpec>(deployment.inputs.spec);
        assert.strictEqual(spec.replicas, 2);
        assert.deepStrictEqual(spec.strategy, {
            type: "RollingUpdate",
            rollingUpdate: { maxUnavailable: 0, maxSurge: 1 },
        });
        const pod: PodSpec = spec.template.spec;
        assert.strictEqual(pod.automountServiceAccountToken, false);
        const nginx = pod.containers[0];
        assert.deepStrictEqual(nginx.securityContext.capabilities, {
            drop: ["ALL"],
            add: ["CHOWN", "NET_BIND_SERVICE", "SETGID", "SETUID"],
        });
        assert.strictEqual(nginx.securityContext.allowPrivilegeEscalation, false);
        assert.strictEqual(nginx.securityContext.readOnlyRootFilesystem, true);
        assert.strictEqual(nginx.resources.limits.memory, "256Mi");
        assert.match(
            nginx.readinessProbe.exec.command[2],
            /curl .*--cacert .*https:\/\/localhost:443\//,
            "no client certificate",
        );
        const keyItem = pod.volumes[0].projected.sources[1].secret.items.find((item) => item.key === "tls.key")!;
        assert.strictEqual(keyItem.mode, 0o400, "the key is readable by root only");
        // A going pod serves on while the Service forgets it, and quits well inside its grace period.
        assert.deepStrictEqual(nginx.lifecycle.preStop.exec.command, ["sleep", String(drainSeconds)]);
        assert.ok(drainSeconds >= 10 && drainSeconds * 2 <= pod.terminationGracePeriodSeconds);
    });

    it("points the smoke test and the outputs at the Service: its cluster IP, or the node port", async () => {
        const clusterIp = await deployOnMocks(kubernetesStack, { now, awaiting: ["endpointUrl", "curlCommands"] });
        const service = only("kubernetes:core/v1:Service");
        assert.strictEqual(as<k8s.types.output.core.v1.ServiceSpec>(service.inputs.spec).type, "ClusterIP");
        assert.deepStrictEqual(as<k8s.types.output.core.v1.ServiceSpec>(service.inputs.spec).ports[0].port, 8443);
        const curl = await new Promise<Record<string, string>>((resolve) => clusterIp.curlCommands.apply(resolve));
        assert.match(curl.alice ?? Object.values(curl)[0], /--resolve localhost:8443:10\.96\.0\.10 /);

        const nodePort = await deployOnMocks(
            { ...kubernetesStack, kubernetesServiceType: "NodePort" },
            { now, awaiting: ["endpointUrl", "smokeTest"] },
        );
        const url = await new Promise<string>((resolve) => nodePort.endpointUrl.apply(resolve));
        assert.strictEqual(url, "https://localhost:31443/", "the node port Kubernetes picked");
        const probe = resourcesOfType("command:local:Command").find((command) =>
            command.name.endsWith("smoke-test-probe"),
        )!;
        assert.strictEqual(
            as<Record<string, string>>(probe.inputs.environment).SMOKE_RESOLVES,
            "localhost:31443:127.0.0.1",
        );
    });
});
