/**
 * Just enough of a Kubernetes API client for the delivery programs: GET requests to the API server a
 * kubeconfig names, with the credentials it holds (client certificate, bearer token, or an exec
 * credential plugin, as kubectl runs them). Node's https does the TLS; nothing is cached on disk.
 */
import { execFileSync } from "child_process";
import { readFileSync } from "fs";
import * as https from "https";
import * as os from "os";
import * as path from "path";

import { contextOf, parseKubeconfig, type Kubeconfig } from "../config/kubernetes";

/** Where the cluster is: a kubeconfig (empty: the ambient one) and a context (empty: its current one). */
export interface ClusterAddress {
    readonly kubeconfig: string;
    readonly context: string;
}

interface ClusterEntry {
    readonly server?: string;
    readonly "certificate-authority"?: string;
    readonly "certificate-authority-data"?: string;
    readonly "insecure-skip-tls-verify"?: boolean;
    readonly "tls-server-name"?: string;
}

interface UserEntry {
    readonly "client-certificate"?: string;
    readonly "client-certificate-data"?: string;
    readonly "client-key"?: string;
    readonly "client-key-data"?: string;
    readonly token?: string;
    readonly tokenFile?: string;
    readonly exec?: ExecPlugin;
}

interface ExecPlugin {
    readonly command: string;
    readonly args?: string[];
    readonly env?: Array<{ name: string; value: string }>;
    readonly apiVersion?: string;
}

/** The kubeconfig the ambient environment names: KUBECONFIG's first file, else ~/.kube/config. */
function ambientKubeconfig(): { text: string; directory: string } {
    const file =
        (process.env.KUBECONFIG ?? "").split(path.delimiter).find((entry) => entry !== "") ??
        path.join(os.homedir(), ".kube", "config");
    return { text: readFileSync(file, "utf8"), directory: path.dirname(file) };
}

/** A client for the cluster the address names, or an error that says what is missing. */
export function clusterClient(address: ClusterAddress): KubernetesApi {
    const source =
        address.kubeconfig !== "" ? { text: address.kubeconfig, directory: process.cwd() } : ambientKubeconfig();
    const parsed = parseKubeconfig(source.text);
    if (typeof parsed === "string") {
        throw new Error(`the kubeconfig ${parsed}`);
    }
    const context = contextOf(parsed, address.context);
    if (typeof context === "string") {
        throw new Error(`the kubeconfig's context: ${context}`);
    }
    const cluster = entry(parsed, "clusters", context.cluster) as ClusterEntry;
    const user = entry(parsed, "users", context.user) as UserEntry;
    if (!cluster.server) {
        throw new Error(`cluster ${context.cluster} of the kubeconfig has no server`);
    }
    return new KubernetesApi(
        cluster.server,
        tlsOptions(cluster, user, source.directory),
        bearerToken(user, source.directory),
    );
}

function entry(config: Kubeconfig, list: "clusters" | "users", name: string): Record<string, unknown> {
    const found = (config[list] as ReadonlyArray<{ name: string; cluster?: unknown; user?: unknown }>).find(
        (item) => item.name === name,
    );
    return ((list === "clusters" ? found?.cluster : found?.user) ?? {}) as Record<string, unknown>;
}

/** PEM material given inline (base64 `-data`) or as a file relative to the kubeconfig. */
function material(data: string | undefined, file: string | undefined, directory: string): string | undefined {
    if (data) {
        return Buffer.from(data, "base64").toString("utf8");
    }
    return file ? readFileSync(path.resolve(directory, file), "utf8") : undefined;
}

function tlsOptions(cluster: ClusterEntry, user: UserEntry, directory: string): https.RequestOptions {
    const credential = user.exec ? execCredential(user.exec) : undefined;
    return {
        ca: material(cluster["certificate-authority-data"], cluster["certificate-authority"], directory),
        rejectUnauthorized: cluster["insecure-skip-tls-verify"] !== true,
        servername: cluster["tls-server-name"],
        cert:
            credential?.clientCertificateData ??
            material(user["client-certificate-data"], user["client-certificate"], directory),
        key: credential?.clientKeyData ?? material(user["client-key-data"], user["client-key"], directory),
        headers: credential?.token ? { authorization: `Bearer ${credential.token}` } : {},
    };
}

function bearerToken(user: UserEntry, directory: string): string | undefined {
    if (user.token) {
        return user.token;
    }
    return user.tokenFile ? readFileSync(path.resolve(directory, user.tokenFile), "utf8").trim() : undefined;
}

interface ExecCredentialStatus {
    readonly token?: string;
    readonly clientCertificateData?: string;
    readonly clientKeyData?: string;
}

/** Runs an exec credential plugin (cloud CLIs) once, as kubectl does, and reads its ExecCredential. */
function execCredential(plugin: ExecPlugin): ExecCredentialStatus {
    const apiVersion = plugin.apiVersion ?? "client.authentication.k8s.io/v1";
    const output = execFileSync(plugin.command, plugin.args ?? [], {
        encoding: "utf8",
        env: {
            ...process.env,
            ...Object.fromEntries((plugin.env ?? []).map((variable) => [variable.name, variable.value])),
            KUBERNETES_EXEC_INFO: JSON.stringify({ apiVersion, kind: "ExecCredential", spec: { interactive: false } }),
        },
        stdio: ["ignore", "pipe", "pipe"],
    });
    return (JSON.parse(output) as { status?: ExecCredentialStatus }).status ?? {};
}

/** GET requests to one API server. */
export class KubernetesApi {
    constructor(
        private readonly server: string,
        private readonly tls: https.RequestOptions,
        private readonly token: string | undefined,
    ) {}

    /** A JSON object, or undefined for 404. */
    async getJson<T>(apiPath: string): Promise<T | undefined> {
        const { status, body } = await this.get(apiPath);
        if (status === 404) {
            return undefined;
        }
        if (status !== 200) {
            throw new Error(`GET ${apiPath}: HTTP ${status}: ${body.slice(0, 300)}`);
        }
        return JSON.parse(body) as T;
    }

    /** A plain-text answer (pod logs); the status says whether there was any. */
    get(apiPath: string): Promise<{ status: number; body: string }> {
        const url = new URL(apiPath, this.server);
        const headers = {
            ...(this.tls.headers as Record<string, string>),
            ...(this.token ? { authorization: `Bearer ${this.token}` } : {}),
        };
        return new Promise((resolve, reject) => {
            const request = https.request(url, { ...this.tls, method: "GET", headers, timeout: 15000 }, (response) => {
                const chunks: Buffer[] = [];
                response.on("data", (chunk: Buffer) => chunks.push(chunk));
                response.on("end", () =>
                    resolve({ status: response.statusCode ?? 0, body: Buffer.concat(chunks).toString("utf8") }),
                );
            });
            request.on("timeout", () => request.destroy(new Error(`GET ${apiPath}: no answer within 15 s`)));
            request.on("error", reject);
            request.end();
        });
    }
}
