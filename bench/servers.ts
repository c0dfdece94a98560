/**
 * Server containers for the bench, all from the local image and pinned to the server core:
 * Nginx with a given nginx.conf, or `openssl s_server` on the same keys. Each is reached on its
 * own bridge address (no docker-proxy); a port published on 127.0.0.1 is added on request, to
 * measure the path a default install takes.
 */
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as path from "path";

import { containerConfigDirectory, containerListenPort, endpointFiles, nginxConfigArgs } from "../nginx/files";
import { docker, nginxConfigTest, testImage } from "../testkit/docker";
import { freePort } from "../testkit/ports";
import { containerCpuReader, type CpuReader } from "./cgroup";
import { onCleanup } from "./cleanup";
import type { KeySet } from "./keys";
import { cmdline, listProcesses, processTree } from "./procfs";

export type ServerKind = "nginx" | "s_server";

export interface ServerSpec {
    /** Short name, unique in one run: "guide", "project", "s_server/guide keys", a lever name. */
    readonly label: string;
    readonly kind: ServerKind;
    readonly keys: KeySet;
    /** nginx.conf text (kind "nginx"). */
    readonly nginxConfig?: string;
    /** Extra `openssl s_server` options (kind "s_server"), e.g. -no_ticket, -groups. */
    readonly sServerOptions?: readonly string[];
    /** SNI and Host header. */
    readonly serverName: string;
    /** Path of the request; its answer is a few bytes in both kinds. */
    readonly requestPath: string;
    /** Also publish the port on 127.0.0.1 (docker-proxy), as a default install does. */
    readonly publish?: boolean;
}

export interface RunningServer {
    readonly spec: ServerSpec;
    readonly containerName: string;
    /** Bridge address of the container. */
    readonly address: string;
    readonly publishedPort?: number;
    readonly cpu: CpuReader;
    /** Nginx worker processes (0 for s_server). */
    readonly workers: number;
    /** docker-proxy processes behind the published port. */
    readonly proxyPids: readonly number[];
    readonly url: string;
    readonly stop: () => void;
}

export const benchLabel = "mtls-nginx.bench";
/** The body s_server serves with -WWW: as small as Nginx's answer. */
const sServerPage = "index.txt";

/** Removes containers of earlier bench processes that died before cleaning up. */
export function removeOrphanedContainers(): void {
    const listed = docker([
        "ps",
        "-a",
        "--filter",
        `label=${benchLabel}`,
        "--format",
        `{{.ID}} {{.Label "${benchLabel}"}}`,
    ]);
    for (const line of listed.stdout.split("\n").filter(Boolean)) {
        const [id, owner] = line.split(" ");
        if (!isAlive(Number(owner))) {
            docker(["rm", "-f", id]);
        }
    }
}

function isAlive(pid: number): boolean {
    try {
        return Number.isInteger(pid) && pid > 0 && (process.kill(pid, 0), true);
    } catch {
        return false;
    }
}

function slug(label: string): string {
    return label.replace(/[^A-Za-z0-9_.-]+/g, "-").replace(/^-+|-+$/g, "");
}

export async function startServer(spec: ServerSpec, serverCpu: number, tempRoot: string): Promise<RunningServer> {
    const directory = path.join(tempRoot, `server-${slug(spec.label)}`);
    fs.mkdirSync(directory, { recursive: true });
    const copy = (from: string, to: string, mode = 0o644): void => {
        fs.copyFileSync(from, path.join(directory, to));
        fs.chmodSync(path.join(directory, to), mode);
    };
    copy(spec.keys.serverCertificatePath, endpointFiles.serverCertificateChain);
    copy(spec.keys.serverKeyPath, endpointFiles.serverPrivateKey, 0o600);
    copy(spec.keys.caPath, endpointFiles.clientTrustBundle);
    fs.writeFileSync(path.join(directory, sServerPage), "hello from s_server\n");

    let command: string[];
    if (spec.kind === "nginx") {
        if (!spec.nginxConfig) {
            throw new Error(`${spec.label}: an nginx server needs nginxConfig`);
        }
        fs.writeFileSync(path.join(directory, endpointFiles.nginxConfig), spec.nginxConfig);
        const test = nginxConfigTest(directory);
        if (test.status !== 0) {
            throw new Error(`nginx -t rejects the ${spec.label} config:\n${test.stderr}${test.stdout}`);
        }
        command = ["nginx", ...nginxConfigArgs, "-g", "daemon off;"];
    } else {
        // -Verify 1 + -verify_return_error: a client certificate is required and must verify, as with
        // `ssl_verify_client on`; -WWW serves index.txt (a few bytes, like Nginx's answer) and closes.
        // prettier-ignore
        command = [
            "openssl", "s_server", "-accept", String(containerListenPort), "-quiet", "-WWW",
            "-cert", endpointFiles.serverCertificateChain, "-key", endpointFiles.serverPrivateKey,
            "-CAfile", endpointFiles.clientTrustBundle, "-Verify", "1", "-verify_return_error",
            ...(spec.sServerOptions ?? []),
        ];
    }

    const containerName = `mtls-nginx-bench-${process.pid}-${slug(spec.label)}`;
    const publishedPort = spec.publish ? await freePort() : undefined;
    // prettier-ignore
    const run = docker([
        "run", "-d", "--name", containerName, "--label", `${benchLabel}=${process.pid}`,
        "--cpuset-cpus", String(serverCpu),
        ...(publishedPort ? ["-p", `127.0.0.1:${publishedPort}:${containerListenPort}`] : []),
        "-v", `${directory}:${containerConfigDirectory}:ro`, "-w", containerConfigDirectory,
        testImage, ...command,
    ]);
    const stop = onCleanup(`remove container ${containerName}`, () => {
        docker(["rm", "-f", "-v", containerName]);
    });
    if (run.status !== 0) {
        stop();
        throw new Error(`docker run (${spec.label}) failed: ${run.stderr.trim()}`);
    }
    const inspect = docker(["inspect", "--format", "{{.State.Pid}} {{.NetworkSettings.IPAddress}}", containerName]);
    const [pidText, address] = inspect.stdout.trim().split(" ");
    const containerPid = Number(pidText);
    const url = `https://${spec.serverName}/${spec.kind === "s_server" ? sServerPage : spec.requestPath.replace(/^\//, "")}`;
    await waitUntilServing(spec, containerName, address, url);

    const processes = listProcesses();
    const workers =
        spec.kind === "nginx"
            ? processTree(containerPid, processes).filter((info) => info.pid !== containerPid).length
            : 0;
    const proxyPids = publishedPort
        ? [...processes.values()]
              .filter((info) => info.comm === "docker-proxy")
              .filter((info) => {
                  const args = cmdline(info.pid);
                  const index = args.indexOf("-host-port");
                  return index >= 0 && args[index + 1] === String(publishedPort);
              })
              .map((info) => info.pid)
        : [];
    return {
        spec,
        containerName,
        address,
        publishedPort,
        cpu: containerCpuReader(containerPid),
        workers,
        proxyPids,
        url,
        stop,
    };
}

/** curl from the host, straight to the bridge address, until the answer is 200. */
async function waitUntilServing(spec: ServerSpec, containerName: string, address: string, url: string): Promise<void> {
    const deadline = Date.now() + 20_000;
    let last = "";
    while (Date.now() < deadline) {
        // prettier-ignore
        const probe = spawnSync("curl", [
            "-sS", "-o", "/dev/null", "-w", "%{http_code}", "--max-time", "3",
            "--cacert", spec.keys.caPath, "--cert", spec.keys.clientCertificatePath, "--key", spec.keys.clientKeyPath,
            "--resolve", `${spec.serverName}:${containerListenPort}:${address}`, url,
        ], { encoding: "utf8", timeout: 10_000 });
        if (probe.stdout === "200") {
            return;
        }
        last = `${probe.stdout} ${probe.stderr}`.trim();
        const state = docker(["inspect", "--format", "{{.State.Running}}", containerName]).stdout.trim();
        if (state !== "true") {
            const logs = docker(["logs", "--tail", "30", containerName]);
            throw new Error(`${spec.label}: the container stopped:\n${logs.stdout}${logs.stderr}`);
        }
        await new Promise((resolve) => setTimeout(resolve, 250));
    }
    throw new Error(`${spec.label}: no 200 from ${url} at ${address} within 20 s (last: ${last})`);
}

/** How many lines of the container's log (stdout and stderr) match an extended regular expression. */
export function countLogLines(containerName: string, pattern: string): number {
    // Through grep: the whole log of a run (megabytes) would overflow spawnSync's buffer.
    const result = spawnSync("sh", ["-c", 'docker logs "$1" 2>&1 | grep -cE -- "$2"', "sh", containerName, pattern], {
        encoding: "utf8",
        timeout: 120_000,
    });
    return Number(result.stdout.trim()) || 0;
}
