/**
 * OpenSSL's own clients, run in a container of the local image pinned to the client core:
 * `openssl s_time` for TLS 1.2 session-ID resumption (Go's TLS client, hence vegeta, resumes
 * only with tickets or TLS 1.3 PSKs), and `openssl s_client` to check which key exchange group a
 * server picks and that it resumes sessions at all.
 */
import { containerListenPort } from "../nginx/files";
import { docker, testImage } from "../testkit/docker";
import type { KeySet } from "./keys";

const keysMount = "/bench-keys";

function clientContainer(keys: KeySet, clientCpu: number, script: string, timeoutMs: number): string {
    // prettier-ignore
    const result = docker([
        "run", "--rm", "--cpuset-cpus", String(clientCpu), "-v", `${keys.directory}:${keysMount}:ro`,
        testImage, "sh", "-c", script,
    ], timeoutMs);
    if (result.status !== 0) {
        throw new Error(
            `openssl client container failed (exit ${result.status}): ${result.stderr.trim().slice(0, 500)}`,
        );
    }
    return result.stdout;
}

const identity = `-cert ${keysMount}/client.pem -key ${keysMount}/client.key -CAfile ${keysMount}/ca.pem`;

export interface STimeResult {
    /** Connections completed inside the window, over all processes. */
    readonly connections: number;
    /** Of those, how many resumed a session. */
    readonly reused: number;
}

/**
 * `processes` parallel `openssl s_time` loops for `seconds`: -new makes a full handshake per
 * connection, -reuse offers the session of the process's first connection each time. s_time sends
 * no SNI, so the server must serve the default server name (see the project's "no SNI" variant).
 */
export function sTime(options: {
    readonly address: string;
    readonly keys: KeySet;
    readonly requestPath: string;
    readonly mode: "new" | "reuse";
    readonly protocol: "tls1_2" | "tls1_3";
    readonly processes: number;
    readonly seconds: number;
    readonly clientCpu: number;
}): STimeResult {
    const command =
        `openssl s_time -connect ${options.address}:${containerListenPort} ${identity} ` +
        `-www ${options.requestPath} -time ${options.seconds} -${options.mode} -${options.protocol}`;
    const script = `i=0; while [ $i -lt ${options.processes} ]; do i=$((i+1)); ${command} > /tmp/s_time.$i 2>&1 & done; wait; cat /tmp/s_time.*`;
    const output = clientContainer(options.keys, options.clientCpu, script, (options.seconds + 60) * 1000);
    let connections = 0;
    for (const match of output.matchAll(/^(\d+) connections in \d+ real seconds/gm)) {
        connections += Number(match[1]);
    }
    // One character per connection: "r" when it resumed, "*" (or the version) when it did not.
    const reused = [...output.matchAll(/^[rt3*]+$/gm)].reduce(
        (sum, match) => sum + (match[0].match(/r/g)?.length ?? 0),
        0,
    );
    if (connections === 0) {
        throw new Error(`s_time made no connection to ${options.address}: ${output.slice(0, 500)}`);
    }
    return { connections, reused: Math.min(reused, connections) };
}

export interface ProbeResult {
    /** Key exchange group of a TLS 1.3 handshake when the client offers what Go's does. */
    readonly tls13Group: string;
    readonly tls13Resumes: boolean;
    readonly tls12Resumes: boolean;
}

/**
 * Go 1.26's default groups, with key shares for the first PQ hybrid and X25519 as Go sends them
 * (OpenSSL 3.5 syntax: "*" marks a key share).
 */
export const goClientGroups = "*X25519MLKEM768:SecP256r1MLKEM768:SecP384r1MLKEM1024:*X25519:P-256:P-384:P-521";

/** One full handshake per protocol, then one offering its session: which group, and does it resume. */
export function probe(
    address: string,
    serverName: string,
    keys: KeySet,
    clientCpu: number,
    requestPath: string,
): ProbeResult {
    const request = `printf 'GET ${requestPath} HTTP/1.1\\r\\nHost: ${serverName}\\r\\nConnection: close\\r\\n\\r\\n'`;
    const client = (extra: string): string =>
        `${request} | openssl s_client -connect ${address}:${containerListenPort} -servername ${serverName} ${identity} -ign_eof ${extra} 2>&1`;
    const script = [
        `${client(`-tls1_3 -groups '${goClientGroups}' -sess_out /tmp/s13`)} | grep -E 'Negotiated TLS1.3 group|Temp Key|^(New|Reused),'`,
        `${client("-tls1_3 -sess_in /tmp/s13")} | grep -E '^(New|Reused),' | sed 's/^/resume13 /'`,
        `${client("-tls1_2 -sess_out /tmp/s12")} | grep -E '^(New|Reused),' >/dev/null`,
        `${client("-tls1_2 -sess_in /tmp/s12")} | grep -E '^(New|Reused),' | sed 's/^/resume12 /'`,
    ].join("; ");
    const output = clientContainer(keys, clientCpu, script, 60_000);
    const group =
        /Negotiated TLS1\.3 group: (\S+)/.exec(output)?.[1] ??
        /(?:Server|Peer) Temp Key: ([^,\s]+)/.exec(output)?.[1] ??
        "?";
    return {
        tls13Group: group,
        tls13Resumes: /^resume13 Reused/m.test(output),
        tls12Resumes: /^resume12 Reused/m.test(output),
    };
}
