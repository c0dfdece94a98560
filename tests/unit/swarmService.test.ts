import * as assert from "assert";

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
        assert.match(
            keySecretName("edge-nginx", { name: "server-key.pem", content: "KEY", mode: 0o400 }),
            /^edge-nginx-server-key-[0-9a-f]{12}$/,
        );
    });
});
