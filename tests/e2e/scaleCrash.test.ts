import * as assert from "assert";
import { execFileSync, spawn, spawnSync } from "child_process";

import { destroyInTwoPhases } from "../../scripts/upPhases";
import { startRequestLoop } from "../../testkit/requestLoop";
import { probe } from "../../testkit/tls";
import {
    clientNames,
    clientProbe,
    outputValue,
    removeRuntimeStackFile,
    repoRoot,
    setClients,
    setListConfig,
    ThrowawayStack,
    useThrowawayStack,
} from "../../testkit/stack";

/**
 * A thousand clients through the project's own commands (scripts/up.sh, scripts/recover.sh), on the
 * real engine and Docker:
 *
 * - the engine SIGKILLed in phase 1 of an up in two phases (the TLS resources, saved only at the
 *   end), then in phase 2 as it creates the container; `npm run recover` and the next `npm run up`
 *   reconcile everything, and the engine holds nothing for the stack that state does not know;
 * - 1,000 of the clients revoked: the CRLs list them all, the endpoint reloads while a client loops
 *   requests, and none fails.
 */

const clientCount = 1001;
const revokedCount = 1000;

/** What a product command printed, and whether the test killed its engine. */
interface CommandRun {
    readonly output: string;
    readonly status: number | null;
    readonly killed: boolean;
}

/**
 * Runs `bash scripts/<script> STACK` as a user would, with the stack's environment. When `killWhen`
 * returns true for the output so far (asked at each output and every 100 ms), the `pulumi` process
 * the script is running gets SIGKILL.
 */
function runScript(
    deployment: ThrowawayStack,
    script: string,
    killWhen?: (output: string) => boolean,
): Promise<CommandRun> {
    const child = spawn("bash", [`scripts/${script}`, deployment.stackName], {
        cwd: repoRoot,
        env: { ...process.env, ...deployment.environment },
    });
    let output = "";
    let killed = false;
    const killIfDue = () => {
        if (!killWhen || killed || !killWhen(output)) return;
        const engine = spawnSync("pgrep", ["-P", String(child.pid), "-x", "pulumi"], { encoding: "utf8" });
        const pids = engine.stdout.trim().split("\n").filter(Boolean);
        for (const pid of pids) process.kill(Number(pid), "SIGKILL");
        killed = pids.length > 0;
    };
    const poll = setInterval(killIfDue, 100);
    return new Promise((resolve) => {
        const onData = (data: Buffer) => {
            output += data.toString();
            killIfDue();
        };
        child.stdout.on("data", onData);
        child.stderr.on("data", onData);
        child.on("exit", (status) => {
            clearInterval(poll);
            resolve({ output, status, killed });
        });
    });
}

/** Whether the engine has a container of this name. */
function containerExists(name: string): boolean {
    return spawnSync("docker", ["container", "inspect", name], { stdio: "ignore" }).status === 0;
}

/** The output after a marker line (empty while the marker has not appeared). */
function outputAfter(output: string, marker: string): string {
    const index = output.indexOf(marker);
    return index < 0 ? "" : output.slice(index);
}

interface ExportedState {
    readonly resources?: Array<{ urn: string; type: string; id?: string; outputs?: Record<string, unknown> }>;
    readonly pending_operations?: unknown[];
}

async function exportedState(deployment: ThrowawayStack): Promise<ExportedState> {
    return (await deployment.stack.exportStack()).deployment as ExportedState;
}

/** Lines of a docker listing command (empty lines dropped). */
function dockerList(args: readonly string[]): string[] {
    return execFileSync("docker", args, { encoding: "utf8" }).split("\n").filter(Boolean);
}

describe("scale: 1,000 clients through npm run up, killed twice, then 1,000 revoked", function () {
    this.timeout(1_800_000);
    // A destroy of 3,000 resources saving the state after each step would take longer than the test.
    const fixture = useThrowawayStack(
        "crash1k",
        { smokeTest: "true", rotationLookaheadHours: "0" },
        { destroy: (stack, onOutput) => destroyInTwoPhases(stack, { onOutput }) },
    );
    let deployment: ThrowawayStack;

    before(async () => {
        deployment = fixture.current;
        await setClients(deployment.stack, clientNames(clientCount));
    });

    // The runtime stack file `npm run up`'s scripts/stack-file.sh writes, as for any stack.
    after(() => {
        if (deployment) removeRuntimeStackFile(deployment.stackName);
    });

    it("SIGKILL in each phase of an up, then npm run recover and npm run up reconcile everything", async () => {
        const started = Date.now();
        // Phase 1 records nothing until it ends: killed half-way, its certificates are lost, nothing else.
        const phase1 = "[up] phase 1 of 2";
        const first = await runScript(
            deployment,
            "up.sh",
            (output) => (outputAfter(output, phase1).match(/ created \(/g) ?? []).length >= 1500,
        );
        assert.ok(first.killed, `the engine was never killed in phase 1:\n${first.output.slice(-3000)}`);
        assert.notStrictEqual(first.status, 0);
        const afterFirst = await exportedState(deployment).catch(() => ({}) as ExportedState);
        const recoveredFirst = await runScript(deployment, "recover.sh");
        assert.strictEqual(recoveredFirst.status, 0, recoveredFirst.output);
        console.log(
            `      killed in phase 1 after ${((Date.now() - started) / 1000).toFixed(0)} s; state then held ` +
                `${(afterFirst.resources ?? []).length} resources; recover: ${recoveredFirst.output.trim().split("\n").pop()}`,
        );

        // Phase 2 saves every step: killed once the engine has the container, before the create is recorded
        // as done, the create is a pending operation, and the container is on the engine unrecorded.
        const second = await runScript(
            deployment,
            "up.sh",
            (output) =>
                /docker:index:Container \S+ creating/.test(outputAfter(output, "[up] phase 2 of 2")) &&
                containerExists(deployment.containerName),
        );
        assert.ok(second.killed, `the engine was never killed in phase 2:\n${second.output.slice(-3000)}`);
        const pendingAfterSecond = ((await exportedState(deployment)).pending_operations ?? []).length;
        const recoveredSecond = await runScript(deployment, "recover.sh");
        assert.strictEqual(recoveredSecond.status, 0, recoveredSecond.output);
        console.log(
            `      killed in phase 2 at the container's create: ${pendingAfterSecond} pending operation(s); ` +
                `recover: ${recoveredSecond.output.trim().split("\n").join(" / ")}`,
        );

        const third = await runScript(deployment, "up.sh");
        assert.strictEqual(third.status, 0, third.output.slice(-5000));
        console.log(`      converged ${((Date.now() - started) / 1000).toFixed(0)} s after the first up started`);

        const state = await exportedState(deployment);
        const resources = state.resources ?? [];
        assert.deepStrictEqual(state.pending_operations ?? [], [], "no pending operation left");
        const urns = resources.map((resource) => resource.urn);
        assert.strictEqual(new Set(urns).size, urns.length, "no resource twice in state");
        const clientCertificates = resources.filter(
            (resource) =>
                resource.type === "tls:index/locallySignedCert:LocallySignedCert" && /-client-/.test(resource.urn),
        );
        assert.strictEqual(clientCertificates.length, clientCount, "one certificate per client in state");
        const outputs = await deployment.stack.outputs();
        assert.strictEqual(
            Object.keys(outputValue<Record<string, string>>(outputs, "clientCertificatePems")).length,
            clientCount,
        );
        assert.match(outputValue<string>(outputs, "smokeTest"), /^smoke test passed/);

        // Nothing on the engine for this stack that state does not know.
        const knownIds = new Set(resources.map((resource) => resource.id).filter(Boolean));
        const containers = dockerList([
            "ps",
            "-a",
            "--no-trunc",
            "--filter",
            `name=${deployment.stackName}`,
            "--format",
            "{{.ID}}",
        ]);
        assert.deepStrictEqual(
            containers.filter((id) => !knownIds.has(id)),
            [],
            "containers state does not know",
        );
        assert.strictEqual(containers.length, 1, "one container");
        const volumes = dockerList(["volume", "ls", "-q", "--filter", `name=${deployment.stackName}`]);
        assert.deepStrictEqual(
            volumes.filter((name) => !knownIds.has(name)),
            [],
            "volumes state does not know",
        );
        assert.deepStrictEqual(volumes, [deployment.filesVolume]);
    });

    it("revokes 1,000 clients: the CRLs list them all, the endpoint reloads and no request fails", async () => {
        const revoked = clientNames(revokedCount);
        const [kept] = clientNames(clientCount).slice(revokedCount);
        const before = await deployment.stack.outputs();
        const loop = startRequestLoop(clientProbe(deployment, before, kept), {
            maxRequests: 1_000_000,
            maxSeconds: 900,
        });
        await setListConfig(deployment.stack, "revokedClients", revoked);
        const started = Date.now();
        const up = await runScript(deployment, "up.sh");
        const seconds = (Date.now() - started) / 1000;
        const report = await loop.stop();
        assert.strictEqual(up.status, 0, up.output.slice(-5000));
        console.log(
            `      up with ${revokedCount} revoked: ${seconds.toFixed(0)} s; ${report.requests} requests from ${kept}, ` +
                `${report.failures} failed, ${report.retried} retried`,
        );
        assert.ok(report.requests > 0);
        assert.strictEqual(report.failures, 0, report.failureSamples.join("\n"));

        const outputs = await deployment.stack.outputs();
        const crlText = execFileSync("openssl", ["crl", "-noout", "-text"], {
            input: outputValue<string>(outputs, "certificateRevocationListPem"),
            encoding: "utf8",
        });
        const listed = (crlText.match(/Serial Number:/g) ?? []).length;
        assert.ok(listed >= revokedCount, `the CRL lists ${listed} serials`);
        for (const name of [revoked[0], revoked[revokedCount - 1]]) {
            const refused = await probe({ ...clientProbe(deployment, outputs, name), timeoutMs: 5000 });
            assert.notStrictEqual(refused.status, 200, `${name} is revoked`);
        }
        const served = await probe({ ...clientProbe(deployment, outputs, kept), timeoutMs: 5000 });
        assert.strictEqual(served.status, 200, served.error ?? served.body);
        assert.match(outputValue<string>(outputs, "smokeTest"), new RegExp(`^smoke test passed.*'${kept}'`));
    });
});
