import * as pulumi from "@pulumi/pulumi";
import * as tls from "@pulumi/tls";
import type { CertificateLifetime, KeyAlgorithm } from "../domain/pki";
import { rfc2253Name } from "../domain/x509";
import { certificateProfiles, privateKeyArgs } from "../domain/certificateProfiles";

export interface CertificateAuthorityArgs {
    /** Organization (O) written into every subject. */
    readonly organization: string;
    /** Subject CN prefix, e.g. "mtls-nginx" gives "mtls-nginx Root CA". */
    readonly commonNamePrefix: string;
    /** Key algorithm for the CA keys. */
    readonly keyAlgorithm: KeyAlgorithm;
    /** Validity of the root certificate. */
    readonly rootLifetime: CertificateLifetime;
    /** Present: an intermediate CA, signed by the root, issues the leaves. */
    readonly intermediateLifetime?: CertificateLifetime;
}

/** A CRL a CA signed outside the stack (the stack does not hold its key). */
export interface ExternalCrl {
    readonly pem: string;
    /** RFC 3339: past it, Nginx refuses every client. */
    readonly nextUpdate: string;
}

/** One CA certificate of the hierarchy with its key: what a CRL is issued by. */
export interface AuthorityCertificate {
    /** Item name, e.g. "ca-root": used in expiries and rotation records. */
    readonly name: string;
    readonly certificatePem: pulumi.Output<string>;
    /** Private key (secret); absent for a CA held elsewhere (an external root): its CRL is `externalCrl`. */
    readonly privateKeyPem?: pulumi.Output<string>;
    /** The CRL a CA held elsewhere signed, when the operator provided one. */
    readonly externalCrl?: ExternalCrl;
    readonly validityEndTime: pulumi.Output<string>;
}

/**
 * What the stack needs from a CA slot, whichever way it came to be (generated, signed by an
 * external root, imported): the components of each mode expose it alike.
 */
export interface CaHierarchy {
    /** Certificate of the CA that signs leaves. */
    readonly issuerCertificatePem: pulumi.Output<string>;
    /** Private key of the CA that signs leaves (secret). */
    readonly issuerPrivateKeyPem: pulumi.Output<string>;
    /** Subject of the CA that signs leaves, as Nginx prints an issuer ($ssl_client_i_dn, RFC 2253). */
    readonly issuerSubjectDn: string;
    /** Certificates a server must send after its own leaf (every CA below the root). */
    readonly chainPem: pulumi.Output<string>;
    /** Every CA certificate of this hierarchy, issuer first: what verifiers trust. */
    readonly trustBundlePem: pulumi.Output<string>;
    /** Each CA certificate, root first. */
    readonly authorities: AuthorityCertificate[];
}

/**
 * A private CA: a self-signed root and, when asked, an intermediate signed by it. Leaves are
 * issued by `issuer*`; verifiers trust `trustBundlePem`. A CA is never re-issued in place
 * (that would lock out every client at once): it is replaced by a rollover to a second CA.
 */
export class CertificateAuthority extends pulumi.ComponentResource implements CaHierarchy {
    /** The self-signed root certificate. */
    public readonly rootCertificatePem: pulumi.Output<string>;
    /** Certificate of the CA that signs leaves (the intermediate when there is one). */
    public readonly issuerCertificatePem: pulumi.Output<string>;
    public readonly issuerSubjectDn: string;
    /** Private key of the CA that signs leaves (secret). */
    public readonly issuerPrivateKeyPem: pulumi.Output<string>;
    /** Certificates a server must send after its own leaf: the intermediate, or nothing. */
    public readonly chainPem: pulumi.Output<string>;
    /** Every CA certificate of this hierarchy, issuer first: what verifiers trust. */
    public readonly trustBundlePem: pulumi.Output<string>;
    /** Each CA certificate, root first. */
    public readonly authorities: AuthorityCertificate[];

    constructor(name: string, args: CertificateAuthorityArgs, opts?: pulumi.ComponentResourceOptions) {
        super("mtls:pki:CertificateAuthority", name, {}, opts);

        const root = this.createRoot(name, args);
        this.rootCertificatePem = root.certificate.certPem;
        this.authorities = [authorityCertificate(`${name}-root`, root)];

        if (args.intermediateLifetime) {
            const intermediate = this.createIntermediate(name, args, args.intermediateLifetime, root);
            this.issuerCertificatePem = intermediate.certificate.certPem;
            this.issuerSubjectDn = subjectDn(`${args.commonNamePrefix} Intermediate CA`, args.organization);
            this.issuerPrivateKeyPem = pulumi.secret(intermediate.key.privateKeyPem);
            this.chainPem = intermediate.certificate.certPem;
            this.trustBundlePem = pulumi.concat(intermediate.certificate.certPem, root.certificate.certPem);
            this.authorities.push(authorityCertificate(`${name}-intermediate`, intermediate));
        } else {
            this.issuerCertificatePem = root.certificate.certPem;
            this.issuerSubjectDn = subjectDn(`${args.commonNamePrefix} Root CA`, args.organization);
            this.issuerPrivateKeyPem = pulumi.secret(root.key.privateKeyPem);
            this.chainPem = pulumi.output("");
            this.trustBundlePem = root.certificate.certPem;
        }

        this.registerOutputs({
            rootCertificatePem: this.rootCertificatePem,
            issuerCertificatePem: this.issuerCertificatePem,
            // Secret already (@pulumi/tls marks keys secret); registered like every other public output.
            issuerPrivateKeyPem: this.issuerPrivateKeyPem,
            chainPem: this.chainPem,
            trustBundlePem: this.trustBundlePem,
        });
    }

    /** The root: its key and its self-signed certificate. */
    private createRoot(name: string, args: CertificateAuthorityArgs): CaLayer<tls.SelfSignedCert> {
        const key = new tls.PrivateKey(`${name}-root-key`, privateKeyArgs(args.keyAlgorithm), { parent: this });
        const certificate = new tls.SelfSignedCert(
            `${name}-root`,
            {
                privateKeyPem: key.privateKeyPem,
                subject: { commonName: `${args.commonNamePrefix} Root CA`, organization: args.organization },
                isCaCertificate: certificateProfiles.rootCa.isCaCertificate,
                allowedUses: [...certificateProfiles.rootCa.allowedUses],
                // The root may sign exactly the layers below it: an intermediate (1) or leaves only (0).
                maxPathLength: args.intermediateLifetime ? 1 : 0,
                setSubjectKeyId: true,
                validityPeriodHours: args.rootLifetime.validityHours,
            },
            { parent: this },
        );
        return { key, certificate };
    }

    /** The intermediate: its key, its request and its certificate, signed by the root. */
    private createIntermediate(
        name: string,
        args: CertificateAuthorityArgs,
        lifetime: CertificateLifetime,
        root: CaLayer<tls.SelfSignedCert>,
    ): CaLayer<tls.LocallySignedCert> {
        const key = new tls.PrivateKey(`${name}-intermediate-key`, privateKeyArgs(args.keyAlgorithm), {
            parent: this,
        });
        const request = new tls.CertRequest(
            `${name}-intermediate-csr`,
            {
                privateKeyPem: key.privateKeyPem,
                subject: {
                    commonName: `${args.commonNamePrefix} Intermediate CA`,
                    organization: args.organization,
                },
            },
            { parent: this },
        );
        const certificate = new tls.LocallySignedCert(
            `${name}-intermediate`,
            {
                certRequestPem: request.certRequestPem,
                caPrivateKeyPem: root.key.privateKeyPem,
                caCertPem: root.certificate.certPem,
                isCaCertificate: certificateProfiles.intermediateCa.isCaCertificate,
                allowedUses: [...certificateProfiles.intermediateCa.allowedUses],
                maxPathLength: 0,
                setSubjectKeyId: true,
                validityPeriodHours: lifetime.validityHours,
            },
            { parent: this },
        );
        return { key, certificate };
    }
}

/** A CA layer generated in the stack: its key and its certificate. */
interface CaLayer<C extends tls.SelfSignedCert | tls.LocallySignedCert> {
    readonly key: tls.PrivateKey;
    readonly certificate: C;
}

/** The authority record of a generated layer (its key kept secret). */
function authorityCertificate(
    name: string,
    layer: CaLayer<tls.SelfSignedCert | tls.LocallySignedCert>,
): AuthorityCertificate {
    return {
        name,
        certificatePem: layer.certificate.certPem,
        privateKeyPem: pulumi.secret(layer.key.privateKeyPem),
        validityEndTime: layer.certificate.validityEndTime,
    };
}

/** The subject @pulumi/tls writes for {commonName, organization} (Go puts O before CN), as Nginx prints it. */
function subjectDn(commonName: string, organization: string): string {
    return rfc2253Name([
        ["O", organization],
        ["CN", commonName],
    ]);
}
