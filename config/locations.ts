import { LocationConfig, locationFields } from "../domain/endpoint";
import { checkClientReferences, clientNameList } from "./names";
import { checkUpstreamUrl } from "./network";
import { clientNamesOf } from "../domain/clients";
import { ConfigProblems } from "./problems";
import type { ConfigSettings } from "./types";
import { flag, Parse, show, text } from "./values";

const locationPathAllowed =
    "a prefix starting with '/', of letters, digits and ./_~-, with no '//' and no '.' or '..' segment";

/**
 * Why a location prefix can never match, or undefined. Nginx decodes %XX, resolves "." and "..",
 * merges slashes and drops "?query" before it matches a location: a prefix holding any of those
 * matches nothing.
 */
export function locationPathProblem(path: string): string | undefined {
    if (!path.startsWith("/")) {
        return "does not start with '/'";
    }
    if (/\s/.test(path)) {
        return "has whitespace";
    }
    if (path.includes("?") || path.includes("#")) {
        return "has a '?' or '#' (Nginx matches the path alone)";
    }
    if (path.includes("//")) {
        return "has '//' (Nginx merges slashes before matching)";
    }
    if (/\/\.\.?(\/|$)/.test(path)) {
        return "has a '.' or '..' segment (Nginx resolves those before matching)";
    }
    if (path.includes("%")) {
        return "has a '%' (Nginx decodes escapes before matching)";
    }
    if (!/^\/[A-Za-z0-9._~/-]*$/.test(path)) {
        return "has characters other than letters, digits and ./_~-";
    }
    return undefined;
}

const allowedClientList = clientNameList(
    "is empty, which would refuse every client; allowed: a non-empty list of names from mtls-nginx:clients " +
        "(omit allowedClients to admit every client)",
);
const requireClientCertificateFlag = flag();
const proxyPassText = text(checkUpstreamUrl);

/**
 * Reads `locations`. Reports every problem of every location; returns the locations with the fields
 * that did parse (a bad field is left out) so the cross-key checks still run. The result is only
 * used once no problem at all was reported.
 */
export const parseLocations: Parse<LocationConfig[]> = (value, key, problems) => {
    if (!Array.isArray(value) || value.length === 0) {
        problems.add(key, `${show(value)} is not allowed; allowed: a non-empty list of objects like {"path": "/"}`);
        return undefined;
    }
    const locations = value.map((entry: unknown, index) => parseLocation(entry, `${key}[${index}]`, problems));
    const seen = new Set<string>();
    locations.forEach((location, index) => {
        if (seen.has(location.path)) {
            problems.add(`${key}[${index}].path`, `${show(location.path)} is listed twice; allowed: each path once`);
        }
        if (location.path !== "") {
            seen.add(location.path);
        }
    });
    return locations;
};

function parseLocation(entry: unknown, key: string, problems: ConfigProblems): LocationConfig {
    const unusable = { path: "", requireClientCertificate: true };
    if (typeof entry !== "object" || entry === null || Array.isArray(entry)) {
        problems.add(key, `${show(entry)} is not allowed; allowed: an object like {"path": "/"}`);
        return unusable;
    }
    const fields = new Map(Object.entries(entry));
    for (const field of fields.keys()) {
        if (!(locationFields as readonly string[]).includes(field)) {
            problems.add(`${key}.${field}`, `unknown field; allowed: ${locationFields.join(", ")}`);
        }
    }
    const path = fields.get("path");
    const pathProblem =
        path === undefined ? "is missing" : typeof path === "string" ? locationPathProblem(path) : "is not a string";
    if (pathProblem !== undefined) {
        const shown = path === undefined ? "the path" : show(path);
        problems.add(`${key}.path`, `${shown} ${pathProblem}; allowed: ${locationPathAllowed}`);
    }
    const location: { -readonly [F in keyof LocationConfig]: LocationConfig[F] } = {
        path: pathProblem === undefined ? (path as string) : "",
        requireClientCertificate: true,
    };
    if (fields.has("allowedClients")) {
        const allowedClients = allowedClientList(fields.get("allowedClients"), `${key}.allowedClients`, problems);
        if (allowedClients !== undefined) {
            location.allowedClients = allowedClients;
        }
    }
    if (fields.has("requireClientCertificate")) {
        const required = requireClientCertificateFlag(
            fields.get("requireClientCertificate"),
            `${key}.requireClientCertificate`,
            problems,
        );
        location.requireClientCertificate = required ?? true;
        if (required === false && fields.has("allowedClients")) {
            problems.add(
                `${key}.allowedClients`,
                "a public location (requireClientCertificate: false) cannot have an allowlist; " +
                    "allowed: allowedClients only where a client certificate is required",
            );
        }
    }
    if (fields.has("proxyPass")) {
        const proxyPass = proxyPassText(fields.get("proxyPass"), `${key}.proxyPass`, problems);
        if (proxyPass !== undefined) {
            location.proxyPass = proxyPass;
        }
    }
    return location;
}

/** Upstream concern, across keys: CAs for https upstreams mean nothing without one; say so instead of ignoring them. */
export function validateUpstreamTrust(settings: Partial<ConfigSettings>, problems: ConfigProblems): void {
    const { upstreamCaCertificates, locations } = settings;
    if (!upstreamCaCertificates || locations === undefined) {
        return;
    }
    if (!locations.some((location) => location.proxyPass?.startsWith("https://"))) {
        problems.add(
            "upstreamCaCertificates",
            "is only used with an https:// proxyPass, and no location has one; allowed: empty, or a location " +
                'with "proxyPass": "https://..."',
        );
    }
}

/** Locations concern, across keys: allowlists name clients; public locations need verifyClient "optional". */
export function validateLocationAccess(settings: Partial<ConfigSettings>, problems: ConfigProblems): void {
    const { locations, clients, verifyClient } = settings;
    locations?.forEach((location, index) => {
        const key = `locations[${index}]`;
        if (location.allowedClients !== undefined && clients !== undefined) {
            const clientNames = clientNamesOf(clients);
            checkClientReferences(`${key}.allowedClients`, location.allowedClients, clientNames, problems);
        }
        if (!location.requireClientCertificate && verifyClient === "on") {
            problems.add(
                `${key}.requireClientCertificate`,
                'false needs verifyClient "optional"; with "on" every request must present a certificate; ' +
                    'allowed: true, or false with mtls-nginx:verifyClient "optional"',
            );
        }
    });
}
