/**
 * The `clients` key: each entry a name (the stack makes the client's key) or `{name, csr}`, a client
 * that brings its own key as a PKCS#10 request the CA signs; in stack config also `{name, csrFile}`,
 * the request read from a file (config/files.ts), which becomes `{name, csr}`. Every request is
 * checked here, before any resource is registered, and each failure is named.
 */

import { parseCertificateRequest, type CertificateRequest } from "../domain/csr";
import { privateKeyArgs } from "../domain/certificateProfiles";
import { ClientEntry, clientNamesOf } from "../domain/clients";
import { keyAlgorithms } from "../domain/pki";
import { keyAlgorithmProblems, keySizeProblems, type KeyAlgorithmLimits, type KeySizeLimits } from "../policy/pki";
import { namesFiles, readNamedFile } from "./files";
import { checkClientName, nginxNameKey } from "./names";
import { ConfigProblems } from "./problems";
import type { ConfigContext } from "./types";
import { duplicates, Parse, show } from "./values";

/** The fields of an object entry: in MtlsEndpoint args, and in stack config (which may name a file). */
export const clientEntryFields = ["name", "csr"] as const;
export const stackClientEntryFields = [...clientEntryFields, "csrFile"] as const;

/**
 * The key types a request may carry: those the stack itself issues (domain/pki.ts's keyAlgorithms),
 * judged by the policy pack's own key rules (policy/pki.ts).
 */
export const requestKeyLimits: KeyAlgorithmLimits & KeySizeLimits = (() => {
    const keys = keyAlgorithms.map(privateKeyArgs);
    return {
        allowedAlgorithms: [...new Set(keys.map((key) => key.algorithm))],
        allowedEcdsaCurves: keys.flatMap((key) => key.ecdsaCurve ?? []),
        minimumRsaBits: Math.min(...keys.flatMap((key) => key.rsaBits ?? [])),
    };
})();

const requestAllowed =
    'one PEM "CERTIFICATE REQUEST" block (PKCS#10), as `openssl req -new` writes it, signed by the client\'s key';

/** What is wrong with a client's request, one message per failure (empty: the CA may sign it). */
export function requestProblems(csr: string, clientName: string): string[] {
    let request: CertificateRequest;
    try {
        request = parseCertificateRequest(csr);
    } catch (error) {
        return [`does not parse (${(error as Error).message}); allowed: ${requestAllowed}`];
    }
    return [
        ...signatureProblems(request),
        ...commonNameProblems(request, clientName),
        ...keyProblems(request),
        ...(request.requestsCa
            ? [
                  "requests basicConstraints CA:TRUE; allowed: a request without it (the stack only ever issues a " +
                      "client leaf, whatever a request asks: ask the client for a request without the CA extension)",
              ]
            : []),
    ];
}

function signatureProblems(request: CertificateRequest): string[] {
    if (request.signatureValid) {
        return [];
    }
    return [
        /^[0-9.]+$/.test(request.signatureAlgorithm)
            ? `is signed with an algorithm the stack does not verify (OID ${request.signatureAlgorithm}); ` +
              "allowed: SHA-256, SHA-384 or SHA-512 with RSA (PKCS#1 v1.5) or ECDSA"
            : `its signature (${request.signatureAlgorithm}) does not verify with the key it carries, so it was ` +
              "altered or damaged; allowed: the request exactly as the client's key signed it",
    ];
}

function commonNameProblems(request: CertificateRequest, clientName: string): string[] {
    const [commonName, ...more] = request.commonNames;
    if (commonName === clientName && more.length === 0) {
        return [];
    }
    const found =
        request.commonNames.length === 0
            ? "has no subject CN"
            : more.length > 0
              ? `has ${request.commonNames.length} subject CNs (${request.commonNames.map(show).join(", ")})`
              : `has subject CN ${show(commonName)}, not the client's name ${show(clientName)}`;
    return [
        `${found}; allowed: exactly one CN, equal to the client's name ${show(clientName)} (case included: the ` +
            "certificate's CN is the name allowlists and revocation go by)",
    ];
}

function keyProblems(request: CertificateRequest): string[] {
    const problems = [
        ...keyAlgorithmProblems(request.key, requestKeyLimits),
        ...keySizeProblems(request.key, requestKeyLimits),
    ];
    return problems.length === 0
        ? []
        : [
              `its key is not allowed: ${problems.join("; ")} (the stack's key algorithms: ` +
                  `${keyAlgorithms.join(", ")})`,
          ];
}

const csrFileAllowed =
    "the path of a file that holds the client's PEM CERTIFICATE REQUEST, relative to the project directory " +
    "(where Pulumi.yaml is) or absolute";

const listAllowed = (files: boolean) =>
    'a list like ["a", "b"] of client names, or of {"name": ..., "csr": PEM} objects' +
    (files ? ', or of {"name": ..., "csrFile": path} objects' : "");

/** Whether an entry has an entry's shape: a string, or an object (its fields are checked after). */
function isEntryShaped(entry: unknown): entry is string | object {
    return typeof entry === "string" || (typeof entry === "object" && entry !== null && !Array.isArray(entry));
}

/**
 * Reads one entry: a name (problems under the list's key, as before objects), or an object (under
 * `key[i].field`): {name, csr}, or in stack config {name, csrFile}, read into {name, csr}.
 */
function parseEntry(
    entry: string | object,
    listKey: string,
    key: string,
    problems: ConfigProblems,
    context: ConfigContext | undefined,
): ClientEntry | undefined {
    if (typeof entry === "string") {
        const problem = checkClientName(entry);
        return problem === undefined ? entry : (problems.add(listKey, problem), undefined);
    }
    const fields = new Map(Object.entries(entry));
    const allowedFields: readonly string[] = namesFiles(context) ? stackClientEntryFields : clientEntryFields;
    let valid = true;
    for (const field of fields.keys()) {
        if (!allowedFields.includes(field)) {
            problems.add(
                `${key}.${field}`,
                field === "csrFile"
                    ? "is read from stack config only (an MtlsEndpoint reads no files); allowed: csr, the PEM " +
                          "itself (a program reads the file and passes what it holds)"
                    : `unknown field; allowed: ${allowedFields.join(", ")}`,
            );
            valid = false;
        }
    }
    const name = fields.get("name");
    const nameProblem = typeof name === "string" ? checkClientName(name) : `${show(name)} is not a client name`;
    if (nameProblem !== undefined) {
        problems.add(`${key}.name`, nameProblem);
        valid = false;
    }
    const request = requestOf(fields, key, problems, context);
    if (request === undefined) {
        return undefined;
    }
    if (typeof name === "string") {
        for (const problem of requestProblems(request.csr, name)) {
            problems.add(request.key, request.file === undefined ? problem : `${request.file}: ${problem}`);
            valid = false;
        }
    }
    return valid ? { name: name as string, csr: request.csr } : undefined;
}

/** An entry's request: the PEM, the key its problems go under, and the file it was read from (if any). */
interface EntryRequest {
    readonly csr: string;
    readonly key: string;
    readonly file?: string;
}

/** The request an object entry brings (csr, or csrFile read), or undefined with the problem reported. */
function requestOf(
    fields: ReadonlyMap<string, unknown>,
    key: string,
    problems: ConfigProblems,
    context: ConfigContext | undefined,
): EntryRequest | undefined {
    const files = namesFiles(context);
    if (!files && fields.has("csrFile")) {
        return undefined; // refused as a field above
    }
    if (files && fields.has("csrFile")) {
        if (fields.has("csr")) {
            problems.add(
                key,
                `has both csr and csrFile; allowed: one of them (csr: the PEM itself; csrFile: ${csrFileAllowed})`,
            );
            return undefined;
        }
        const read = readNamedFile(fields.get("csrFile"), `${key}.csrFile`, csrFileAllowed, context, problems);
        return read && { csr: read.text, key: `${key}.csrFile`, file: read.file };
    }
    const csr = fields.get("csr");
    if (typeof csr !== "string") {
        problems.add(
            `${key}.csr`,
            !fields.has("csr") && files
                ? `is not set, nor is csrFile; allowed: csr, ${requestAllowed}, or csrFile, ${csrFileAllowed}`
                : `${show(csr)} is not allowed; allowed: ${requestAllowed}`,
        );
        return undefined;
    }
    return { csr, key: `${key}.csr` };
}

/**
 * The `clients` list (or the list a clients file holds, under its key): every entry read and
 * checked, each name once regardless of case (as Nginx compares them).
 */
export function clientEntryList(emptyMessage: string): Parse<ClientEntry[]> {
    return (value, key, problems, context) => {
        if (!Array.isArray(value) || !value.every(isEntryShaped)) {
            problems.add(key, `${show(value)} is not a list of clients; allowed: ${listAllowed(namesFiles(context))}`);
            return undefined;
        }
        if (value.length === 0) {
            problems.add(key, emptyMessage);
            return undefined;
        }
        const entries = value.map((entry, index) => parseEntry(entry, key, `${key}[${index}]`, problems, context));
        const names = clientNamesOf(entries.filter((entry): entry is ClientEntry => entry !== undefined));
        for (const duplicate of duplicates(names, nginxNameKey)) {
            const message =
                duplicate.item === duplicate.first
                    ? `${show(duplicate.item)} is listed twice`
                    : `${show(duplicate.item)} repeats ${show(duplicate.first)} (Nginx's map compares client names case-insensitively)`;
            problems.add(key, `${message}; allowed: each client name once, regardless of case`);
        }
        return problems.touches(key) ? undefined : (entries as ClientEntry[]);
    };
}
