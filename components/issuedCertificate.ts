import * as pulumi from "@pulumi/pulumi";
import * as tls from "@pulumi/tls";
import type { CertificateLifetime, KeyAlgorithm } from "../domain/pki";
import { certificateProfiles, LeafProfileName, leafAllowedUses, privateKeyArgs } from "./certificateProfiles";

export interface IssuedCertificateArgs {
    /** "server" (server-auth usage only) or "client" (client-auth usage only). */
    readonly profile: LeafProfileName;
    /** Subject CN: the server name, or the client's unique name. */
    readonly commonName: string;
    /** Organization (O) of the subject. */
    readonly organization: string;
    /** DNS subject alternative names (servers). */
    readonly dnsNames?: readonly string[];
    /** IP subject alternative names (servers). */
    readonly ipAddresses?: readonly string[];
    /** Key algorithm of the new key. */
    readonly keyAlgorithm: KeyAlgorithm;
    /** Certificate of the issuing CA. */
    readonly issuerCertificatePem: pulumi.Input<string>;
    /** Private key of the issuing CA (secret). */
    readonly issuerPrivateKeyPem: pulumi.Input<string>;
    /** Validity (the renewal window is applied by the caller through rotationTrigger). */
    readonly lifetime: CertificateLifetime;
    /** Changing this value re-issues the key and certificate (rotation). */
    readonly rotationTrigger?: pulumi.Input<string>;
    /** Keep the certificate as issued whatever changes (a revoked one must stay what the CRL names). */
    readonly frozen?: boolean;
}

/** A leaf certificate with its own key, signed by the issuing CA. */
export class IssuedCertificate extends pulumi.ComponentResource {
    /** The signed certificate. */
    public readonly certificatePem: pulumi.Output<string>;
    /** The private key (secret). */
    public readonly privateKeyPem: pulumi.Output<string>;
    /** When the certificate expires (RFC 3339). */
    public readonly validityEndTime: pulumi.Output<string>;

    constructor(name: string, args: IssuedCertificateArgs, opts?: pulumi.ComponentResourceOptions) {
        super("mtls:pki:IssuedCertificate", name, {}, opts);

        const key = new tls.PrivateKey(`${name}-key`, privateKeyArgs(args.keyAlgorithm), {
            parent: this,
            replacementTrigger: args.rotationTrigger,
        });
        const request = new tls.CertRequest(
            `${name}-csr`,
            {
                privateKeyPem: key.privateKeyPem,
                subject: { commonName: args.commonName, organization: args.organization },
                dnsNames: args.dnsNames ? [...args.dnsNames] : undefined,
                ipAddresses: args.ipAddresses ? [...args.ipAddresses] : undefined,
            },
            { parent: this },
        );
        const certificate = new tls.LocallySignedCert(
            `${name}-cert`,
            {
                certRequestPem: request.certRequestPem,
                caCertPem: args.issuerCertificatePem,
                caPrivateKeyPem: args.issuerPrivateKeyPem,
                isCaCertificate: false,
                allowedUses: leafAllowedUses(certificateProfiles[args.profile], args.keyAlgorithm),
                // No earlyRenewalHours: rotation is driven by rotationTrigger, which also renews the key.
                validityPeriodHours: args.lifetime.validityHours,
            },
            {
                parent: this,
                replacementTrigger: args.rotationTrigger,
                // Even a CA rollover must not re-issue a revoked certificate: its serial would leave the CRL.
                ignoreChanges: args.frozen
                    ? ["caCertPem", "caPrivateKeyPem", "allowedUses", "validityPeriodHours"]
                    : [],
            },
        );

        this.certificatePem = certificate.certPem;
        this.privateKeyPem = pulumi.secret(key.privateKeyPem);
        this.validityEndTime = certificate.validityEndTime;
        this.registerOutputs({
            certificatePem: this.certificatePem,
            // Secret already (@pulumi/tls marks keys secret); registered like every other public output.
            privateKeyPem: this.privateKeyPem,
            validityEndTime: this.validityEndTime,
        });
    }
}
