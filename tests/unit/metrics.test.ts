import * as assert from "assert";
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as yaml from "js-yaml";
import * as os from "os";
import * as path from "path";
import { buildExpiryReport, EndpointCheck, ExpiryReport } from "../../scripts/expiryReport";
import {
    escapeHelp,
    escapeLabelValue,
    formatValue,
    metricNames,
    metricsAsJson,
    renderPrometheusText,
    statusMetrics,
} from "../../scripts/metrics";
import { parseStatusArguments, renderStatus, StatusRun, writeFileAtomically } from "../../scripts/status";
import { parseExposition as parseSamples, promtool } from "../../testkit/promtool";

const repoRoot = path.join(__dirname, "..", "..");
const now = new Date("2026-06-01T00:00:00Z");
const nowSeconds = 1780272000;
const day = 86400;
const inDays = (days: number) => new Date(now.getTime() + days * day * 1000).toISOString();

/**
 * A dev stack: one CA, the server, alice, bob revoked, a CRL, and dave taken out of clients with two
 * certificates still valid; the provider's expiries carry fractions of seconds.
 */
function fixtureReport(overrides: { expiries?: Record<string, string>; warnDays?: number } = {}): ExpiryReport {
    return buildExpiryReport(
        {
            certificateExpiries: {
                server: inDays(90),
                "ca-root": inDays(3650),
                "client-alice": inDays(365),
                "client-bob": new Date(now.getTime() + 10 * day * 1000 + 250).toISOString(),
                ...overrides.expiries,
            },
            rotationState: { crl: { generation: 1, notAfter: inDays(25) } },
            clientCertificateSerials: {
                dave: [
                    { serial: "0C", notAfter: inDays(40) },
                    { serial: "0D", notAfter: inDays(200) },
                ],
            },
        },
        { revokedClients: ["bob"], activeCaSlot: "a", crlNextUpdate: inDays(20) },
        { now, warnDays: overrides.warnDays ?? 30 },
    );
}

/** The Prometheus text of the fixture report with a served, matching endpoint, for the dev stack. */
function fixtureText(): string {
    return renderPrometheusText(
        statusMetrics({
            stack: "dev",
            endpointName: "mtls-nginx",
            now,
            report: fixtureReport(),
            endpoint: servedEndpoint(),
        }),
    );
}

function servedEndpoint(overrides: Partial<EndpointCheck> = {}): EndpointCheck {
    return {
        address: "127.0.0.1:8443",
        serverName: "localhost",
        reachable: true,
        matches: true,
        exact: true,
        checks: ["ok: SHA-256 fingerprint equals the one in state"],
        served: { subject: "CN=localhost", serialNumber: "0A", fingerprint256: "AB:CD", notAfter: inDays(90) },
        ...overrides,
    };
}

const unreachable: EndpointCheck = {
    address: "127.0.0.1:8443",
    serverName: "localhost",
    reachable: false,
    matches: false,
    exact: false,
    checks: [],
    error: "connect ECONNREFUSED 127.0.0.1:8443",
};

describe("status metrics", () => {
    it("renders cert-manager-style gauges: HELP and TYPE once per metric, instants in seconds, no timestamps", () => {
        const text = fixtureText();
        const base = 'stack="dev",endpoint="mtls-nginx"';
        const expected = [
            `# HELP ${metricNames.certificateExpiration} `,
            `# TYPE ${metricNames.certificateExpiration} gauge`,
            `${metricNames.certificateExpiration}{${base},item="ca-root",kind="ca"} ${nowSeconds + 3650 * day}`,
            `${metricNames.certificateExpiration}{${base},item="server",kind="server"} ${nowSeconds + 90 * day}`,
            `${metricNames.certificateExpiration}{${base},item="client-alice",kind="client"} ${nowSeconds + 365 * day}`,
            `${metricNames.certificateExpiration}{${base},item="client-bob",kind="client"} ${nowSeconds + 10 * day}`,
            `# HELP ${metricNames.certificateRevoked} `,
            `# TYPE ${metricNames.certificateRevoked} gauge`,
            `${metricNames.certificateRevoked}{${base},item="client-alice",kind="client"} 0`,
            `${metricNames.certificateRevoked}{${base},item="client-bob",kind="client"} 1`,
            `# HELP ${metricNames.crlNextUpdate} `,
            `# TYPE ${metricNames.crlNextUpdate} gauge`,
            `${metricNames.crlNextUpdate}{${base},item="crl"} ${nowSeconds + 20 * day}`,
            `# HELP ${metricNames.removedClientValidUntil} `,
            `# TYPE ${metricNames.removedClientValidUntil} gauge`,
            `${metricNames.removedClientValidUntil}{${base},item="client-dave"} ${nowSeconds + 200 * day}`,
            `# HELP ${metricNames.removedClientCertificates} `,
            `# TYPE ${metricNames.removedClientCertificates} gauge`,
            `${metricNames.removedClientCertificates}{${base},item="client-dave"} 2`,
            `# HELP ${metricNames.endpointInfo} `,
            `# TYPE ${metricNames.endpointInfo} gauge`,
            `${metricNames.endpointInfo}{${base},item="server",address="127.0.0.1:8443",server_name="localhost",comparison="fingerprint"} 1`,
            `# HELP ${metricNames.endpointReachable} `,
            `# TYPE ${metricNames.endpointReachable} gauge`,
            `${metricNames.endpointReachable}{${base},item="server"} 1`,
            `# HELP ${metricNames.endpointMatchesState} `,
            `# TYPE ${metricNames.endpointMatchesState} gauge`,
            `${metricNames.endpointMatchesState}{${base},item="server"} 1`,
            `# HELP ${metricNames.endpointExpiration} `,
            `# TYPE ${metricNames.endpointExpiration} gauge`,
            `${metricNames.endpointExpiration}{${base},item="server"} ${nowSeconds + 90 * day}`,
            `# HELP ${metricNames.checkSuccess} `,
            `# TYPE ${metricNames.checkSuccess} gauge`,
            `${metricNames.checkSuccess}{${base}} 1`,
            `# HELP ${metricNames.lastRun} `,
            `# TYPE ${metricNames.lastRun} gauge`,
            `${metricNames.lastRun}{${base}} ${nowSeconds}`,
        ];
        const lines = text.split("\n");
        assert.strictEqual(lines.pop(), "", "ends with a line feed");
        assert.strictEqual(lines.length, expected.length, text);
        lines.forEach((line, index) => {
            const want = expected[index];
            if (want.startsWith("# HELP ")) {
                assert.ok(line.startsWith(want) && line.length > want.length + 20, `help text: ${line}`);
            } else {
                assert.strictEqual(line, want);
            }
        });
        const names = lines.filter((line) => line.startsWith("# TYPE ")).map((line) => line.split(" ")[2]);
        assert.deepStrictEqual(names, [...new Set(names)], "one TYPE per metric");
        assert.deepStrictEqual(names, Object.values(metricNames), "every metric, in the declared order");
        for (const name of names) {
            assert.match(name, /^mtls_nginx_/);
            assert.ok(
                !name.endsWith("_total") && (name.includes("timestamp") ? name.endsWith("_seconds") : true),
                `${name}: gauges, instants in seconds`,
            );
        }
    });

    it("prints the same output for the same input (deterministic order)", () => {
        assert.strictEqual(fixtureText(), fixtureText());
    });

    it("escapes label values and help text as the exposition format wants", () => {
        assert.strictEqual(escapeLabelValue('a"b\\c\nd'), 'a\\"b\\\\c\\nd');
        assert.strictEqual(escapeHelp('say "x"\\\nnext'), 'say "x"\\\\\\nnext');
        const text = renderPrometheusText([
            {
                name: metricNames.checkSuccess,
                help: "line one\nline two",
                type: "gauge",
                samples: [{ labels: { stack: 'we"ird\\stack\nname' }, value: 1 }],
            },
        ]);
        assert.strictEqual(
            text,
            `# HELP ${metricNames.checkSuccess} line one\\nline two\n` +
                `# TYPE ${metricNames.checkSuccess} gauge\n` +
                `${metricNames.checkSuccess}{stack="we\\"ird\\\\stack\\nname"} 1\n`,
        );
        assert.deepStrictEqual(parseSamples(text)[0].labels, { stack: 'we"ird\\stack\nname' });
    });

    it("spells special values as Prometheus does, and refuses names it would not take", () => {
        assert.deepStrictEqual([NaN, Infinity, -Infinity, 0, 1.5, 1780272000].map(formatValue), [
            "NaN",
            "+Inf",
            "-Inf",
            "0",
            "1.5",
            "1780272000",
        ]);
        const family = (name: string, labels: Record<string, string> = {}) =>
            ({ name, help: "h", type: "gauge", samples: [{ labels, value: 1 }] }) as never;
        assert.throws(() => renderPrometheusText([family("mtls-nginx")]), /invalid metric name/);
        assert.throws(() => renderPrometheusText([family("ok", { "item-name": "x" })]), /invalid label name/);
        assert.throws(() => renderPrometheusText([family("ok", { __name__: "x" })]), /invalid label name/);
        assert.throws(() => renderPrometheusText([family("ok"), family("ok")]), /given twice/);
    });

    it("labels the endpoint by its name, so other endpoints can be told apart", () => {
        const samples = metricsAsJson(
            statusMetrics({ stack: "prod", endpointName: "api-gateway", now, report: fixtureReport() }),
        );
        assert.ok(
            samples.every((sample) => sample.labels.endpoint === "api-gateway" && sample.labels.stack === "prod"),
        );
    });

    it("gives an unparseable expiry as NaN (null in JSON), and a revocation only when it is known", () => {
        const report = fixtureReport({ expiries: { server: "soon" } });
        const families = statusMetrics({ stack: "dev", endpointName: "mtls-nginx", now, report });
        assert.match(renderPrometheusText(families), /item="server",kind="server"\} NaN\n/);
        const server = metricsAsJson(families).find(
            (sample) => sample.name === metricNames.certificateExpiration && sample.labels.item === "server",
        );
        assert.strictEqual(server?.value, null);
        const unknown = buildExpiryReport(
            { certificateExpiries: { "client-alice": inDays(10) } },
            {},
            { now, warnDays: 30 },
        );
        const names = statusMetrics({ stack: "dev", endpointName: "mtls-nginx", now, report: unknown }).map(
            (family) => family.name,
        );
        assert.ok(!names.includes(metricNames.certificateRevoked), names.join());
        assert.ok(!names.includes(metricNames.crlNextUpdate), "no CRL deployed: no next update");
    });

    it("says what the live check found: unreachable, another certificate, or not checked", () => {
        const samplesOf = (endpoint?: EndpointCheck) =>
            metricsAsJson(
                statusMetrics({ stack: "dev", endpointName: "mtls-nginx", now, report: fixtureReport(), endpoint }),
            );
        const value = (samples: ReturnType<typeof samplesOf>, name: string) =>
            samples.filter((sample) => sample.name === name).map((sample) => sample.value);

        const down = samplesOf(unreachable);
        assert.deepStrictEqual(value(down, metricNames.endpointReachable), [0]);
        assert.deepStrictEqual(value(down, metricNames.endpointMatchesState), [], "no verdict without a handshake");
        assert.deepStrictEqual(value(down, metricNames.endpointExpiration), []);
        assert.strictEqual(down.find((sample) => sample.name === metricNames.endpointInfo)?.labels.comparison, "none");

        const other = samplesOf(servedEndpoint({ matches: false, exact: false }));
        assert.deepStrictEqual(value(other, metricNames.endpointReachable), [1]);
        assert.deepStrictEqual(value(other, metricNames.endpointMatchesState), [0]);
        assert.strictEqual(
            other.find((sample) => sample.name === metricNames.endpointInfo)?.labels.comparison,
            "name-expiry-issuer",
        );

        const skipped = samplesOf(undefined);
        assert.ok(skipped.every((sample) => !sample.name.startsWith("mtls_nginx_endpoint_")));
        assert.deepStrictEqual(value(skipped, metricNames.checkSuccess), [1]);
    });

    describe("the CLI's output per format", () => {
        const failed: StatusRun = { now, error: "pulumi stack output --stack gone failed" };
        const expiring: StatusRun = {
            now,
            report: fixtureReport({ warnDays: 100 }),
            activeCaSlot: "a",
            endpoint: servedEndpoint({ matches: false }),
        };

        it("prometheus: exit 0 whatever the metrics say; 70 when the stack could not be read, with the metrics saying so", () => {
            const ok = renderStatus({ stack: "dev", format: "prometheus" }, expiring);
            assert.strictEqual(ok.exitCode, 0);
            assert.match(ok.text, /^mtls_nginx_endpoint_certificate_matches_state\{.*\} 0$/m);
            const broken = renderStatus({ stack: "gone", format: "prometheus" }, failed);
            assert.strictEqual(broken.exitCode, 70);
            assert.deepStrictEqual(parseSamples(broken.text), [
                {
                    name: metricNames.checkSuccess,
                    labels: { stack: "gone", endpoint: "mtls-nginx" },
                    value: 0,
                },
                {
                    name: metricNames.lastRun,
                    labels: { stack: "gone", endpoint: "mtls-nginx" },
                    value: nowSeconds,
                },
            ]);
        });

        it("json: the report, the live check and the same samples as the prometheus format; exit bits as the table's", () => {
            const { text, exitCode } = renderStatus({ stack: "dev", format: "json" }, expiring);
            assert.strictEqual(exitCode, 3, "bit 1 (server within 100 days) and bit 2 (another certificate)");
            const document = JSON.parse(text);
            assert.strictEqual(document.stack, "dev");
            assert.strictEqual(document.endpointName, "mtls-nginx");
            assert.strictEqual(document.exitCode, 3);
            assert.strictEqual(document.activeCaSlot, "a");
            assert.strictEqual(document.endpoint.matches, false);
            assert.deepStrictEqual(document.expiring, ["server", "crl"]);
            const prometheus = renderStatus({ stack: "dev", format: "prometheus" }, expiring).text;
            assert.deepStrictEqual(document.metrics, parseSamples(prometheus));
            const broken = renderStatus({ stack: "gone", format: "json" }, failed);
            assert.strictEqual(broken.exitCode, 70);
            const brokenDocument = JSON.parse(broken.text);
            assert.strictEqual(brokenDocument.error, failed.error);
            assert.strictEqual(brokenDocument.exitCode, 70);
            assert.strictEqual(brokenDocument.metrics[0].value, 0);
        });

        it("table: as before (bits), and no table without a report", () => {
            const { text, exitCode } = renderStatus({ stack: "dev", format: "table" }, expiring);
            assert.strictEqual(exitCode, 3);
            assert.match(text, /exit 3\n$/);
            assert.throws(() => renderStatus({ stack: "gone", format: "table" }, failed), /gone failed/);
        });
    });

    it("parses --format, --output and the --json shorthand", () => {
        assert.deepStrictEqual(parseStatusArguments(["prod", "--format", "prometheus", "--output", "/x/mtls.prom"]), {
            stack: "prod",
            warnDays: 30,
            format: "prometheus",
            output: "/x/mtls.prom",
            checkEndpoint: true,
        });
        assert.strictEqual(parseStatusArguments(["--format=json"]).format, "json");
        assert.strictEqual(parseStatusArguments(["--json"]).format, "json");
        assert.strictEqual(parseStatusArguments([]).format, "table");
        assert.strictEqual(parseStatusArguments(["--output=m.prom"]).output, "m.prom");
        assert.throws(() => parseStatusArguments(["--format", "xml"]), /one of table, json, prometheus, got xml/);
        assert.throws(() => parseStatusArguments(["--format"]), /got nothing/);
        assert.throws(() => parseStatusArguments(["--output"]), /needs a file name/);
        assert.throws(() => parseStatusArguments(["--output", "dir/"]), /needs a file name/);
    });

    describe("--output: a file node_exporter's textfile collector reads", () => {
        let directory: string;
        beforeEach(() => {
            directory = fs.mkdtempSync(path.join(os.tmpdir(), "mtls-metrics-test-"));
        });
        afterEach(() => fs.rmSync(directory, { recursive: true, force: true }));

        it("replaces the file by a rename (a reader holds the old one or the new one), mode 0644, no temp file left", () => {
            const file = path.join(directory, "mtls-nginx.prom");
            fs.writeFileSync(file, "old\n", { mode: 0o600 });
            const reader = fs.openSync(file, "r");
            try {
                writeFileAtomically(file, "new\n");
                assert.strictEqual(fs.readFileSync(reader, "utf8"), "old\n", "the open file was not rewritten");
            } finally {
                fs.closeSync(reader);
            }
            assert.strictEqual(fs.readFileSync(file, "utf8"), "new\n");
            assert.strictEqual((fs.statSync(file).mode & 0o777).toString(8), "644");
            assert.deepStrictEqual(fs.readdirSync(directory), ["mtls-nginx.prom"]);
        });

        it("fails without leaving anything when the directory is missing", () => {
            assert.throws(() => writeFileAtomically(path.join(directory, "none", "m.prom"), "x\n"), /ENOENT/);
            assert.deepStrictEqual(fs.readdirSync(directory), []);
        });

        it("the CLI writes the metrics even when the stack cannot be read (exit 70), and exits 73 when it cannot write", function () {
            this.timeout(120000); // three CLI runs, each starting Node and ts-node
            const file = path.join(directory, "mtls-nginx.prom");
            const environment = { ...process.env };
            delete environment.PULUMI_CONFIG_PASSPHRASE_FILE;
            const run = (...args: string[]) =>
                spawnSync(
                    "bash",
                    [
                        "scripts/with-node.sh",
                        "node",
                        "-r",
                        "ts-node/register/transpile-only",
                        "scripts/status.ts",
                        ...args,
                    ],
                    {
                        cwd: repoRoot,
                        // An empty backend: the stack is not there, so reading it fails fast.
                        env: {
                            ...environment,
                            PULUMI_BACKEND_URL: `file://${directory}`,
                            PULUMI_CONFIG_PASSPHRASE: "x",
                        },
                        encoding: "utf8",
                        timeout: 120000,
                    },
                );
            const written = run("missing-stack", "--format", "prometheus", "--output", file);
            assert.strictEqual(written.status, 70, written.stderr);
            assert.strictEqual(written.stdout, "", "nothing on stdout with --output");
            assert.match(written.stderr, /^status: .*missing-stack/m);
            const samples = parseSamples(fs.readFileSync(file, "utf8"));
            assert.deepStrictEqual(
                samples.map((sample) => [sample.name, sample.labels.stack, sample.value]),
                [
                    [metricNames.checkSuccess, "missing-stack", 0],
                    [metricNames.lastRun, "missing-stack", samples[1].value],
                ],
            );
            assert.ok(Math.abs(samples[1].value! - Date.now() / 1000) < 300, "last run: now, in seconds");
            const unwritable = run("missing-stack", "--format", "prometheus", "--output", path.join(file, "x.prom"));
            assert.strictEqual(unwritable.status, 73, unwritable.stderr);
            assert.match(unwritable.stderr, /could not write/);
            const usage = run("--format", "yaml");
            assert.strictEqual(usage.status, 64);
        });
    });

    describe("promtool (Debian's prometheus package; npm run setup installs it)", () => {
        const alerts = path.join(repoRoot, "examples", "prometheus", "mtls-nginx-alerts.yml");

        it("check metrics: the output of a full report, a failed read and odd label values is valid and lint-clean", () => {
            const outputs = [
                renderStatus(
                    { stack: "dev", format: "prometheus" },
                    { now, report: fixtureReport(), activeCaSlot: "a", endpoint: servedEndpoint() },
                ).text,
                renderStatus(
                    { stack: "dev", format: "prometheus" },
                    { now, report: fixtureReport(), endpoint: unreachable },
                ).text,
                renderStatus({ stack: "gone", format: "prometheus" }, { now, error: "no such stack" }).text,
                renderStatus(
                    { stack: 'odd "stack"\\name\nwith a line feed', format: "prometheus" },
                    { now, report: fixtureReport({ expiries: { "client-émile": inDays(5) } }) },
                ).text,
            ];
            for (const text of outputs) {
                const result = promtool(["check", "metrics"], { input: text });
                assert.strictEqual(result.code, 0, `${result.output}\n${text}`);
                assert.strictEqual(result.output.trim(), "", "no lint findings");
            }
        });

        it("check metrics finds a broken exposition (so the check above means something)", () => {
            const result = promtool(["check", "metrics"], { input: 'mtls_nginx_x{stack="dev} 1\n' });
            assert.notStrictEqual(result.code, 0, result.output);
        });

        it("check rules: the example alert rules load", () => {
            const result = promtool(["check", "rules", alerts]);
            assert.strictEqual(result.code, 0, result.output);
            assert.match(result.output, /SUCCESS: 8 rules found/);
        });

        it("test rules: each alert fires when it should and not before (mtls-nginx-alerts.test.yml)", () => {
            const result = promtool(["test", "rules", "mtls-nginx-alerts.test.yml"], { cwd: path.dirname(alerts) });
            assert.strictEqual(result.code, 0, result.output);
            assert.match(result.output, /SUCCESS/);
        });

        it("the rules use only metrics the status command prints, and name the alerts the docs list", () => {
            const rules = (
                yaml.load(fs.readFileSync(alerts, "utf8")) as {
                    groups: { rules: { alert: string; expr: string }[] }[];
                }
            ).groups.flatMap((group) => group.rules);
            const known = new Set<string>(Object.values(metricNames));
            for (const rule of rules) {
                for (const [name] of rule.expr.matchAll(/mtls_nginx_\w+/g)) {
                    assert.ok(known.has(name), `${rule.alert} uses ${name}, which status does not print`);
                }
            }
            const operations = fs.readFileSync(path.join(repoRoot, "docs", "operations.md"), "utf8");
            for (const rule of rules) {
                assert.ok(operations.includes(`\`${rule.alert}\``), `docs/operations.md names ${rule.alert}`);
            }
            for (const name of known) {
                assert.ok(operations.includes(`\`${name}\``), `docs/operations.md names ${name}`);
            }
        });
    });
});
