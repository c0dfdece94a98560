import * as assert from "assert";
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import type { OutputMap } from "@pulumi/pulumi/automation";
import {
    containerId,
    outputValue,
    removeRuntimeStackFile,
    runNpmScript,
    setConfig,
    ThrowawayStack,
    useThrowawayStack,
} from "../../testkit/stack";

const hour = 3600_000;

/** What one run of `npm run renew` did. */
interface RenewRun {
    readonly code: number | null;
    readonly stdout: string;
    readonly stderr: string;
    /** The last line it printed: the one a pager shows. */
    readonly verdict: string;
}

/**
 * `npm run renew` against a deployed throwaway stack, as a timer runs it: a preview, and an `up` only
 * when something is due. The test-only clock (MTLS_NOW) makes a certificate or the CRL due without
 * waiting for it. The stack has the dev config: server 2160 h (renewed in its last 720 h), clients
 * 8760 h (720 h), CAs years; a CRL, once someone is revoked, 720 h (re-issued in its last 240 h).
 */
describe("npm run renew on a deployed stack", function () {
    const fixture = useThrowawayStack("renew");
    let deployment: ThrowawayStack;

    const renew = (clock?: Date | string, ...args: string[]): RenewRun => renewWith({}, clock, ...args);
    const renewWith = (extra: Record<string, string>, clock?: Date | string, ...args: string[]): RenewRun => {
        const started = Date.now();
        const result = runNpmScript(deployment, "renew", args, {
            ...extra,
            ...(clock !== undefined ? { MTLS_NOW: clock instanceof Date ? clock.toISOString() : clock } : {}),
        });
        const lines = `${result.stdout}\n${result.stderr}`.split("\n").filter((line) => line.trim() !== "");
        const verdict = lines.filter((line) => line.startsWith("mtls-nginx renew ")).pop() ?? "(no verdict line)";
        console.log(`      exit ${result.code} in ${((Date.now() - started) / 1000).toFixed(1)} s: ${verdict}`);
        return { ...result, verdict };
    };
    const explain = (run: RenewRun) => `--- stdout ---\n${run.stdout}\n--- stderr ---\n${run.stderr}`;
    const inHours = (hours: number) => new Date(Date.now() + hours * hour);
    const updates = async () => (await deployment.stack.history()).length;
    const certificates = (outputs: OutputMap) => ({
        server: outputValue<string>(outputs, "serverCertificatePem"),
        clients: outputValue<Record<string, string>>(outputs, "clientCertificatePems"),
        crl: outputValue<string>(outputs, "certificateRevocationListPem"),
    });

    /** A new server certificate; the clients' and the container as they were. */
    const assertOnlyServerRenewed = (before: OutputMap, after: OutputMap, containerBefore: string | undefined) => {
        assert.notStrictEqual(certificates(after).server, certificates(before).server, "a new server certificate");
        assert.deepStrictEqual(
            certificates(after).clients,
            certificates(before).clients,
            "the clients' are left alone",
        );
        assert.strictEqual(containerId(deployment.containerName), containerBefore, "the container stays");
    };

    before(async () => {
        deployment = fixture.current;
        const result = await deployment.stack.up({ onOutput: fixture.log });
        assert.strictEqual(result.summary.result, "succeeded");
    });

    after(() => {
        // The runtime stack file `npm run up`'s scripts/stack-file.sh writes, as for any stack.
        if (deployment) removeRuntimeStackFile(deployment.stackName);
    });

    it("exits 0 and runs no up when nothing is due", async () => {
        const before = await updates();
        const outputs = await deployment.stack.outputs();
        const run = renew();
        assert.strictEqual(run.code, 0, explain(run));
        assert.match(
            run.verdict,
            new RegExp(`^mtls-nginx renew ${deployment.stackName}: nothing due at .*; next expiry: server on `),
        );
        assert.strictEqual(await updates(), before, "no update ran");
        assert.deepStrictEqual(certificates(await deployment.stack.outputs()), certificates(outputs));
    });

    it("refuses an MTLS_NOW that is not a time (exit 64), before any preview", () => {
        const run = renew("next week");
        assert.strictEqual(run.code, 64, explain(run));
        assert.match(
            run.verdict,
            new RegExp(`^mtls-nginx renew ${deployment.stackName}: FAILED: MTLS_NOW="next week" is not a time`),
        );
    });

    it("--dry-run reports the server certificate due at MTLS_NOW, with its expiry, and changes nothing", async () => {
        const before = await updates();
        const outputs = await deployment.stack.outputs();
        const serverExpiry = outputValue<Record<string, string>>(outputs, "certificateExpiries").server;
        const run = renew(inHours(1500), "--dry-run");
        assert.strictEqual(run.code, 0, explain(run));
        assert.strictEqual(
            run.verdict,
            `mtls-nginx renew ${deployment.stackName}: due: server (expires ${serverExpiry.slice(0, 16)}Z); dry run, nothing changed`,
        );
        assert.strictEqual(await updates(), before, "no update ran");
    });

    it("exits 4 with a pager line, changing nothing, while another update holds the stack's lock", async () => {
        const lockDirectory = path.join(
            deployment.stateDirectory,
            ".pulumi",
            "locks",
            "organization",
            "mtls-nginx",
            deployment.stackName,
        );
        fs.mkdirSync(lockDirectory, { recursive: true });
        const lockFile = path.join(lockDirectory, "e2e-held-lock.json");
        const since = new Date().toISOString();
        fs.writeFileSync(
            lockFile,
            JSON.stringify({ pid: 4242, username: "oncall", hostname: os.hostname(), timestamp: since }),
        );
        const before = await updates();
        const outputs = await deployment.stack.outputs();
        try {
            const run = renew(inHours(1500));
            assert.strictEqual(run.code, 4, explain(run));
            assert.match(
                run.verdict,
                new RegExp(
                    `^mtls-nginx renew ${deployment.stackName}: FAILED: the stack is locked by another update ` +
                        `\\(oncall@.* \\(pid 4242\\) since .*\\); nothing changed\\. .*pulumi cancel --yes --stack ${deployment.stackName}`,
                ),
            );
        } finally {
            fs.rmSync(lockFile, { force: true });
        }
        assert.strictEqual(await updates(), before, "no update ran");
        assert.deepStrictEqual(certificates(await deployment.stack.outputs()), certificates(outputs));
    });

    it("renews only the server certificate when only it is due, and its smoke test passes (exit 0)", async () => {
        const before = await deployment.stack.outputs();
        const containerBefore = containerId(deployment.containerName);
        const updatesBefore = await updates();
        const run = renew(inHours(1500));
        assert.strictEqual(run.code, 0, explain(run));
        assert.match(
            run.verdict,
            new RegExp(
                `^mtls-nginx renew ${deployment.stackName}: renewed server \\(\\S+ -> \\S+\\); smoke test passed: .* -> 200, without a certificate -> 400`,
            ),
        );
        const after = await deployment.stack.outputs();
        assertOnlyServerRenewed(before, after, containerBefore);
        assert.match(outputValue<string>(after, "smokeTest"), /smoke test passed/);
        const history = await deployment.stack.history();
        assert.strictEqual(history.length, updatesBefore + 1, "one update");
        assert.strictEqual(
            history[0].message,
            "renew: server (expires " + run.verdict.match(/server \((\S+) ->/)![1] + ")",
        );

        const again = renew();
        assert.strictEqual(again.code, 0, explain(again));
        assert.match(again.verdict, /: nothing due at /);
        assert.strictEqual(await updates(), updatesBefore + 1, "nothing more to do at the real time");
    });

    it("exits 2 with the resource's error when the update fails (the container stopped), and renews once it runs", async () => {
        const outputs = await deployment.stack.outputs();
        const stopped = spawnSync("docker", ["stop", "--time", "1", deployment.containerName], { encoding: "utf8" });
        assert.strictEqual(stopped.status, 0, stopped.stderr);
        let failed: RenewRun;
        try {
            failed = renew(inHours(1500));
        } finally {
            spawnSync("docker", ["start", deployment.containerName]);
        }
        assert.strictEqual(failed.code, 2, explain(failed));
        const stack = deployment.stackName;
        assert.match(
            failed.verdict,
            new RegExp(
                `^mtls-nginx renew ${stack}: FAILED: up failed while renewing server \\(expires \\S+\\): ` +
                    `exit status 1: .*delivering the Nginx files to mtls-nginx-${stack} failed: `,
            ),
        );
        assert.match(failed.verdict, new RegExp(`; run npm run up -- ${stack} by hand$`));

        // The next run finds the server still due (the failed update recorded nothing) and finishes the job.
        const run = renew(inHours(1500));
        assert.strictEqual(run.code, 0, explain(run));
        assert.match(run.verdict, /: renewed server \(\S+ -> \S+\); smoke test passed: /);
        const after = certificates(await deployment.stack.outputs());
        assert.notStrictEqual(after.server, certificates(outputs).server, "a new server certificate");
        assert.deepStrictEqual(after.clients, certificates(outputs).clients, "the clients' are left alone");
    });

    it("takes two phases from MTLS_TWO_PHASE_MIN_TLS_STEPS certificate steps: the certificates, then the endpoint", async () => {
        const before = await deployment.stack.outputs();
        const containerBefore = containerId(deployment.containerName);
        const updatesBefore = await updates();
        // The server certificate renewed above (2160 h) is due again from 1440 h; one step is enough here.
        const run = renewWith({ MTLS_TWO_PHASE_MIN_TLS_STEPS: "1" }, inHours(1500));
        assert.strictEqual(run.code, 0, explain(run));
        assert.match(run.stdout, /up in two phases \(\d+ certificate steps\): the certificates, then the endpoint/);
        assert.match(
            run.verdict,
            /: renewed server \(\S+ -> \S+\); smoke test passed: .* -> 200, without a certificate -> 400/,
        );
        assertOnlyServerRenewed(before, await deployment.stack.outputs(), containerBefore);
        assert.strictEqual(await updates(), updatesBefore + 2, "two updates: phase 1, then phase 2");
        // The state copies of those updates: the newest 10 of each kind stay (the default), the verdict is last.
        assert.match(
            run.stdout,
            /\[state\] \S+: removed \d+ old copies of the state .*; the newest 10 of each kind stay/,
        );
        assert.strictEqual(run.stdout.trim().split("\n").pop(), run.verdict);
        const again = renew(inHours(1000));
        assert.match(again.verdict, /: nothing due at /, "phase 2 left nothing due");
    });

    it("re-issues the CRL near its next update, and nothing else", async () => {
        await setConfig(deployment.stack, { revokedClients: ["bob"] });
        const revoked = await deployment.stack.up({ onOutput: fixture.log });
        assert.strictEqual(revoked.summary.result, "succeeded");
        const before = certificates(revoked.outputs);
        assert.match(before.crl, /BEGIN X509 CRL/);

        // The CRL (720 h) is re-issued in its last 240 h; the server certificate (renewed above) is due from 1440 h.
        const run = renew(inHours(500));
        assert.strictEqual(run.code, 0, explain(run));
        assert.match(run.verdict, /: renewed crl \(\S+ -> \S+\); smoke test passed: /);
        const after = certificates(await deployment.stack.outputs());
        assert.notStrictEqual(after.crl, before.crl, "a new CRL");
        assert.strictEqual(after.server, before.server, "the server certificate is left alone");
        assert.deepStrictEqual(after.clients, before.clients, "the clients' are left alone");
    });
});
