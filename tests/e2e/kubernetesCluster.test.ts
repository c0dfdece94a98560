import * as assert from "assert";
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as http from "http";

import { assertDockerReady, testImage } from "../../testkit/docker";
import { kubectl, startTestCluster, TestCluster } from "../../testkit/kubernetes";

/** What the kubelet and kube-proxy change on the host; stop must put them back. */
const sysctlNames = [
    "vm.overcommit_memory",
    "vm.panic_on_oom",
    "kernel.panic",
    "kernel.panic_on_oops",
    "kernel.keys.root_maxkeys",
    "kernel.keys.root_maxbytes",
    "net.ipv4.ip_forward",
    "net.ipv4.conf.all.route_localnet",
];

function readSysctls(): Record<string, string> {
    return Object.fromEntries(
        sysctlNames.map((name) => [name, fs.readFileSync(`/proc/sys/${name.replace(/\./g, "/")}`, "utf8").trim()]),
    );
}

/** The host's network namespaces, kubepods cgroups and KUBE-/CNI- iptables chains: a cluster leaves none. */
function hostTraces(): { netns: string[]; cgroups: string[]; chains: string[] } {
    const netns = fs.existsSync("/run/netns") ? fs.readdirSync("/run/netns").filter((n) => n.startsWith("cni-")) : [];
    const cgroups = fs.readdirSync("/sys/fs/cgroup").filter((c) => fs.existsSync(`/sys/fs/cgroup/${c}/kubepods`));
    const save = spawnSync("iptables-save", { encoding: "utf8" });
    const chains = (save.stdout ?? "").split("\n").filter((line) => /^:(KUBE-|CNI-)/.test(line));
    return { netns, cgroups, chains };
}

/** GET http://host:port/ (status and body), retried until it answers or timeoutMs has passed. */
async function httpGet(host: string, port: number, timeoutMs = 30_000): Promise<{ status: number; body: string }> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
        try {
            return await new Promise((resolve, reject) => {
                const request = http.get({ host, port, path: "/", timeout: 3_000 }, (response) => {
                    let body = "";
                    response.on("data", (chunk: Buffer) => (body += chunk.toString()));
                    response.on("end", () => resolve({ status: response.statusCode ?? 0, body }));
                });
                request.on("timeout", () => request.destroy(new Error(`timeout from ${host}:${port}`)));
                request.on("error", reject);
            });
        } catch (error) {
            if (Date.now() > deadline) throw error;
            await new Promise((resolve) => setTimeout(resolve, 500));
        }
    }
}

const nodePort = 30080;
const deployment = `
apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  replicas: 1
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
      - name: nginx
        image: ${testImage}
        imagePullPolicy: Never
        ports: [{containerPort: 80}]
---
apiVersion: v1
kind: Service
metadata: {name: web}
spec:
  type: NodePort
  selector: {app: web}
  ports: [{port: 80, targetPort: 80, nodePort: ${nodePort}}]
`;

/**
 * scripts/kube-cluster.sh: a real single-node cluster from the binaries setup-kubernetes.sh builds,
 * serving the local Nginx image from a Deployment, reached from the host at the pod's IP, the
 * Service's ClusterIP and 127.0.0.1:<nodePort>; then stopped without a trace.
 */
describe("a single-node Kubernetes cluster (scripts/kube-cluster.sh)", function () {
    const sysctlsBefore = readSysctls();
    const tracesBefore = hostTraces();
    let cluster: TestCluster | undefined;
    const current = (): TestCluster => {
        if (cluster === undefined) throw new Error("the cluster did not start");
        return cluster;
    };

    before(async function () {
        this.timeout(2_400_000);
        assertDockerReady();
        cluster = await startTestCluster({ images: [testImage] });
        console.log(
            `      cluster Ready ${cluster.startSeconds.toFixed(1)} s after setup began (${cluster.apiServerUrl})`,
        );
    });
    after(async function () {
        this.timeout(300_000);
        await cluster?.stop();
    });

    it("has a Ready node the apiserver reaches by its hostname", function () {
        const node = JSON.parse(kubectl(current(), ["get", "node", current().nodeName, "-o", "json"])) as {
            status: {
                conditions: { type: string; status: string }[];
                addresses: { type: string }[];
                nodeInfo: { kubeletVersion: string };
            };
        };
        const ready = node.status.conditions.find((condition) => condition.type === "Ready");
        assert.strictEqual(ready?.status, "True");
        assert.ok(node.status.addresses.some((address) => address.type === "Hostname"));
        assert.strictEqual(node.status.nodeInfo.kubeletVersion, "v1.34.4");
        assert.match(
            kubectl(current(), ["-n", "default", "get", "serviceaccount", "default", "-o", "name"]),
            /default/,
        );
    });

    it("serves the local Nginx image at the pod IP, the ClusterIP and 127.0.0.1:<nodePort>", async function () {
        this.timeout(180_000);
        const c = current();
        kubectl(c, ["apply", "-f", "-"], deployment);
        kubectl(c, ["rollout", "status", "deployment/web", "--timeout=120s"]);
        const podIp = kubectl(c, ["get", "pod", "-l", "app=web", "-o", "jsonpath={.items[0].status.podIP}"]).trim();
        assert.match(podIp, /^10\.244\.0\.\d+$/, "the pod is on the cluster's bridge network");
        const clusterIp = kubectl(c, ["get", "service", "web", "-o", "jsonpath={.spec.clusterIP}"]).trim();
        assert.match(clusterIp, /^10\.96\.0\.\d+$/);
        for (const [host, port] of [
            [podIp, 80],
            [clusterIp, 80],
            ["127.0.0.1", nodePort],
        ] as const) {
            const response = await httpGet(host, port);
            assert.strictEqual(response.status, 200, `${host}:${port}`);
            assert.match(response.body, /Welcome to nginx/, `${host}:${port}`);
        }
        // exec goes apiserver -> kubelet (by hostname) -> containerd's stream server.
        const podName = kubectl(c, ["get", "pod", "-l", "app=web", "-o", "jsonpath={.items[0].metadata.name}"]).trim();
        assert.strictEqual(kubectl(c, ["exec", podName, "--", "cat", "/etc/hostname"]).trim(), podName);
    });

    it("stop leaves no process, mount, netns, link, cgroup, iptables chain or sysctl change behind", async function () {
        this.timeout(300_000);
        const c = current();
        await c.stop();
        const processes = spawnSync("pgrep", ["-a", "-f", `${c.directory}/`], { encoding: "utf8" }).stdout;
        assert.strictEqual(processes.trim(), "", "no process runs from the cluster directory");
        const mounts = fs
            .readFileSync("/proc/mounts", "utf8")
            .split("\n")
            .filter((line) => line.split(" ")[1]?.startsWith(`${c.directory}/`));
        assert.deepStrictEqual(mounts, []);
        assert.notStrictEqual(spawnSync("ip", ["link", "show", "cni0"]).status, 0, "the cni0 bridge is gone");
        const veths = spawnSync("ip", ["-o", "link", "show", "type", "veth"], { encoding: "utf8" }).stdout;
        assert.doesNotMatch(veths, /master cni0/);
        assert.deepStrictEqual(hostTraces(), tracesBefore);
        assert.deepStrictEqual(readSysctls(), sysctlsBefore);
        assert.ok(!fs.existsSync(c.directory), "the cluster directory is removed");
        await c.stop(); // a second stop does nothing
    });
});
