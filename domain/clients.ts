/** The clients of an endpoint as config lists them: a name, or a name with the CSR its owner brings. */

/** A client that brings its own key: its name, and the request the CA signs. */
export interface ClientWithCsr {
    readonly name: string;
    /** PEM CERTIFICATE REQUEST (its subject CN is the name); the key stays with the client. */
    readonly csr: string;
}

/** One entry of `clients`, as written: a name (the stack makes the key), or a client with its CSR. */
export type ClientEntry = string | ClientWithCsr;

/** The names of a clients list. */
export function clientNamesOf(entries: readonly ClientEntry[]): string[] {
    return entries.map((entry) => (typeof entry === "string" ? entry : entry.name));
}

/** The clients that brought a request, their CSR by name: their key is theirs, and the stack holds none. */
export function requestsOf(entries: readonly ClientEntry[]): Record<string, string> {
    return Object.fromEntries(entries.flatMap((entry) => (typeof entry === "string" ? [] : [[entry.name, entry.csr]])));
}

/** The clients list again, from its names and the requests by name: a client with a request is {name, csr}. */
export function clientEntriesOf(names: readonly string[], requests: Readonly<Record<string, string>>): ClientEntry[] {
    return names.map((name) => (Object.hasOwn(requests, name) ? { name, csr: requests[name] } : name));
}
