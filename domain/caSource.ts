/**
 * Where a CA slot's certificates and keys come from. "generated": the stack makes the whole
 * hierarchy. "external-root": the stack makes an intermediate key and its CSR, a root held
 * elsewhere signs it (its key never reaches the stack). "import": an existing CA with its key.
 */
export const caModes = ["generated", "external-root", "import"] as const;
export type CaMode = (typeof caModes)[number];

export interface GeneratedCaSource {
    readonly mode: "generated";
}

export interface ExternalRootCaSource {
    readonly mode: "external-root";
    /** The certificate the root signed for the stack's CSR; empty until the operator has signed it. */
    readonly intermediateCertificatePem: string;
    /** The root's certificate (self-signed). */
    readonly rootCertificatePem: string;
    /** The CRL the root signed (Nginx needs one per CA of the chain); empty while nobody is revoked. */
    readonly rootCrlPem: string;
}

export interface ImportedCaSource {
    readonly mode: "import";
    /** The CA certificate that issues the leaves. */
    readonly certificatePem: string;
    /** Its private key: a secret, wrap it with pulumi.secret wherever it is used. */
    readonly privateKeyPem: string;
    /** Certificates above it up to a root, issuer of the CA first; empty when it is a root. */
    readonly chainPem: string;
    /** CRLs signed by the chain's CAs (the stack holds none of their keys); empty while nobody is revoked. */
    readonly chainCrlPem: string;
}

export type CaSource = GeneratedCaSource | ExternalRootCaSource | ImportedCaSource;
