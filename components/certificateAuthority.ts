import * as pulumi from "@pulumi/pulumi";
import * as tls from "@pulumi/tls";
import type { CertificateLifetime, KeyAlgorithm } from "../config/stackConfig";
import { certificateProfiles, privateKeyArgs } from "./certificateProfiles";

export interface CertificateAuthorityArgs {
    /** Organization (O) written into every subject. */
    readonly organization: string;
    /** Key algorithm for the CA keys. */
    readonly keyAlgorithm: KeyAlgorithm;
    /** Validity and renewal window of the root certificate. */
    readonly rootLifetime: CertificateLifetime;
    /** Present: an intermediate CA, signed by the root, issues the leaves. */
    readonly intermediateLifetime?: CertificateLifetime;
    /** Changing this value re-issues the root (and so everything under it). */
    readonly rootRotationTrigger?: pulumi.Input<string>;
    /** Changing this value re-issues the intermediate (and so every leaf). */
    readonly intermediateRotationTrigger?: pulumi.Input<string>;
}

/**
 * A private CA: a self-signed root and, when asked, an intermediate signed by it. Leaves are
 * issued by `issuer*`; clients and Nginx trust `trustBundlePem`.
 */
export class CertificateAuthority extends pulumi.ComponentResource {
    /** The self-signed root certificate. */
    public readonly rootCertificatePem: pulumi.Output<string>;
    /** Certificate of the CA that signs leaves (the intermediate when there is one). */
    public readonly issuerCertificatePem: pulumi.Output<string>;
    /** Private key of the CA that signs leaves (secret). */
    public readonly issuerPrivateKeyPem: pulumi.Output<string>;
    /** Certificates a server must send after its own leaf: the intermediate, or nothing. */
    public readonly chainPem: pulumi.Output<string>;
    /** Each CA in the hierarchy, root first: what a CRL must be issued by. */
    public readonly authorities: Array<{
        name: string;
        certificatePem: pulumi.Output<string>;
        privateKeyPem: pulumi.Output<string>;
    }>;
    /** Every CA certificate a verifier needs: what clients and Nginx trust. */
    public readonly trustBundlePem: pulumi.Output<string>;
    /** Expiry of each CA certificate, by name. */
    public readonly expiries: pulumi.Output<Record<string, string>>;

    constructor(name: string, args: CertificateAuthorityArgs, opts?: pulumi.ComponentResourceOptions) {
        super("mtls:pki:CertificateAuthority", name, {}, opts);

        const rootKey = new tls.PrivateKey(`${name}-root-key`, privateKeyArgs(args.keyAlgorithm), {
            parent: this,
            replacementTrigger: args.rootRotationTrigger,
        });
        const root = new tls.SelfSignedCert(
            `${name}-root`,
            {
                privateKeyPem: rootKey.privateKeyPem,
                subject: { commonName: `${args.organization} Root CA`, organization: args.organization },
                isCaCertificate: certificateProfiles.rootCa.isCaCertificate,
                allowedUses: [...certificateProfiles.rootCa.allowedUses],
                // The root may sign exactly the layers below it: an intermediate (1) or leaves only (0).
                maxPathLength: args.intermediateLifetime ? 1 : 0,
                setSubjectKeyId: true,
                validityPeriodHours: args.rootLifetime.validityHours,
                earlyRenewalHours: args.rootLifetime.renewBeforeHours,
            },
            { parent: this, replacementTrigger: args.rootRotationTrigger },
        );
        this.rootCertificatePem = root.certPem;
        this.authorities = [
            { name: "ca-root", certificatePem: root.certPem, privateKeyPem: pulumi.secret(rootKey.privateKeyPem) },
        ];
        const expiries: Record<string, pulumi.Output<string>> = { "ca-root": root.validityEndTime };

        if (args.intermediateLifetime) {
            const intermediateKey = new tls.PrivateKey(`${name}-intermediate-key`, privateKeyArgs(args.keyAlgorithm), {
                parent: this,
                replacementTrigger: args.intermediateRotationTrigger,
            });
            const request = new tls.CertRequest(
                `${name}-intermediate-csr`,
                {
                    privateKeyPem: intermediateKey.privateKeyPem,
                    subject: { commonName: `${args.organization} Intermediate CA`, organization: args.organization },
                },
                { parent: this },
            );
            const intermediate = new tls.LocallySignedCert(
                `${name}-intermediate`,
                {
                    certRequestPem: request.certRequestPem,
                    caPrivateKeyPem: rootKey.privateKeyPem,
                    caCertPem: root.certPem,
                    isCaCertificate: certificateProfiles.intermediateCa.isCaCertificate,
                    allowedUses: [...certificateProfiles.intermediateCa.allowedUses],
                    maxPathLength: 0,
                    setSubjectKeyId: true,
                    validityPeriodHours: args.intermediateLifetime.validityHours,
                    earlyRenewalHours: args.intermediateLifetime.renewBeforeHours,
                },
                { parent: this, replacementTrigger: args.intermediateRotationTrigger },
            );
            this.issuerCertificatePem = intermediate.certPem;
            this.issuerPrivateKeyPem = pulumi.secret(intermediateKey.privateKeyPem);
            this.chainPem = intermediate.certPem;
            this.trustBundlePem = pulumi.concat(intermediate.certPem, root.certPem);
            expiries["ca-intermediate"] = intermediate.validityEndTime;
            this.authorities.push({
                name: "ca-intermediate",
                certificatePem: intermediate.certPem,
                privateKeyPem: pulumi.secret(intermediateKey.privateKeyPem),
            });
        } else {
            this.issuerCertificatePem = root.certPem;
            this.issuerPrivateKeyPem = pulumi.secret(rootKey.privateKeyPem);
            this.chainPem = pulumi.output("");
            this.trustBundlePem = root.certPem;
        }
        this.expiries = pulumi.output(expiries);

        this.registerOutputs({
            rootCertificatePem: this.rootCertificatePem,
            issuerCertificatePem: this.issuerCertificatePem,
            chainPem: this.chainPem,
            trustBundlePem: this.trustBundlePem,
            expiries: this.expiries,
        });
    }
}
