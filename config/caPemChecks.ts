import * as crypto from "crypto";
import { parseCrl, pemBlocks, pemLabels, privateKeyBlock } from "../domain/x509";
import type { Check } from "./values";

// Checks of one CA source value on its own (the CA key declarations parse with them); what the values
// mean together is config/caModeRules.ts's job.

/**
 * What is wrong with a value that should hold PEM blocks of the allowed labels only: a block of
 * another label first, then no block at all, then text outside the blocks. Messages never quote
 * the value (it may be a key).
 */
function pemShape(value: string, allowed: readonly string[], found: number, noun: string): string | undefined {
    const stray = pemLabels(value).find((label) => !allowed.includes(label));
    if (stray !== undefined) {
        return `holds a "${stray}" PEM block`;
    }
    if (found === 0) {
        return `is not a PEM ${noun}`;
    }
    const rest = value.replace(/-----BEGIN ([A-Z0-9 ]+)-----[A-Za-z0-9+/=\s]+?-----END \1-----/g, "");
    return rest.trim() === "" ? undefined : "holds text outside its PEM blocks";
}

export function pemCertificates(options: { single: boolean }): Check {
    const allowed = options.single
        ? 'empty, or one PEM certificate ("-----BEGIN CERTIFICATE-----" block)'
        : 'empty, or PEM certificates ("-----BEGIN CERTIFICATE-----" blocks)';
    return (value) => {
        if (value.trim() === "") {
            return undefined;
        }
        const blocks = pemBlocks(value, "CERTIFICATE");
        const shape = pemShape(value, ["CERTIFICATE"], blocks.length, "certificate");
        if (shape !== undefined || (options.single && blocks.length > 1)) {
            return `${shape ?? `holds ${blocks.length} certificates`}; allowed: ${allowed}`;
        }
        for (const block of blocks) {
            try {
                new crypto.X509Certificate(block);
            } catch {
                return `holds a certificate that does not parse; allowed: ${allowed}`;
            }
        }
        return undefined;
    };
}

export function pemCrls(value: string): string | undefined {
    const allowed = 'empty, or PEM CRLs ("-----BEGIN X509 CRL-----" blocks, from openssl ca -gencrl)';
    if (value.trim() === "") {
        return undefined;
    }
    const blocks = pemBlocks(value, "X509 CRL");
    const shape = pemShape(value, ["X509 CRL"], blocks.length, "CRL");
    if (shape !== undefined) {
        return `${shape}; allowed: ${allowed}`;
    }
    for (const block of blocks) {
        try {
            if (parseCrl(block).nextUpdate === undefined) {
                return `holds a CRL without a next update (its expiry could not be watched); allowed: ${allowed}`;
            }
        } catch (error) {
            return `holds a CRL that does not parse (${(error as Error).message}); allowed: ${allowed}`;
        }
    }
    return undefined;
}

export function pemPrivateKey(value: string): string | undefined {
    const allowed = "empty, or an unencrypted PEM private key (PKCS#8, EC or RSA)";
    if (value.trim() === "") {
        return undefined;
    }
    if (pemLabels(value).some((label) => label.includes("ENCRYPTED"))) {
        return `is encrypted; allowed: ${allowed}`;
    }
    const block = privateKeyBlock(value);
    const labels = ["PRIVATE KEY", "EC PRIVATE KEY", "RSA PRIVATE KEY", "EC PARAMETERS"];
    const shape = pemShape(value, labels, block === undefined ? 0 : 1, "private key");
    if (block === undefined || shape !== undefined) {
        return `${shape}; allowed: ${allowed}`;
    }
    try {
        crypto.createPrivateKey(block);
    } catch {
        return `does not parse as a private key; allowed: ${allowed}`;
    }
    return undefined;
}
