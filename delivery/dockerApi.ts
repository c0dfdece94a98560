/**
 * Just enough of the Docker Engine API to hand files to a container and run a command in it,
 * over the three transports `mtls-nginx:dockerHost` accepts: `unix://` (the local socket),
 * `tcp://` with TLS (the client certificate and key held in memory, never in files), and
 * `ssh://` (the engine's own `docker system dial-stdio` over ssh, as the docker CLI does it).
 */
import { spawn } from "child_process";
import * as http from "http";
import * as https from "https";
import * as net from "net";
import { Duplex } from "stream";

/** Where the engine is and how to authenticate to it. */
export interface DockerEngineAddress {
    /** unix:///path, tcp://host:port or ssh://[user@]host[:port]; empty: DOCKER_HOST or the local socket. */
    readonly host: string;
    /** Client TLS material for tcp:// (PEM); the key is a secret. */
    readonly tls?: { readonly caPem: string; readonly certificatePem: string; readonly keyPem: string };
}

export interface ExecResult {
    readonly exitCode: number;
    readonly stdout: string;
    readonly stderr: string;
}

interface Response {
    readonly status: number;
    readonly body: Buffer;
}

const localSocket = "unix:///var/run/docker.sock";

export class DockerEngine {
    private readonly url: URL;

    constructor(private readonly address: DockerEngineAddress) {
        this.url = new URL(address.host || process.env.DOCKER_HOST || localSocket);
        if (this.url.protocol === "tcp:" && !address.tls) {
            throw new Error(`${this.url.href}: a tcp:// engine needs TLS client material`);
        }
    }

    /** Writes a tar archive into a directory of the container (which must exist there). */
    async putArchive(container: string, directory: string, archive: Buffer): Promise<void> {
        const query = new URLSearchParams({ path: directory, noOverwriteDirNonDir: "true" });
        const response = await this.request("PUT", `/containers/${encodeURIComponent(container)}/archive?${query}`, {
            body: archive,
            contentType: "application/x-tar",
        });
        expectStatus(response, [200], `uploading files into ${container}:${directory}`);
    }

    /** GET a JSON document of the API (e.g. `/services/NAME`, `/nodes`). */
    async getJson<T>(path: string): Promise<T> {
        const response = await this.request("GET", path);
        expectStatus(response, [200], `reading ${path}`);
        return JSON.parse(response.body.toString("utf8")) as T;
    }

    /** The last lines a service's tasks wrote (stdout and stderr, demultiplexed, through a manager). */
    async serviceLogs(service: string, tail: number): Promise<string> {
        const query = new URLSearchParams({ stdout: "true", stderr: "true", tail: String(tail) });
        const response = await this.request("GET", `/services/${encodeURIComponent(service)}/logs?${query}`);
        expectStatus(response, [200], `reading the logs of ${service}`);
        const { stdout, stderr } = demultiplex(response.body);
        return `${stdout}${stderr}`;
    }

    /** Creates a container from a create request (`POST /containers/create`) and starts it; returns its ID. */
    async startContainer(name: string, spec: { readonly Image: string }): Promise<string> {
        const created = await this.request("POST", `/containers/create?name=${encodeURIComponent(name)}`, {
            json: spec,
        });
        expectStatus(created, [201], `creating ${name} from ${spec.Image}`);
        const id = (JSON.parse(created.body.toString("utf8")) as { Id: string }).Id;
        const started = await this.request("POST", `/containers/${id}/start`);
        expectStatus(started, [204, 304], `starting ${name}`);
        return id;
    }

    /**
     * Removes a container, running or not, with its anonymous volumes; a missing one is fine, and so is
     * one the engine is removing already (an auto-removed container that has just exited).
     */
    async removeContainer(container: string): Promise<void> {
        const response = await this.request("DELETE", `/containers/${encodeURIComponent(container)}?force=true&v=true`);
        expectStatus(response, [204, 404, 409], `removing ${container}`);
    }

    /** An existing volume's details (GET /volumes/{name}); undefined when there is none of that name. */
    async inspectVolume(name: string): Promise<{ Labels?: Record<string, string> | null } | undefined> {
        const response = await this.request("GET", `/volumes/${encodeURIComponent(name)}`);
        expectStatus(response, [200, 404], `reading volume ${name}`);
        return response.status === 404 ? undefined : JSON.parse(response.body.toString("utf8"));
    }

    /** Writes a service's whole spec (POST /services/{id}/update); `version` is the one it was read at. */
    async updateService(service: string, version: number, spec: unknown): Promise<void> {
        const query = new URLSearchParams({ version: String(version) });
        const response = await this.request("POST", `/services/${encodeURIComponent(service)}/update?${query}`, {
            json: spec,
        });
        expectStatus(response, [200], `updating service ${service}`);
    }

    /** Changes resource limits of a container in place (POST /containers/{id}/update). */
    async updateContainer(container: string, limits: Record<string, number>): Promise<void> {
        const response = await this.request("POST", `/containers/${encodeURIComponent(container)}/update`, {
            json: limits,
        });
        expectStatus(response, [200], `updating the limits of ${container}`);
    }

    /** Reads a path of a container as a tar archive (GET /containers/{id}/archive). */
    async getArchive(container: string, path: string): Promise<Buffer> {
        const query = new URLSearchParams({ path });
        const response = await this.request("GET", `/containers/${encodeURIComponent(container)}/archive?${query}`);
        expectStatus(response, [200], `reading ${container}:${path}`);
        return response.body;
    }

    /** Runs a command in a running container and waits for it; stdout and stderr are demultiplexed. */
    async exec(container: string, command: readonly string[]): Promise<ExecResult> {
        const created = await this.request("POST", `/containers/${encodeURIComponent(container)}/exec`, {
            json: { Cmd: command, AttachStdout: true, AttachStderr: true, Tty: false },
        });
        expectStatus(created, [201], `creating an exec in ${container}`);
        const execId = (JSON.parse(created.body.toString("utf8")) as { Id: string }).Id;
        const started = await this.request("POST", `/exec/${execId}/start`, { json: { Detach: false, Tty: false } });
        expectStatus(started, [200], `running ${command[0]} in ${container}`);
        const { stdout, stderr } = demultiplex(started.body);
        const inspected = await this.request("GET", `/exec/${execId}/json`);
        expectStatus(inspected, [200], `reading the exit code of ${command[0]} in ${container}`);
        const exitCode = (JSON.parse(inspected.body.toString("utf8")) as { ExitCode: number | null }).ExitCode;
        return { exitCode: exitCode ?? -1, stdout, stderr };
    }

    private request(
        method: string,
        path: string,
        options: { json?: unknown; body?: Buffer; contentType?: string } = {},
    ): Promise<Response> {
        const body = options.json !== undefined ? Buffer.from(JSON.stringify(options.json)) : options.body;
        // Over a socket or ssh there is no host to name; over TLS the Host header (and so the name the
        // server certificate is checked against) must stay the engine's own.
        const headers: http.OutgoingHttpHeaders = this.url.protocol === "tcp:" ? {} : { Host: "docker" };
        if (body) {
            headers["Content-Type"] = options.json !== undefined ? "application/json" : options.contentType;
            headers["Content-Length"] = body.length;
        }
        return new Promise((resolve, reject) => {
            const request = this.transport(method, path, headers, (response) => {
                const chunks: Buffer[] = [];
                response.on("data", (chunk: Buffer) => chunks.push(chunk));
                response.on("end", () => resolve({ status: response.statusCode ?? 0, body: Buffer.concat(chunks) }));
                response.on("error", reject);
            });
            request.setTimeout(120_000, () => request.destroy(new Error(`${method} ${path}: no answer in 120 s`)));
            request.on("error", (error) => reject(new Error(`Docker engine ${this.url.href}: ${error.message}`)));
            request.end(body);
        });
    }

    private transport(
        method: string,
        path: string,
        headers: http.OutgoingHttpHeaders,
        onResponse: (response: http.IncomingMessage) => void,
    ): http.ClientRequest {
        const common = { method, path, headers, agent: false as const };
        switch (this.url.protocol) {
            case "unix:":
                return http.request({ ...common, socketPath: this.url.pathname }, onResponse);
            case "tcp:": {
                const tls = this.address.tls!;
                return https.request(
                    {
                        ...common,
                        host: this.url.hostname.replace(/^\[|\]$/g, ""),
                        port: Number(this.url.port || 2376),
                        ca: tls.caPem,
                        cert: tls.certificatePem,
                        key: tls.keyPem,
                    },
                    onResponse,
                );
            }
            case "ssh:":
                return http.request({ ...common, createConnection: () => this.sshConnection() }, onResponse);
            default:
                throw new Error(`${this.url.href}: unsupported Docker host scheme (unix://, tcp:// or ssh://)`);
        }
    }

    /** A byte stream to the remote engine's API through ssh, as `docker -H ssh://…` opens it. */
    private sshConnection(): net.Socket {
        const target = this.url.username ? `${this.url.username}@${this.url.hostname}` : this.url.hostname;
        const args = ["-o", "BatchMode=yes", ...(this.url.port ? ["-p", this.url.port] : []), "--", target];
        const child = spawn("ssh", [...args, "docker", "system", "dial-stdio"], { stdio: ["pipe", "pipe", "pipe"] });
        const stream = Duplex.from({ readable: child.stdout, writable: child.stdin });
        child.on("error", (error) => stream.destroy(error));
        stream.on("close", () => child.kill());
        // http.request only needs a Duplex; the Socket type is what its signature names.
        return stream as unknown as net.Socket;
    }
}

function expectStatus(response: Response, expected: readonly number[], what: string): void {
    if (!expected.includes(response.status)) {
        const message = response.body.toString("utf8").trim();
        throw new Error(`${what}: the Docker engine answered ${response.status}: ${message}`);
    }
}

/** Splits Docker's multiplexed stream: 8-byte frame headers (stream type, size) before each payload. */
export function demultiplex(stream: Buffer): { stdout: string; stderr: string } {
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    let offset = 0;
    while (offset + 8 <= stream.length) {
        const type = stream[offset];
        const size = stream.readUInt32BE(offset + 4);
        const payload = stream.subarray(offset + 8, offset + 8 + size);
        (type === 2 ? err : out).push(payload);
        offset += 8 + size;
    }
    return { stdout: Buffer.concat(out).toString("utf8"), stderr: Buffer.concat(err).toString("utf8") };
}
