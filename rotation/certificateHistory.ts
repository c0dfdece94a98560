/**
 * Every certificate each client name has held that has not expired: what revoking the name must
 * refuse. A rotation or a CA rollover issues a new certificate, but the one it replaces stays valid
 * until it expires, and it stays trusted while its CA is. So the stack keeps the serial and expiry of
 * each certificate it issued (public facts: no key, no PEM) and carries them from one deployment to
 * the next in the `clientCertificateSerials` output, dropping each once it has expired.
 */
import { parseCertificates, validityEnd } from "../domain/x509";

/** One issued certificate, as a CRL names it. */
export interface IssuedSerial {
    /** The serial number, upper-case hex without separators (as OpenSSL's CA database writes it). */
    readonly serial: string;
    /** When it stops being valid (RFC 3339). */
    readonly notAfter: string;
}

/** Issued certificates by client name, oldest first. */
export type CertificateHistory = Record<string, IssuedSerial[]>;

/** The serial and expiry of each certificate in a PEM text (none for text without a certificate). */
export function issuedSerialsOf(pem: string): IssuedSerial[] {
    return parseCertificates(pem).map((certificate) => ({
        serial: normalSerial(certificate.serialNumber),
        notAfter: validityEnd(certificate),
    }));
}

/** Reads a previous `clientCertificateSerials` output defensively: anything malformed counts as none. */
export function parseCertificateHistory(value: unknown): CertificateHistory {
    if (typeof value !== "object" || value === null || Array.isArray(value)) {
        return {};
    }
    const history: CertificateHistory = {};
    for (const [clientName, entries] of Object.entries(value as Record<string, unknown>)) {
        if (!Array.isArray(entries)) {
            continue;
        }
        const valid = entries.filter(isIssuedSerial).map((entry) => ({
            serial: normalSerial(entry.serial),
            notAfter: entry.notAfter,
        }));
        if (valid.length > 0) {
            history[clientName] = valid;
        }
    }
    return history;
}

/**
 * The history after this deployment: what was recorded before and what is issued now, per name,
 * without duplicates and without anything expired at `now`. A name no longer configured keeps its
 * entries until they expire, so that revoking it after re-adding it still refuses them all.
 */
export function nextCertificateHistory(
    previous: CertificateHistory,
    current: Readonly<Record<string, readonly IssuedSerial[]>>,
    now: Date,
): CertificateHistory {
    const names = [...new Set([...Object.keys(previous), ...Object.keys(current)])].sort();
    const history: CertificateHistory = {};
    for (const name of names) {
        const bySerial = new Map<string, IssuedSerial>();
        for (const entry of [...(previous[name] ?? []), ...(current[name] ?? [])]) {
            if (Date.parse(entry.notAfter) > now.getTime()) {
                bySerial.set(entry.serial, entry);
            }
        }
        const entries = [...bySerial.values()].sort(
            (a, b) => Date.parse(a.notAfter) - Date.parse(b.notAfter) || a.serial.localeCompare(b.serial),
        );
        if (entries.length > 0) {
            history[name] = entries;
        }
    }
    return history;
}

/** A client no longer configured whose certificates have not all expired. */
export interface RemovedClient {
    readonly name: string;
    /** How many of its certificates are still valid. */
    readonly certificates: number;
    /** When the last of them expires (RFC 3339). */
    readonly validUntil: string;
}

/**
 * The names `history` holds unexpired certificates of at `now` that are not among `clients`, by name.
 * Each of those certificates still passes the endpoint's certificate check: it chains to a trusted CA,
 * and no CRL names it (only a configured client can be revoked).
 */
export function removedClientsStillValid(
    history: CertificateHistory,
    clients: readonly string[],
    now: Date,
): RemovedClient[] {
    const configured = new Set(clients);
    return Object.entries(history)
        .filter(([name]) => !configured.has(name))
        .map(([name, entries]) => ({
            name,
            valid: entries.filter((entry) => Date.parse(entry.notAfter) > now.getTime()),
        }))
        .filter(({ valid }) => valid.length > 0)
        .map(({ name, valid }) => ({
            name,
            certificates: valid.length,
            validUntil: valid.map((entry) => entry.notAfter).reduce((a, b) => (Date.parse(b) > Date.parse(a) ? b : a)),
        }))
        .sort((a, b) => a.name.localeCompare(b.name));
}

/** Every unexpired certificate of the named clients: what the CRLs must list. */
export function revokedSerials(history: CertificateHistory, clientNames: readonly string[]): IssuedSerial[] {
    return clientNames.flatMap((name) => history[name] ?? []);
}

function isIssuedSerial(value: unknown): value is IssuedSerial {
    if (typeof value !== "object" || value === null) {
        return false;
    }
    const { serial, notAfter } = value as Record<string, unknown>;
    return (
        typeof serial === "string" &&
        /^[0-9A-Fa-f]{1,40}$/.test(serial) &&
        typeof notAfter === "string" &&
        !Number.isNaN(Date.parse(notAfter))
    );
}

/** Upper-case hex of even length, no leading zero bytes beyond one: the CA database's form. */
function normalSerial(serial: string): string {
    const hex = serial.toUpperCase().replace(/^(00)+(?=[0-9A-F]{2})/, "");
    return hex.length % 2 === 0 ? hex : `0${hex}`;
}
