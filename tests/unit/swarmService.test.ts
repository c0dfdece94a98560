import * as assert from "assert";
import * as fs from "fs";
import * as http from "http";
import * as os from "os";
import * as path from "path";

import {
    awaitRollout,
    keyOf,
    pidsLimitOf,
    specKey,
    withPidsLimit,
    type ServiceSpec,
} from "../../delivery/awaitRollout";
import { checkFileSet } from "../../delivery/checkFileSet";
import { checkContainerSpec, checkLifetimeSeconds, nginxTestCapabilities } from "../../delivery/fileSetContainer";
import { generationOf } from "../../delivery/deliverFiles";
import { defaultHardening, renderHealthProbe, writablePaths } from "../../nginx/container";
import {
    configName,
    containerSpec,
    keySecretName,
    publicFileNames,
    serviceSpec,
    taskSpec,
    type ServiceSpecArgs,
} from "../../nginx/service";

/** The Swarm service as plain data: no Pulumi, no mocks; IDs and names are strings here. */
const spec: ServiceSpecArgs = {
    serviceName: "edge-nginx",
    image: "registry.example.com/nginx:1.30",
    replicas: 3,
    publishMode: "host",
    publishPort: 8443,
    serverName: "edge.example.com",
    hardening: { ...defaultHardening, memoryLimitMb: 128, logMaxSizeMb: 5, logMaxFiles: 2 },
    configs: [
        { fileName: "nginx.conf", id: "config-1", name: "edge-nginx-nginx-conf-aaaaaaaaaaaa" },
        { fileName: "server-chain.pem", id: "config-2", name: "edge-nginx-server-chain-pem-bbbbbbbbbbbb" },
    ],
    keySecret: { fileName: "server-key.pem", id: "secret-1", name: "edge-nginx-server-key-cccccccccccc" },
};

describe("the Swarm service spec (nginx/service.ts)", () => {
    it("mounts each config read-only for all and the key 0400 for root, under the config directory", () => {
        const container = containerSpec(spec);
        assert.deepStrictEqual(container.configs, [
            {
                configId: "config-1",
                configName: "edge-nginx-nginx-conf-aaaaaaaaaaaa",
                fileName: "/etc/nginx/mtls/nginx.conf",
                fileMode: 0o444,
            },
            {
                configId: "config-2",
                configName: "edge-nginx-server-chain-pem-bbbbbbbbbbbb",
                fileName: "/etc/nginx/mtls/server-chain.pem",
                fileMode: 0o444,
            },
        ]);
        assert.deepStrictEqual(container.secrets, [
            {
                secretId: "secret-1",
                secretName: "edge-nginx-server-key-cccccccccccc",
                fileName: "/etc/nginx/mtls/server-key.pem",
                fileMode: 0o400,
                fileUid: "0",
                fileGid: "0",
            },
        ]);
        assert.deepStrictEqual(container.commands, ["nginx", "-c", "/etc/nginx/mtls/nginx.conf", "-g", "daemon off;"]);
    });

    it("locks the container down as the hardening says: capabilities, read-only root with tmpfs, memory, logs", () => {
        const task = taskSpec(spec);
        assert.deepStrictEqual(serviceSpec(spec).taskSpec, task, "the service runs that task");
        const container = containerSpec(spec);
        assert.deepStrictEqual(container.capDrops, ["ALL"]);
        assert.deepStrictEqual(container.capAdds, ["CHOWN", "NET_BIND_SERVICE", "SETGID", "SETUID"]);
        assert.strictEqual(container.readOnly, true);
        assert.deepStrictEqual(
            (container.mounts as Array<{ target: string; type: string }>).map((mount) => [mount.target, mount.type]),
            writablePaths.map((target) => [target, "tmpfs"]),
        );
        assert.deepStrictEqual(task.resources, { limits: { memoryBytes: 128 * 1024 * 1024 } });
        assert.deepStrictEqual(task.logDriver, { name: "json-file", options: { "max-size": "5m", "max-file": "2" } });
        const writable = containerSpec({ ...spec, hardening: { ...spec.hardening, readOnlyRootFilesystem: false } });
        assert.strictEqual(writable.readOnly, false);
        assert.deepStrictEqual(writable.mounts, [], "a writable root needs no tmpfs");
    });

    it("checks health through the mounted files, with the server name as SNI", () => {
        assert.deepStrictEqual(containerSpec(spec).healthcheck, {
            tests: ["CMD-SHELL", renderHealthProbe("edge.example.com", "/etc/nginx/mtls")],
            interval: "5s",
            timeout: "3s",
            retries: 3,
            startPeriod: "5s",
        });
    });

    it("rolls out one task at a time, health-gated, stop-first, and rolls back by itself", () => {
        const service = serviceSpec(spec);
        assert.strictEqual(service.name, "edge-nginx");
        assert.deepStrictEqual(service.mode, { replicated: { replicas: 3 } });
        assert.deepStrictEqual(service.updateConfig, {
            parallelism: 1,
            delay: "2s",
            order: "stop-first",
            failureAction: "rollback",
            monitor: "20s",
            maxFailureRatio: "0",
        });
        assert.deepStrictEqual(service.rollbackConfig, {
            parallelism: 1,
            order: "stop-first",
            failureAction: "pause",
            monitor: "20s",
        });
    });

    it("publishes 443 on the published port in the publish mode; host mode allows one task per node", () => {
        const host = serviceSpec(spec);
        assert.deepStrictEqual(host.endpointSpec, {
            ports: [{ targetPort: 443, publishedPort: 8443, publishMode: "host", protocol: "tcp" }],
        });
        assert.deepStrictEqual(taskSpec(spec).placement, { maxReplicas: 1 });
        assert.strictEqual(taskSpec({ ...spec, publishMode: "ingress" }).placement, undefined);
    });

    it("names the public files that become configs, the CRL and its deadline only when there is a CRL", () => {
        assert.deepStrictEqual(publicFileNames(false), ["nginx.conf", "server-chain.pem", "client-ca.pem"]);
        assert.deepStrictEqual(publicFileNames(true), [
            "nginx.conf",
            "server-chain.pem",
            "client-ca.pem",
            "crl.pem",
            "crl-next-update",
        ]);
    });

    it("names each config by its content: a change of content is a new name", () => {
        const file = { name: "client-ca.pem", content: "CA BUNDLE\n", mode: 0o644 };
        assert.match(configName("edge-nginx", file), /^edge-nginx-client-ca-pem-[0-9a-f]{12}$/);
        assert.notStrictEqual(
            configName("edge-nginx", { ...file, content: "CA BUNDLE 2\n" }),
            configName("edge-nginx", file),
        );
    });

    it("names the key's secret after the public chain it serves (the chain config's digest), never after the key", () => {
        const chain = { name: "server-chain.pem", content: "LEAF\nINTERMEDIATE\n", mode: 0o644 };
        const name = keySecretName("edge-nginx", chain.content);
        assert.match(name, /^edge-nginx-server-key-[0-9a-f]{12}$/);
        assert.strictEqual(
            name.replace("edge-nginx-server-key-", ""),
            configName("edge-nginx", chain).replace("edge-nginx-server-chain-pem-", ""),
        );
        assert.notStrictEqual(keySecretName("edge-nginx", "NEW LEAF\nINTERMEDIATE\n"), name, "a new certificate");
    });
});

describe("the Swarm file-set check's container (delivery/checkFileSet.ts)", () => {
    const limits = {
        capabilities: ["CHOWN", "NET_BIND_SERVICE", "SETGID", "SETUID"],
        memoryLimitMb: 128,
        pidsLimit: 64,
    };

    it("is removed by the engine itself once its bounded sleep ends, with its anonymous volume", () => {
        const request = checkContainerSpec("nginx:1.30", limits);
        assert.strictEqual(request.HostConfig.AutoRemove, true);
        assert.deepStrictEqual(request.Cmd, [`sleep ${checkLifetimeSeconds}`]);
        assert.ok(checkLifetimeSeconds <= 300, "a bounded life");
    });

    it("holds the file set on a tmpfs volume (memory, not the engine's disk), at the service's config directory", () => {
        const { Mounts } = checkContainerSpec("nginx:1.30", limits).HostConfig;
        assert.deepStrictEqual(Mounts, [
            {
                Type: "volume",
                Target: "/etc/nginx/mtls",
                VolumeOptions: {
                    NoCopy: true,
                    DriverConfig: {
                        Name: "local",
                        Options: { type: "tmpfs", device: "tmpfs", o: "size=64m,mode=0755,nosuid,nodev,noexec" },
                    },
                },
            },
        ]);
        assert.ok(!("Source" in Mounts[0]), "anonymous: removed with the container");
    });

    it("runs with no network, a read-only root, no new privileges and only what nginx -t uses", () => {
        const host = checkContainerSpec("nginx:1.30", limits).HostConfig;
        assert.strictEqual(host.NetworkMode, "none");
        assert.deepStrictEqual(host.CapDrop, ["ALL"]);
        assert.deepStrictEqual(host.CapAdd, ["CHOWN", "NET_BIND_SERVICE"]);
        assert.deepStrictEqual(host.SecurityOpt, ["no-new-privileges:true"]);
        assert.strictEqual(host.ReadonlyRootfs, true);
        assert.deepStrictEqual(Object.keys(host.Tmpfs), writablePaths);
        assert.strictEqual(host.Memory, 128 * 1024 * 1024);
        assert.strictEqual(host.MemorySwap, host.Memory, "no swap");
        assert.strictEqual(host.PidsLimit, 64);
        assert.deepStrictEqual(nginxTestCapabilities, ["CHOWN", "NET_BIND_SERVICE"]);
        const narrower = checkContainerSpec("nginx:1.30", { ...limits, capabilities: ["CAP_NET_BIND_SERVICE"] });
        assert.deepStrictEqual(narrower.HostConfig.CapAdd, ["NET_BIND_SERVICE"], "never more than the service keeps");
    });
});

/** A Docker engine API on a unix socket, answering from a route table; every request is recorded. */
interface FakeRequest {
    readonly method: string;
    readonly path: string;
    readonly query: URLSearchParams;
    readonly body: Buffer;
}

type Route = (request: FakeRequest) => { status: number; json?: unknown; body?: Buffer } | undefined;

async function fakeEngine(
    route: Route,
): Promise<{ address: { host: string }; requests: FakeRequest[]; close(): Promise<void> }> {
    const directory = fs.mkdtempSync(path.join(os.tmpdir(), "mtls-engine-"));
    const socket = path.join(directory, "docker.sock");
    const requests: FakeRequest[] = [];
    const server = http.createServer((incoming, response) => {
        const chunks: Buffer[] = [];
        incoming.on("data", (chunk: Buffer) => chunks.push(chunk));
        incoming.on("end", () => {
            const url = new URL(incoming.url ?? "/", "http://docker");
            const request = {
                method: incoming.method ?? "",
                path: url.pathname,
                query: url.searchParams,
                body: Buffer.concat(chunks),
            };
            requests.push(request);
            const answer = route(request) ?? {
                status: 404,
                json: { message: `no route for ${request.method} ${request.path}` },
            };
            response.statusCode = answer.status;
            response.end(answer.json !== undefined ? JSON.stringify(answer.json) : answer.body);
        });
    });
    await new Promise<void>((resolve) => server.listen(socket, resolve));
    return {
        address: { host: `unix://${socket}` },
        requests,
        close: async () => {
            await new Promise<void>((resolve) => server.close(() => resolve()));
            fs.rmSync(directory, { recursive: true, force: true });
        },
    };
}

const jsonOf = (request: FakeRequest) => JSON.parse(request.body.toString("utf8"));

describe("the Swarm file-set check, against a fake engine", () => {
    const files = [
        { name: "nginx.conf", content: "events {}\n", mode: 0o644 },
        { name: "server-key.pem", content: "KEY\n", mode: 0o600 },
    ];
    const engineRoutes: Route = (request) => {
        const at = `${request.method} ${request.path}`;
        if (at === "GET /containers/json") {
            // The engine's clock at the request: a suite that started over a minute ago must not age "fresh".
            const now = Date.now() / 1000;
            return {
                status: 200,
                json: [
                    { Id: "abandoned", Created: now - 3600 },
                    { Id: "fresh", Created: now },
                ],
            };
        }
        if (at === "POST /containers/create") return { status: 201, json: { Id: "check-1" } };
        if (at === "POST /containers/check-1/start") return { status: 204 };
        if (at === "PUT /containers/check-1/archive") return { status: 200 };
        if (at === "POST /containers/check-1/exec") return { status: 201, json: { Id: "exec-1" } };
        if (at === "POST /exec/exec-1/start") return { status: 200, body: Buffer.alloc(0) };
        if (at === "GET /exec/exec-1/json") return { status: 200, json: { ExitCode: 0 } };
        if (request.method === "DELETE") return { status: 204 };
        return undefined;
    };

    it("creates the hardened container, writes the set into its tmpfs volume, runs nginx -t there, removes it with its volume", async () => {
        const engine = await fakeEngine(engineRoutes);
        try {
            const report = await checkFileSet({
                engine: engine.address,
                image: "nginx:1.30",
                files,
                limits: {
                    capabilities: ["CHOWN", "NET_BIND_SERVICE", "SETGID", "SETUID"],
                    memoryLimitMb: 64,
                    pidsLimit: 32,
                },
            });
            assert.match(report, /^nginx -t accepted gen-[0-9a-f]{16} in nginx:1\.30$/);
            const create = engine.requests.find((request) => request.path === "/containers/create")!;
            assert.deepStrictEqual(
                jsonOf(create),
                JSON.parse(
                    JSON.stringify(
                        checkContainerSpec("nginx:1.30", {
                            capabilities: ["CHOWN", "NET_BIND_SERVICE", "SETGID", "SETUID"],
                            memoryLimitMb: 64,
                            pidsLimit: 32,
                        }),
                    ),
                ),
            );
            const upload = engine.requests.find((request) => request.path === "/containers/check-1/archive")!;
            assert.strictEqual(upload.query.get("path"), "/etc/nginx/mtls", "into the tmpfs volume");
            const exec = engine.requests.find((request) => request.path === "/containers/check-1/exec")!;
            const generation = generationOf(files);
            assert.deepStrictEqual(jsonOf(exec).Cmd, [
                "nginx",
                "-t",
                "-q",
                "-c",
                `/etc/nginx/mtls/${generation}/nginx.conf`,
            ]);
            const removed = engine.requests.filter((request) => request.method === "DELETE");
            assert.deepStrictEqual(
                removed.map((request) => [request.path, request.query.get("force"), request.query.get("v")]),
                [
                    ["/containers/abandoned", "true", "true"],
                    ["/containers/check-1", "true", "true"],
                ],
                "an abandoned check (over a minute old, not running) and its own container, each with its volume",
            );
            const listed = engine.requests.find((request) => request.path === "/containers/json")!;
            assert.deepStrictEqual(JSON.parse(listed.query.get("filters")!), {
                label: ["mtls-nginx.owner=file-set-check"],
                status: ["created", "exited", "dead"],
            });
        } finally {
            await engine.close();
        }
    });
});

describe("the Swarm tasks' pids limit, set by the rollout watch (delivery/awaitRollout.ts)", () => {
    const containerSpec = {
        Image: "nginx:1.30",
        Configs: [{ ConfigName: "svc-nginx-conf-1" }],
        Secrets: [{ SecretName: "svc-server-key-1" }],
        CapabilityAdd: ["CHOWN"],
        CapabilityDrop: ["ALL"],
        ReadOnly: true,
    };
    const expected = {
        image: "nginx:1.30",
        configs: ["svc-nginx-conf-1"],
        secrets: ["svc-server-key-1"],
        capabilityAdd: ["CHOWN"],
        capabilityDrop: ["ALL"],
        readOnly: true,
        pidsLimit: 256,
    };
    const providerSpec: ServiceSpec = {
        Name: "svc",
        Mode: { Replicated: { Replicas: 2 } },
        TaskTemplate: { ContainerSpec: containerSpec, Resources: { Limits: { MemoryBytes: 268435456 } } },
        UpdateConfig: { Parallelism: 1 },
    };

    /** A swarm whose tasks run whatever spec the service holds (every rollout converges at once). */
    function swarm(initial: ServiceSpec, options: { keepsPids?: boolean; conflicts?: number } = {}): Route {
        let spec = initial;
        let version = 10;
        let conflicts = options.conflicts ?? 0;
        return (request) => {
            const at = `${request.method} ${request.path}`;
            if (at === "GET /services/svc")
                return { status: 200, json: { ID: "svc-id", Version: { Index: version }, Spec: spec } };
            if (at === "POST /services/svc-id/update" && conflicts > 0) {
                conflicts -= 1;
                version += 1; // Swarm wrote the service meanwhile
                return { status: 500, json: { message: "rpc error: code = Unknown desc = update out of sequence" } };
            }
            if (at === "POST /services/svc-id/update") {
                assert.strictEqual(request.query.get("version"), String(version), "written at the version it was read");
                const written = jsonOf(request) as ServiceSpec;
                spec = options.keepsPids === false ? { ...written, TaskTemplate: initial.TaskTemplate } : written;
                version += 1;
                return { status: 200, json: { Warnings: null } };
            }
            if (at === "GET /tasks") {
                const task = {
                    DesiredState: "running",
                    Spec: spec.TaskTemplate,
                    Status: { State: "running", Timestamp: "t" },
                };
                return { status: 200, json: [task, task] };
            }
            if (at === "GET /nodes") return { status: 200, json: [] };
            return undefined;
        };
    }

    const updatesOf = (requests: FakeRequest[]) =>
        requests.filter((request) => request.path.endsWith("/update")).map(jsonOf);

    it("the spec key tells a task with the limit from one without", () => {
        assert.notStrictEqual(specKey(containerSpec, { Limits: { Pids: 256 } }), specKey(containerSpec));
        assert.strictEqual(specKey(containerSpec, { Limits: { Pids: 256 } }), keyOf(expected));
        assert.strictEqual(pidsLimitOf(withPidsLimit(providerSpec, 256)), 256);
        assert.deepStrictEqual(withPidsLimit(providerSpec, 256).TaskTemplate.Resources, {
            Limits: { MemoryBytes: 268435456, Pids: 256 },
        });
    });

    it("after the provider's version has rolled out, writes the spec back with the limit and nothing else changed", async () => {
        const engine = await fakeEngine(swarm(providerSpec));
        try {
            const report = await awaitRollout({ engine: engine.address, service: "svc", timeoutSeconds: 5, expected });
            assert.match(report, /^converged: 2\/2 tasks .*; pids limit 256 set through the Docker API/);
            assert.deepStrictEqual(updatesOf(engine.requests), [withPidsLimit(providerSpec, 256)]);
        } finally {
            await engine.close();
        }
    });

    it("reads the service again when Swarm wrote it between the read and the write", async () => {
        const engine = await fakeEngine(swarm(providerSpec, { conflicts: 1 }));
        try {
            await awaitRollout({ engine: engine.address, service: "svc", timeoutSeconds: 5, expected });
            assert.deepStrictEqual(
                engine.requests
                    .filter((request) => request.path.endsWith("/update"))
                    .map((r) => r.query.get("version")),
                ["10", "11"],
            );
        } finally {
            await engine.close();
        }
    });

    it("writes nothing when the service has the limit already", async () => {
        const engine = await fakeEngine(swarm(withPidsLimit(providerSpec, 256)));
        try {
            const report = await awaitRollout({ engine: engine.address, service: "svc", timeoutSeconds: 5, expected });
            assert.match(report, /^converged: 2\/2 tasks of the applied spec running$/);
            assert.deepStrictEqual(updatesOf(engine.requests), []);
        } finally {
            await engine.close();
        }
    });

    it("fails, naming the API version, on an engine that drops the limit", async () => {
        const engine = await fakeEngine(swarm(providerSpec, { keepsPids: false }));
        try {
            await assert.rejects(
                awaitRollout({ engine: engine.address, service: "svc", timeoutSeconds: 5, expected }),
                /setting the tasks' pids limit to 256: the engine did not keep TaskTemplate\.Resources\.Limits\.Pids \(Docker Engine API 1\.41/,
            );
        } finally {
            await engine.close();
        }
    });

    it("never sets the limit over a rollout Swarm rolled back: up fails on the provider's version first", async () => {
        const rolledBack: ServiceSpec = {
            ...providerSpec,
            TaskTemplate: {
                ...providerSpec.TaskTemplate,
                ContainerSpec: { ...containerSpec, Configs: [{ ConfigName: "svc-nginx-conf-0" }] },
            },
        };
        const base = swarm(rolledBack);
        const engine = await fakeEngine((request) =>
            request.path === "/services/svc"
                ? {
                      status: 200,
                      json: {
                          ID: "svc-id",
                          Version: { Index: 3 },
                          Spec: rolledBack,
                          UpdateStatus: { State: "rollback_completed", Message: "rollback completed" },
                      },
                  }
                : base(request),
        );
        try {
            await assert.rejects(
                awaitRollout({ engine: engine.address, service: "svc", timeoutSeconds: 5, expected }),
                (error: Error) =>
                    /did not become healthy and Swarm rolled it back/.test(error.message) &&
                    !/pids limit/.test(error.message),
            );
            assert.deepStrictEqual(updatesOf(engine.requests), []);
        } finally {
            await engine.close();
        }
    });
});
