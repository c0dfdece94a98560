import * as assert from "assert";
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import type { EndpointCheck, ExpiryRow } from "../../scripts/expiryReport";
import { JsonSample, metricNames } from "../../scripts/metrics";
import { repoRoot, runNpmScript, ThrowawayStack, useThrowawayStack } from "../../testkit/stack";
import { parseExposition, promtool } from "../../testkit/promtool";

/** What `npm run status -- STACK --json` prints. */
interface StatusJson {
    readonly stack: string;
    readonly warnDays: number;
    readonly rows: ExpiryRow[];
    readonly expiring: string[];
    readonly activeCaSlot?: string;
    readonly endpoint?: EndpointCheck;
    readonly exitCode: number;
    readonly endpointName: string;
    /** The samples of --format prometheus. */
    readonly metrics: JsonSample[];
}

/**
 * `npm run status` against a deployed throwaway stack: the CLI reads the stack through the Pulumi
 * CLI with the stack's backend and passphrase from the environment, as cron or CI would run it.
 */
describe("npm run status on a deployed dev stack", function () {
    const fixture = useThrowawayStack("status");
    let deployment: ThrowawayStack;

    const status = (...args: string[]) => runNpmScript(deployment, "status", args);
    const statusJson = (...args: string[]) => {
        const result = status("--json", ...args);
        assert.ok(result.stdout.trim().startsWith("{"), `JSON on stdout; stderr:\n${result.stderr}`);
        return { code: result.code, report: JSON.parse(result.stdout) as StatusJson };
    };
    /** `--format prometheus`, checked by promtool (no findings); its samples. */
    const statusMetrics = (...args: string[]) => {
        const result = status("--format", "prometheus", ...args);
        const check = promtool(["check", "metrics"], { input: result.stdout });
        assert.strictEqual(check.code, 0, `${check.output}\n${result.stdout}\n${result.stderr}`);
        assert.strictEqual(check.output.trim(), "", "promtool finds nothing to lint");
        return { code: result.code, text: result.stdout, samples: parseExposition(result.stdout) };
    };
    const valuesOf = (samples: ReturnType<typeof parseExposition>, name: string) =>
        Object.fromEntries(
            samples.filter((sample) => sample.name === name).map((sample) => [sample.labels.item, sample.value]),
        );

    before(async () => {
        deployment = fixture.current;
        const result = await deployment.stack.up({ onOutput: fixture.log });
        assert.strictEqual(result.summary.result, "succeeded");
    });

    it("lists the CA, the server and every client, nothing due, and exits 0 with the default window", () => {
        const { code, report } = statusJson();
        assert.deepStrictEqual(
            report.rows.map((row) => row.item),
            ["ca-root", "server", "client-alice", "client-bob"],
        );
        const server = report.rows.find((row) => row.item === "server")!;
        assert.ok(server.daysLeft > 89 && server.daysLeft <= 90, `server: ${server.daysLeft} days left`);
        for (const row of report.rows) {
            assert.strictEqual(row.due, false, `${row.item} is not due`);
            assert.strictEqual(row.alert, false, `${row.item} does not alert`);
        }
        for (const client of ["client-alice", "client-bob"]) {
            assert.strictEqual(report.rows.find((row) => row.item === client)!.revoked, false, `${client} not revoked`);
        }
        assert.strictEqual(report.rows.find((row) => row.item === "ca-root")!.rollover, "none");
        assert.strictEqual(report.activeCaSlot, "a");
        assert.strictEqual(report.warnDays, 30);
        assert.strictEqual(code, 0, JSON.stringify(report.endpoint));
        assert.strictEqual(report.exitCode, 0);
    });

    it("reads the live endpoint at the published address with SNI and finds the server certificate of state", () => {
        const { report } = statusJson();
        const endpoint = report.endpoint!;
        assert.strictEqual(endpoint.address, `127.0.0.1:${deployment.publishPort}`);
        assert.strictEqual(endpoint.serverName, "localhost");
        assert.ok(endpoint.reachable, endpoint.error);
        assert.ok(endpoint.matches, endpoint.checks.join("\n"));
        // The stack exports serverCertificatePem: the comparison is the exact one, by fingerprint.
        assert.ok(
            endpoint.checks.some((check) => /^ok: SHA-256 fingerprint equals the one in state$/.test(check)),
            endpoint.checks.join("\n"),
        );
        assert.ok(
            endpoint.checks.every((check) => check.startsWith("ok: ")),
            endpoint.checks.join("\n"),
        );
        const server = report.rows.find((row) => row.item === "server")!;
        // The certificate carries whole seconds; the recorded expiry has the provider's fraction.
        const servedExpiry = Date.parse(endpoint.served!.notAfter);
        assert.ok(Math.abs(servedExpiry - Date.parse(server.notAfter)) < 1000, `${endpoint.served!.notAfter}`);
    });

    it("exits 1 when the window is wider than the server certificate's validity", () => {
        const { code, report } = statusJson("--warn-days", "3650");
        assert.strictEqual(code, 1);
        assert.ok(report.expiring.includes("server"), report.expiring.join(", "));
        assert.ok(report.endpoint?.matches, "the endpoint still matches: only bit 1 is set");
    });

    it("prints a table for people, ending with the verdict and exit status", () => {
        const { code, stdout } = status();
        assert.strictEqual(code, 0);
        assert.match(stdout, /^stack e2e-status-\w+, .* warning window 30 days$/m);
        assert.match(stdout, /^server +\d{4}-\d\d-\d\d \d\d:\d\d +(89|90) +ok$/m);
        assert.match(stdout, /^client-alice .* ok$/m);
        assert.match(stdout, /\(SNI localhost\): serves the certificate in state/);
        assert.match(stdout, /\nnothing expires within 30 days; exit 0\n$/);
    });

    it("--format prometheus: valid for promtool, every item of the stack labelled, the live check's result, exit 0", () => {
        const { code, samples } = statusMetrics("--warn-days", "3650");
        assert.strictEqual(code, 0, "the metrics carry what expires: exit 0 even with everything inside the window");
        const { report } = statusJson();
        for (const sample of samples) {
            assert.strictEqual(sample.labels.stack, deployment.stackName);
            assert.strictEqual(sample.labels.endpoint, "mtls-nginx");
        }
        const expiries = valuesOf(samples, metricNames.certificateExpiration);
        assert.deepStrictEqual(Object.keys(expiries), ["ca-root", "server", "client-alice", "client-bob"]);
        for (const row of report.rows) {
            // Whole seconds, as the certificate carries them (the record has the provider's fraction).
            assert.strictEqual(expiries[row.item], Math.floor(Date.parse(row.notAfter) / 1000), row.item);
        }
        assert.deepStrictEqual(valuesOf(samples, metricNames.certificateRevoked), {
            "client-alice": 0,
            "client-bob": 0,
        });
        assert.deepStrictEqual(valuesOf(samples, metricNames.crlNextUpdate), {}, "no one revoked: no CRL");
        assert.deepStrictEqual(valuesOf(samples, metricNames.endpointReachable), { server: 1 });
        assert.deepStrictEqual(valuesOf(samples, metricNames.endpointMatchesState), { server: 1 });
        const info = samples.find((sample) => sample.name === metricNames.endpointInfo)!;
        assert.deepStrictEqual(info.labels, {
            stack: deployment.stackName,
            endpoint: "mtls-nginx",
            item: "server",
            address: `127.0.0.1:${deployment.publishPort}`,
            server_name: "localhost",
            comparison: "fingerprint",
        });
        assert.strictEqual(
            valuesOf(samples, metricNames.endpointExpiration).server,
            expiries.server,
            "the served certificate expires when state says",
        );
        assert.strictEqual(samples.find((sample) => sample.name === metricNames.checkSuccess)?.value, 1);
        const lastRun = samples.find((sample) => sample.name === metricNames.lastRun)!.value!;
        assert.ok(Math.abs(lastRun - Date.now() / 1000) < 120, `last run ${lastRun}`);
    });

    it("--format json: the report and the same samples as the prometheus format", () => {
        const result = status("--format", "json");
        const report = JSON.parse(result.stdout) as StatusJson;
        assert.strictEqual(result.code, 0, result.stderr);
        assert.strictEqual(report.endpointName, "mtls-nginx");
        const { samples } = statusMetrics();
        const withoutRunTime = (list: readonly { name: string }[]) =>
            list.filter((sample) => sample.name !== metricNames.lastRun);
        assert.deepStrictEqual(withoutRunTime(report.metrics), withoutRunTime(samples));
        assert.deepStrictEqual(
            report.rows.map((row) => row.item),
            ["ca-root", "server", "client-alice", "client-bob"],
        );
    });

    it("--output replaces the file for node_exporter's textfile collector: quiet, mode 0644, no temp file left", () => {
        const directory = fs.mkdtempSync(path.join(os.tmpdir(), "mtls-e2e-textfile-"));
        try {
            const file = path.join(directory, `mtls-nginx-${deployment.stackName}.prom`);
            fs.writeFileSync(file, "# an older run\n");
            const result = status("--format", "prometheus", "--output", file);
            assert.strictEqual(result.code, 0, result.stderr);
            assert.strictEqual(result.stdout, "", "nothing on stdout");
            assert.deepStrictEqual(fs.readdirSync(directory), [path.basename(file)]);
            assert.strictEqual((fs.statSync(file).mode & 0o777).toString(8), "644");
            const text = fs.readFileSync(file, "utf8");
            const check = promtool(["check", "metrics"], { input: text });
            assert.strictEqual(check.code, 0, check.output);
            assert.match(text, /^mtls_nginx_certificate_expiration_timestamp_seconds\{.*item="server".*\} \d+/m);
            assert.match(text, /^mtls_nginx_endpoint_certificate_matches_state\{.*\} 1$/m);
        } finally {
            fs.rmSync(directory, { recursive: true, force: true });
        }
    });

    it("npm run client --p12 writes a bundle openssl opens with the password file, and curl runs quiet", () => {
        const secrets = fs.mkdtempSync(path.join(os.tmpdir(), "mtls-e2e-password-"));
        const clientDirectory = path.join(repoRoot, ".mtls-nginx", "clients", deployment.stackName);
        try {
            const passwordFile = path.join(secrets, "password");
            fs.writeFileSync(passwordFile, "e2e bundle password\n", { mode: 0o600 });
            const result = runNpmScript(deployment, "client", ["alice", "--p12", "--password-file", passwordFile]);
            assert.strictEqual(result.code, 0, result.stderr);
            assert.strictEqual(result.stdout, "mtls-nginx: hello alice\n");
            assert.doesNotMatch(result.stderr, /% Total|Dload/, "no progress meter");
            const bundle = path.join(clientDirectory, "alice.p12");
            assert.strictEqual((fs.statSync(bundle).mode & 0o777).toString(8), "600");
            const info = spawnSync(
                "openssl",
                ["pkcs12", "-in", bundle, "-info", "-noout", "-passin", `file:${passwordFile}`],
                {
                    encoding: "utf8",
                },
            );
            assert.strictEqual(info.status, 0, info.stderr);
            assert.match(info.stderr, /AES-256-CBC/);
        } finally {
            fs.rmSync(secrets, { recursive: true, force: true });
            fs.rmSync(clientDirectory, { recursive: true, force: true });
        }
    });

    it("exits 2 when the endpoint does not answer", () => {
        spawnSync("docker", ["stop", "-t", "2", deployment.containerName], { stdio: "ignore" });
        try {
            const { code, report } = statusJson();
            assert.strictEqual(code, 2);
            assert.strictEqual(report.endpoint?.reachable, false);
            // The metrics say so, and the run still succeeds: the alert is Prometheus's business.
            const metrics = statusMetrics();
            assert.strictEqual(metrics.code, 0);
            assert.deepStrictEqual(valuesOf(metrics.samples, metricNames.endpointReachable), { server: 0 });
            assert.deepStrictEqual(valuesOf(metrics.samples, metricNames.endpointMatchesState), {});
            assert.strictEqual(
                metrics.samples.find((sample) => sample.name === metricNames.checkSuccess)?.value,
                1,
                "the stack was read",
            );
        } finally {
            spawnSync("docker", ["start", deployment.containerName], { stdio: "ignore" });
        }
    });
});
