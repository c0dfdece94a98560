/**
 * The public-key floor of a full mTLS handshake on the server, from `openssl speed` inside the
 * local image (the OpenSSL Nginx runs on), pinned to the server core: one signature with the
 * server key (CertificateVerify), two verifies (the client's CertificateVerify, and the CA's
 * signature on the client certificate) and one key exchange in the negotiated group.
 */
import { docker, testImage } from "../testkit/docker";
import type { BenchKeyType, KeyTypes } from "./keys";

export interface SpeedFigures {
    /** Operations per second on one core. */
    readonly signPerSecond?: number;
    readonly verifyPerSecond?: number;
    /** ECDH derivations, or ML-KEM encapsulations (what the server side of a hybrid does). */
    readonly opsPerSecond?: number;
}

export interface PublicKeySum {
    readonly signUs: number;
    readonly clientVerifyUs: number;
    readonly caVerifyUs: number;
    readonly keyExchangeUs: number;
    readonly totalUs: number;
    /** The operations summed, e.g. "sign ECDSA-P256 + verify ECDSA-P256 + verify ECDSA-P256 + X25519". */
    readonly formula: string;
}

export interface SpeedReport {
    readonly command: string;
    readonly speeds: Record<string, SpeedFigures>;
}

const speedNames: Record<BenchKeyType, string> = {
    "RSA-2048": "rsa2048",
    "RSA-3072": "rsa3072",
    "RSA-4096": "rsa4096",
    "ECDSA-P256": "ecdsap256",
    "ECDSA-P384": "ecdsap384",
    Ed25519: "ed25519",
};

/** Key exchange groups as `openssl s_client` names them, and the `openssl speed` figures they add up from. */
const groupParts: Record<string, readonly string[]> = {
    X25519: ["ecdhx25519"],
    X25519MLKEM768: ["ecdhx25519", "ML-KEM-768"],
    SecP256r1MLKEM768: ["ecdhp256", "ML-KEM-768"],
    prime256v1: ["ecdhp256"],
    "P-256": ["ecdhp256"],
    secp384r1: ["ecdhp384"],
    "P-384": ["ecdhp384"],
};

export function parseSpeedOutput(output: string): Record<string, SpeedFigures> {
    const speeds: Record<string, SpeedFigures> = {};
    const ecdhByBits: Record<string, string> = { "253": "ecdhx25519", "256": "ecdhp256", "384": "ecdhp384" };
    let lastKem = "";
    for (const raw of output.split("\n")) {
        const line = raw.trim();
        let match: RegExpExecArray | null;
        if ((match = /^\+F2:\d+:(\d+):([\d.]+):([\d.]+)/.exec(line))) {
            speeds[`rsa${match[1]}`] = { signPerSecond: Number(match[2]), verifyPerSecond: Number(match[3]) };
        } else if ((match = /^\+F4:\d+:(\d+):([\d.]+):([\d.]+)/.exec(line))) {
            speeds[`ecdsap${match[1]}`] = { signPerSecond: Number(match[2]), verifyPerSecond: Number(match[3]) };
        } else if ((match = /^\+F5:\d+:(\d+):([\d.]+)/.exec(line)) && ecdhByBits[match[1]]) {
            speeds[ecdhByBits[match[1]]] = { opsPerSecond: Number(match[2]) };
        } else if ((match = /^\+F6:\d+:\d+:(\w+):([\d.]+):([\d.]+)/.exec(line))) {
            speeds[match[1].toLowerCase()] = { signPerSecond: Number(match[2]), verifyPerSecond: Number(match[3]) };
        } else if ((match = /^\+KEM:(\S+)/.exec(line))) {
            // A marker the bench echoes on stdout before a KEM run (the +DTP lines naming it go to stderr).
            lastKem = match[1];
        } else if ((match = /^\+F9:\d+:([\d.]+):([\d.]+):([\d.]+)/.exec(line)) && lastKem.startsWith("ML-KEM")) {
            speeds[lastKem] = { opsPerSecond: Number(match[2]) };
        }
    }
    return speeds;
}

/** The `openssl speed` names a config's sum needs: its key types, and every group it might negotiate. */
export function speedNamesFor(keys: readonly KeyTypes[]): string[] {
    const names = new Set<string>();
    for (const types of keys) {
        for (const type of [types.ca, types.server, types.client]) {
            names.add(speedNames[type]);
        }
    }
    return [...names, "ecdhx25519", "ecdhp256"];
}

/**
 * `openssl speed` in the image, on the server core (ML-KEM-768 in a second run after a marker: its -mr
 * figures line carries no name). RSA runs also time key generation, so each RSA size takes about ten seconds.
 */
export function measureSpeeds(seconds: number, serverCpu: number, names: readonly string[]): SpeedReport {
    const command =
        `openssl speed -mr -seconds ${seconds} ${names.join(" ")}; ` +
        `echo +KEM:ML-KEM-768; openssl speed -mr -seconds ${seconds} ML-KEM-768`;
    // prettier-ignore
    const result = docker([
        "run", "--rm", "--network", "none", "--cpuset-cpus", String(serverCpu), testImage, "sh", "-c", command,
    ], (seconds * 40 * names.length + 120) * 1000);
    const speeds = parseSpeedOutput(result.stdout);
    const missing = [...names, "ML-KEM-768"].filter((name) => !speeds[name]);
    if (result.status !== 0 || missing.length > 0) {
        throw new Error(
            `openssl speed (exit ${result.status}) gave no figures for ${missing.join(", ")}: ${result.stderr.slice(0, 300)}`,
        );
    }
    return { command: `docker run --cpuset-cpus ${serverCpu} ${testImage} sh -c '${command}'`, speeds };
}

/** The server's public-key work in one full handshake of a config (keys, negotiated group). */
export function publicKeySum(speeds: SpeedReport["speeds"], keys: KeyTypes, group: string): PublicKeySum {
    const figure = (name: string, field: keyof SpeedFigures): number => {
        const value = speeds[name]?.[field];
        if (!value) {
            throw new Error(`no openssl speed figure ${field} for ${name}`);
        }
        return 1e6 / value;
    };
    const parts = groupParts[group];
    if (!parts) {
        throw new Error(`no openssl speed mapping for the key exchange group ${group}`);
    }
    const signUs = figure(speedNames[keys.server], "signPerSecond");
    const clientVerifyUs = figure(speedNames[keys.client], "verifyPerSecond");
    const caVerifyUs = figure(speedNames[keys.ca], "verifyPerSecond");
    const keyExchangeUs = parts.reduce((sum, part) => sum + figure(part, "opsPerSecond"), 0);
    return {
        signUs,
        clientVerifyUs,
        caVerifyUs,
        keyExchangeUs,
        totalUs: signUs + clientVerifyUs + caVerifyUs + keyExchangeUs,
        formula: `sign ${keys.server} + verify ${keys.client} + verify ${keys.ca} + ${group} (${parts.join(" + ")})`,
    };
}
