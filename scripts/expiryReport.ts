/**
 * The expiry report behind `npm run status`: plain data in (stack outputs, facts the CLI read from
 * the deployment), rows and an exit decision out. No I/O here; X509 parsing is pure computation.
 */
import { X509Certificate } from "crypto";
import { parseCertificateHistory, RemovedClient, removedClientsStillValid } from "../rotation/certificateHistory";
import { parseRotationState } from "../rotation/rotationSchedule";

const dayMs = 24 * 3600 * 1000;
/** Certificates carry whole seconds; an RFC 3339 expiry and an X509 notAfter within this are the same. */
const sameInstantMs = 1000;

/** The stack outputs the report reads, as `pulumi stack output --json` prints them. */
export interface StatusOutputs {
    readonly certificateExpiries: Record<string, string>;
    readonly rotationState?: unknown;
    readonly rotationDue?: Record<string, string>;
    /** Every unexpired certificate issued per client name (rotation/certificateHistory.ts). */
    readonly clientCertificateSerials?: unknown;
}

/** What the CLI learnt beyond the records; undefined fields could not be told. */
export interface DeploymentFacts {
    /** The CA slot ("a", "b") whose certificates issue the leaves now. */
    readonly activeCaSlot?: string;
    /** Clients named by the deployed CRLs ([] when no CRL is deployed). */
    readonly revokedClients?: readonly string[];
    /** Earliest next update among the deployed CRLs (RFC 3339): what Nginx enforces. */
    readonly crlNextUpdate?: string;
}

export type ItemKind = "server" | "client" | "ca" | "crl" | "other";

/**
 * Where a CA stands in the three-step rollover (see docs/rotation.md, "Roll the CA over"):
 * none / needed (the only CA, and due); introduced (trusted, not issuing yet) with its partner
 * handing-over (still issuing); took-over (issuing) with its partner retire (old, still trusted).
 */
export type RolloverStage = "none" | "needed" | "introduced" | "handing-over" | "took-over" | "retire" | "unknown";

export interface ExpiryRow {
    /** Item name as in certificateExpiries / rotationState: "server", "client-alice", "ca-root", "crl". */
    readonly item: string;
    readonly kind: ItemKind;
    /** RFC 3339, or what the outputs held when it does not parse. */
    readonly notAfter: string;
    /** Fractional days until expiry (negative once expired; NaN when the expiry does not parse). */
    readonly daysLeft: number;
    readonly expired: boolean;
    /** Listed in rotationDue and not re-issued since: for a CA, a rollover is needed. */
    readonly due: boolean;
    /** Listed in rotationDue with a different old expiry: the last `up` re-issued it. */
    readonly rotatedAtLastUp: boolean;
    /** Clients only; undefined when the CRLs could not be read. */
    readonly revoked?: boolean;
    /** CAs only. */
    readonly rollover?: RolloverStage;
    /** Expires within the warning window (or its expiry is unknown), and it matters (not revoked). */
    readonly alert: boolean;
}

export interface ExpiryReport {
    readonly generatedAt: string;
    readonly warnDays: number;
    readonly rows: ExpiryRow[];
    /** Items whose row alerts. */
    readonly expiring: string[];
    /**
     * Clients taken out of `clients` without a revocation whose certificates have not all expired: no
     * CRL names them, so the endpoint still admits them until then. Not rows: their expiry is good news.
     */
    readonly removedClients: RemovedClient[];
}

export interface ReportOptions {
    readonly now: Date;
    /** Alert on anything that expires within this many days. */
    readonly warnDays: number;
}

/** What an item name says about the item: its kind, and the client name or CA slot. */
export function classifyItem(item: string): { kind: ItemKind; client?: string; caSlot?: string } {
    if (item === "server" || item === "crl") {
        return { kind: item };
    }
    const client = /^client-(.+)$/.exec(item);
    if (client) {
        return { kind: "client", client: client[1] };
    }
    // Slot a's items are "ca-root" / "ca-intermediate", slot b's "ca-b-root" / "ca-b-intermediate" (stack.ts).
    const ca = /^ca(?:-([a-z]))?-(?:root|intermediate)$/.exec(item);
    if (ca) {
        return { kind: "ca", caSlot: ca[1] ?? "a" };
    }
    return { kind: "other" };
}

/** A client's item name (as rotationState and certificateExpiries name it): the inverse of classifyItem's. */
export function clientItem(clientName: string): string {
    return `client-${clientName}`;
}

export function buildExpiryReport(
    outputs: StatusOutputs,
    facts: DeploymentFacts,
    options: ReportOptions,
): ExpiryReport {
    const state = parseRotationState(outputs.rotationState);
    const due = outputs.rotationDue ?? {};
    const expiries: Record<string, string> = { ...outputs.certificateExpiries };
    // The CRL is only in rotationState; prefer the deployed CRLs' own next update when it was read.
    if (state.crl || facts.crlNextUpdate) {
        expiries.crl = facts.crlNextUpdate ?? state.crl.notAfter;
    }
    const rollover = rolloverStages(expiries, due, facts.activeCaSlot);
    const rows = Object.keys(expiries)
        .sort(byKindThenName)
        .map((item): ExpiryRow => {
            const { kind, client, caSlot } = classifyItem(item);
            const notAfter = expiries[item];
            const daysLeft = (Date.parse(notAfter) - options.now.getTime()) / dayMs;
            const revoked =
                client === undefined || facts.revokedClients === undefined
                    ? undefined
                    : facts.revokedClients.includes(client);
            const listedDue = item in due;
            const rotatedAtLastUp = listedDue && !sameInstant(due[item], notAfter);
            return {
                item,
                kind,
                notAfter,
                daysLeft,
                expired: daysLeft <= 0,
                due: listedDue && !rotatedAtLastUp,
                rotatedAtLastUp,
                ...(kind === "client" ? { revoked } : {}),
                ...(caSlot !== undefined ? { rollover: rollover.get(caSlot) ?? "unknown" } : {}),
                // A revoked certificate expiring is good news; an unknown expiry is worth a look.
                alert: revoked !== true && !(daysLeft > options.warnDays),
            };
        });
    // Every configured client has a certificate record (a revoked one keeps its last). A stack waiting
    // for its intermediate's signature has none, and then nobody can be told removed.
    const configuredClients = rows.flatMap((row) => (row.kind === "client" ? [classifyItem(row.item).client!] : []));
    const history = configuredClients.length > 0 ? parseCertificateHistory(outputs.clientCertificateSerials) : {};
    return {
        generatedAt: options.now.toISOString(),
        warnDays: options.warnDays,
        rows,
        expiring: rows.filter((row) => row.alert).map((row) => row.item),
        removedClients: removedClientsStillValid(history, configuredClients, options.now),
    };
}

/** Rollover stage per CA slot, from which slots are trusted, which one issues, and which is newer. */
export function rolloverStages(
    expiries: Record<string, string>,
    due: Record<string, string>,
    activeSlot: string | undefined,
): Map<string, RolloverStage> {
    const slotExpiry = new Map<string, number>();
    const slotDue = new Set<string>();
    for (const [item, notAfter] of Object.entries(expiries)) {
        const { caSlot } = classifyItem(item);
        if (caSlot === undefined) continue;
        // A root outlives its intermediate: the root's expiry tells which CA is the newer one.
        slotExpiry.set(caSlot, Math.max(slotExpiry.get(caSlot) ?? -Infinity, Date.parse(notAfter)));
        if (item in due) slotDue.add(caSlot);
    }
    const slots = [...slotExpiry.keys()];
    const stages = new Map<string, RolloverStage>();
    if (slots.length === 1) {
        stages.set(slots[0], slotDue.has(slots[0]) ? "needed" : "none");
        return stages;
    }
    if (activeSlot === undefined || !slotExpiry.has(activeSlot)) {
        return stages;
    }
    for (const slot of slots.filter((candidate) => candidate !== activeSlot)) {
        const newer = slotExpiry.get(slot)! > slotExpiry.get(activeSlot)!;
        stages.set(slot, newer ? "introduced" : "retire");
        stages.set(activeSlot, newer ? "handing-over" : "took-over");
    }
    return stages;
}

const kindOrder: ItemKind[] = ["ca", "server", "client", "crl", "other"];

function byKindThenName(left: string, right: string): number {
    const order = kindOrder.indexOf(classifyItem(left).kind) - kindOrder.indexOf(classifyItem(right).kind);
    return order !== 0 ? order : left.localeCompare(right);
}

function sameInstant(left: string, right: string): boolean {
    return Math.abs(Date.parse(left) - Date.parse(right)) < sameInstantMs;
}

/** Every certificate in a PEM bundle, in order. */
export function parseCertificateBundle(pem: string): X509Certificate[] {
    const blocks = pem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
    return blocks.map((block) => new X509Certificate(block));
}

/** The CA certificate in `authorities` that signed `certificate`, if any. */
export function findIssuer(certificate: X509Certificate, authorities: X509Certificate[]): X509Certificate | undefined {
    return authorities.find(
        (authority) => certificate.checkIssued(authority) && certificate.verify(authority.publicKey),
    );
}

/**
 * The CA slot that issues now: the issuer of the most recently issued client certificate (a CA
 * change re-issues every client that is not revoked; revoked ones are frozen, hence older), matched
 * to a CA item by expiry. Undefined when nothing matches or two slots' CAs expire at the same second.
 */
export function findActiveCaSlot(
    certificateExpiries: Record<string, string>,
    caBundlePem: string,
    clientCertificatePems: Record<string, string>,
): string | undefined {
    const issuer = newestClientIssuer(caBundlePem, clientCertificatePems);
    if (!issuer) {
        return undefined;
    }
    const slots = new Set(
        Object.entries(certificateExpiries)
            .filter(([item, notAfter]) => classifyItem(item).kind === "ca" && sameInstant(notAfter, issuer.validTo))
            .map(([item]) => classifyItem(item).caSlot),
    );
    return slots.size === 1 ? [...slots][0] : undefined;
}

/** Serials as hex without leading zeros, upper case: how openssl and Node print them differs. */
export function normalizeSerial(serial: string): string {
    return serial
        .replace(/[^0-9a-f]/gi, "")
        .replace(/^0+(?=.)/, "")
        .toUpperCase();
}

/** What `openssl crl -noout -text` says about one CRL: its next update and the serials it revokes. */
export function parseCrlText(text: string): { nextUpdate?: string; revokedSerials: string[] } {
    const nextUpdate = /Next Update: (.+)/.exec(text)?.[1].trim();
    const revokedSerials = [...text.matchAll(/Serial Number: ([0-9A-Fa-f:]+)/g)].map((match) =>
        normalizeSerial(match[1]),
    );
    return {
        nextUpdate:
            nextUpdate && !Number.isNaN(Date.parse(nextUpdate)) ? new Date(nextUpdate).toISOString() : undefined,
        revokedSerials,
    };
}

/** Clients whose certificate serial a CRL names. */
export function revokedClientNames(
    clientCertificatePems: Record<string, string>,
    revokedSerials: readonly string[],
): string[] {
    const revoked = new Set(revokedSerials.map(normalizeSerial));
    return Object.entries(clientCertificatePems)
        .filter(([, pem]) => revoked.has(normalizeSerial(new X509Certificate(pem).serialNumber)))
        .map(([client]) => client);
}

/** The issuer (in the trust bundle) of the most recently issued client certificate. */
export function newestClientIssuer(
    caBundlePem: string,
    clientCertificatePems: Record<string, string>,
): X509Certificate | undefined {
    const newestClient = Object.values(clientCertificatePems)
        .map((pem) => new X509Certificate(pem))
        .sort((left, right) => Date.parse(right.validFrom) - Date.parse(left.validFrom))[0];
    return newestClient && findIssuer(newestClient, parseCertificateBundle(caBundlePem));
}

/** Where the stack publishes the endpoint: the `--resolve` pin of its curl lines, else the URL's own host. */
export function publishedEndpoint(
    endpointUrl: string,
    curlCommands: Record<string, string> | undefined,
): { host: string; port: number } {
    const url = new URL(endpointUrl);
    const port = url.port === "" ? 443 : Number(url.port);
    // curl's --resolve is NAME:PORT:ADDRESS, the address bracketed when it is IPv6.
    const pin = Object.values(curlCommands ?? {})
        .map((line) => /--resolve [^:\s]+:\d+:(\S+)/.exec(line)?.[1])
        .find((address) => address !== undefined);
    const host = (pin ?? url.hostname).replace(/^\[(.*)\]$/, "$1");
    return { host, port };
}

/** What state says the endpoint should serve. */
export interface ExpectedServerCertificate {
    readonly serverName: string;
    /** certificateExpiries.server. */
    readonly notAfter?: string;
    /** caCertificatePem. */
    readonly caBundlePem: string;
    /** The issuing CA, when known (see newestClientIssuer). */
    readonly issuer?: X509Certificate;
    /** The server certificate itself: makes the comparison exact (not a stack output today). */
    readonly certificatePem?: string;
}

export interface EndpointCheck {
    /** host:port connected to. */
    readonly address: string;
    readonly serverName: string;
    readonly reachable: boolean;
    readonly matches: boolean;
    /** True when compared by fingerprint with the certificate in state; false: by name, expiry and issuer. */
    readonly exact: boolean;
    /** One line per comparison, each starting "ok" or "MISMATCH". */
    readonly checks: string[];
    readonly served?: { subject: string; serialNumber: string; fingerprint256: string; notAfter: string };
    readonly error?: string;
}

/** Compares the leaf the endpoint served with what state says it should serve. */
export function compareServedCertificate(
    served: X509Certificate,
    expected: ExpectedServerCertificate,
    now: Date,
): Pick<EndpointCheck, "matches" | "exact" | "checks" | "served"> {
    const checks: string[] = [];
    const check = (ok: boolean, text: string) => checks.push(`${ok ? "ok" : "MISMATCH"}: ${text}`);
    const notAfter = new Date(served.validTo).toISOString();
    check(served.checkHost(expected.serverName) !== undefined, `certificate names ${expected.serverName}`);
    check(Date.parse(served.validTo) > now.getTime(), `certificate valid until ${notAfter}`);
    const exact = expected.certificatePem !== undefined;
    if (expected.certificatePem !== undefined) {
        const inState = new X509Certificate(expected.certificatePem);
        check(inState.fingerprint256 === served.fingerprint256, `SHA-256 fingerprint equals the one in state`);
    } else {
        check(
            expected.notAfter !== undefined && sameInstant(notAfter, expected.notAfter),
            `expiry equals certificateExpiries.server (${expected.notAfter ?? "missing"})`,
        );
        const issuer = findIssuer(served, parseCertificateBundle(expected.caBundlePem));
        check(issuer !== undefined, `signed by a CA in caCertificatePem${issuer ? ` (${commonName(issuer)})` : ""}`);
        if (expected.issuer) {
            check(
                issuer?.fingerprint256 === expected.issuer.fingerprint256,
                `signed by the CA that issues the clients (${commonName(expected.issuer)})`,
            );
        }
    }
    return {
        matches: checks.every((line) => line.startsWith("ok")),
        exact,
        checks,
        served: {
            subject: served.subject.replace(/\n/g, ", "),
            serialNumber: served.serialNumber,
            fingerprint256: served.fingerprint256,
            notAfter,
        },
    };
}

function commonName(certificate: X509Certificate): string {
    return /^CN=(.*)$/m.exec(certificate.subject)?.[1] ?? certificate.subject;
}

/** Exit status bits: cron and CI alert on anything but 0. */
export const statusExitBits = { expiring: 1, endpointMismatch: 2 } as const;

export function statusExitCode(report: ExpiryReport, endpoint?: Pick<EndpointCheck, "matches">): number {
    return (
        (report.expiring.length > 0 ? statusExitBits.expiring : 0) |
        (endpoint && !endpoint.matches ? statusExitBits.endpointMismatch : 0)
    );
}

const rolloverHints: Record<RolloverStage, string> = {
    none: "",
    needed: "rollover needed: introduce the other CA slot",
    introduced: "rollover: introduced (trusted, not issuing yet; next: make it activeCa)",
    "handing-over": "rollover: handing over (a newer CA is trusted beside it)",
    "took-over": "rollover: took over (issuing; the old CA is still trusted)",
    retire: "rollover: retire (old CA, still trusted; drop it once clients hold the new bundle)",
    unknown: "rollover: unknown (two CAs trusted, could not tell which one issues)",
};

/** The STATUS column of one row. */
export function describeRow(row: ExpiryRow, warnDays: number): string {
    const parts: string[] = [];
    if (row.expired) parts.push("EXPIRED");
    else if (row.alert) parts.push(Number.isNaN(row.daysLeft) ? "EXPIRY UNKNOWN" : `EXPIRES WITHIN ${warnDays} DAYS`);
    if (row.due) parts.push(row.kind === "ca" ? "due" : "due (not re-issued yet)");
    if (row.rotatedAtLastUp) parts.push("re-issued at the last up");
    if (row.revoked === true) parts.push("revoked");
    if (row.kind === "client" && row.revoked === undefined) parts.push("revocation unknown");
    if (row.rollover && rolloverHints[row.rollover]) parts.push(rolloverHints[row.rollover]);
    return parts.length > 0 ? parts.join("; ") : "ok";
}

/**
 * The report's lines on clients removed without a revocation (none when there are none): each is
 * still admitted until its last certificate expires.
 */
export function describeRemovedClients(report: Pick<ExpiryReport, "removedClients" | "generatedAt">): string[] {
    if (report.removedClients.length === 0) {
        return [];
    }
    const now = Date.parse(report.generatedAt);
    return [
        "removed from clients but not revoked, so still admitted until their certificates expire (no CRL names them):",
        ...report.removedClients.map(
            (removed) =>
                `  ${removed.name}: ${removed.certificates} certificate(s) valid until ` +
                `${removed.validUntil.slice(0, 16).replace("T", " ")} UTC ` +
                `(${Math.floor((Date.parse(removed.validUntil) - now) / dayMs)} days)`,
        ),
        "  to refuse one now, list it in clients and in revokedClients, then run npm run up (docs/rotation.md)",
        "",
    ];
}

/** The human-readable report. */
export function renderStatusText(stack: string, report: ExpiryReport, endpoint?: EndpointCheck): string {
    const table = [
        ["ITEM", "EXPIRES (UTC)", "DAYS LEFT", "STATUS"],
        ...report.rows.map((row) => [
            row.item,
            Number.isNaN(row.daysLeft)
                ? row.notAfter
                : new Date(row.notAfter).toISOString().slice(0, 16).replace("T", " "),
            Number.isNaN(row.daysLeft) ? "?" : String(Math.floor(row.daysLeft)),
            describeRow(row, report.warnDays),
        ]),
    ];
    const widths = table[0].map((_, column) => Math.max(...table.map((cells) => cells[column].length)));
    const lines = [
        `stack ${stack}, ${report.generatedAt}, warning window ${report.warnDays} days`,
        ...table.map((cells) =>
            cells
                .map((cell, column) => cell.padEnd(widths[column]))
                .join("  ")
                .trimEnd(),
        ),
        "",
        ...describeRemovedClients(report),
    ];
    if (endpoint) {
        const verdict = !endpoint.reachable
            ? `UNREACHABLE: ${endpoint.error ?? "no answer"}`
            : endpoint.matches
              ? `serves the certificate in state (${endpoint.exact ? "exact: fingerprint" : "by name, expiry and issuer"})`
              : "MISMATCH: serves a certificate that is not the one in state";
        lines.push(`endpoint ${endpoint.address} (SNI ${endpoint.serverName}): ${verdict}`);
        lines.push(...endpoint.checks.map((line) => `  ${line}`));
    } else {
        lines.push("endpoint: not checked");
    }
    const code = statusExitCode(report, endpoint);
    const expiring =
        report.expiring.length > 0
            ? `expiring within ${report.warnDays} days: ${report.expiring.join(", ")}`
            : `nothing expires within ${report.warnDays} days`;
    lines.push(`${expiring}; exit ${code}`);
    return lines.join("\n");
}
