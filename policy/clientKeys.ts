import type { PolicyConfigSchema } from "@pulumi/policy";
import { CertificateInputs, certificateKinds } from "./pki";

/**
 * Who holds client keys. With `requireClientCsr` (for production stacks, where a partner's key must
 * never exist outside the partner), every client certificate must be signed from a CSR the client
 * brought: one whose request comes from a `tls` CertRequest of the stack means the stack made, and
 * holds, the client's key. Read from the resource graph (what the certificate's certRequestPem
 * depends on), not from names; a stack policy, since a resource policy cannot see dependencies.
 */

export const clientKeyCustodyName = "client-key-custody";

export interface ClientKeyCustodyLimits {
    /** Every client certificate is signed from a CSR the client brought. */
    readonly requireClientCsr: boolean;
}

export const clientKeyCustodyDefaults: ClientKeyCustodyLimits = { requireClientCsr: false };

export const clientKeyCustodySchema: PolicyConfigSchema = {
    properties: {
        requireClientCsr: {
            type: "boolean",
            default: clientKeyCustodyDefaults.requireClientCsr,
            description:
                "Every client certificate is signed from a CSR the client brought (the stack holds no client key).",
        },
    },
};

/** A signed certificate as the stack policy sees it. */
export interface SignedCertificateFacts {
    readonly name: string;
    readonly inputs: CertificateInputs;
    /** Types of the resources its certRequestPem depends on (empty: a CSR given as a value). */
    readonly requestFrom: readonly string[];
}

const certRequestType = "tls:index/certRequest:CertRequest";

/** The problem of one LocallySignedCert under the limits (none unless it is a client certificate from a stack-made CSR). */
export function clientKeyCustodyProblems(
    certificate: SignedCertificateFacts,
    limits: ClientKeyCustodyLimits,
): string[] {
    if (!limits.requireClientCsr || certificate.inputs.isCaCertificate) return [];
    if (!certificateKinds(false, certificate.inputs).includes("client")) return [];
    if (!certificate.requestFrom.includes(certRequestType)) return [];
    return [
        `${certificate.name}: a client certificate whose key the stack made and holds (its CSR is a CertRequest of ` +
            "the stack); requireClientCsr: every client brings its own CSR ({name, csr} or {name, csrFile} in " +
            "mtls-nginx:clients)",
    ];
}
