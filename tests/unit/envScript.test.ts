import * as assert from "assert";
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";

import { repoRoot } from "../../testkit/stack";

/**
 * scripts/env.sh in a checkout of its own (a temp directory holding only the script), so that its
 * PULUMI_HOME is that directory's .pulumi-home; `env` adds to a minimal environment.
 */
function sourceEnvScript(checkout: string, env: Record<string, string> = {}, then = "true") {
    const result = spawnSync("bash", ["-c", `. scripts/env.sh && ${then}`], {
        cwd: checkout,
        encoding: "utf8",
        env: { PATH: process.env.PATH, HOME: checkout, MTLS_CACHE_ROOT: path.join(checkout, "cache"), ...env },
    });
    assert.strictEqual(result.status, 0, result.stderr);
    return result.stdout;
}

describe("scripts/env.sh: the engine's settings", () => {
    let checkout: string;
    let logs: string;

    beforeEach(() => {
        checkout = fs.mkdtempSync(path.join(os.tmpdir(), "mtls-env-"));
        fs.mkdirSync(path.join(checkout, "scripts"));
        fs.copyFileSync(path.join(repoRoot, "scripts", "env.sh"), path.join(checkout, "scripts", "env.sh"));
        logs = path.join(checkout, ".pulumi-home", "logs");
    });
    afterEach(() => fs.rmSync(checkout, { recursive: true, force: true }));

    it("gives Go's collector GOGC=200 unless the environment sets it", () => {
        assert.strictEqual(sourceEnvScript(checkout, {}, 'echo "$GOGC"').trim(), "200");
        assert.strictEqual(sourceEnvScript(checkout, { GOGC: "100" }, 'echo "$GOGC"').trim(), "100");
    });

    it("gives the checkout's file backend metadata=skip, and its passphrase with or without query parameters", () => {
        const state = path.join(checkout, ".pulumi-state");
        const shown = 'echo "$PULUMI_BACKEND_URL $PULUMI_CONFIG_PASSPHRASE_FILE"';
        assert.strictEqual(
            sourceEnvScript(checkout, {}, shown).trim(),
            `file://${state}?metadata=skip ${state}/passphrase`,
        );
        // A shell that sourced an earlier env.sh exported the URL without the parameter: the same backend.
        assert.strictEqual(
            sourceEnvScript(checkout, { PULUMI_BACKEND_URL: `file://${state}` }, shown).trim(),
            `file://${state} ${state}/passphrase`,
        );
        assert.strictEqual(
            sourceEnvScript(checkout, { PULUMI_BACKEND_URL: "file:///elsewhere" }, shown).trim(),
            "file:///elsewhere",
        );
    });

    it("turns the CLI's automatic log off on a new machine: PULUMI_HOME/logs is a file the CLI cannot log into", () => {
        sourceEnvScript(checkout);
        assert.ok(fs.statSync(logs).isFile());
        assert.match(fs.readFileSync(logs, "utf8"), /MTLS_PULUMI_LOGS/);
        sourceEnvScript(checkout); // again: nothing changes
        assert.deepStrictEqual(fs.readdirSync(path.dirname(logs)), ["logs"]);
    });

    it("keeps an existing log directory's files under logs.<date>, and removes an empty one", () => {
        fs.mkdirSync(logs, { recursive: true });
        fs.writeFileSync(path.join(logs, "pulumi-1.log"), "encrypted");
        sourceEnvScript(checkout);
        const kept = fs.readdirSync(path.dirname(logs)).filter((name) => name.startsWith("logs."));
        assert.strictEqual(kept.length, 1);
        assert.match(kept[0], /^logs\.\d{8}T\d{6}Z$/);
        assert.strictEqual(
            fs.readFileSync(path.join(path.dirname(logs), kept[0], "pulumi-1.log"), "utf8"),
            "encrypted",
        );
        assert.ok(fs.statSync(logs).isFile());

        fs.rmSync(path.join(path.dirname(logs), kept[0]), { recursive: true });
        fs.rmSync(logs);
        fs.mkdirSync(logs);
        sourceEnvScript(checkout);
        assert.deepStrictEqual(fs.readdirSync(path.dirname(logs)), ["logs"]);
        assert.ok(fs.statSync(logs).isFile());
    });

    it("MTLS_PULUMI_LOGS=keep gives the CLI its log directory back (the CLI makes it), and leaves one alone", () => {
        sourceEnvScript(checkout);
        sourceEnvScript(checkout, { MTLS_PULUMI_LOGS: "keep" });
        assert.ok(!fs.existsSync(logs));
        fs.mkdirSync(logs);
        fs.writeFileSync(path.join(logs, "pulumi-2.log"), "encrypted");
        sourceEnvScript(checkout, { MTLS_PULUMI_LOGS: "keep" });
        assert.deepStrictEqual(fs.readdirSync(logs), ["pulumi-2.log"]);
    });
});
