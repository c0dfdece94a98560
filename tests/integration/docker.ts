/**
 * Docker helpers for the integration tier: preflight, and Nginx containers started the way the
 * endpoint component starts them (config directory mounted read-only, port published on
 * 127.0.0.1 only, `nginx -c <mounted nginx.conf>`).
 */
import { spawnSync } from "child_process";
import * as net from "net";

import { containerConfigDirectory, containerListenPort, nginxConfigArgs } from "../../nginx/files";

/** The locally built image (nginx/image/build-local-image.sh); same override as the build script. */
export const testImage = process.env.MTLS_NGINX_IMAGE ?? "mtls-nginx/nginx:bookworm-local";

/** Label on every container this tier starts; its value is the owning test process id. */
const ownerLabel = "mtls-nginx.integration-test";

const setupHint = "run `npm run setup` (scripts/setup-docker.sh starts dockerd and builds the image)";

export interface CommandResult {
    readonly status: number | null;
    readonly stdout: string;
    readonly stderr: string;
}

export function docker(args: readonly string[], timeoutMs = 60_000): CommandResult {
    const result = spawnSync("docker", args, { encoding: "utf8", timeout: timeoutMs });
    if (result.error) {
        return { status: null, stdout: "", stderr: String(result.error) };
    }
    return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

/** Fails loudly, never skips, when Docker or the image is not there. */
export function assertDockerReady(): void {
    const info = docker(["info", "--format", "{{.ServerVersion}}"], 15_000);
    if (info.status !== 0 || info.stdout.trim() === "") {
        throw new Error(
            `The integration tier needs a Docker daemon, and none answers (${info.stderr.trim() || "no output"}). ` +
                `To fix: ${setupHint}.`,
        );
    }
    const image = docker(["image", "inspect", "--format", "{{.Id}}", testImage]);
    if (image.status !== 0) {
        throw new Error(`The integration tier needs the image ${testImage}, which is missing. To fix: ${setupHint}.`);
    }
    removeOrphanedContainers();
}

/** Removes containers left by earlier test processes that died before their after-hooks ran. */
function removeOrphanedContainers(): void {
    const listed = docker([
        "ps",
        "-a",
        "--filter",
        `label=${ownerLabel}`,
        "--format",
        `{{.ID}} {{.Label "${ownerLabel}"}}`,
    ]);
    for (const line of listed.stdout.split("\n").filter(Boolean)) {
        const [id, owner] = line.split(" ");
        if (!isProcessAlive(Number(owner))) {
            docker(["rm", "-f", id]);
        }
    }
}

function isProcessAlive(pid: number): boolean {
    if (!Number.isInteger(pid) || pid <= 0) {
        return false;
    }
    try {
        process.kill(pid, 0);
        return true;
    } catch {
        return false;
    }
}

/** A free TCP port on 127.0.0.1 (there is a small window before Docker binds it; startEndpoint retries). */
export function freePort(): Promise<number> {
    return new Promise((resolve, reject) => {
        const server = net.createServer();
        server.unref();
        server.on("error", reject);
        server.listen(0, "127.0.0.1", () => {
            const address = server.address();
            server.close(() =>
                typeof address === "object" && address ? resolve(address.port) : reject(new Error("no port")),
            );
        });
    });
}

/** `nginx -t` on the mounted config, in a throwaway container of the image. */
export function nginxConfigTest(hostDirectory: string): CommandResult {
    // prettier-ignore
    return docker([
        "run", "--rm", "--network", "none", "--label", `${ownerLabel}=${process.pid}`,
        "-v", `${hostDirectory}:${containerConfigDirectory}:ro`,
        testImage, "nginx", "-t", ...nginxConfigArgs,
    ]);
}

export interface RunningEndpoint {
    readonly name: string;
    readonly port: number;
}

const started = new Set<string>();

/** Starts Nginx on the mounted directory, published on 127.0.0.1:<free port>. */
export async function startEndpoint(hostDirectory: string, nameHint: string): Promise<RunningEndpoint> {
    for (let attempt = 1; ; attempt++) {
        const port = await freePort();
        const name = `mtls-nginx-it-${process.pid}-${nameHint}-${Math.random().toString(36).slice(2, 8)}`;
        started.add(name);
        // prettier-ignore
        const result = docker([
            "run", "-d", "--name", name, "--label", `${ownerLabel}=${process.pid}`,
            "-v", `${hostDirectory}:${containerConfigDirectory}:ro`,
            "-p", `127.0.0.1:${port}:${containerListenPort}`,
            testImage, "nginx", ...nginxConfigArgs, "-g", "daemon off;",
        ]);
        if (result.status === 0) {
            return { name, port };
        }
        removeContainer(name);
        if (attempt >= 3 || !/address already in use|port is already allocated/i.test(result.stderr)) {
            throw new Error(`docker run failed: ${result.stderr.trim()}`);
        }
    }
}

export function containerLogs(name: string): string {
    const result = docker(["logs", name]);
    return `${result.stdout}${result.stderr}`;
}

export function isRunning(name: string): boolean {
    return docker(["inspect", "--format", "{{.State.Running}}", name]).stdout.trim() === "true";
}

/** Waits until `probe` succeeds; fails early, with `docker logs`, if the container exits. */
export async function waitUntilServing(
    endpoint: RunningEndpoint,
    probe: () => Promise<unknown>,
    timeoutMs = 20_000,
): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    let lastError: unknown;
    while (Date.now() < deadline) {
        if (!isRunning(endpoint.name)) {
            const state = docker(["inspect", "--format", "{{.State.Status}} exit={{.State.ExitCode}}", endpoint.name]);
            throw new Error(
                `container ${endpoint.name} is not running (${state.stdout.trim()}); docker logs:\n` +
                    containerLogs(endpoint.name),
            );
        }
        try {
            await probe();
            return;
        } catch (error) {
            lastError = error;
        }
        await new Promise((resolve) => setTimeout(resolve, 200));
    }
    throw new Error(
        `container ${endpoint.name} did not answer on 127.0.0.1:${endpoint.port} within ${timeoutMs} ms ` +
            `(last error: ${String(lastError)}); docker logs:\n${containerLogs(endpoint.name)}`,
    );
}

export function removeContainer(name: string): void {
    docker(["rm", "-f", "-v", name]);
    started.delete(name);
}

/** Safety net for the root after-hook: every container this process started. */
export function removeAllStartedContainers(): void {
    for (const name of [...started]) {
        removeContainer(name);
    }
}
