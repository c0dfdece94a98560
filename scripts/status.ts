/**
 * `npm run status -- [STACK] [--warn-days N] [--format table|json|prometheus] [--output FILE]
 * [--skip-endpoint]`: every certificate, CA and CRL of a deployed stack with its expiry, days left,
 * and whether it is due, revoked or in a CA rollover; then whether the live endpoint serves the
 * server certificate state records. `--json` is `--format json`; `--format prometheus` prints the
 * same data as metrics (scripts/metrics.ts) for node_exporter's textfile collector, and `--output`
 * replaces FILE atomically (temp file beside it + rename) instead of printing.
 *
 * Exit status. table and json (bits): 1 something expires within the window, 2 the endpoint is
 * unreachable or serves something else. prometheus: 0 whatever the metrics say (they carry it).
 * Every format: 64 bad arguments, 70 the stack could not be read (json and prometheus still print
 * their data, which says so), 73 FILE could not be written. Reads `pulumi stack output` through the
 * CLI with scripts/env.sh's environment, so PULUMI_BACKEND_URL and the passphrase variables set by
 * the caller win. Never asks for secrets: nothing here needs a private key.
 */
import { spawnSync } from "child_process";
import { randomBytes, type X509Certificate } from "crypto";
import * as fs from "fs";
import * as net from "net";
import * as path from "path";
import * as tls from "tls";
import { stackEndpointName } from "../config/types";
import {
    buildExpiryReport,
    compareServedCertificate,
    DeploymentFacts,
    EndpointCheck,
    ExpiryReport,
    findActiveCaSlot,
    newestClientIssuer,
    parseCrlText,
    publishedEndpoint,
    renderStatusText,
    revokedClientNames,
    StatusOutputs,
    statusExitCode,
} from "./expiryReport";
import { metricsAsJson, renderPrometheusText, statusMetrics } from "./metrics";

const repoRoot = path.join(__dirname, "..");
const usageText =
    "usage: npm run status -- [STACK] [--warn-days N] [--format table|json|prometheus] [--json] [--output FILE] [--skip-endpoint]";

export const statusFormats = ["table", "json", "prometheus"] as const;
export type StatusFormat = (typeof statusFormats)[number];

export interface StatusArguments {
    readonly stack: string;
    readonly warnDays: number;
    readonly format: StatusFormat;
    /** Replace this file atomically instead of printing. */
    readonly output?: string;
    readonly checkEndpoint: boolean;
}

export class UsageError extends Error {}

/** Exit statuses beyond the report's bits (sysexits.h). */
export const statusExitCodes = { usage: 64, stackUnreadable: 70, cannotWrite: 73 } as const;

export function parseStatusArguments(argv: readonly string[]): StatusArguments {
    let stack: string | undefined;
    let warnDays = 30;
    let format: StatusFormat = "table";
    let output: string | undefined;
    let checkEndpoint = true;
    for (let index = 0; index < argv.length; index++) {
        const [flag, inline] = argv[index].split(/=(.*)/s, 2);
        const value = () => inline ?? argv[++index];
        if (flag === "--json") format = "json";
        else if (flag === "--skip-endpoint") checkEndpoint = false;
        else if (flag === "--warn-days") {
            const text = value();
            if (text === undefined || !/^\d+$/.test(text)) {
                throw new UsageError(`--warn-days needs a whole number of days, got ${text ?? "nothing"}`);
            }
            warnDays = Number(text);
        } else if (flag === "--format") {
            const text = value();
            if (!statusFormats.includes(text as StatusFormat)) {
                throw new UsageError(`--format needs one of ${statusFormats.join(", ")}, got ${text ?? "nothing"}`);
            }
            format = text as StatusFormat;
        } else if (flag === "--output") {
            const text = value();
            if (text === undefined || text === "" || text.endsWith("/")) {
                throw new UsageError(`--output needs a file name, got ${text || "nothing"}`);
            }
            output = text;
        } else if (flag.startsWith("-") || stack !== undefined) {
            throw new UsageError(`unexpected argument ${argv[index]}`);
        } else stack = flag;
    }
    return { stack: stack ?? "dev", warnDays, format, ...(output !== undefined ? { output } : {}), checkEndpoint };
}

/** What one run found: a report, or why there is none. */
export interface StatusRun {
    readonly now: Date;
    readonly report?: ExpiryReport;
    readonly activeCaSlot?: string;
    readonly endpoint?: EndpointCheck;
    /** Why the stack could not be read (no report then). */
    readonly error?: string;
}

/**
 * The text to print or write, and the exit status, for a run in the chosen format. The endpoint
 * label is the MtlsEndpoint's name: the project's stack holds one, `mtls-nginx`.
 */
export function renderStatus(
    args: Pick<StatusArguments, "stack" | "format">,
    run: StatusRun,
    endpointName: string = stackEndpointName,
): { text: string; exitCode: number } {
    const reportExitCode = run.report ? statusExitCode(run.report, run.endpoint) : statusExitCodes.stackUnreadable;
    if (args.format === "table") {
        if (!run.report) throw new Error(run.error ?? "no report");
        return { text: `${renderStatusText(args.stack, run.report, run.endpoint)}\n`, exitCode: reportExitCode };
    }
    const families = statusMetrics({ ...run, stack: args.stack, endpointName });
    if (args.format === "prometheus") {
        return { text: renderPrometheusText(families), exitCode: run.report ? 0 : statusExitCodes.stackUnreadable };
    }
    const document = {
        stack: args.stack,
        endpointName,
        ...(run.report ?? { generatedAt: run.now.toISOString() }),
        activeCaSlot: run.activeCaSlot,
        endpoint: run.endpoint,
        error: run.error,
        exitCode: reportExitCode,
        metrics: metricsAsJson(families),
    };
    return { text: `${JSON.stringify(document, null, 2)}\n`, exitCode: reportExitCode };
}

/**
 * Replaces FILE with TEXT so that a reader (node_exporter's textfile collector) sees the old file or
 * the new one, never half of one: a temp file in the same directory (a hidden name not ending in
 * .prom, which the collector skips), flushed to disk, mode 0644 (the collector runs as another
 * user), then renamed over FILE.
 */
export function writeFileAtomically(file: string, text: string): void {
    const target = path.resolve(file);
    const temporary = path.join(
        path.dirname(target),
        `.${path.basename(target)}.${process.pid}.${randomBytes(4).toString("hex")}.tmp`,
    );
    try {
        const descriptor = fs.openSync(temporary, "wx", 0o644);
        try {
            fs.writeFileSync(descriptor, text);
            fs.fsyncSync(descriptor);
            fs.fchmodSync(descriptor, 0o644);
        } finally {
            fs.closeSync(descriptor);
        }
        fs.renameSync(temporary, target);
    } catch (error) {
        fs.rmSync(temporary, { force: true });
        throw error;
    }
}

/** `pulumi stack output --json` without secrets (they show as "[secret]"; none is needed). */
function readStackOutputs(stack: string): Record<string, unknown> {
    const result = spawnSync(
        "bash",
        ["-c", '. scripts/env.sh && pulumi stack output --json --stack "$1"', "status", stack],
        {
            cwd: repoRoot,
            encoding: "utf8",
        },
    );
    if (result.status !== 0) {
        throw new Error(`pulumi stack output --stack ${stack} failed:\n${result.stderr}`);
    }
    return JSON.parse(result.stdout) as Record<string, unknown>;
}

/**
 * Who is revoked, and when the CRLs Nginx enforces run out: the `revokedClients` output, and the CRLs
 * themselves from the `certificateRevocationListPem` output (both public).
 */
function readDeployedRevocation(
    outputs: Record<string, unknown>,
    clientPems: Record<string, string>,
    crlInState: boolean,
): Pick<DeploymentFacts, "revokedClients" | "crlNextUpdate"> {
    const crls = typeof outputs.certificateRevocationListPem === "string" ? outputs.certificateRevocationListPem : "";
    if (crls === "") {
        if (Array.isArray(outputs.revokedClients)) {
            return { revokedClients: outputs.revokedClients.map(String) };
        }
        // A stack deployed before these outputs existed: it has a CRL exactly while someone is revoked.
        return crlInState ? {} : { revokedClients: [] };
    }
    const blocks = crls.match(/-----BEGIN X509 CRL-----[\s\S]+?-----END X509 CRL-----/g) ?? [];
    const parsed = blocks.map((block) => {
        const result = spawnSync("openssl", ["crl", "-noout", "-text"], { input: block, encoding: "utf8" });
        if (result.status !== 0) throw new Error(`openssl crl could not read the stack's CRLs: ${result.stderr}`);
        return parseCrlText(result.stdout);
    });
    const nextUpdates = parsed.flatMap((crl) => (crl.nextUpdate ? [crl.nextUpdate] : [])).sort();
    return {
        revokedClients: revokedClientNames(
            clientPems,
            parsed.flatMap((crl) => crl.revokedSerials),
        ),
        crlNextUpdate: nextUpdates[0],
    };
}

/** The leaf certificate the endpoint serves, from a handshake with SNI; no client certificate is sent. */
export function fetchServedCertificate(host: string, port: number, serverName: string): Promise<X509Certificate> {
    return new Promise((resolve, reject) => {
        const socket = tls.connect({
            host,
            port,
            // SNI must be a name (RFC 6066); an IP server name is sent as none.
            servername: net.isIP(serverName) ? "" : serverName,
            // Verified below against state, not against the system trust store.
            rejectUnauthorized: false,
        });
        socket.setTimeout(5000, () => socket.destroy(new Error(`no TLS answer from ${host}:${port} within 5 s`)));
        socket.once("secureConnect", () => {
            const certificate = socket.getPeerX509Certificate();
            socket.end();
            if (certificate) resolve(certificate);
            else reject(new Error("the server sent no certificate"));
        });
        socket.on("error", reject);
    });
}

/** Compares what the endpoint serves with state; `serverCertificatePem` is used once the stack exports it. */
async function checkEndpoint(
    outputs: Record<string, unknown>,
    pems: { caBundlePem: string; clientPems: Record<string, string> },
): Promise<EndpointCheck> {
    const serverName = String(outputs.serverName);
    let address = String(outputs.endpointUrl);
    try {
        const { host, port } = publishedEndpoint(address, outputs.curlCommands as Record<string, string>);
        address = `${net.isIPv6(host) ? `[${host}]` : host}:${port}`;
        const served = await fetchServedCertificate(host, port, serverName);
        const expected = {
            serverName,
            notAfter: (outputs.certificateExpiries as Record<string, string>).server,
            caBundlePem: pems.caBundlePem,
            issuer: newestClientIssuer(pems.caBundlePem, pems.clientPems),
            certificatePem: typeof outputs.serverCertificatePem === "string" ? outputs.serverCertificatePem : undefined,
        };
        return { address, serverName, reachable: true, ...compareServedCertificate(served, expected, new Date()) };
    } catch (error) {
        const message = error instanceof Error ? error.message : String(error);
        return { address, serverName, reachable: false, matches: false, exact: false, checks: [], error: message };
    }
}

/** Reads the stack, builds the report and checks the endpoint; a stack that cannot be read is an error in the run. */
async function runStatus(args: StatusArguments): Promise<StatusRun> {
    const now = new Date();
    let outputs: Record<string, unknown>;
    let report: ExpiryReport;
    let facts: DeploymentFacts;
    let pems: { caBundlePem: string; clientPems: Record<string, string> };
    try {
        outputs = readStackOutputs(args.stack);
        if (typeof outputs.certificateExpiries !== "object" || outputs.certificateExpiries === null) {
            throw new Error(`stack ${args.stack} has no certificateExpiries output: is it deployed?`);
        }
        const records = outputs as unknown as StatusOutputs;
        pems = {
            caBundlePem: String(outputs.caCertificatePem ?? ""),
            clientPems: (outputs.clientCertificatePems ?? {}) as Record<string, string>,
        };
        const crlInState =
            typeof records.rotationState === "object" &&
            records.rotationState !== null &&
            "crl" in records.rotationState;
        facts = {
            activeCaSlot: findActiveCaSlot(records.certificateExpiries, pems.caBundlePem, pems.clientPems),
            ...readDeployedRevocation(outputs, pems.clientPems, crlInState),
        };
        report = buildExpiryReport(records, facts, { now, warnDays: args.warnDays });
    } catch (error) {
        // The table has nothing to show; json and prometheus say that the check failed.
        if (args.format === "table") throw error;
        return { now, error: error instanceof Error ? error.message : String(error) };
    }
    const endpoint = args.checkEndpoint ? await checkEndpoint(outputs, pems) : undefined;
    return { now, report, activeCaSlot: facts.activeCaSlot, endpoint };
}

async function main(argv: readonly string[]): Promise<number> {
    const args = parseStatusArguments(argv);
    const run = await runStatus(args);
    const { text, exitCode } = renderStatus(args, run);
    if (run.error !== undefined) {
        console.error(`status: ${run.error}`);
    }
    if (args.output === undefined) {
        process.stdout.write(text);
        return exitCode;
    }
    try {
        writeFileAtomically(args.output, text);
    } catch (error) {
        console.error(`status: could not write ${args.output}: ${error instanceof Error ? error.message : error}`);
        return statusExitCodes.cannotWrite;
    }
    return exitCode;
}

if (require.main === module) {
    main(process.argv.slice(2)).then(
        (code) => {
            process.exitCode = code;
        },
        (error: unknown) => {
            const usage = error instanceof UsageError;
            console.error(
                usage
                    ? `${error.message}\n${usageText}`
                    : `status: ${error instanceof Error ? error.message : String(error)}`,
            );
            process.exitCode = usage ? statusExitCodes.usage : statusExitCodes.stackUnreadable;
        },
    );
}
