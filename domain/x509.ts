/**
 * Reading what an operator brings (certificates, keys, CRLs as PEM text): plain computation with
 * Node's crypto, no I/O. Node parses certificates and keys but not CRLs, so a CRL's few fields
 * are read here from its DER (RFC 5280, section 5.1).
 */
import * as crypto from "crypto";

import { bitStringBytes, childrenOf, type DerElement, derTag, expectTag, oidOf, readDer } from "./der";

/** The PEM blocks of one label ("CERTIFICATE", "X509 CRL", ...), each as its own text. */
export function pemBlocks(text: string, label: string): string[] {
    const pattern = new RegExp(`-----BEGIN ${label}-----[A-Za-z0-9+/=\\s]+?-----END ${label}-----`, "g");
    return (text.match(pattern) ?? []).map((block) => `${block}\n`);
}

/** Labels of every PEM block in the text, in order. */
export function pemLabels(text: string): string[] {
    return [...text.matchAll(/-----BEGIN ([A-Z0-9 ]+)-----/g)].map((match) => match[1]);
}

/** The private key block of a key file (an `openssl ecparam -genkey` file also holds EC PARAMETERS). */
export function privateKeyBlock(text: string): string | undefined {
    return pemBlocks(text, "(?:RSA |EC )?PRIVATE KEY")[0];
}

/** Each certificate of a PEM text; throws when a block does not parse. */
export function parseCertificates(text: string): crypto.X509Certificate[] {
    return pemBlocks(text, "CERTIFICATE").map((block) => new crypto.X509Certificate(block));
}

/** Whether the certificate signed itself (a root). */
export function isSelfSigned(certificate: crypto.X509Certificate): boolean {
    return certificate.checkIssued(certificate) && certificate.verify(certificate.publicKey);
}

/** Whether `issuer` signed `certificate`: its name and its signature. */
export function isIssuedBy(certificate: crypto.X509Certificate, issuer: crypto.X509Certificate): boolean {
    return certificate.checkIssued(issuer) && certificate.verify(issuer.publicKey);
}

/** Whether a certificate carries a subject key identifier (CRLs the stack signs name it, keyid:always). */
export function hasSubjectKeyIdentifier(certificate: crypto.X509Certificate): boolean {
    // The extension's OID, 2.5.29.14, as DER.
    return certificate.raw.includes(Buffer.from("0603551d0e", "hex"));
}

/** Whether a public key (PEM, or from a private key) is the certificate's. */
export function sameKey(key: string | crypto.KeyObject, certificate: crypto.X509Certificate): boolean {
    const spki = (value: crypto.KeyObject) => value.export({ type: "spki", format: "der" });
    return spki(crypto.createPublicKey(key)).equals(spki(certificate.publicKey));
}

/**
 * A certificate's subject as OpenSSL prints it with XN_FLAG_RFC2253, which is how Nginx fills
 * $ssl_client_s_dn and $ssl_client_i_dn: every attribute last to first (within a multi-valued RDN
 * too), RDNs joined by ",", a multi-valued one's attributes by "+", short attribute names, RFC 2253 escapes, and bytes outside ASCII as \XX. Node prints the same
 * name one RDN a line, first to last, as UTF-8: reversing and re-escaping that gives Nginx's text.
 * Throws for an attribute OpenSSL has no short name for (Nginx would print its DER in hex).
 */
export function rfc2253Subject(certificate: crypto.X509Certificate): string {
    const rdns = certificate.subject.split("\n").filter((line) => line !== "");
    for (const attribute of rdns.flatMap((rdn) => rdn.split(" + "))) {
        if (!/^[A-Za-z][A-Za-z0-9-]*=/.test(attribute)) {
            throw new Error(`subject attribute ${JSON.stringify(attribute)} has no short name`);
        }
    }
    return rdns
        .reverse()
        .map((rdn) => rdn.split(" + ").reverse().join("+"))
        .join(",")
        .replace(/[^\x00-\x7f]/gu, (character) =>
            [...Buffer.from(character, "utf8")].map((byte) => `\\${byte.toString(16).toUpperCase()}`).join(""),
        );
}

/**
 * A name built from attributes in certificate (DER) order, as OpenSSL prints it with XN_FLAG_RFC2253
 * (see `rfc2253Subject`): last attribute first, each value escaped as RFC 2253 says, bytes outside
 * printable ASCII as \XX.
 */
export function rfc2253Name(attributes: ReadonlyArray<readonly [string, string]>): string {
    return [...attributes]
        .reverse()
        .map(([type, value]) => `${type}=${rfc2253Value(value)}`)
        .join(",");
}

function rfc2253Value(value: string): string {
    const escaped = value
        .replace(/[,+"\\<>;]/g, (character) => `\\${character}`)
        .replace(/[^\x20-\x7e]/gu, (character) =>
            [...Buffer.from(character, "utf8")].map((byte) => `\\${byte.toString(16).toUpperCase()}`).join(""),
        );
    return escaped.replace(/^[# ]/, (character) => `\\${character}`).replace(/ $/, "\\ ");
}

/** An X.509 validity end as RFC 3339 (what @pulumi/tls reports as validityEndTime). */
export function validityEnd(certificate: crypto.X509Certificate): string {
    return new Date(certificate.validTo).toISOString().replace(/\.000Z$/, "Z");
}

/** What the stack needs to know about a CRL. */
export interface CrlSummary {
    /** The issuer's name, DER: equal to its certificate's subject. */
    readonly issuer: Buffer;
    readonly thisUpdate: Date;
    /** When the CRL expires (Nginx then refuses every client); absent in the CRL: undefined. */
    readonly nextUpdate?: Date;
    /** Whether `issuer` signed it. */
    signedBy(issuer: crypto.X509Certificate): boolean;
}

/** Reads a PEM CRL; throws an Error saying what is wrong. */
export function parseCrl(pem: string): CrlSummary {
    const der = Buffer.from(pem.replace(/-----(BEGIN|END) X509 CRL-----/g, "").replace(/\s+/g, ""), "base64");
    const [tbs, algorithm, signature] = childrenOf(expectTag(readDer(der), derTag.sequence, "the CRL"));
    expectTag(tbs, derTag.sequence, "tbsCertList");
    expectTag(algorithm, derTag.sequence, "signatureAlgorithm");
    expectTag(signature, derTag.bitString, "signatureValue");
    const fields = childrenOf(tbs);
    let index = fields[0]?.tag === derTag.integer ? 1 : 0; // version, present in v2 CRLs
    index += 1; // the inner signature algorithm
    const issuer = fields[index++];
    const thisUpdate = fields[index++];
    const nextUpdate = fields[index];
    if (issuer?.tag !== derTag.sequence || !isTime(thisUpdate)) {
        throw new Error("not an X.509 CRL (no issuer and thisUpdate)");
    }
    const algorithmId = childrenOf(algorithm)[0];
    const hash = signatureHash(algorithmId?.tag === derTag.oid ? oidOf(algorithmId) : "");
    return {
        issuer: issuer.encoded,
        thisUpdate: readTime(thisUpdate),
        nextUpdate: isTime(nextUpdate) ? readTime(nextUpdate) : undefined,
        signedBy(candidate) {
            if (hash === undefined || !subjectOf(candidate).equals(issuer.encoded)) {
                return false;
            }
            return crypto.verify(hash, tbs.encoded, candidate.publicKey, bitStringBytes(signature));
        },
    };
}

/** The earliest next update of the CRLs of a PEM text (RFC 3339); undefined when none has one. */
export function earliestNextUpdate(pem: string): string | undefined {
    const times = pemBlocks(pem, "X509 CRL").flatMap((block) => parseCrl(block).nextUpdate ?? []);
    return times.length === 0 ? undefined : new Date(Math.min(...times.map(Number))).toISOString();
}

/** A certificate's subject name, DER (tbsCertificate: [0] version, serial, algorithm, issuer, validity, subject). */
export function subjectOf(certificate: crypto.X509Certificate): Buffer {
    const [tbs] = childrenOf(readDer(certificate.raw));
    const fields = childrenOf(expectTag(tbs, derTag.sequence, "tbsCertificate"));
    return fields[fields[0]?.tag === derTag.contextConstructed0 ? 5 : 4].encoded;
}

function isTime(element: DerElement | undefined): element is DerElement {
    return element?.tag === derTag.utcTime || element?.tag === derTag.generalizedTime;
}

function readTime(element: DerElement): Date {
    const text = element.contents.toString("latin1");
    const utc = element.tag === derTag.utcTime;
    const match = utc
        ? /^(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})Z$/.exec(text)
        : /^(\d{4})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})Z$/.exec(text);
    if (!match) {
        throw new Error(`unreadable time ${JSON.stringify(text)}`);
    }
    const [, yearText, month, day, hour, minute, second] = match;
    // RFC 5280: a two-digit year YY means 19YY from 50, 20YY below.
    const year = utc ? (Number(yearText) >= 50 ? 1900 : 2000) + Number(yearText) : Number(yearText);
    return new Date(Date.UTC(year, Number(month) - 1, Number(day), Number(hour), Number(minute), Number(second)));
}

/** The hash of a signature algorithm Node can verify with (null: none, Ed25519); undefined for others (RSA-PSS). */
function signatureHash(oid: string): string | null | undefined {
    const hashes: Record<string, string | null> = {
        "1.2.840.113549.1.1.5": "sha1",
        "1.2.840.113549.1.1.11": "sha256",
        "1.2.840.113549.1.1.12": "sha384",
        "1.2.840.113549.1.1.13": "sha512",
        "1.2.840.10045.4.1": "sha1",
        "1.2.840.10045.4.3.2": "sha256",
        "1.2.840.10045.4.3.3": "sha384",
        "1.2.840.10045.4.3.4": "sha512",
        "1.3.101.112": null,
    };
    return hashes[oid];
}
