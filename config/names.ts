import { clientNamesOf } from "../domain/clients";
import { ConfigProblems } from "./problems";
import type { ConfigSettings } from "./types";
import { Check, show, stringList } from "./values";

// A CN ends up in certificate subjects, Nginx map keys and shell commands: keep it to a safe alphabet.
const clientNamePattern = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
const clientNameAllowed = "a client name is 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit";

/** One client name (a certificate CN). */
export const checkClientName: Check = (name) => {
    if (name.length === 0) {
        return `contains an empty client name; allowed: ${clientNameAllowed}`;
    }
    if (!clientNamePattern.test(name)) {
        return `${show(name)} is not allowed; allowed: ${clientNameAllowed}`;
    }
    return undefined;
};

/**
 * Two names are one to Nginx when they differ only in case: the allowlists are `map` blocks on the
 * client CN, and a map compares strings case-insensitively.
 */
export function nginxNameKey(name: string): string {
    return name.toLowerCase();
}

/** A list of client names, unique as Nginx compares them. */
export function clientNameList(emptyMessage?: string) {
    return stringList({
        noun: "client name",
        item: checkClientName,
        sameness: {
            normalize: nginxNameKey,
            why: "Nginx's map compares client names case-insensitively",
            qualifier: "regardless of case",
        },
        emptyMessage,
    });
}

/**
 * Every name must be a client, spelt as in clients. A name that matches only when case is ignored
 * would still match in Nginx's map, but not in the certificates and CRLs: it is an error that names
 * the right spelling.
 */
export function checkClientReferences(
    key: string,
    names: readonly string[],
    clients: readonly string[],
    problems: ConfigProblems,
): void {
    for (const name of names) {
        if (clients.includes(name)) {
            continue;
        }
        const spelling = clients.find((client) => nginxNameKey(client) === nginxNameKey(name));
        problems.add(
            key,
            spelling === undefined
                ? `${show(name)} is not in clients; allowed: a name from mtls-nginx:clients (${clients.join(", ")})`
                : `${show(name)} is spelt ${show(spelling)} in clients; allowed: a name from mtls-nginx:clients, ` +
                      `spelt exactly as there (${clients.join(", ")})`,
        );
    }
}

/** Names concern: revoked clients must be clients. */
export function validateClientReferences(settings: Partial<ConfigSettings>, problems: ConfigProblems): void {
    if (settings.clients !== undefined && settings.revokedClients !== undefined) {
        const clientNames = clientNamesOf(settings.clients);
        checkClientReferences("revokedClients", settings.revokedClients, clientNames, problems);
    }
}

const organizationPattern = /^[A-Za-z0-9][A-Za-z0-9 ._-]{0,63}$/;

/** The O of every certificate subject. */
export const checkOrganization: Check = (organization) =>
    organizationPattern.test(organization)
        ? undefined
        : `${show(organization)} is not allowed; allowed: 1-64 letters, digits, spaces, '.', '_' or '-', ` +
          "starting with a letter or digit";
