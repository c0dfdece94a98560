import * as pulumi from "@pulumi/pulumi";
import { X509Certificate } from "crypto";
import { earliestNextUpdate, isSelfSigned, parseCrl, pemBlocks, rfc2253Subject, validityEnd } from "../domain/x509";
import type { AuthorityCertificate, CaHierarchy, ExternalCrl } from "./certificateAuthority";

export interface ImportedAuthorityArgs {
    /** The CA certificate that issues the leaves. */
    readonly certificatePem: string;
    /** Its private key (secret). */
    readonly privateKeyPem: pulumi.Input<string>;
    /** Certificates above it up to a self-signed root, its issuer first; empty when it is a root. */
    readonly chainPem: string;
    /** CRLs signed by the chain's CAs (the stack holds none of their keys); empty while nobody is revoked. */
    readonly chainCrlPem: string;
}

/**
 * An existing CA brought with its key: it issues the leaves and signs its own CRL; the CAs above
 * it (if any) are only certificates, and their CRLs come from the operator. Nothing is created:
 * the component gives the material the shape every CA slot has.
 */
export class ImportedAuthority extends pulumi.ComponentResource implements CaHierarchy {
    /** The imported CA certificate. */
    public readonly issuerCertificatePem: pulumi.Output<string>;
    public readonly issuerSubjectDn: string;
    /** Its key (secret). */
    public readonly issuerPrivateKeyPem: pulumi.Output<string>;
    /** What the server sends after its leaf: every CA below the root. */
    public readonly chainPem: pulumi.Output<string>;
    /** The imported CA, then its chain. */
    public readonly trustBundlePem: pulumi.Output<string>;
    /** Each CA certificate, root first. */
    public readonly authorities: AuthorityCertificate[];

    constructor(name: string, args: ImportedAuthorityArgs, opts?: pulumi.ComponentResourceOptions) {
        super("mtls:pki:ImportedAuthority", name, {}, opts);

        const imported = new X509Certificate(args.certificatePem);
        const chain = pemBlocks(args.chainPem, "CERTIFICATE");
        const belowRoot = [args.certificatePem, ...chain].filter((pem) => !isSelfSigned(new X509Certificate(pem)));

        this.issuerCertificatePem = pulumi.output(args.certificatePem);
        this.issuerSubjectDn = rfc2253Subject(imported);
        this.issuerPrivateKeyPem = pulumi.secret(args.privateKeyPem);
        this.chainPem = pulumi.output(belowRoot.join(""));
        this.trustBundlePem = pulumi.output([args.certificatePem, ...chain].join(""));

        // Root first; item names follow the generated CA's ("-root", "-intermediate").
        const above = chain.map((pem, index): AuthorityCertificate => {
            const certificate = new X509Certificate(pem);
            return {
                name: isSelfSigned(certificate) ? `${name}-root` : `${name}-chain-${index + 1}`,
                certificatePem: pulumi.output(pem),
                externalCrl: crlSignedBy(certificate, args.chainCrlPem),
                validityEndTime: pulumi.output(validityEnd(certificate)),
            };
        });
        this.authorities = [
            ...above.reverse(),
            {
                name: isSelfSigned(imported) ? `${name}-root` : `${name}-intermediate`,
                certificatePem: this.issuerCertificatePem,
                privateKeyPem: this.issuerPrivateKeyPem,
                validityEndTime: pulumi.output(validityEnd(imported)),
            },
        ];

        this.registerOutputs({
            issuerCertificatePem: this.issuerCertificatePem,
            issuerPrivateKeyPem: pulumi.secret(this.issuerPrivateKeyPem),
            chainPem: this.chainPem,
            trustBundlePem: this.trustBundlePem,
        });
    }
}

/** The CRLs among `crlPem` that `issuer` signed, with their earliest next update; undefined when none. */
function crlSignedBy(issuer: X509Certificate, crlPem: string): ExternalCrl | undefined {
    const own = pemBlocks(crlPem, "X509 CRL").filter((block) => parseCrl(block).signedBy(issuer));
    const nextUpdate = earliestNextUpdate(own.join(""));
    return nextUpdate ? { pem: own.join(""), nextUpdate } : undefined;
}
