/**
 * Keys and certificates as @pulumi/tls describes them, judged as plain data: the policies hand
 * these functions a resource's inputs and report what they return.
 */

/** What `tls:index/privateKey:PrivateKey` takes; absent fields are the provider's defaults. */
export interface PrivateKeyInputs {
    readonly algorithm?: string;
    readonly rsaBits?: number;
    readonly ecdsaCurve?: string;
}

/** @pulumi/tls defaults: an RSA key without rsaBits has 2048 bits, an ECDSA key without ecdsaCurve is P224. */
const providerDefaults = { rsaBits: 2048, ecdsaCurve: "P224" };

export interface KeyAlgorithmLimits {
    /** @pulumi/tls algorithm names: RSA, ECDSA, ED25519. */
    readonly allowedAlgorithms: readonly string[];
    /** @pulumi/tls curve names: P224, P256, P384, P521. */
    readonly allowedEcdsaCurves: readonly string[];
}

export function keyAlgorithmProblems(key: PrivateKeyInputs, limits: KeyAlgorithmLimits): string[] {
    const algorithm = key.algorithm ?? "(none)";
    if (!limits.allowedAlgorithms.includes(algorithm)) {
        return [`key algorithm ${algorithm} is not allowed; allowed: ${limits.allowedAlgorithms.join(", ")}`];
    }
    if (algorithm === "ECDSA") {
        const curve = key.ecdsaCurve ?? providerDefaults.ecdsaCurve;
        if (!limits.allowedEcdsaCurves.includes(curve)) {
            return [`ECDSA curve ${curve} is not allowed; allowed: ${limits.allowedEcdsaCurves.join(", ")}`];
        }
    }
    return [];
}

export interface KeySizeLimits {
    readonly minimumRsaBits: number;
}

export function keySizeProblems(key: PrivateKeyInputs, limits: KeySizeLimits): string[] {
    if (key.algorithm !== "RSA") return [];
    const bits = key.rsaBits ?? providerDefaults.rsaBits;
    return bits < limits.minimumRsaBits
        ? [`RSA key of ${bits} bits is below the minimum of ${limits.minimumRsaBits} bits`]
        : [];
}

/** What SelfSignedCert and LocallySignedCert take that decides a certificate's kind and lifetime. */
export interface CertificateInputs {
    readonly isCaCertificate?: boolean;
    readonly allowedUses?: readonly string[];
    readonly validityPeriodHours?: number;
}

export type CertificateKind = "rootCa" | "intermediateCa" | "server" | "client";

/**
 * A certificate's kind, read from the certificate itself (basic constraints and extended key usage),
 * not from resource names: a self-signed CA is a root, a CA signed by another an intermediate; a leaf
 * is a server and/or a client certificate by its usages (both kinds' limits apply to a leaf with
 * both usages, or with neither).
 */
export function certificateKinds(selfSigned: boolean, certificate: CertificateInputs): CertificateKind[] {
    if (certificate.isCaCertificate) {
        return [selfSigned ? "rootCa" : "intermediateCa"];
    }
    const uses = certificate.allowedUses ?? [];
    const kinds: CertificateKind[] = [];
    if (uses.includes("server_auth")) kinds.push("server");
    if (uses.includes("client_auth")) kinds.push("client");
    return kinds.length > 0 ? kinds : ["server", "client"];
}

export type ValidityLimits = Record<`max${Capitalize<CertificateKind>}Hours`, number>;

const kindNames: Record<CertificateKind, string> = {
    rootCa: "root CA",
    intermediateCa: "intermediate CA",
    server: "server",
    client: "client",
};

export function validityProblems(
    selfSigned: boolean,
    certificate: CertificateInputs,
    limits: ValidityLimits,
): string[] {
    const hours = certificate.validityPeriodHours;
    if (hours === undefined) {
        return ["certificate has no validityPeriodHours"];
    }
    return certificateKinds(selfSigned, certificate).flatMap((kind) => {
        const limitKey = `max${kind[0].toUpperCase()}${kind.slice(1)}Hours` as keyof ValidityLimits;
        const maximum = limits[limitKey];
        return hours > maximum
            ? [
                  `${kindNames[kind]} certificate valid for ${describeHours(hours)}; ` +
                      `the maximum is ${describeHours(maximum)} (${limitKey})`,
              ]
            : [];
    });
}

function describeHours(hours: number): string {
    const days = hours / 24;
    return `${hours} hours (${Number.isInteger(days) ? days : days.toFixed(1)} days)`;
}
