import * as pulumi from "@pulumi/pulumi";
import * as tls from "@pulumi/tls";
import { X509Certificate } from "crypto";
import type { KeyAlgorithm } from "../domain/pki";
import { earliestNextUpdate, rfc2253Subject, sameKey, validityEnd } from "../domain/x509";
import type { AuthorityCertificate, CaHierarchy } from "./certificateAuthority";
import { privateKeyArgs } from "../domain/certificateProfiles";

export interface ExternalRootIntermediateArgs {
    /** Organization (O) of the intermediate's subject. */
    readonly organization: string;
    /** Subject CN prefix, e.g. "mtls-nginx" gives "mtls-nginx Intermediate CA". */
    readonly commonNamePrefix: string;
    /** Key algorithm of the intermediate key. */
    readonly keyAlgorithm: KeyAlgorithm;
    /** The certificate the root signed for `csrPem`; empty until the operator has signed it. */
    readonly intermediateCertificatePem: string;
    /** The root's certificate (self-signed); required with intermediateCertificatePem. */
    readonly rootCertificatePem: string;
    /** The CRL the root signed; empty: none yet (needed only while anyone is revoked). */
    readonly rootCrlPem: string;
    /** How errors name the intermediate certificate: the setting it comes from. */
    readonly certificateSetting: string;
}

/**
 * An intermediate CA whose root lives elsewhere: the stack makes the key and a CSR, an operator
 * signs the CSR with the root (offline), and the signed certificate comes back as an argument. The
 * root's key never reaches the program or its state. Until the certificate is there the
 * component is `signed: false` and issues nothing (empty trust bundle, no authorities).
 */
export class ExternalRootIntermediate extends pulumi.ComponentResource implements CaHierarchy {
    /** The CSR the root must sign (public). */
    public readonly csrPem: pulumi.Output<string>;
    /** Whether the signed certificate is there: the intermediate can issue. */
    public readonly signed: boolean;
    /** The intermediate certificate, once checked to carry the intermediate key. */
    public readonly issuerCertificatePem: pulumi.Output<string>;
    public readonly issuerSubjectDn: string;
    /** The intermediate key (secret). */
    public readonly issuerPrivateKeyPem: pulumi.Output<string>;
    /** The intermediate: what the server sends after its leaf. */
    public readonly chainPem: pulumi.Output<string>;
    /** Intermediate then root. */
    public readonly trustBundlePem: pulumi.Output<string>;
    /** The root (no key; its CRL from the operator) and the intermediate; empty until signed. */
    public readonly authorities: AuthorityCertificate[];

    constructor(name: string, args: ExternalRootIntermediateArgs, opts?: pulumi.ComponentResourceOptions) {
        super("mtls:pki:ExternalRootIntermediate", name, {}, opts);

        const key = new tls.PrivateKey(`${name}-intermediate-key`, privateKeyArgs(args.keyAlgorithm), { parent: this });
        const request = new tls.CertRequest(
            `${name}-intermediate-csr`,
            {
                privateKeyPem: key.privateKeyPem,
                subject: { commonName: `${args.commonNamePrefix} Intermediate CA`, organization: args.organization },
            },
            { parent: this },
        );
        this.csrPem = request.certRequestPem;
        this.issuerPrivateKeyPem = pulumi.secret(key.privateKeyPem);
        this.signed = args.intermediateCertificatePem.trim() !== "";

        if (!this.signed) {
            this.issuerCertificatePem = pulumi.output("");
            this.issuerSubjectDn = "";
            this.chainPem = pulumi.output("");
            this.trustBundlePem = pulumi.output("");
            this.authorities = [];
        } else {
            const intermediate = new X509Certificate(args.intermediateCertificatePem);
            const root = new X509Certificate(args.rootCertificatePem);
            // @pulumi/tls would sign leaves with a key the certificate does not name: check it first.
            const verified = key.publicKeyPem.apply((publicKeyPem) =>
                checkIssuedFor(publicKeyPem, args.intermediateCertificatePem, args.certificateSetting),
            );
            this.issuerCertificatePem = verified;
            // The subject the root signed, which need not be the one the CSR asked for.
            this.issuerSubjectDn = rfc2253Subject(intermediate);
            this.chainPem = verified;
            this.trustBundlePem = pulumi.concat(verified, args.rootCertificatePem);
            const nextUpdate = earliestNextUpdate(args.rootCrlPem);
            this.authorities = [
                {
                    name: `${name}-root`,
                    certificatePem: pulumi.output(args.rootCertificatePem),
                    externalCrl: nextUpdate ? { pem: args.rootCrlPem, nextUpdate } : undefined,
                    validityEndTime: pulumi.output(validityEnd(root)),
                },
                {
                    name: `${name}-intermediate`,
                    certificatePem: verified,
                    privateKeyPem: this.issuerPrivateKeyPem,
                    validityEndTime: pulumi.output(validityEnd(intermediate)),
                },
            ];
        }

        this.registerOutputs({
            csrPem: this.csrPem,
            signed: this.signed,
            issuerCertificatePem: this.issuerCertificatePem,
            issuerPrivateKeyPem: pulumi.secret(this.issuerPrivateKeyPem),
            chainPem: this.chainPem,
            trustBundlePem: this.trustBundlePem,
        });
    }
}

/**
 * The certificate, when it carries the public key: @pulumi/tls has no such check. Otherwise a
 * RunError (no stack trace) naming the setting the certificate came from and what to do. It runs
 * when the key's outputs are known, so resources that do not need the certificate may already
 * have been created by then; nothing is signed by a mismatched certificate.
 */
export function checkIssuedFor(publicKeyPem: string, certificatePem: string, certificateSetting: string): string {
    if (!sameKey(publicKeyPem, new X509Certificate(certificatePem))) {
        const message =
            `${certificateSetting} was not issued for this stack's intermediate key: its public key differs from ` +
            `the key of the intermediateCsrPem output (was another CSR signed?); allowed: the certificate the ` +
            `root signed for the intermediateCsrPem output`;
        // Also as a diagnostic of its own: the engine reports the throw wrapped in serialization errors.
        void pulumi.log.error(message);
        throw new pulumi.RunError(message);
    }
    return certificatePem;
}
