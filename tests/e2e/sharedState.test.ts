import * as assert from "assert";
import { ChildProcess, spawn } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import * as zlib from "zlib";

import { LocalWorkspace, PulumiCommand, Stack } from "@pulumi/pulumi/automation";

import { PostgresCluster, usePostgres } from "../../testkit/postgres";
import {
    createThrowawayStack,
    outputValue,
    RecordedStep,
    reapOrphanedPlugins,
    repoRoot,
    setConfig,
    stepRecorder,
    ThrowawayStack,
    useEngineLog,
} from "../../testkit/stack";

/** What a command printed (stdout and stderr, interleaved as they came) and how it ended. */
interface Finished {
    readonly status: number | null;
    readonly signal: NodeJS.Signals | null;
    readonly output: string;
    readonly seconds: number;
}

/** A command running in the background; `finished` settles when it exits (killed after `timeoutMs`). */
interface Running {
    readonly child: ChildProcess;
    readonly output: () => string;
    readonly finished: Promise<Finished>;
}

/** The refusal of a DIY backend's lock (pkg/backend/diy/lock.go), word for word. */
const lockRefusal =
    /error: the stack is currently locked by 1 lock\(s\)\. Either wait for the other process\(es\) to end or delete the lock file with `pulumi cancel`\./;
/** The line naming the lock: its key in the state database (the URL's user and password masked), who and which process. */
const lockHolder =
    /postgres:\/\/\*\*\*\*:\*\*\*\*@127\.0\.0\.1:\d+\/mtls_state\/\.pulumi\/locks\/\S+\.json(?:\?\S*)?: created by \S+@\S+ \(pid (\d+)\) at \S+/;

/**
 * Shared state on a real database: a private PostgreSQL cluster (testkit/postgres.ts) is the stack's
 * backend, and two separate checkouts work on the one stack, as a team or CI runners would. Checkout
 * A is this repository; checkout B a copy of its files in another directory. Both run with the
 * passphrase from the environment (as CI gets it from a secret store), never from a file.
 */
describe("shared state on PostgreSQL", function () {
    const postgres = usePostgres();

    describe("two checkouts of one stack", function () {
        const log = useEngineLog();
        let database: PostgresCluster;
        let deployment: ThrowawayStack;
        let checkoutB: string;
        let stackB: Stack;
        let destroyed = false;
        const running = new Set<ChildProcess>();

        /** A command with the stack's environment (backend URL, PGPASSWORD, passphrase; no passphrase file). */
        const start = (cwd: string, command: string, args: string[], timeoutMs = 300_000): Running => {
            const environment: NodeJS.ProcessEnv = { ...process.env, ...deployment.environment };
            delete environment.PULUMI_CONFIG_PASSPHRASE_FILE;
            const began = Date.now();
            const child = spawn(command, args, { cwd, env: environment, stdio: ["ignore", "pipe", "pipe"] });
            running.add(child);
            let output = "";
            const collect = (data: Buffer) => {
                output += data.toString();
            };
            child.stdout?.on("data", collect);
            child.stderr?.on("data", collect);
            const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
            const finished = new Promise<Finished>((resolve) => {
                let done = false;
                const finish = (status: number | null, signal: NodeJS.Signals | null) => {
                    if (done) return;
                    done = true;
                    clearTimeout(timer);
                    running.delete(child);
                    log(`$ (${path.basename(cwd)}) ${command} ${args.join(" ")}\n${output}\n`);
                    resolve({ status, signal, output, seconds: (Date.now() - began) / 1000 });
                };
                child.on("close", finish);
                // A killed CLI's plugins may hold its output pipes open a while: its exit is enough then.
                child.on("exit", (status, signal) => setTimeout(() => finish(status, signal), 5000).unref());
            });
            return { child, output: () => output, finished };
        };
        const run = (cwd: string, command: string, args: string[], timeoutMs?: number) =>
            start(cwd, command, args, timeoutMs).finished;
        const pulumi = (cwd: string, ...args: string[]) =>
            run(cwd, "pulumi", [...args, "--stack", deployment.stackName]);
        /** Polls `condition` every 200 ms; fails after `boundSeconds`. */
        const waitFor = async (what: string, boundSeconds: number, condition: () => boolean): Promise<number> => {
            const began = Date.now();
            while (!condition()) {
                if (Date.now() - began > boundSeconds * 1000) {
                    throw new Error(`${what}: not within ${boundSeconds} s`);
                }
                await new Promise((resolve) => setTimeout(resolve, 200));
            }
            return (Date.now() - began) / 1000;
        };
        const lockRows = () =>
            Number(database.query("SELECT count(*) FROM pulumi_state WHERE key LIKE '%/.pulumi/locks/%'").trim());
        const stackFile = () => `Pulumi.${deployment.stackName}.yaml`;
        /** The stack's settings from one checkout to the other, as `git pull` brings a teammate's change. */
        const pullConfig = (from: string, to: string) =>
            fs.copyFileSync(path.join(from, stackFile()), path.join(to, stackFile()));
        const state = async () =>
            (await deployment.stack.exportStack()).deployment as {
                resources?: Array<{ urn: string }>;
                pending_operations?: unknown[];
            };
        const urns = async () => ((await state()).resources ?? []).map((resource) => resource.urn);
        /**
         * A preview from `who` changes nothing but what follows the checkout's own path: the local commands'
         * `dir` (the program's directory, absolute) and so the smoke test's probe, which runs again after a
         * delivery. Anything else (a resource created, deleted or changed otherwise) fails. Returns those steps.
         */
        const assertSameStack = async (stack: Stack, who: string): Promise<string[]> => {
            const recorder = stepRecorder();
            await stack.preview({ onOutput: log, onEvent: recorder.onEvent });
            const changed = recorder.steps.filter((step) => step.op !== "same");
            const followsPath = (step: RecordedStep) =>
                (step.op === "update" && step.diffs.length > 0 && step.diffs.every((diff) => diff === "dir")) ||
                (step.name.endsWith("-smoke-test-probe") && step.diffs.every((diff) => diff === "triggers"));
            assert.deepStrictEqual(
                changed.filter((step) => !followsPath(step)),
                [],
                `${who} previews no change beyond the checkout's path`,
            );
            return [...new Set(changed.map((step) => `${step.name} ${step.op} [${step.diffs.join(",")}]`))];
        };

        before(async function () {
            database = postgres.current;
            console.log(
                `      PostgreSQL cluster started in ${database.startSeconds.toFixed(1)} s: ${database.backendUrl}`,
            );
            deployment = await createThrowawayStack(
                "shared",
                {},
                { backend: { url: database.backendUrl, environment: database.environment } },
            );
            // Checkout B: this checkout's files (tracked, and new ones not ignored: what a clone of the commit
            // under test holds) in another directory, with node_modules and the Pulumi toolchain linked in
            // (tools, not state), and the stack's settings file.
            checkoutB = fs.mkdtempSync(path.join(os.tmpdir(), "mtls-e2e-checkout-b-"));
            const listed = await run(repoRoot, "git", ["ls-files", "-z", "--cached", "--others", "--exclude-standard"]);
            assert.strictEqual(listed.status, 0, listed.output);
            for (const file of listed.output.split("\0").filter((name) => name !== "")) {
                const source = path.join(repoRoot, file);
                if (fs.existsSync(source) && fs.statSync(source).isFile()) {
                    fs.mkdirSync(path.dirname(path.join(checkoutB, file)), { recursive: true });
                    fs.copyFileSync(source, path.join(checkoutB, file));
                    fs.chmodSync(path.join(checkoutB, file), fs.statSync(source).mode & 0o777);
                }
            }
            fs.symlinkSync(path.join(repoRoot, "node_modules"), path.join(checkoutB, "node_modules"));
            fs.symlinkSync(path.join(repoRoot, ".pulumi-home"), path.join(checkoutB, ".pulumi-home"));
            pullConfig(repoRoot, checkoutB);
            stackB = await LocalWorkspace.selectStack(
                { stackName: deployment.stackName, workDir: checkoutB },
                {
                    envVars: deployment.environment,
                    pulumiCommand: await PulumiCommand.get({
                        root: path.join(repoRoot, ".pulumi-home"),
                        skipVersionCheck: true,
                    }),
                },
            );
        });

        after(async function () {
            this.timeout(600_000);
            for (const child of running) child.kill("SIGKILL");
            if (deployment) {
                if (!destroyed) {
                    // A lock a failed test left would refuse the destroy.
                    await deployment.stack.cancel().catch(() => undefined);
                    await deployment.stack.destroy({ onOutput: log }).catch((error) => console.error(String(error)));
                }
                await deployment.dispose();
                fs.rmSync(path.join(repoRoot, ".pulumi-state", "stacks", stackFile()), { force: true });
            }
            if (checkoutB) fs.rmSync(checkoutB, { recursive: true, force: true });
            reapOrphanedPlugins();
        });

        it("checkout A deploys; checkout B, another directory, previews the same stack: no change beyond its path", async () => {
            const result = await deployment.stack.up({ onOutput: log });
            assert.match(outputValue<string>(result.outputs, "smokeTest"), /smoke test passed/);
            assert.deepStrictEqual(fs.readdirSync(deployment.stateDirectory), [], "nothing in a file backend");
            const checkpoints = database.query(
                `SELECT key FROM pulumi_state WHERE key LIKE '%/.pulumi/stacks/%${deployment.stackName}.json'`,
            );
            assert.match(checkpoints, new RegExp(`${deployment.stackName}\\.json`), "the checkpoint is a row");
            const pathSteps = await assertSameStack(stackB, "checkout B");
            console.log(
                `      checkout B's preview: changes only where the checkout's path differs: ${pathSteps.join("; ") || "none"}`,
            );
            const outputsB = await stackB.outputs();
            assert.strictEqual(
                outputValue<string>(outputsB, "caCertificatePem"),
                outputValue<string>(result.outputs, "caCertificatePem"),
            );
        });

        it("checkout B deploys a change; checkout A, after pulling the settings, previews no change beyond its path", async () => {
            await setConfig(stackB, { clients: ["alice", "bob", "carol"] });
            const result = await stackB.up({ onOutput: log });
            assert.strictEqual(result.summary.result, "succeeded");
            assert.ok((result.summary.resourceChanges?.create ?? 0) > 0, "B created carol's resources");
            pullConfig(checkoutB, repoRoot);
            await assertSameStack(deployment.stack, "checkout A");
            assert.ok(
                Object.keys(
                    outputValue<Record<string, string>>(await deployment.stack.outputs(), "clientCertificatePems"),
                ).includes("carol"),
            );
        });

        it("refuses a second up while one runs, with the lock's message; the first completes and nothing is lost", async () => {
            const before = await urns();
            const updatesBefore = (await deployment.stack.history()).length;
            // A adds dave; B still has the settings without him: had its up run, it would have removed him.
            await setConfig(deployment.stack, { clients: ["alice", "bob", "carol", "dave"] });
            const first = start(repoRoot, "pulumi", ["up", "--yes", "--skip-preview", "--stack", deployment.stackName]);
            const lockedAfter = await waitFor("the first up holds its lock", 120, () => lockRows() === 1);
            const second = await pulumi(checkoutB, "up", "--yes", "--skip-preview");
            const firstDone = await first.finished;
            assert.notStrictEqual(second.status, 0, `the second up is refused:\n${second.output}`);
            assert.match(second.output, lockRefusal);
            const holder = second.output.match(lockHolder);
            assert.ok(holder, `the message names the lock and its holder:\n${second.output}`);
            assert.strictEqual(Number(holder[1]), first.child.pid, "the lock is the first up's");
            assert.ok(!second.output.includes(database.password), "no database password in the message");
            assert.strictEqual(firstDone.status, 0, `the first up completes:\n${firstDone.output}`);
            assert.strictEqual(lockRows(), 0, "no lock left");
            const after = await urns();
            assert.deepStrictEqual(
                before.filter((urn) => !after.includes(urn)),
                [],
                "every resource of before is still in state",
            );
            assert.ok(
                after.some((urn) => urn.includes("dave")),
                "the first up's change is in state",
            );
            assert.strictEqual((await deployment.stack.history()).length, updatesBefore + 1, "one update recorded");
            assert.deepStrictEqual((await state()).pending_operations ?? [], []);
            await assertSameStack(deployment.stack, "checkout A");
            console.log(
                `      lock held ${lockedAfter.toFixed(1)} s after the first up started; second up refused in ` +
                    `${second.seconds.toFixed(1)} s; first up done in ${firstDone.seconds.toFixed(1)} s ` +
                    `(${before.length} -> ${after.length} resources)\n` +
                    `      refusal: ${(second.output.match(/error: the stack is currently locked.*/) ?? [""])[0]}\n` +
                    `               ${holder[0].replace(/\(pid \d+\) at \S+/, "(pid N) at TIME")}`,
            );
            pullConfig(repoRoot, checkoutB);
        });

        it("reports the lock a SIGKILLed up left; pulumi cancel clears it, and npm run up converges", async () => {
            await setConfig(stackB, { clients: ["alice", "bob", "carol", "dave", "erin"] });
            const killed = start(checkoutB, "pulumi", [
                "up",
                "--yes",
                "--skip-preview",
                "--stack",
                deployment.stackName,
            ]);
            await waitFor("the up creates something", 180, () => /(creating|updating) \(/.test(killed.output()));
            killed.child.kill("SIGKILL");
            const killedDone = await killed.finished;
            assert.strictEqual(killedDone.signal, "SIGKILL");
            assert.strictEqual(lockRows(), 1, "the killed up's lock is still there");
            // The next up, from the other checkout, is refused and names the dead process.
            const refused = await pulumi(repoRoot, "up", "--yes", "--skip-preview");
            assert.notStrictEqual(refused.status, 0, refused.output);
            assert.match(refused.output, lockRefusal);
            assert.strictEqual(Number(refused.output.match(lockHolder)?.[1]), killed.child.pid, refused.output);
            // docs/operations.md: pulumi cancel, then refresh dropping the creates the kill cut short, then up.
            const cancel = await pulumi(repoRoot, "cancel", "--yes");
            assert.strictEqual(cancel.status, 0, cancel.output);
            assert.strictEqual(lockRows(), 0, "pulumi cancel removed the lock");
            const pending = ((await state()).pending_operations ?? []).length;
            const refresh = await pulumi(repoRoot, "refresh", "--clear-pending-creates", "--yes");
            assert.strictEqual(refresh.status, 0, refresh.output);
            pullConfig(checkoutB, repoRoot);
            const up = await run(repoRoot, "bash", ["scripts/up.sh", deployment.stackName], 600_000);
            assert.strictEqual(up.status, 0, up.output);
            assert.match(up.output, /Endpoint: https:\/\//);
            assert.deepStrictEqual((await state()).pending_operations ?? [], []);
            assert.ok((await urns()).some((urn) => urn.includes("erin")));
            await assertSameStack(stackB, "checkout B");
            console.log(
                `      killed: ${killedDone.seconds.toFixed(1)} s into its up; the next up was refused naming pid ` +
                    `${killed.child.pid}; pulumi cancel; refresh cleared ${pending} pending operation(s); ` +
                    `npm run up (scripts/up.sh) converged in ${up.seconds.toFixed(1)} s`,
            );
        });

        it("keeps the secrets encrypted in the database: no private key in any row", async () => {
            const outputs = await deployment.stack.outputs();
            const keys = outputValue<Record<string, string>>(outputs, "clientPrivateKeyPems");
            const keyLines = Object.values(keys).map((pem) => pem.split("\n")[1]);
            assert.ok(
                keyLines.length >= 5 && keyLines.every((line) => line.length >= 60),
                "the keys' first base64 lines",
            );
            const rows = JSON.parse(
                database.query(
                    "SELECT coalesce(json_agg(json_build_object('key', key, 'data', data)), '[]') FROM pulumi_state",
                ),
            ) as Array<{ key: string; data: { data: string } }>;
            // A row's data is {"data": base64 of the object}; a .gz object is gzip.
            const decoded = rows.map(({ key, data }) => {
                const bytes = Buffer.from(data.data, "base64");
                const plain = bytes[0] === 0x1f && bytes[1] === 0x8b ? zlib.gunzipSync(bytes) : bytes;
                return { key, raw: JSON.stringify(data), text: plain.toString("utf8") };
            });
            const stackRows = decoded.filter((row) => row.key.includes(deployment.stackName));
            assert.ok(stackRows.length >= 5, `checkpoints, backups and history of the stack: ${stackRows.length} rows`);
            // The decoding reads what is in clear: the certificates.
            assert.ok(
                stackRows.some((row) => row.text.includes("-----BEGIN CERTIFICATE-----")),
                "certificates in clear",
            );
            assert.ok(
                stackRows.some((row) => row.text.includes('"ciphertext"')),
                "secrets as ciphertext",
            );
            const passphrase = deployment.environment.PULUMI_CONFIG_PASSPHRASE;
            for (const row of decoded) {
                for (const text of [row.raw, row.text]) {
                    assert.doesNotMatch(text, /-----BEGIN [A-Z ]*PRIVATE KEY-----/, `a private key in ${row.key}`);
                    assert.ok(!keyLines.some((line) => text.includes(line)), `a client key's text in ${row.key}`);
                    assert.ok(!text.includes(passphrase), `the passphrase in ${row.key}`);
                }
            }
            console.log(
                `      ${decoded.length} rows (${stackRows.length} of the stack, ` +
                    `${decoded.reduce((sum, row) => sum + row.text.length, 0)} bytes decoded): no PRIVATE KEY, ` +
                    `no line of the ${keyLines.length} client keys, no passphrase`,
            );
        });

        it("checkout B's scripts read the stack and destroy it: client.sh, status.ts, down.sh", async () => {
            const client = await run(checkoutB, "bash", ["scripts/client.sh", deployment.stackName, "alice"]);
            assert.strictEqual(client.status, 0, client.output);
            assert.match(client.output, /mtls-nginx: hello alice/);
            const status = await run(checkoutB, "bash", [
                "scripts/with-node.sh",
                "node",
                "-r",
                "ts-node/register/transpile-only",
                "scripts/status.ts",
                deployment.stackName,
                "--json",
            ]);
            assert.strictEqual(status.status, 0, status.output);
            assert.match(status.output, new RegExp(`"stack": "${deployment.stackName}"`));
            const down = await run(checkoutB, "bash", ["scripts/down.sh", deployment.stackName], 600_000);
            assert.strictEqual(down.status, 0, down.output);
            destroyed = true;
            const listed = await run(repoRoot, "pulumi", ["stack", "ls", "--json"]);
            assert.strictEqual(listed.status, 0, listed.output);
            assert.ok(
                !listed.output.includes(deployment.stackName),
                `checkout A lists no such stack:\n${listed.output}`,
            );
            assert.strictEqual(
                database
                    .query(
                        `SELECT count(*) FROM pulumi_state WHERE key LIKE '%/.pulumi/stacks/%${deployment.stackName}.json'`,
                    )
                    .trim(),
                "0",
                "no checkpoint row left",
            );
            const again = await run(checkoutB, "bash", ["scripts/down.sh", deployment.stackName]);
            assert.strictEqual(again.status, 0, again.output);
            assert.match(again.output, /no stack .*: nothing to remove/);
            console.log(`      npm run down (scripts/down.sh) from checkout B: ${down.seconds.toFixed(1)} s`);
        });
    });
});
