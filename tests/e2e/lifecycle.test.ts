import * as assert from "assert";
import { execFileSync, spawnSync } from "child_process";
import * as fs from "fs";
import { misdirectedRequests, probe, type ProbeOptions } from "../../testkit/tls";
import {
    clientProbe,
    containerId,
    outputValue,
    realChanges,
    repoRoot,
    setConfig,
    stepRecorder,
    ThrowawayStack,
    useThrowawayStack,
} from "../../testkit/stack";

/**
 * The real engine, end to end: `pulumi up` from empty (the smoke test runs inside it), a no-op
 * preview and update, adding a client, no plaintext key in state, and a clean destroy.
 */
describe("pulumi up / preview / destroy on the dev config", function () {
    const fixture = useThrowawayStack("lifecycle");
    const log = fixture.log;
    let deployment: ThrowawayStack;

    before(async () => {
        deployment = fixture.current;
    });

    let containerBefore: string | undefined;
    let deployStarted = Date.now();

    it("1. up from empty succeeds and the smoke test inside it passed", async () => {
        const started = Date.now();
        deployStarted = started;
        const result = await deployment.stack.up({ onOutput: log });
        console.log(`      up from empty: ${((Date.now() - started) / 1000).toFixed(1)} s`);
        assert.strictEqual(result.summary.result, "succeeded");
        assert.match(
            outputValue<string>(result.outputs, "smokeTest"),
            /^smoke test passed: .* -> 200, without a certificate -> 400/,
        );
        containerBefore = containerId(deployment.containerName);
        assert.ok(containerBefore, "the container exists");
        // Nginx reads its files from a read-only mount (a writer container writes them), under a pids limit.
        const inspected = spawnSync(
            "docker",
            [
                "inspect",
                "--format",
                "{{range .Mounts}}{{.Name}} rw={{.RW}}{{end}} pids={{.HostConfig.PidsLimit}}",
                deployment.containerName,
            ],
            { encoding: "utf8" },
        );
        assert.strictEqual(inspected.stdout.trim(), `${deployment.filesVolume} rw=false pids=256`, inspected.stderr);
        assert.strictEqual(outputValue<string>(result.outputs, "containerId"), containerBefore);
    });

    it("2. the outputs let a client in with its certificate, and a client without one gets 400", async () => {
        const outputs = await deployment.stack.outputs();
        const caPem = outputValue<string>(outputs, "caCertificatePem");
        const certificates = outputValue<Record<string, string>>(outputs, "clientCertificatePems");
        const keys = outputValue<Record<string, string>>(outputs, "clientPrivateKeyPems");
        assert.strictEqual(outputs.clientPrivateKeyPems.secret, true, "client keys are a secret output");
        assert.deepStrictEqual(Object.keys(certificates).sort(), ["alice", "bob"]);
        const serverName = outputValue<string>(outputs, "serverName");
        const endpoint = { host: "127.0.0.1", port: deployment.publishPort, serverName, caPem };
        assert.strictEqual(
            outputValue<string>(outputs, "endpointUrl"),
            `https://${serverName}:${deployment.publishPort}/`,
        );

        const withCertificate = await probe({
            ...endpoint,
            clientCertificatePem: certificates.bob,
            clientPrivateKeyPem: keys.bob,
        });
        assert.strictEqual(withCertificate.status, 200, withCertificate.error ?? withCertificate.body);
        assert.match(withCertificate.body, /hello bob/);
        const withoutCertificate = await probe(endpoint);
        assert.strictEqual(withoutCertificate.status, 400, withoutCertificate.error);

        const curlLine = outputValue<Record<string, string>>(outputs, "curlCommands").alice;
        assert.match(curlLine, /^curl --cacert ca\.pem --cert alice\.crt --key alice\.key --resolve /);
        assert.doesNotMatch(curlLine, / -k | --insecure/);
    });

    it("2b. a request naming another server than the SNI gets 421 with and without a certificate, verify on and optional", async () => {
        const assertMisdirectedRefused = async (endpoint: ProbeOptions, label: string) => {
            for (const request of misdirectedRequests(endpoint)) {
                const answer = await probe(request);
                const what = `${label}: ${request.path ?? "/"} Host ${request.hostHeader ?? "(ours)"}`;
                assert.strictEqual(answer.status, 421, `${what}: ${answer.status ?? answer.error} ${answer.body}`);
                assert.doesNotMatch(answer.body, /welcome|mtls-nginx:/i, what);
            }
        };
        const outputs = await deployment.stack.outputs();
        const alice = clientProbe(deployment, outputs, "alice");
        const anonymous = { ...alice, clientCertificatePem: undefined, clientPrivateKeyPem: undefined };
        await assertMisdirectedRefused(alice, "verify on, with a certificate");
        await assertMisdirectedRefused(anonymous, "verify on, without a certificate");

        await setConfig(deployment.stack, {
            verifyClient: "optional",
            locations: [{ path: "/public/", requireClientCertificate: false }, { path: "/" }],
        });
        await deployment.stack.up({ onOutput: log });
        assert.strictEqual((await probe({ ...anonymous, path: "/public/" })).status, 200, "control: public is open");
        for (const path of ["/", "/public/"]) {
            await assertMisdirectedRefused({ ...alice, path }, `verify optional, with a certificate, ${path}`);
            await assertMisdirectedRefused({ ...anonymous, path }, `verify optional, without a certificate, ${path}`);
        }
        await deployment.stack.removeConfig("mtls-nginx:verifyClient");
        await deployment.stack.removeConfig("mtls-nginx:locations");
        await deployment.stack.up({ onOutput: log });
    });

    it("3. a second preview shows no changes and a second up changes nothing", async () => {
        const started = Date.now();
        const preview = await deployment.stack.preview({ onOutput: log });
        console.log(`      no-op preview: ${((Date.now() - started) / 1000).toFixed(1)} s`);
        const changed = realChanges(preview.changeSummary);
        assert.deepStrictEqual(changed, [], `preview wants changes: ${JSON.stringify(preview.changeSummary)}`);
        const update = await deployment.stack.up({ onOutput: log });
        const updated = realChanges(update.summary.resourceChanges ?? {});
        assert.deepStrictEqual(updated, []);
        assert.strictEqual(containerId(deployment.containerName), containerBefore);
    });

    it("4. adding a client creates exactly its key and certificate, without replacing the container", async () => {
        await setConfig(deployment.stack, { clients: ["alice", "bob", "carol"] });
        const recorder = stepRecorder();
        await deployment.stack.preview({ onOutput: log, onEvent: recorder.onEvent });
        const changes = recorder.steps.filter((step) => step.op !== "same");
        assert.deepStrictEqual(
            changes.map((step) => `${step.op} ${step.name}`).sort(),
            [
                "create mtls-nginx-client-carol-cert",
                "create mtls-nginx-client-carol-csr",
                "create mtls-nginx-client-carol-key",
            ],
            JSON.stringify(changes),
        );
        const update = await deployment.stack.up({ onOutput: log });
        assert.strictEqual(update.summary.result, "succeeded");
        assert.strictEqual(containerId(deployment.containerName), containerBefore, "the container was not replaced");
        const outputs = update.outputs;
        const carol = await probe(clientProbe(deployment, outputs, "carol"));
        assert.strictEqual(carol.status, 200, carol.error ?? carol.body);
    });

    it("4b. bad config stops up with a message naming the key, and changes nothing deployed", async () => {
        const before = await deployment.stack.exportStack();
        await setConfig(deployment.stack, { keyAlgorithm: "DSA-1024" });
        await assert.rejects(deployment.stack.up({ onOutput: log }), (error: Error) => {
            assert.match(
                error.message,
                /Invalid stack config "mtls-nginx:keyAlgorithm": "DSA-1024" is not allowed; allowed: ECDSA-P256/,
            );
            return true;
        });
        await deployment.stack.removeConfig("mtls-nginx:keyAlgorithm");
        const after = await deployment.stack.exportStack();
        const resources = (state: typeof before) =>
            ((state.deployment as { resources?: Array<{ urn: string; id?: string }> }).resources ?? []).map(
                (resource) => `${resource.urn} ${resource.id ?? ""}`,
            );
        assert.deepStrictEqual(resources(after), resources(before));
        assert.strictEqual(containerId(deployment.containerName), containerBefore);
    });

    it("4c. a file set Nginx rejects never goes live: up fails, the old set serves, also after a restart", async () => {
        const live = () =>
            execFileSync("docker", ["exec", deployment.containerName, "readlink", "/etc/nginx/mtls/live"], {
                encoding: "utf8",
            }).trim();
        const serving = async () => {
            const outputs = await deployment.stack.outputs();
            const answer = await probe(clientProbe(deployment, outputs, "alice"));
            return `${answer.status} ${answer.body.trim()}`;
        };
        const liveBefore = live();
        // Valid config that Nginx refuses at `nginx -t`: an upstream name that does not resolve.
        await setConfig(deployment.stack, {
            locations: [{ path: "/" }, { path: "/api/", proxyPass: "http://no-such-upstream.invalid:8080" }],
        });
        await assert.rejects(deployment.stack.up({ onOutput: log }), (error: Error) => {
            assert.match(
                error.message,
                /nginx -t rejected the new file set; the live set \(gen-[0-9a-f]+\) is unchanged/,
            );
            assert.match(error.message, /host not found in upstream/);
            return true;
        });
        assert.strictEqual(live(), liveBefore, "live still points at the last good set");
        assert.strictEqual(await serving(), "200 mtls-nginx: hello alice", "the old set serves");
        execFileSync("docker", ["restart", deployment.containerName]);
        let afterRestart = "";
        for (let attempt = 0; attempt < 50 && !afterRestart.startsWith("200"); attempt++) {
            await new Promise((resolve) => setTimeout(resolve, 200));
            afterRestart = await serving();
        }
        assert.strictEqual(afterRestart, "200 mtls-nginx: hello alice", "a restarted container serves the old set");
        assert.strictEqual(live(), liveBefore);
        await deployment.stack.removeConfig("mtls-nginx:locations");
        const fixed = await deployment.stack.up({ onOutput: log });
        assert.strictEqual(fixed.summary.result, "succeeded");
        assert.match(outputValue<string>(fixed.outputs, "smokeTest"), /smoke test passed/);
    });

    it("5. the exported state and the state files hold no private key in plain text", async () => {
        // The Automation API's exportStack() decrypts secrets (--show-secrets): ask the CLI directly.
        const exported = execFileSync("pulumi", ["stack", "export", "--stack", deployment.stackName], {
            cwd: repoRoot,
            env: { ...process.env, ...deployment.environment },
            encoding: "utf8",
        });
        assert.ok(exported.includes("BEGIN CERTIFICATE"), "certificates are in the state (the search works)");
        assert.ok(exported.includes("4dabf18193072939515e22adb298388d"), "secrets are there, as ciphertext");
        assert.doesNotMatch(exported, /PRIVATE KEY/);
        const stateFiles = execFileSync("find", [deployment.stateDirectory, "-type", "f"], { encoding: "utf8" })
            .split("\n")
            .filter(Boolean);
        assert.ok(
            stateFiles.some((file) => file.endsWith(".json")),
            `state files: ${stateFiles.join(", ")}`,
        );
        for (const file of stateFiles) {
            assert.doesNotMatch(fs.readFileSync(file, "utf8"), /PRIVATE KEY/, file);
        }
        const keyFile = "/etc/nginx/mtls/live/server-key.pem";
        const owner = execFileSync("docker", ["exec", deployment.containerName, "stat", "-c", "%a %u", keyFile], {
            encoding: "utf8",
        });
        assert.strictEqual(owner.trim(), "600 0", "the server key in the container is 0600, owned by root");
        // Nginx's workers run as nobody: only the master (root) can read the key.
        const asWorker = spawnSync("docker", ["exec", "--user", "65534", deployment.containerName, "cat", keyFile], {
            encoding: "utf8",
        });
        assert.notStrictEqual(asWorker.status, 0, "a worker's user cannot read the key");
        assert.match(asWorker.stderr, /Permission denied/);
        // Every file the engine, the providers and their commands wrote since the deployment began (in the
        // stack's own TMPDIR, or in the checkout), outside Pulumi's state: no key.
        const written = spawnSync(
            "find",
            [deployment.scratchDirectory, repoRoot, "(", "-name", "node_modules", "-o", "-name", ".git", ")"]
                .concat(["-prune", "-o"])
                .concat(["-type", "f", "-newermt", `@${Math.floor(deployStarted / 1000)}`, "-print"]),
            { encoding: "utf8" },
        ).stdout;
        const keyFiles = written
            .split("\n")
            // Source files name keys in tests and comments; a leaked key would not be one.
            .filter((file) => file && !file.startsWith(deployment.stateDirectory) && !/\.(ts|go|sh|md)$/.test(file))
            .filter((file) => fs.readFileSync(file, "utf8").includes("PRIVATE KEY"));
        assert.deepStrictEqual(keyFiles, [], "no key file on the deploying machine outside Pulumi state");
    });

    it("6. destroy leaves no container, no files volume and no resources in state", async () => {
        const started = Date.now();
        await deployment.stack.destroy({ onOutput: log });
        console.log(`      destroy: ${((Date.now() - started) / 1000).toFixed(1)} s`);
        assert.strictEqual(containerId(deployment.containerName), undefined, "the container is gone");
        const volume = spawnSync("docker", ["volume", "inspect", deployment.filesVolume], { encoding: "utf8" });
        assert.notStrictEqual(volume.status, 0, "the files volume is gone");
        const state = (await deployment.stack.exportStack()).deployment as { resources?: unknown[] };
        assert.strictEqual((state.resources ?? []).length, 0);
    });
});
