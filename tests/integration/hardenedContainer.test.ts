/**
 * Integration tier: the endpoint's container as the component runs it (nginx/container.ts):
 * capabilities dropped, no-new-privileges, read-only root with tmpfs, memory and pids limits,
 * log rotation, the wait-then-exec start command, and a health check that tells the truth.
 */
import * as assert from "assert/strict";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";

import {
    crlNextUpdateFile,
    defaultHardening,
    renderHealthProbe,
    tmpfsOptions,
    waitForLiveConfig,
    writablePaths,
} from "../../nginx/container";
import { containerConfigDirectory, containerListenPort, endpointFiles, liveFileSet } from "../../nginx/files";
import { greetingFor, renderNginxConfig, trustDigest } from "../../nginx/renderNginxConfig";
import {
    assertDockerReady,
    docker,
    removeContainer,
    testImage,
    waitUntilServing,
    writeFileSet,
} from "../../testkit/docker";
import { TestPki, type CertificateAuthority, type IssuedCertificate } from "../../testkit/pki";
import { freePort } from "../../testkit/ports";
import { tlsRequest } from "../../testkit/tls";

const serverName = "localhost";
const ownerLabel = "mtls-nginx.integration-test";

describe("the hardened endpoint container", function () {
    this.timeout(120_000);
    let directory: string;
    let live: string;
    let ca: CertificateAuthority;
    let client: IssuedCertificate;
    let name: string;
    let port: number;

    const exec = (args: readonly string[], user?: string) =>
        docker(["exec", ...(user ? ["--user", user] : []), name, ...args]);
    const healthy = () => exec(["sh", "-c", renderHealthProbe(serverName)]).status === 0;

    before("PKI, a live file set, and the container started with the component's settings", async () => {
        assertDockerReady();
        directory = fs.mkdtempSync(path.join(os.tmpdir(), "mtls-nginx-hardened-"));
        live = path.join(directory, liveFileSet);
        const pki = new TestPki(path.join(directory, "pki"));
        ca = pki.createRootCa("hardened CA", "ECDSA-P256");
        const server = pki.issueServer(serverName, ca);
        client = pki.issueLeaf({ name: "client-1", profile: "client", issuer: ca, algorithm: "ECDSA-P256" });
        writeFileSet(live, {
            nginxConfig: renderNginxConfig({
                serverNames: [serverName],
                listenPort: containerListenPort,
                verifyClient: "on",
                verifyDepth: 1,
                workerProcesses: "1",
                locations: [{ path: "/", requireClientCertificate: true }],
                checkRevocation: false,
                trustDigest: trustDigest(ca.certificatePem, ""),
            }),
            serverChainPem: server.chainPem,
            serverKeyPem: server.keyPem,
            clientTrustBundlePem: ca.certificatePem,
        });

        port = await freePort();
        name = `mtls-nginx-it-${process.pid}-hardened`;
        const hardening = defaultHardening;
        // prettier-ignore
        const started = docker([
            "run", "-d", "--name", name, "--label", `${ownerLabel}=${process.pid}`,
            "--cap-drop", "ALL", ...hardening.capabilities.flatMap((capability) => ["--cap-add", capability]),
            "--security-opt", "no-new-privileges:true",
            "--read-only", ...writablePaths.flatMap((writable) => ["--tmpfs", `${writable}:${tmpfsOptions}`]),
            "--memory", `${hardening.memoryLimitMb}m`, "--memory-swap", `${hardening.memoryLimitMb}m`,
            "--pids-limit", String(hardening.pidsLimit),
            "--log-driver", "json-file", "--log-opt", `max-size=${hardening.logMaxSizeMb}m`,
            "--log-opt", `max-file=${hardening.logMaxFiles}`,
            // The live set, as the files volume holds it after a delivery (here a bind mount of it), read-only.
            "-v", `${live}:${containerConfigDirectory}/${liveFileSet}:ro`,
            "-p", `127.0.0.1:${port}:${containerListenPort}`,
            testImage, "sh", "-c", waitForLiveConfig,
        ]);
        assert.equal(started.status, 0, started.stderr);
        await waitUntilServing({ name, port }, () =>
            tlsRequest({ port, servername: serverName, ca: ca.certificatePem, timeoutMs: 2000 }),
        );
    });

    after(() => {
        removeContainer(name);
        fs.rmSync(directory, { recursive: true, force: true });
    });

    it("serves mutual TLS: 200 with a client certificate, 400 without", async () => {
        const withCertificate = await tlsRequest({
            port,
            servername: serverName,
            ca: ca.certificatePem,
            cert: client.chainPem,
            key: client.keyPem,
        });
        assert.equal(withCertificate.status, 200);
        assert.equal(withCertificate.body.trim(), greetingFor("client-1"));
        const without = await tlsRequest({ port, servername: serverName, ca: ca.certificatePem });
        assert.equal(without.status, 400);
    });

    it("runs Nginx as PID 1 with only the kept capabilities and no-new-privileges", () => {
        const status = exec(["cat", "/proc/1/status"]).stdout;
        assert.match(exec(["cat", "/proc/1/cmdline"]).stdout, /^nginx: master process/);
        assert.match(status, /^NoNewPrivs:\s+1$/m);
        const effective = BigInt(`0x${/^CapEff:\s+([0-9a-f]+)$/m.exec(status)![1]}`);
        // CHOWN 0, SETGID 6, SETUID 7, NET_BIND_SERVICE 10.
        const kept = [0n, 6n, 7n, 10n].reduce((mask, bit) => mask | (1n << bit), 0n);
        assert.equal(effective, kept, `CapEff ${effective.toString(16)}`);
        const workers = exec([
            "sh",
            "-c",
            "grep -l '^nginx: worker' /proc/[0-9]*/cmdline | cut -d/ -f3 | xargs -I{} stat -c %U /proc/{}",
        ]);
        assert.match(
            workers.stdout.trim(),
            /^(nobody|www-data|nginx)(\n(nobody|www-data|nginx))*$/,
            "workers are unprivileged",
        );
    });

    it("has a read-only root and read-only files, writable tmpfs where Nginx writes, and the limits set", () => {
        for (const target of ["/etc/nginx/evil.conf", `${containerConfigDirectory}/${liveFileSet}/nginx.conf`]) {
            const write = exec(["sh", "-c", `echo x > ${target}`]);
            assert.notEqual(write.status, 0, target);
            assert.match(write.stderr, /Read-only file system/, target);
        }
        for (const writable of writablePaths) {
            assert.equal(exec(["sh", "-c", `touch ${writable}/.probe && rm ${writable}/.probe`]).status, 0, writable);
        }
        const inspected = docker([
            "inspect",
            "--format",
            "{{.HostConfig.Memory}} {{.HostConfig.PidsLimit}} {{.HostConfig.LogConfig.Config}}",
            name,
        ]);
        assert.equal(inspected.stdout.trim(), `${256 * 1024 * 1024} 256 map[max-file:3 max-size:10m]`);
        assert.notEqual(
            exec(["cat", `${containerConfigDirectory}/${liveFileSet}/${endpointFiles.serverPrivateKey}`], "65534")
                .status,
            0,
            "a worker's user cannot read the key",
        );
    });

    it("starts Nginx only once a process limit is set (the provider creates the container without one)", async () => {
        const unlimited = `${name}-unlimited`;
        const unlimitedPort = await freePort();
        // prettier-ignore
        const started = docker([
            "run", "-d", "--name", unlimited, "--label", `${ownerLabel}=${process.pid}`, "--cap-drop", "ALL",
            ...defaultHardening.capabilities.flatMap((capability) => ["--cap-add", capability]),
            "-v", `${live}:${containerConfigDirectory}/${liveFileSet}:ro`,
            "-p", `127.0.0.1:${unlimitedPort}:${containerListenPort}`,
            testImage, "sh", "-c", waitForLiveConfig,
        ]);
        assert.equal(started.status, 0, started.stderr);
        try {
            const probe = () =>
                tlsRequest({ port: unlimitedPort, servername: serverName, ca: ca.certificatePem, timeoutMs: 1000 });
            await new Promise((resolve) => setTimeout(resolve, 2000));
            await assert.rejects(probe, /./, "Nginx answered before any process limit was set");
            assert.equal(docker(["exec", unlimited, "cat", "/proc/1/comm"]).stdout.trim(), "sh", "PID 1 still waits");
            assert.equal(docker(["update", "--pids-limit", "64", unlimited]).status, 0);
            const deadline = Date.now() + 10_000;
            for (;;) {
                try {
                    await probe();
                    break;
                } catch (error) {
                    if (Date.now() > deadline) throw error;
                    await new Promise((resolve) => setTimeout(resolve, 200));
                }
            }
            assert.match(docker(["exec", unlimited, "cat", "/proc/1/cmdline"]).stdout, /^nginx: master process/);
        } finally {
            removeContainer(unlimited);
        }
    });

    it("is healthy while valid clients get in, and unhealthy once the CRLs expire or the chain breaks", () => {
        assert.equal(healthy(), true, "healthy with a good file set");
        const nextUpdate = path.join(live, crlNextUpdateFile);
        fs.writeFileSync(nextUpdate, `${Math.floor(Date.now() / 1000) + 3600}\n`);
        assert.equal(healthy(), true, "healthy while the CRLs are fresh");
        fs.writeFileSync(nextUpdate, `${Math.floor(Date.now() / 1000) - 60}\n`);
        assert.equal(healthy(), false, "unhealthy once the CRLs are past their next update");
        fs.rmSync(nextUpdate);
        // A trust bundle the served chain does not verify against: a broken chain.
        const bundle = path.join(live, endpointFiles.clientTrustBundle);
        const good = fs.readFileSync(bundle, "utf8");
        const foreign = new TestPki(path.join(directory, "foreign")).createRootCa("foreign CA", "ECDSA-P256");
        fs.writeFileSync(bundle, foreign.certificatePem);
        assert.equal(healthy(), false, "unhealthy when the chain does not verify");
        fs.writeFileSync(bundle, good);
        assert.equal(healthy(), true, "healthy again");
    });
});
