/**
 * The expiry report as metrics, for Prometheus (node_exporter's textfile collector) and as JSON:
 * `npm run status -- STACK --format prometheus|json`. Pure: the report and the live check in, metric
 * families out, then text in the exposition format (version 0.0.4) or plain objects. Writing the file
 * atomically is the CLI's business (scripts/status.ts).
 *
 * Modelled on cert-manager's `certmanager_certificate_expiration_timestamp_seconds`: instants are
 * gauges in whole seconds since the epoch, so an alert reads `(metric - time()) < 14 * 86400`; yes/no
 * facts are 0/1 gauges. No sample carries a timestamp (the textfile collector refuses them).
 */
import { clientItem, type EndpointCheck, type ExpiryReport } from "./expiryReport";

/** Every metric name, in the order they are printed. */
export const metricNames = {
    certificateExpiration: "mtls_nginx_certificate_expiration_timestamp_seconds",
    certificateRevoked: "mtls_nginx_certificate_revoked",
    crlNextUpdate: "mtls_nginx_crl_next_update_timestamp_seconds",
    removedClientValidUntil: "mtls_nginx_removed_client_valid_until_timestamp_seconds",
    removedClientCertificates: "mtls_nginx_removed_client_valid_certificates",
    endpointInfo: "mtls_nginx_endpoint_info",
    endpointReachable: "mtls_nginx_endpoint_reachable",
    endpointMatchesState: "mtls_nginx_endpoint_certificate_matches_state",
    endpointExpiration: "mtls_nginx_endpoint_certificate_expiration_timestamp_seconds",
    checkSuccess: "mtls_nginx_status_check_success",
    lastRun: "mtls_nginx_status_last_run_timestamp_seconds",
} as const;

export type MetricName = (typeof metricNames)[keyof typeof metricNames];

export interface MetricSample {
    /** Label names to values, printed in this order. */
    readonly labels: Readonly<Record<string, string>>;
    readonly value: number;
}

export interface MetricFamily {
    readonly name: MetricName;
    readonly help: string;
    readonly type: "gauge";
    readonly samples: readonly MetricSample[];
}

const help: Record<MetricName, string> = {
    [metricNames.certificateExpiration]:
        "When a certificate of the endpoint expires (a CA, the server certificate, a client certificate), seconds since the epoch (the record in state; NaN when it does not parse).",
    [metricNames.certificateRevoked]: "1 when a client certificate is named by a deployed CRL, else 0.",
    [metricNames.crlNextUpdate]:
        "The earliest next update among the CRLs Nginx enforces, seconds since the epoch; after it Nginx refuses every client.",
    [metricNames.removedClientValidUntil]:
        "A client taken out of clients without a revocation: when the last certificate issued to it expires, seconds since the epoch. No CRL names it, so the endpoint admits it until then.",
    [metricNames.removedClientCertificates]:
        "A client taken out of clients without a revocation: how many certificates issued to it are still valid.",
    [metricNames.endpointInfo]:
        "Where the live check connected (address, SNI server_name) and how it compared the served certificate with state (comparison: fingerprint, name-expiry-issuer, or none when unreachable); always 1.",
    [metricNames.endpointReachable]:
        "1 when the live check completed a TLS handshake with the endpoint at its published address, else 0.",
    [metricNames.endpointMatchesState]:
        "1 when the endpoint serves the server certificate recorded in state, 0 when it serves another one (only when reachable).",
    [metricNames.endpointExpiration]:
        "When the server certificate the endpoint serves expires, seconds since the epoch (only when reachable).",
    [metricNames.checkSuccess]:
        "1 when the stack's outputs could be read and the report built, else 0 (then the other metrics are missing).",
    [metricNames.lastRun]: "When this status check ran, seconds since the epoch.",
};

export interface StatusMetricsInput {
    readonly stack: string;
    /** The MtlsEndpoint's name: the project's stack has one, named `mtls-nginx` (stackEndpointName). */
    readonly endpointName: string;
    readonly now: Date;
    /** Undefined when the stack could not be read. */
    readonly report?: ExpiryReport;
    /** Undefined when the endpoint was not checked (--skip-endpoint, or no report). */
    readonly endpoint?: EndpointCheck;
}

/** The metric families of one status run; families without samples are left out. */
export function statusMetrics(input: StatusMetricsInput): MetricFamily[] {
    const base = { stack: input.stack, endpoint: input.endpointName };
    const samples = new Map<MetricName, MetricSample[]>(Object.values(metricNames).map((name) => [name, []]));
    const add = (name: MetricName, labels: Record<string, string>, value: number) =>
        samples.get(name)!.push({ labels: { ...base, ...labels }, value });

    for (const row of input.report?.rows ?? []) {
        const seconds = timestampSeconds(row.notAfter);
        if (row.kind === "crl") {
            add(metricNames.crlNextUpdate, { item: row.item }, seconds);
            continue;
        }
        add(metricNames.certificateExpiration, { item: row.item, kind: row.kind }, seconds);
        if (row.kind === "client" && row.revoked !== undefined) {
            add(metricNames.certificateRevoked, { item: row.item, kind: row.kind }, row.revoked ? 1 : 0);
        }
    }

    for (const removed of input.report?.removedClients ?? []) {
        const item = { item: clientItem(removed.name) };
        add(metricNames.removedClientValidUntil, item, timestampSeconds(removed.validUntil));
        add(metricNames.removedClientCertificates, item, removed.certificates);
    }

    const endpoint = input.endpoint;
    if (endpoint) {
        const item = { item: "server" };
        const comparison = !endpoint.reachable ? "none" : endpoint.exact ? "fingerprint" : "name-expiry-issuer";
        add(
            metricNames.endpointInfo,
            { ...item, address: endpoint.address, server_name: endpoint.serverName, comparison },
            1,
        );
        add(metricNames.endpointReachable, item, endpoint.reachable ? 1 : 0);
        if (endpoint.reachable) {
            add(metricNames.endpointMatchesState, item, endpoint.matches ? 1 : 0);
            if (endpoint.served) {
                add(metricNames.endpointExpiration, item, timestampSeconds(endpoint.served.notAfter));
            }
        }
    }

    add(metricNames.checkSuccess, {}, input.report ? 1 : 0);
    add(metricNames.lastRun, {}, Math.floor(input.now.getTime() / 1000));

    return [...samples]
        .filter(([, list]) => list.length > 0)
        .map(([name, list]) => ({ name, help: help[name], type: "gauge", samples: list }));
}

/**
 * Whole seconds since the epoch of an RFC 3339 instant; NaN when it does not parse. A certificate
 * carries whole seconds (the provider's recorded expiry has a fraction the certificate truncates),
 * so the record and the served certificate give the same number.
 */
export function timestampSeconds(instant: string): number {
    return Math.floor(Date.parse(instant) / 1000);
}

const metricNamePattern = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const labelNamePattern = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

/** A label value inside double quotes: backslash, double quote and line feed are escaped. */
export function escapeLabelValue(value: string): string {
    return value.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n");
}

/** HELP text: backslash and line feed are escaped (a double quote is not). */
export function escapeHelp(text: string): string {
    return text.replace(/\\/g, "\\\\").replace(/\n/g, "\\n");
}

/** A sample value as the exposition format spells it (Go's float parsing reads it back). */
export function formatValue(value: number): string {
    if (Number.isNaN(value)) return "NaN";
    if (value === Infinity) return "+Inf";
    if (value === -Infinity) return "-Inf";
    return String(value);
}

/** The text exposition format: `# HELP` and `# TYPE` once per family, then its samples; ends with a line feed. */
export function renderPrometheusText(families: readonly MetricFamily[]): string {
    const seen = new Set<string>();
    const lines: string[] = [];
    for (const family of families) {
        if (!metricNamePattern.test(family.name)) throw new Error(`invalid metric name ${family.name}`);
        if (seen.has(family.name)) throw new Error(`metric ${family.name} given twice`);
        seen.add(family.name);
        lines.push(`# HELP ${family.name} ${escapeHelp(family.help)}`, `# TYPE ${family.name} ${family.type}`);
        for (const sample of family.samples) {
            const labels = Object.entries(sample.labels).map(([name, value]) => {
                if (!labelNamePattern.test(name) || name.startsWith("__")) {
                    throw new Error(`invalid label name ${name} on ${family.name}`);
                }
                return `${name}="${escapeLabelValue(value)}"`;
            });
            const selector = labels.length > 0 ? `{${labels.join(",")}}` : "";
            lines.push(`${family.name}${selector} ${formatValue(sample.value)}`);
        }
    }
    return lines.map((line) => `${line}\n`).join("");
}

/** One sample as JSON: the value is null where it is NaN or infinite (JSON has no such numbers). */
export interface JsonSample {
    readonly name: MetricName;
    readonly labels: Readonly<Record<string, string>>;
    readonly value: number | null;
}

/** The same samples as the text format, in the same order, one object each. */
export function metricsAsJson(families: readonly MetricFamily[]): JsonSample[] {
    return families.flatMap((family) =>
        family.samples.map((sample) => ({
            name: family.name,
            labels: { ...sample.labels },
            value: Number.isFinite(sample.value) ? sample.value : null,
        })),
    );
}
