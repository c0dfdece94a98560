import * as pulumi from "@pulumi/pulumi";
import * as tls from "@pulumi/tls";
import type { CertificateLifetime, KeyAlgorithm } from "../domain/pki";
import { certificateProfiles, LeafProfileName, leafAllowedUses, privateKeyArgs } from "../domain/certificateProfiles";
import type { HeldResources } from "../rotation/clientHold";
import { childUrnOf, rootUrnOf } from "./shared/urns";

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
    /**
     * A client's own CSR, checked by the config validation: the CA signs it as is (its subject and
     * public key; usages and the CA flag come from the profile), and no key or CSR resource is made.
     */
    readonly certificateRequest?: ClientRequest;
}

/** A CSR a client brought, and its key's algorithm (RSA, ECDSA: what the usages depend on). */
export interface ClientRequest {
    readonly pem: string;
    readonly keyAlgorithm: string;
}

/** What a leaf certificate gives its users: the certificate, its key and its expiry. */
export interface IssuedLeaf {
    /** The signed certificate. */
    readonly certificatePem: pulumi.Output<string>;
    /** The private key (secret); absent for a client that brought a CSR: its key is its own. */
    readonly privateKeyPem?: pulumi.Output<string>;
    /** When the certificate expires (RFC 3339). */
    readonly validityEndTime: pulumi.Output<string>;
}

/** A leaf whose key the stack made. */
type KeyedLeaf = IssuedLeaf & { readonly privateKeyPem: pulumi.Output<string> };

/** A leaf certificate with its own key, signed by the issuing CA. */
export class IssuedCertificate extends pulumi.ComponentResource implements IssuedLeaf {
    public readonly certificatePem: pulumi.Output<string>;
    public readonly privateKeyPem: pulumi.Output<string>;
    public readonly validityEndTime: pulumi.Output<string>;

    constructor(name: string, args: IssuedCertificateArgs, opts?: pulumi.ComponentResourceOptions) {
        super("mtls:pki:IssuedCertificate", name, {}, opts);
        const leaf = issueLeaf(name, args, { parent: this });
        this.certificatePem = leaf.certificatePem;
        this.privateKeyPem = leaf.privateKeyPem;
        this.validityEndTime = leaf.validityEndTime;
        this.registerOutputs({
            certificatePem: this.certificatePem,
            // Secret already (@pulumi/tls marks keys secret); registered like every other public output.
            privateKeyPem: this.privateKeyPem,
            validityEndTime: this.validityEndTime,
        });
    }
}

export interface ClientCertificatesArgs {
    /** Each client's certificate, by client name (what IssuedCertificate takes for one). */
    readonly certificates: ReadonlyMap<string, IssuedCertificateArgs>;
    /** Put before each client's resource names (`partners-client-alice-key`): unique per endpoint. */
    readonly resourceNamePrefix?: string;
    /** The URN this component had before it moved (at the stack's root, before MtlsEndpoint existed). */
    readonly formerParent?: string;
    /**
     * The resources the clients-only `up` holds (rotation/clientHold.ts): a client whose resources are
     * all held registers none, and its certificate, key and expiry come from the last deployment.
     */
    readonly held?: HeldResources;
}

/**
 * Every client's key, CSR and certificate, under one component. One component per client cost a
 * quarter of all resources and about a fifth of `up` at 100 clients (the engine rewrites the whole
 * checkpoint after every step; see bench/README.md). Clients deployed under their own
 * IssuedCertificate, or under this component at the stack's root, keep their resources through
 * aliases: nothing is re-issued.
 */
export class ClientCertificates extends pulumi.ComponentResource {
    /** Each client's certificate, key and expiry, by client name. */
    public readonly certificates: ReadonlyMap<string, IssuedLeaf>;

    constructor(name: string, args: ClientCertificatesArgs, opts?: pulumi.ComponentResourceOptions) {
        super("mtls:pki:ClientCertificates", name, {}, opts);
        const certificates = new Map<string, IssuedLeaf>();
        for (const [clientName, certificateArgs] of args.certificates) {
            const itemName = resourceNameOf(clientName);
            // Each child's URNs before: under its own IssuedCertificate, and under this component's former URN.
            const formerParents = [
                rootUrnOf("mtls:pki:IssuedCertificate", itemName),
                ...(args.formerParent ? [args.formerParent] : []),
            ];
            const formerNames = (suffix: LeafSuffix) =>
                formerParents.map((parent) => childUrnOf(parent, leafResourceTypes[suffix], `${itemName}${suffix}`));
            const leafName = `${args.resourceNamePrefix ?? ""}${itemName}`;
            const byRequest = certificateArgs.certificateRequest !== undefined;
            const held = args.held && heldLeafOf(clientName, leafName, byRequest, args.held);
            certificates.set(
                clientName,
                held ??
                    (certificateArgs.certificateRequest
                        ? signClientRequest(leafName, certificateArgs, certificateArgs.certificateRequest, {
                              parent: this,
                          })
                        : issueLeaf(leafName, certificateArgs, { parent: this }, formerNames)),
            );
        }
        this.certificates = certificates;
        // Only the names: the certificates and keys are in the children's state already, and a
        // copy here would be written again at every checkpoint.
        this.registerOutputs({ clients: [...args.certificates.keys()] });
    }
}

/** The ends of a leaf's resource names, and the resources' types. */
const leafResourceTypes = {
    "-key": "tls:index/privateKey:PrivateKey",
    "-csr": "tls:index/certRequest:CertRequest",
    "-cert": "tls:index/locallySignedCert:LocallySignedCert",
} as const;
type LeafSuffix = keyof typeof leafResourceTypes;

/**
 * A held client's leaf, from the last deployment's outputs of its certificate (and key), or undefined
 * when its certificate is not held (a new client). A generated client is held whole or not at all: a
 * held certificate over a new key would not match it.
 */
function heldLeafOf(clientName: string, name: string, byRequest: boolean, held: HeldResources): IssuedLeaf | undefined {
    const urnOf = (suffix: LeafSuffix) => held.urnOf(leafResourceTypes[suffix], `${name}${suffix}`);
    const certificateUrn = urnOf("-cert");
    if (certificateUrn === undefined) {
        return undefined;
    }
    const certificate = held.outputsOf(certificateUrn);
    const leaf: IssuedLeaf = {
        certificatePem: certificate.apply((outputs) => String(outputs.certPem)),
        validityEndTime: certificate.apply((outputs) => String(outputs.validityEndTime)),
    };
    if (byRequest) {
        return leaf;
    }
    const keyUrn = urnOf("-key");
    if (keyUrn === undefined || urnOf("-csr") === undefined) {
        throw new pulumi.RunError(
            `client ${clientName}: its certificate is held by the clients-only up, but not a key and CSR of the ` +
                "stack's (it had a CSR of its own): a client that changes to a generated key needs a full up",
        );
    }
    return {
        ...leaf,
        privateKeyPem: pulumi.secret(held.outputsOf(keyUrn).apply((outputs) => String(outputs.privateKeyPem))),
    };
}

/** The name of a client's resources (its key is `<name>-key`, and so on). */
export function resourceNameOf(clientName: string): string {
    return `client-${clientName}`;
}

/**
 * The key, the CSR and the certificate of one leaf, as children of `options.parent`; `formerNames`
 * gives each one's aliases from its name suffix (`-key`, `-csr`, `-cert`).
 */
function issueLeaf(
    name: string,
    args: IssuedCertificateArgs,
    options: pulumi.CustomResourceOptions,
    formerNames: (suffix: LeafSuffix) => string[] = () => [],
): KeyedLeaf {
    const key = new tls.PrivateKey(`${name}-key`, privateKeyArgs(args.keyAlgorithm), {
        ...options,
        aliases: formerNames("-key"),
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
        { ...options, aliases: formerNames("-csr") },
    );
    const certificate = signLeafRequest(
        name,
        args,
        { pem: request.certRequestPem, keyAlgorithm: args.keyAlgorithm },
        { ...options, aliases: formerNames("-cert") },
    );
    return {
        certificatePem: certificate.certPem,
        privateKeyPem: pulumi.secret(key.privateKeyPem),
        validityEndTime: certificate.validityEndTime,
    };
}

/**
 * A client's own CSR signed by the issuing CA: one resource, `<name>-cert` as for a generated
 * client (a client that moves to a CSR keeps its resource and is re-issued). The tls provider takes
 * only the subject, the SANs and the public key from a request, never its extensions: the usages
 * and the CA flag are the profile's. Rotation re-signs the same request (rotationTrigger); a new
 * request replaces the certificate (the provider replaces on any change of certRequestPem).
 */
function signClientRequest(
    name: string,
    args: IssuedCertificateArgs,
    request: ClientRequest,
    options: pulumi.CustomResourceOptions,
): IssuedLeaf {
    // A frozen CSR client keeps its certificate even when the client sends a new request.
    const certificate = signLeafRequest(name, args, request, options, ["certRequestPem"]);
    return { certificatePem: certificate.certPem, validityEndTime: certificate.validityEndTime };
}

/**
 * The CA's signature on a leaf's request, `<name>-cert`: what a generated and a CSR client both end
 * in. A frozen (revoked) leaf ignores `frozenAlso` and every issuer or profile change: even a CA
 * rollover must not re-issue a revoked certificate, or its serial would leave the CRL.
 */
function signLeafRequest(
    name: string,
    args: IssuedCertificateArgs,
    request: { readonly pem: pulumi.Input<string>; readonly keyAlgorithm: KeyAlgorithm | string },
    options: pulumi.CustomResourceOptions,
    frozenAlso: string[] = [],
): tls.LocallySignedCert {
    return new tls.LocallySignedCert(
        `${name}-cert`,
        {
            certRequestPem: request.pem,
            caCertPem: args.issuerCertificatePem,
            caPrivateKeyPem: args.issuerPrivateKeyPem,
            isCaCertificate: false,
            allowedUses: leafAllowedUses(certificateProfiles[args.profile], request.keyAlgorithm),
            // No earlyRenewalHours: rotation is driven by rotationTrigger, which also renews a generated key.
            validityPeriodHours: args.lifetime.validityHours,
        },
        {
            ...options,
            replacementTrigger: args.rotationTrigger,
            ignoreChanges: args.frozen
                ? [...frozenAlso, "caCertPem", "caPrivateKeyPem", "allowedUses", "validityPeriodHours"]
                : [],
        },
    );
}
