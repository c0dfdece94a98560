import type { KeyAlgorithm } from "./pki";

/**
 * X.509 profiles, as plain data: the components pass them to @pulumi/tls, and the integration
 * tier issues its test certificates from the same data so both sides agree on flags and usages.
 */
export interface CertificateProfile {
    readonly isCaCertificate: boolean;
    /** Key usages and extended key usages, in @pulumi/tls vocabulary. */
    readonly allowedUses: readonly string[];
}

export const certificateProfiles = {
    rootCa: { isCaCertificate: true, allowedUses: ["cert_signing", "crl_signing", "digital_signature"] },
    intermediateCa: { isCaCertificate: true, allowedUses: ["cert_signing", "crl_signing", "digital_signature"] },
    server: { isCaCertificate: false, allowedUses: ["digital_signature", "server_auth"] },
    client: { isCaCertificate: false, allowedUses: ["digital_signature", "client_auth"] },
} satisfies Record<string, CertificateProfile>;

/**
 * A leaf's usages for its key type (a KeyAlgorithm, or a CSR key's RSA / ECDSA): key encipherment
 * only means something for RSA keys.
 */
export function leafAllowedUses(profile: CertificateProfile, algorithm: KeyAlgorithm | string): string[] {
    return algorithm.startsWith("RSA") ? [...profile.allowedUses, "key_encipherment"] : [...profile.allowedUses];
}

export type LeafProfileName = "server" | "client";

/** @pulumi/tls PrivateKey arguments for a key algorithm name from config. */
export function privateKeyArgs(algorithm: KeyAlgorithm): {
    algorithm: "ECDSA" | "RSA";
    ecdsaCurve?: string;
    rsaBits?: number;
} {
    switch (algorithm) {
        case "ECDSA-P256":
            return { algorithm: "ECDSA", ecdsaCurve: "P256" };
        case "ECDSA-P384":
            return { algorithm: "ECDSA", ecdsaCurve: "P384" };
        case "RSA-2048":
            return { algorithm: "RSA", rsaBits: 2048 };
        case "RSA-3072":
            return { algorithm: "RSA", rsaBits: 3072 };
        case "RSA-4096":
            return { algorithm: "RSA", rsaBits: 4096 };
    }
}
