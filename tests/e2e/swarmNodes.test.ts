import * as assert from "assert";
import { spawnSync } from "child_process";
import * as http from "http";
import * as https from "https";

import { SwarmCluster, SwarmNode, useSwarm } from "../../testkit/swarm";

/**
 * Proves the swarm test infrastructure (testkit/swarm.ts, scripts/swarm-nodes.sh): three engines
 * reachable only over TLS with a client certificate, one swarm with one manager, the Nginx image
 * in every node, and a host-mode service answering on each node's own loopback address.
 * Never skipped: if the swarm cannot be formed, the before hook fails with the script's output.
 */
const nginxImage = process.env.MTLS_NGINX_IMAGE ?? "mtls-nginx/nginx:trixie-local";

interface HttpAnswer {
    readonly status: number;
    readonly body: string;
}

function httpGet(url: string, options: https.RequestOptions = {}, timeoutMs = 3_000): Promise<HttpAnswer> {
    const client = url.startsWith("https:") ? https : http;
    return new Promise((resolve, reject) => {
        const request = client.get(url, { ...options, agent: false, timeout: timeoutMs }, (response) => {
            let body = "";
            response.setEncoding("utf8");
            response.on("data", (chunk: string) => (body += chunk));
            response.on("end", () => resolve({ status: response.statusCode ?? 0, body }));
            response.on("error", reject);
        });
        request.on("timeout", () => request.destroy(new Error(`no answer from ${url} within ${timeoutMs} ms`)));
        request.on("error", reject);
    });
}

/** Bounded: at most `attempts` tries, 500 ms apart. */
async function httpGetEventually(url: string, expectedBody: string, attempts = 60): Promise<HttpAnswer> {
    let last: unknown;
    for (let attempt = 1; attempt <= attempts; attempt++) {
        try {
            const answer = await httpGet(url);
            if (answer.body === expectedBody) {
                return answer;
            }
            last = `HTTP ${answer.status} ${JSON.stringify(answer.body)}`;
        } catch (error) {
            last = error;
        }
        await new Promise((resolve) => setTimeout(resolve, 500));
    }
    throw new Error(`${url} did not answer ${JSON.stringify(expectedBody)} after ${attempts} tries; last: ${last}`);
}

/** Bounded: at most `attempts` checks, 500 ms apart. */
async function eventually(what: string, attempts: number, check: () => Promise<boolean>): Promise<void> {
    for (let attempt = 1; attempt <= attempts; attempt++) {
        if (await check()) {
            return;
        }
        await new Promise((resolve) => setTimeout(resolve, 500));
    }
    throw new Error(`${what}: not seen after ${attempts} checks, 500 ms apart`);
}

async function refusesConnection(url: string): Promise<boolean> {
    try {
        await httpGet(url, {}, 2_000);
        return false;
    } catch (error) {
        return /ECONNREFUSED|ECONNRESET|socket hang up/.test(String(error));
    }
}

/** A plain-HTTP Nginx config: each task says which node it runs on (its hostname is the node's). */
const probeNginxConfig = [
    "pid /run/nginx-swarm-probe.pid;",
    "error_log stderr warn;",
    "events {}",
    "http {",
    "    access_log off;",
    "    server {",
    "        listen 443;",
    '        location / { default_type text/plain; return 200 "served by $hostname\\n"; }',
    "    }",
    "}",
    "",
].join("\n");

describe("a 3-node Docker Swarm on this machine (testkit/swarm.ts)", function () {
    const swarm = useSwarm();
    let cluster: SwarmCluster;

    before(() => {
        cluster = swarm.current;
    });

    it("has 3 nodes Ready in the manager's node list, exactly one of them a manager (node 1)", async () => {
        const listed = await cluster.dockerOn(cluster.manager, [
            "node",
            "ls",
            "--format",
            "{{.Hostname}} {{.Status}} {{.Availability}} {{.ManagerStatus}}",
        ]);
        const rows = listed.stdout
            .trim()
            .split("\n")
            .map((row) => row.trimEnd())
            .sort();
        assert.deepStrictEqual(rows, [
            "mtls-swarm-1 Ready Active Leader",
            "mtls-swarm-2 Ready Active",
            "mtls-swarm-3 Ready Active",
        ]);
        assert.deepStrictEqual(
            cluster.nodes.map((node) => [node.name, node.role, node.loopbackAddress, node.dockerHost]),
            [1, 2, 3].map((n) => [
                `mtls-swarm-${n}`,
                n === 1 ? "manager" : "worker",
                `127.0.0.2${n}`,
                `tcp://127.0.0.2${n}:2376`,
            ]),
        );
    });

    it("answers on each node's own 127.0.0.2N:2376 over TLS with the client certificate", async () => {
        for (const node of cluster.nodes) {
            const info = await cluster.dockerOn(node, ["info", "--format", "{{.Name}} {{.Swarm.LocalNodeState}}"]);
            assert.strictEqual(info.stdout.trim(), `${node.name} active`);
            // The PEM strings work for a plain Node client too (what a provider would be given).
            const ping = await httpGet(`https://${node.loopbackAddress}:2376/_ping`, {
                ca: node.tls.caPem,
                cert: node.tls.certPem,
                key: node.tls.keyPem,
            });
            assert.deepStrictEqual(ping, { status: 200, body: "OK" });
        }
    });

    it("refuses a client without a certificate, and plain HTTP", async () => {
        for (const node of cluster.nodes) {
            await assert.rejects(
                httpGet(`https://${node.loopbackAddress}:2376/_ping`, { ca: node.tls.caPem }),
                /certificate|ECONNRESET|socket hang up/i,
                `${node.name} must refuse a TLS client without a certificate`,
            );
            const withoutCertificate = spawnSync(
                "docker",
                ["--tls", "--tlscacert", `${node.tls.certPath}/ca.pem`, "-H", node.dockerHost, "version"],
                { encoding: "utf8", timeout: 30_000, env: { PATH: process.env.PATH ?? "/usr/bin:/bin" } },
            );
            assert.notStrictEqual(withoutCertificate.status, 0, `${node.name} answered docker without a certificate`);
            assert.match(withoutCertificate.stderr, /certificate|tls|remote error/i);
            const plain = await httpGet(`http://${node.loopbackAddress}:2376/_ping`);
            assert.strictEqual(plain.status, 400, `${node.name} must not serve plain HTTP`);
        }
    });

    it("has the Nginx image in every node, the same image id as on this machine", async () => {
        const local = spawnSync("docker", ["image", "inspect", "--format", "{{.Id}}", nginxImage], {
            encoding: "utf8",
        });
        assert.strictEqual(local.status, 0, local.stderr);
        for (const node of cluster.nodes) {
            const remote = await cluster.dockerOn(node, ["image", "inspect", "--format", "{{.Id}}", nginxImage]);
            assert.strictEqual(remote.stdout.trim(), local.stdout.trim(), node.name);
        }
    });

    describe("a 3-replica host-mode service from a swarm config", function () {
        const suffix = `${process.pid}`;
        const serviceName = `swarm-probe-${suffix}`;
        const configName = `swarm-probe-conf-${suffix}`;
        const url = (node: SwarmNode) => `http://${node.loopbackAddress}:${cluster.servicePort}/`;
        const served = (node: SwarmNode) => `served by ${node.name}\n`;

        before(async () => {
            await cluster.dockerOn(cluster.manager, ["config", "create", configName, "-"], { input: probeNginxConfig });
            // prettier-ignore
            await cluster.dockerOn(cluster.manager, [
                "service", "create", "--quiet", "--detach=false",
                "--name", serviceName,
                "--mode", "replicated", "--replicas", "3", "--replicas-max-per-node", "1",
                "--hostname", "{{.Node.Hostname}}",
                "--config", `source=${configName},target=/etc/nginx/swarm-probe.conf`,
                "--publish", `mode=host,target=443,published=${cluster.servicePort}`,
                nginxImage, "nginx", "-c", "/etc/nginx/swarm-probe.conf", "-g", "daemon off;",
            ], { timeoutMs: 180_000 });
        });

        after(async () => {
            await cluster.dockerOn(cluster.manager, ["service", "rm", serviceName], { allowFailure: true });
            await cluster.dockerOn(cluster.manager, ["config", "rm", configName], { allowFailure: true });
        });

        it("answers on each of 127.0.0.21..23, each from the task on that node", async () => {
            for (const node of cluster.nodes) {
                const answer = await httpGetEventually(url(node), served(node));
                assert.strictEqual(answer.status, 200);
            }
            const tasks = await cluster.dockerOn(cluster.manager, [
                "service",
                "ps",
                serviceName,
                "--filter",
                "desired-state=running",
                "--format",
                "{{.Node}} {{.CurrentState}}",
            ]);
            const nodesRunning = tasks.stdout
                .trim()
                .split("\n")
                .map((line) => line.split(" ")[0])
                .sort();
            assert.deepStrictEqual(nodesRunning, ["mtls-swarm-1", "mtls-swarm-2", "mtls-swarm-3"]);
        });

        it("keeps serving on the other nodes while one node's engine is stopped, and that node comes back", async () => {
            const [first, second, third] = cluster.nodes;
            await cluster.stopNodeEngine(third);
            assert.ok(await refusesConnection(url(third)), `${third.name} still answers with its engine stopped`);
            for (const node of [first, second]) {
                await httpGetEventually(url(node), served(node), 10);
            }
            // The manager notices missed heartbeats within seconds.
            await eventually(`the manager marking ${third.name} down`, 60, async () => {
                const state = await cluster.dockerOn(cluster.manager, [
                    "node",
                    "inspect",
                    third.name,
                    "--format",
                    "{{.Status.State}}",
                ]);
                return state.stdout.trim() === "down";
            });

            await cluster.startNodeEngine(third);
            await httpGetEventually(url(third), served(third));
        });

        it("is removed with its config", async () => {
            await cluster.dockerOn(cluster.manager, ["service", "rm", serviceName]);
            for (const node of cluster.nodes) {
                await eventually(`${node.name} refusing connections after service rm`, 40, () =>
                    refusesConnection(url(node)),
                );
            }
            // The config stays in use until the last task is gone.
            await eventually(`config rm ${configName}`, 40, async () => {
                const removed = await cluster.dockerOn(cluster.manager, ["config", "rm", configName], {
                    allowFailure: true,
                });
                return removed.status === 0;
            });
            const left = await cluster.dockerOn(cluster.manager, ["service", "ls", "--quiet"]);
            assert.strictEqual(left.stdout.trim(), "");
        });
    });
});
