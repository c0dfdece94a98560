/**
 * `npm run status -- [STACK] [--warn-days N] [--json] [--skip-endpoint]`: every certificate, CA and
 * CRL of a deployed stack with its expiry, days left, and whether it is due, revoked or in a CA
 * rollover; then whether the live endpoint serves the server certificate state records. Exit status
 * (bits): 1 something expires within the window, 2 the endpoint is unreachable or serves something
 * else; 64 bad arguments, 70 the stack could not be read. Reads `pulumi stack output` through the
 * CLI with scripts/env.sh's environment, so PULUMI_BACKEND_URL and the passphrase variables set by
 * the caller win. Never asks for secrets: nothing here needs a private key.
 */
import { spawnSync } from "child_process";
import type { X509Certificate } from "crypto";
import * as net from "net";
import * as path from "path";
import * as tls from "tls";
import {
    buildExpiryReport,
    compareServedCertificate,
    DeploymentFacts,
    EndpointCheck,
    findActiveCaSlot,
    newestClientIssuer,
    parseCrlText,
    publishedEndpoint,
    renderStatusText,
    revokedClientNames,
    StatusOutputs,
    statusExitCode,
} from "./expiryReport";

const repoRoot = path.join(__dirname, "..");
const usageText = "usage: npm run status -- [STACK] [--warn-days N] [--json] [--skip-endpoint]";

export interface StatusArguments {
    readonly stack: string;
    readonly warnDays: number;
    readonly json: boolean;
    readonly checkEndpoint: boolean;
}

export class UsageError extends Error {}

export function parseStatusArguments(argv: readonly string[]): StatusArguments {
    let stack: string | undefined;
    let warnDays = 30;
    let json = false;
    let checkEndpoint = true;
    for (let index = 0; index < argv.length; index++) {
        const [flag, inline] = argv[index].split(/=(.*)/s, 2);
        if (flag === "--json") json = true;
        else if (flag === "--skip-endpoint") checkEndpoint = false;
        else if (flag === "--warn-days") {
            const text = inline ?? argv[++index];
            if (text === undefined || !/^\d+$/.test(text)) {
                throw new UsageError(`--warn-days needs a whole number of days, got ${text ?? "nothing"}`);
            }
            warnDays = Number(text);
        } else if (flag.startsWith("-") || stack !== undefined) {
            throw new UsageError(`unexpected argument ${argv[index]}`);
        } else stack = flag;
    }
    return { stack: stack ?? "dev", warnDays, json, checkEndpoint };
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

async function main(argv: readonly string[]): Promise<number> {
    const args = parseStatusArguments(argv);
    const outputs = readStackOutputs(args.stack);
    if (typeof outputs.certificateExpiries !== "object" || outputs.certificateExpiries === null) {
        throw new Error(`stack ${args.stack} has no certificateExpiries output: is it deployed?`);
    }
    const records = outputs as unknown as StatusOutputs;
    const caBundlePem = String(outputs.caCertificatePem ?? "");
    const clientPems = (outputs.clientCertificatePems ?? {}) as Record<string, string>;
    const crlInState =
        typeof records.rotationState === "object" && records.rotationState !== null && "crl" in records.rotationState;
    const facts: DeploymentFacts = {
        activeCaSlot: findActiveCaSlot(records.certificateExpiries, caBundlePem, clientPems),
        ...readDeployedRevocation(outputs, clientPems, crlInState),
    };
    const report = buildExpiryReport(records, facts, { now: new Date(), warnDays: args.warnDays });
    const endpoint = args.checkEndpoint ? await checkEndpoint(outputs, { caBundlePem, clientPems }) : undefined;
    const exitCode = statusExitCode(report, endpoint);
    if (args.json) {
        console.log(
            JSON.stringify(
                { stack: args.stack, ...report, activeCaSlot: facts.activeCaSlot, endpoint, exitCode },
                null,
                2,
            ),
        );
    } else {
        console.log(renderStatusText(args.stack, report, endpoint));
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
            process.exitCode = usage ? 64 : 70;
        },
    );
}
