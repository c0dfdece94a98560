/**
 * Section 2: the crypto bound. `openssl speed` on the host gives sign and verify operations per
 * second on one core; from them, the most full mTLS handshakes per second one core could do for
 * each config if public-key operations were all the work there is.
 */
import { spawnSync } from "child_process";

import type { KeyAlgorithm } from "../domain/pki";

export interface SpeedFigures {
    readonly signPerSecond: number;
    readonly verifyPerSecond: number;
}

export interface ConfigKeys {
    readonly label: string;
    readonly keyAlgorithms: { readonly ca: KeyAlgorithm; readonly server: KeyAlgorithm; readonly client: KeyAlgorithm };
    /** Measured full handshakes per second (section 1), when it ran. */
    readonly measuredFullHandshakes?: number;
    readonly nginxWorkers?: number;
}

export interface ConfigBound {
    readonly label: string;
    readonly keyAlgorithms: ConfigKeys["keyAlgorithms"];
    /** Core-seconds of public-key work per full handshake, on the server and on the client. */
    readonly serverCostMicroseconds: number;
    readonly clientCostMicroseconds: number;
    /** 1 / server cost: full handshakes per second one server core can sign and verify. */
    readonly serverBoundPerCore: number;
    /** cores / (server cost + client cost): both ends on this host, every core busy with crypto. */
    readonly machineBound: number;
    readonly measuredFullHandshakes?: number;
    readonly fractionOfServerBound?: number;
    readonly fractionOfMachineBound?: number;
    readonly nginxWorkers?: number;
}

export interface CryptoReport {
    readonly status: "ok" | "failed";
    readonly command: string;
    readonly error?: string;
    readonly speeds: Record<string, SpeedFigures>;
    readonly formula: readonly string[];
    readonly cores: number;
    readonly configs: readonly ConfigBound[];
}

/** `openssl speed` algorithm name of a config key algorithm, e.g. "RSA-2048" -> "rsa2048". */
export function speedName(algorithm: KeyAlgorithm): string {
    return algorithm.startsWith("RSA-") ? `rsa${algorithm.slice(4)}` : `ecdsap${algorithm.slice(7)}`;
}

export const formula = [
    "server cost = 1/sign(server key) + 1/verify(client key) + 1/verify(CA key)",
    "  (Nginx signs its CertificateVerify once, verifies the client's CertificateVerify and the CA's signature on the client certificate)",
    "client cost = 1/sign(client key) + 1/verify(server key) + 1/verify(CA key)",
    "server bound per core = 1 / server cost;  machine bound = cores / (server cost + client cost)",
    "  (both ends run on this host; ECDHE, hashing, record crypto, the kernel and docker-proxy are left out, so both are upper bounds)",
    "fraction = measured full handshakes/s / bound",
];

export function parseSpeedOutput(output: string): Record<string, SpeedFigures> {
    const speeds: Record<string, SpeedFigures> = {};
    for (const line of output.split("\n")) {
        // -mr lines: "+F2:<k>:<bits>:<sign/s>:<verify/s>" (RSA), "+F4:<k>:<bits>:<sign/s>:<verify/s>" (ECDSA).
        const match = /^\+F([24]):\d+:(\d+):([\d.]+):([\d.]+)/.exec(line.trim());
        if (match) {
            const name = match[1] === "2" ? `rsa${match[2]}` : `ecdsap${match[2]}`;
            speeds[name] = { signPerSecond: Number(match[3]), verifyPerSecond: Number(match[4]) };
        }
    }
    return speeds;
}

export function runCryptoBound(
    seconds: number,
    configs: readonly ConfigKeys[],
    cores: number,
    progress: (line: string) => void,
): CryptoReport {
    const algorithms = [
        ...new Set([
            "ecdsap256",
            "rsa2048",
            "rsa4096",
            ...configs.flatMap((config) => Object.values(config.keyAlgorithms).map(speedName)),
        ]),
    ];
    const args = ["speed", "-mr", "-seconds", String(seconds), ...algorithms];
    const command = `openssl ${args.join(" ")}`;
    progress(`crypto: ${command} (about ${seconds * 2 * algorithms.length} s)`);
    const result = spawnSync("openssl", args, {
        encoding: "utf8",
        timeout: (seconds * 2 * algorithms.length + 60) * 1000,
    });
    const speeds = parseSpeedOutput(`${result.stdout ?? ""}\n${result.stderr ?? ""}`);
    const missing = algorithms.filter((name) => !speeds[name]);
    if (result.status !== 0 || missing.length > 0) {
        return {
            status: "failed",
            command,
            error: `${result.error ? String(result.error) : `exit ${result.status}`}; no figures for ${missing.join(", ") || "-"}`,
            speeds,
            formula,
            cores,
            configs: [],
        };
    }
    const sign = (algorithm: KeyAlgorithm): number => 1 / speeds[speedName(algorithm)].signPerSecond;
    const verify = (algorithm: KeyAlgorithm): number => 1 / speeds[speedName(algorithm)].verifyPerSecond;
    return {
        status: "ok",
        command,
        speeds,
        formula,
        cores,
        configs: configs.map((config) => {
            const keys = config.keyAlgorithms;
            const serverCost = sign(keys.server) + verify(keys.client) + verify(keys.ca);
            const clientCost = sign(keys.client) + verify(keys.server) + verify(keys.ca);
            const serverBoundPerCore = 1 / serverCost;
            const machineBound = cores / (serverCost + clientCost);
            const measured = config.measuredFullHandshakes;
            return {
                label: config.label,
                keyAlgorithms: keys,
                serverCostMicroseconds: serverCost * 1e6,
                clientCostMicroseconds: clientCost * 1e6,
                serverBoundPerCore,
                machineBound,
                measuredFullHandshakes: measured,
                fractionOfServerBound: measured === undefined ? undefined : measured / serverBoundPerCore,
                fractionOfMachineBound: measured === undefined ? undefined : measured / machineBound,
                nginxWorkers: config.nginxWorkers,
            };
        }),
    };
}
