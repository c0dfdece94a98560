/**
 * A PKCS#10 certificate request (RFC 2986) a client brings instead of letting the stack make its
 * key: read from its DER with the small reader of der.ts, its signature verified by Node's crypto
 * (no hand-rolled crypto), its key described as the stack names key algorithms. Pure and
 * synchronous: the config validation runs it before any resource is registered.
 */
import * as crypto from "crypto";
import { bitStringBytes, childrenOf, DerElement, derTag, expectTag, oidOf, readDer, stringOf } from "./der";
import { pemBlocks } from "./x509";

/** The PEM label of a request. */
export const csrPemLabel = "CERTIFICATE REQUEST";

/** A request's public key, in the terms of @pulumi/tls (and of the policy pack's key rules). */
export interface CsrKey {
    /** RSA, ECDSA, ED25519, or what Node calls any other type. */
    readonly algorithm: string;
    /** An RSA key's modulus length. */
    readonly rsaBits?: number;
    /** An ECDSA key's curve, @pulumi/tls names (P256, P384, P521), or the OpenSSL name of any other. */
    readonly ecdsaCurve?: string;
}

/** What the stack reads from a request. */
export interface CertificateRequest {
    /** The subject's common names (a well-formed client request has exactly one). */
    readonly commonNames: readonly string[];
    readonly key: CsrKey;
    /** Whether the signature verifies with the request's own key (proof the requester holds it). */
    readonly signatureValid: boolean;
    /** The signature algorithm's name, or its OID when the stack does not know it. */
    readonly signatureAlgorithm: string;
    /** Whether the request asks for basicConstraints CA:TRUE (never honoured: refused). */
    readonly requestsCa: boolean;
}

/** The one request of a PEM text; throws an Error saying why when there is not exactly one or it does not parse. */
export function parseCertificateRequest(pem: string): CertificateRequest {
    const blocks = pemBlocks(pem, csrPemLabel);
    if (blocks.length !== 1) {
        throw new Error(
            blocks.length === 0 ? `no ${csrPemLabel} PEM block` : `${blocks.length} ${csrPemLabel} blocks, not one`,
        );
    }
    const base64 = blocks[0].replace(/-----(BEGIN|END) [A-Z ]+-----/g, "").replace(/\s+/g, "");
    try {
        return readRequest(readDer(Buffer.from(base64, "base64")));
    } catch (error) {
        throw new Error(`not a PKCS#10 request: ${error instanceof Error ? error.message : String(error)}`);
    }
}

// Signature algorithms a request may be signed with, by OID: the digest Node verifies with.
const signatureAlgorithms: ReadonlyMap<string, { name: string; digest: string | null }> = new Map([
    ["1.2.840.113549.1.1.11", { name: "sha256WithRSAEncryption", digest: "sha256" }],
    ["1.2.840.113549.1.1.12", { name: "sha384WithRSAEncryption", digest: "sha384" }],
    ["1.2.840.113549.1.1.13", { name: "sha512WithRSAEncryption", digest: "sha512" }],
    ["1.2.840.10045.4.3.2", { name: "ecdsa-with-SHA256", digest: "sha256" }],
    ["1.2.840.10045.4.3.3", { name: "ecdsa-with-SHA384", digest: "sha384" }],
    ["1.2.840.10045.4.3.4", { name: "ecdsa-with-SHA512", digest: "sha512" }],
    ["1.3.101.112", { name: "Ed25519", digest: null }],
]);

const oids = {
    commonName: "2.5.4.3",
    extensionRequest: "1.2.840.113549.1.9.14",
    basicConstraints: "2.5.29.19",
} as const;

/** CertificationRequest ::= SEQUENCE { certificationRequestInfo, signatureAlgorithm, signature }. */
function readRequest(request: DerElement): CertificateRequest {
    const [info, algorithm, signature, ...extra] = childrenOf(expectTag(request, derTag.sequence, "the request"));
    if (extra.length > 0) {
        throw new Error("the request has more than three parts");
    }
    // CertificationRequestInfo ::= SEQUENCE { version, subject, subjectPKInfo, [0] attributes }.
    const [version, subject, publicKeyInfo, attributes] = childrenOf(
        expectTag(info, derTag.sequence, "the request info"),
    );
    expectTag(version, derTag.integer, "the version");
    const publicKey = crypto.createPublicKey({
        key: expectTag(publicKeyInfo, derTag.sequence, "the public key").encoded,
        format: "der",
        type: "spki",
    });
    const algorithmOid = oidOf(childrenOf(expectTag(algorithm, derTag.sequence, "the signature algorithm"))[0]);
    const known = signatureAlgorithms.get(algorithmOid);
    const signatureBytes = bitStringBytes(signature);
    return {
        commonNames: commonNamesOf(expectTag(subject, derTag.sequence, "the subject")),
        key: describeKey(publicKey),
        signatureValid: known !== undefined && verifies(known.digest, info.encoded, publicKey, signatureBytes),
        signatureAlgorithm: known?.name ?? algorithmOid,
        requestsCa:
            attributes !== undefined && requestsCa(expectTag(attributes, derTag.contextConstructed0, "attributes")),
    };
}

/** Whether `signature` over `data` verifies with `key` (false, not an exception, for a mismatched key type). */
function verifies(digest: string | null, data: Buffer, key: crypto.KeyObject, signature: Buffer): boolean {
    try {
        return crypto.verify(digest, data, key, signature);
    } catch {
        return false;
    }
}

/** Every CN of a Name (SEQUENCE OF SET OF SEQUENCE { type, value }). */
function commonNamesOf(subject: DerElement): string[] {
    return childrenOf(subject)
        .flatMap((rdn) => childrenOf(expectTag(rdn, derTag.set, "a name component")))
        .map((attribute) => childrenOf(expectTag(attribute, derTag.sequence, "a name attribute")))
        .filter(([type]) => oidOf(type) === oids.commonName)
        .map(([, value]) => stringOf(value));
}

/** Whether the extensionRequest attribute holds basicConstraints with cA TRUE. */
function requestsCa(attributes: DerElement): boolean {
    for (const attribute of childrenOf(attributes)) {
        const [type, values] = childrenOf(expectTag(attribute, derTag.sequence, "an attribute"));
        if (oidOf(type) !== oids.extensionRequest) {
            continue;
        }
        for (const extensions of childrenOf(expectTag(values, derTag.set, "the attribute's values"))) {
            for (const extension of childrenOf(expectTag(extensions, derTag.sequence, "the extensions"))) {
                const parts = childrenOf(expectTag(extension, derTag.sequence, "an extension"));
                if (oidOf(parts[0]) === oids.basicConstraints && basicConstraintsIsCa(parts[parts.length - 1])) {
                    return true;
                }
            }
        }
    }
    return false;
}

/** BasicConstraints ::= SEQUENCE { cA BOOLEAN DEFAULT FALSE, pathLenConstraint INTEGER OPTIONAL }, in an OCTET STRING. */
function basicConstraintsIsCa(value: DerElement): boolean {
    const constraints = readDer(expectTag(value, derTag.octetString, "the extension's value").contents);
    const [first] = childrenOf(expectTag(constraints, derTag.sequence, "basic constraints"));
    return (
        first !== undefined && first.tag === derTag.boolean && first.contents.length === 1 && first.contents[0] !== 0
    );
}

const curveNames: Readonly<Record<string, string>> = { prime256v1: "P256", secp384r1: "P384", secp521r1: "P521" };

/** A key as @pulumi/tls would name the one that made it. */
function describeKey(key: crypto.KeyObject): CsrKey {
    const details = key.asymmetricKeyDetails ?? {};
    switch (key.asymmetricKeyType) {
        case "rsa":
            return { algorithm: "RSA", rsaBits: details.modulusLength };
        case "ec":
            return { algorithm: "ECDSA", ecdsaCurve: curveNames[details.namedCurve ?? ""] ?? details.namedCurve };
        case "ed25519":
            return { algorithm: "ED25519" };
        default:
            return { algorithm: String(key.asymmetricKeyType).toUpperCase() };
    }
}
