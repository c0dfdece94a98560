import * as command from "@pulumi/command";
import * as docker from "@pulumi/docker";
import * as pulumi from "@pulumi/pulumi";
import { LocalWorkspace, PulumiCommand, Stack } from "@pulumi/pulumi/automation";
import * as assert from "assert";
import * as crypto from "crypto";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { renderNginxConfig } from "../../nginx/renderNginxConfig";
import { defaultLimits } from "../../policy/limits";
import {
    createThrowawayStack,
    readStackConfigFile,
    repoRoot,
    ThrowawayStack,
    toolchainEnvironment,
    useThrowawayStack,
} from "../../testkit/stack";

const policyPack = path.join(repoRoot, "policy");

interface PolicyRun {
    readonly passed: boolean;
    /** Engine output, with the error's text when the preview failed (the "Policies:" report is in both). */
    readonly output: string;
}

/** `pulumi preview --policy-pack policy [--policy-pack-config FILE]` on a stack. */
async function previewWithPolicy(stack: Stack, policyConfig?: Record<string, unknown>): Promise<PolicyRun> {
    let output = "";
    let configDirectory: string | undefined;
    const policyPackConfigs: string[] = [];
    if (policyConfig) {
        configDirectory = fs.mkdtempSync(path.join(os.tmpdir(), "mtls-policy-config-"));
        policyPackConfigs.push(path.join(configDirectory, "limits.json"));
        fs.writeFileSync(policyPackConfigs[0], JSON.stringify(policyConfig));
    }
    try {
        await stack.preview({ policyPacks: [policyPack], policyPackConfigs, onOutput: (text) => (output += text) });
        return { passed: true, output };
    } catch (error) {
        return { passed: false, output: `${output}\n${String(error)}` };
    } finally {
        if (configDirectory) fs.rmSync(configDirectory, { recursive: true, force: true });
    }
}

/** The violation lines of a policy report: `[mandatory]  <policy>  (<type>: <resource>)` and the message after it. */
function violations(output: string): string[] {
    return output.split("\n").filter((line) => /\[mandatory\]/.test(line) || /^\s+\S+: .+/.test(line));
}

function assertPassed(run: PolicyRun): void {
    assert.ok(run.passed, `the preview passes the policy pack:\n${run.output.slice(-4000)}`);
    assert.match(run.output, /mtls-endpoint@v0\.1\.0/, "the policy pack ran");
    assert.doesNotMatch(run.output, /\[mandatory\]/, "no mandatory violation");
}

/** The message a policy reported for a resource (one line: `<resource>: <problem>; <problem>`). */
function messageFor(run: PolicyRun, resource: string): string {
    const line = run.output.split("\n").find((text) => text.trim().startsWith(`${resource}: `));
    assert.ok(line, `a violation for ${resource}:\n${violations(run.output).join("\n")}`);
    return line.trim();
}

/**
 * The policy pack (policy/) through the real CLI: it starts as an analyzer plugin through the language
 * host, judges the project's own previews, and fails one with each rule's message.
 */
describe("policy pack: pulumi preview --policy-pack policy", function () {
    for (const file of ["Pulumi.dev.yaml", "Pulumi.staging.yaml"]) {
        it(`passes the committed stack config ${file}`, async () => {
            const label = `policy-${path.basename(file, ".yaml").replace(/^Pulumi\./, "")}`;
            const throwaway = await createThrowawayStack(label, readStackConfigFile(file));
            try {
                const run = await previewWithPolicy(throwaway.stack);
                assertPassed(run);
                // Before the CA exists the file set is unknown: the nginx.conf rules say so, and run during up.
                assert.match(
                    run.output,
                    /\[advisory\]\s+tls-protocol-floor\s+\(command:local:Command: mtls-nginx-endpoint-delivery\)\s+can't run policy/,
                );
            } finally {
                await throwaway.dispose();
            }
        });
    }

    describe("on settings the stack config accepts but the policy forbids", function () {
        let throwaway: ThrowawayStack;
        before(async () => {
            throwaway = await createThrowawayStack("policy-violations", {
                keyAlgorithm: "RSA-2048",
                clientValidityHours: 9000,
                readOnlyRootFilesystem: false,
                noNewPrivileges: false,
                capabilities: [...defaultLimits["container-hardening"].allowedCapabilities, "SYS_ADMIN"],
            });
        });
        after(async () => {
            await throwaway?.dispose();
        });

        it("fails the preview with each rule's message", async () => {
            const run = await previewWithPolicy(throwaway.stack);
            assert.ok(!run.passed, "the preview fails");
            assert.match(run.output, /❌ mtls-endpoint@v0\.1\.0/);
            for (const key of [
                "mtls-nginx-ca-root-key",
                "mtls-nginx-server-key",
                "mtls-nginx-client-alice-key",
                "mtls-nginx-client-bob-key",
            ]) {
                assert.strictEqual(
                    messageFor(run, key),
                    `${key}: RSA key of 2048 bits is below the minimum of 3072 bits`,
                    "key-size",
                );
            }
            assert.strictEqual(
                messageFor(run, "mtls-nginx-client-alice-cert"),
                "mtls-nginx-client-alice-cert: client certificate valid for 9000 hours (375 days); " +
                    "the maximum is 8760 hours (365 days) (maxClientHours)",
                "certificate-validity",
            );
            assert.strictEqual(
                messageFor(run, "mtls-nginx-endpoint-container"),
                "mtls-nginx-endpoint-container: capabilities SYS_ADMIN are added; allowed: CHOWN, NET_BIND_SERVICE, SETGID, " +
                    'SETUID; no-new-privileges is not set (securityOpts "no-new-privileges:true"); ' +
                    "the root filesystem is writable (readOnly is not true)",
                "container-hardening",
            );
            assert.match(run.output, /\[mandatory\]\s+key-size\s+\(tls:index:PrivateKey: mtls-nginx-server-key\)/);
            assert.match(
                run.output,
                /\[mandatory\]\s+certificate-validity\s+\(tls:index:LocallySignedCert: mtls-nginx-client-bob-cert\)/,
            );
            assert.match(
                run.output,
                /\[mandatory\]\s+container-hardening\s+\(docker:index:Container: mtls-nginx-endpoint-container\)/,
            );
            // The server certificate (90 days) and the root CA (10 years) are within their limits.
            assert.doesNotMatch(run.output, /server-cert: |ca-root: /);
        });

        it("passes once a policy config moves the limits the remaining settings break", async () => {
            for (const key of ["readOnlyRootFilesystem", "noNewPrivileges", "capabilities"]) {
                await throwaway.stack.removeConfig(`mtls-nginx:${key}`);
            }
            const strict = await previewWithPolicy(throwaway.stack);
            assert.ok(!strict.passed, "RSA-2048 and a 9000-hour client certificate still fail the defaults");
            const relaxed = await previewWithPolicy(throwaway.stack, {
                "key-size": { minimumRsaBits: 2048 },
                "certificate-validity": { maxClientHours: 9000 },
            });
            assertPassed(relaxed);
        });
    });

    describe("on a deployed stack", function () {
        const fixture = useThrowawayStack("policy-deployed");

        it("runs during up on the rendered nginx.conf, and a stricter policy config fails it with the rules' messages", async () => {
            const deployment = fixture.current;
            const update = await deployment.stack.up({ policyPacks: [policyPack], onOutput: fixture.log });
            assert.strictEqual(update.summary.result, "succeeded");
            // Now the file set is known: the rules read nginx.conf from the delivery's stdin in a preview too.
            assertPassed(await previewWithPolicy(deployment.stack));
            const run = await previewWithPolicy(deployment.stack, {
                "tls-protocol-floor": { allowedProtocols: ["TLSv1.3"] },
                "client-certificate-verification": { allowedModes: ["optional"] },
            });
            assert.ok(!run.passed, "the stricter policy config fails the preview");
            assert.match(
                run.output,
                /\[mandatory\]\s+tls-protocol-floor\s+\(command:local:Command: mtls-nginx-endpoint-delivery\)/,
            );
            assert.match(
                run.output,
                /mtls-nginx-endpoint-delivery: server localhost: ssl_protocols enables TLSv1\.2; allowed: TLSv1\.3/,
            );
            // The catch-all server verifies clients too (a request can reach it by its Host): both are named.
            assert.match(
                run.output,
                /mtls-nginx-endpoint-delivery: the unnamed server: ssl_verify_client is on; allowed: optional; server localhost: ssl_verify_client is on; allowed: optional/,
            );
            assert.doesNotMatch(run.output, /-----BEGIN/, "no key or certificate in the report");
        });
    });

    describe("on nginx.conf and a Swarm service as rendered, and tampered with", function () {
        const rendered = renderNginxConfig({
            serverNames: ["mtls.staging.example.internal"],
            listenPort: 443,
            verifyClient: "optional",
            verifyDepth: 2,
            workerProcesses: "auto",
            locations: [
                { path: "/healthz", requireClientCertificate: false },
                { path: "/", requireClientCertificate: true },
                { path: "/admin/", requireClientCertificate: true, allowedClients: ["ops-oncall"] },
                { path: "/api/", requireClientCertificate: true, proxyPass: "http://upstream:8080" },
            ],
            checkRevocation: true,
            trustDigest: "0123456789abcdef",
        });
        const tls11 = rendered.replace("ssl_protocols TLSv1.2 TLSv1.3;", "ssl_protocols TLSv1.1 TLSv1.2 TLSv1.3;");
        const adminGuard =
            "        location /admin/ {\n            if ($ssl_client_verify != SUCCESS) { return 400; }\n";
        assert.ok(rendered.includes(adminGuard), "the renderer guards /admin/ under optional verification");
        const unguarded = rendered.replace(adminGuard, "        location /admin/ {\n");
        const fileSet = (content: string) =>
            pulumi.secret(JSON.stringify({ files: [{ name: "nginx.conf", content, mode: 0o644 }] }));
        const base64 = (text: string) => Buffer.from(text).toString("base64");

        let stack: Stack;
        let workDirectory: string;
        let stateDirectory: string;
        before(async () => {
            workDirectory = fs.mkdtempSync(path.join(os.tmpdir(), "mtls-policy-inline-"));
            stateDirectory = fs.mkdtempSync(path.join(os.tmpdir(), "mtls-policy-state-"));
            const pulumiCommand = await PulumiCommand.get({
                root: path.join(repoRoot, ".pulumi-home"),
                skipVersionCheck: true,
            });
            const envVars: Record<string, string> = {
                ...toolchainEnvironment(),
                PULUMI_BACKEND_URL: `file://${stateDirectory}`,
                PULUMI_CONFIG_PASSPHRASE: crypto.randomBytes(16).toString("hex"),
            };
            delete envVars.PULUMI_CONFIG_PASSPHRASE_FILE;
            // Nothing runs in a preview: the commands and the service are only judged.
            const program = async () => {
                new command.local.Command("rendered-set", { create: "true", stdin: fileSet(rendered) });
                new command.local.Command("tls11-set", { create: "true", stdin: fileSet(tls11) });
                new command.local.Command("unguarded-set", { create: "true", stdin: fileSet(unguarded) });
                new docker.ServiceConfig("rendered-config", { name: "rendered-config", data: base64(rendered) });
                new docker.ServiceConfig("tls11-config", { name: "tls11-config", data: base64(tls11) });
                new docker.ServiceConfig("pem-config", { name: "pem-config", data: base64("-----BEGIN X-----\n") });
                const containerSpec = { image: "nginx:1.27", capDrops: ["ALL"], capAdds: ["NET_BIND_SERVICE"] };
                new docker.Service("hardened-service", {
                    name: "hardened-service",
                    taskSpec: {
                        containerSpec: { ...containerSpec, readOnly: true },
                        resources: { limits: { memoryBytes: 256 * 1024 * 1024 } },
                    },
                });
                new docker.Service("weak-service", {
                    name: "weak-service",
                    taskSpec: { containerSpec: { ...containerSpec, capAdds: ["NET_ADMIN"], capDrops: [] } },
                });
            };
            stack = await LocalWorkspace.createStack(
                { stackName: "policy-probe", projectName: "mtls-policy-probe", program },
                { workDir: workDirectory, envVars, pulumiCommand },
            );
        });
        after(async () => {
            await stack?.workspace.removeStack("policy-probe", { force: true }).catch(() => undefined);
            fs.rmSync(workDirectory, { recursive: true, force: true });
            fs.rmSync(stateDirectory, { recursive: true, force: true });
        });

        it("passes the rendered config and the hardened service, and fails each tampered one with its rule's message", async () => {
            const run = await previewWithPolicy(stack);
            assert.ok(!run.passed, "the tampered resources fail the preview");
            for (const resource of ["rendered-set", "rendered-config", "pem-config", "hardened-service"]) {
                assert.doesNotMatch(run.output, new RegExp(`^\\s*${resource}: `, "m"), `${resource} passes`);
            }
            const floor =
                "server mtls.staging.example.internal: ssl_protocols enables TLSv1.1; allowed: TLSv1.2, TLSv1.3";
            assert.strictEqual(messageFor(run, "tls11-set"), `tls11-set: ${floor}`);
            assert.strictEqual(messageFor(run, "tls11-config"), `tls11-config: ${floor}`);
            assert.strictEqual(
                messageFor(run, "unguarded-set"),
                "unguarded-set: server mtls.staging.example.internal: location /admin/ answers without a verified " +
                    'client certificate (ssl_verify_client optional, no "if ($ssl_client_verify != SUCCESS) ' +
                    '{ return 4xx; }"); public locations allowed: /healthz',
            );
            assert.strictEqual(
                messageFor(run, "weak-service"),
                "weak-service: capabilities are not dropped (drop ALL, then add back what is needed); " +
                    "capabilities NET_ADMIN are added; allowed: CHOWN, NET_BIND_SERVICE, SETGID, SETUID; " +
                    "the root filesystem is writable (taskSpec.containerSpec.readOnly is not true); " +
                    "no memory limit is set",
            );
        });
    });
});
