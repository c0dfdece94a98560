import * as assert from "assert";
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import type { EndpointCheck, ExpiryRow } from "../../scripts/expiryReport";
import { repoRoot, ThrowawayStack, useThrowawayStack } from "../../testkit/stack";

/** What `npm run status -- STACK --json` prints. */
interface StatusJson {
    readonly stack: string;
    readonly warnDays: number;
    readonly rows: ExpiryRow[];
    readonly expiring: string[];
    readonly activeCaSlot?: string;
    readonly endpoint?: EndpointCheck;
    readonly exitCode: number;
}

/**
 * `npm run status` against a deployed throwaway stack: the CLI reads the stack through the Pulumi
 * CLI with the stack's backend and passphrase from the environment, as cron or CI would run it.
 */
describe("npm run status on a deployed dev stack", function () {
    const fixture = useThrowawayStack("status");
    let deployment: ThrowawayStack;

    /** `npm run SCRIPT -- STACK ARGS...` with the throwaway stack's backend and passphrase. */
    const npmRun = (script: string, ...args: string[]) => {
        const environment: NodeJS.ProcessEnv = { ...process.env, ...deployment.environment };
        delete environment.PULUMI_CONFIG_PASSPHRASE_FILE;
        const result = spawnSync("npm", ["run", "--silent", script, "--", deployment.stackName, ...args], {
            cwd: repoRoot,
            env: environment,
            encoding: "utf8",
        });
        return { code: result.status, stdout: result.stdout, stderr: result.stderr };
    };
    const status = (...args: string[]) => npmRun("status", ...args);
    const statusJson = (...args: string[]) => {
        const result = status("--json", ...args);
        assert.ok(result.stdout.trim().startsWith("{"), `JSON on stdout; stderr:\n${result.stderr}`);
        return { code: result.code, report: JSON.parse(result.stdout) as StatusJson };
    };

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

    it("npm run client --p12 writes a bundle openssl opens with the password file, and curl runs quiet", () => {
        const secrets = fs.mkdtempSync(path.join(os.tmpdir(), "mtls-e2e-password-"));
        const clientDirectory = path.join(repoRoot, ".mtls-nginx", "clients", deployment.stackName);
        try {
            const passwordFile = path.join(secrets, "password");
            fs.writeFileSync(passwordFile, "e2e bundle password\n", { mode: 0o600 });
            const result = npmRun("client", "alice", "--p12", "--password-file", passwordFile);
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
        } finally {
            spawnSync("docker", ["start", deployment.containerName], { stdio: "ignore" });
        }
    });
});
