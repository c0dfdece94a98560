import * as assert from "assert";
import { spawnSync } from "child_process";
import { createPrivateKey, X509Certificate } from "crypto";
import * as fs from "fs";
import * as path from "path";
import { makeClientRequest, partnerKeyDirectory } from "../../testkit/pki";
import {
    containerId,
    createThrowawayStack,
    outputValue,
    repoRoot,
    ThrowawayStack,
    useThrowawayStack,
} from "../../testkit/stack";
import { probe } from "../../testkit/tls";

/**
 * A partner onboarded by CSR, on the real engine: its key and CSR made by openssl in the test's temp
 * directory (the key 0600, never given to the stack), the CA signs the CSR, the partner gets 200 with
 * its own key and the issued certificate, no output holds a key for it, and destroy leaves nothing.
 * A second partner's CSR is named by its file (csrFile), which the stack's config reader reads.
 */
describe("a client that brings a CSR (real engine)", function () {
    const directory = partnerKeyDirectory("mtls-e2e-csr-");
    const partner = makeClientRequest(directory, "partner-a");
    const filed = makeClientRequest(directory, "partner-b");
    const fixture = useThrowawayStack("csr", {
        clients: ["bob", { name: "partner-a", csr: partner.csrPem }, { name: "partner-b", csrFile: filed.csrPath }],
    });
    let deployment: ThrowawayStack;

    before(() => (deployment = fixture.current));
    after(() => fs.rmSync(directory, { recursive: true, force: true }));

    it("up signs the CSR; the smoke test passes as a client whose key the stack holds", async () => {
        assert.strictEqual((fs.statSync(partner.keyPath).mode & 0o777).toString(8), "600");
        const result = await deployment.stack.up({ onOutput: fixture.log });
        assert.strictEqual(result.summary.result, "succeeded");
        assert.match(
            outputValue<string>(result.outputs, "smokeTest"),
            /^smoke test passed: .* with client 'bob' -> 200/,
        );
    });

    it("the partner gets 200 with its own key and the issued certificate; no output holds its key", async () => {
        const outputs = await deployment.stack.outputs();
        const certificates = outputValue<Record<string, string>>(outputs, "clientCertificatePems");
        const keys = outputValue<Record<string, string>>(outputs, "clientPrivateKeyPems");
        assert.deepStrictEqual(Object.keys(certificates).sort(), ["bob", "partner-a", "partner-b"]);
        assert.deepStrictEqual(Object.keys(keys), ["bob"], "no key for the partners");
        const fromFile = new X509Certificate(certificates["partner-b"]);
        assert.ok(fromFile.checkPrivateKey(createPrivateKey(fs.readFileSync(filed.keyPath, "utf8"))), "csrFile's key");
        const issued = new X509Certificate(certificates["partner-a"]);
        assert.strictEqual(issued.ca, false, "a client leaf, whatever a CSR asks");
        assert.match(issued.subject, /CN=partner-a/);
        const ownKey = fs.readFileSync(partner.keyPath, "utf8");
        assert.ok(issued.checkPrivateKey(createPrivateKey(ownKey)), "the partner's own key");
        const serials = outputValue<Record<string, Array<{ serial: string }>>>(outputs, "clientCertificateSerials");
        assert.strictEqual(serials["partner-a"][0].serial, issued.serialNumber.toUpperCase());

        const endpoint = {
            host: "127.0.0.1",
            port: deployment.publishPort,
            serverName: outputValue<string>(outputs, "serverName"),
            caPem: outputValue<string>(outputs, "caCertificatePem"),
        };
        const asPartner = await probe({
            ...endpoint,
            clientCertificatePem: certificates["partner-a"],
            clientPrivateKeyPem: ownKey,
        });
        assert.strictEqual(asPartner.status, 200, asPartner.error ?? asPartner.body);
        assert.match(asPartner.body, /hello partner-a/);
        const state = JSON.stringify((await deployment.stack.exportStack()).deployment);
        assert.ok(!state.includes(ownKey.split("\n")[1]), "the partner's key is nowhere in state");
        assert.ok(!state.includes(filed.csrPath), "the component got the CSR, not its file name");
    });

    it("destroy leaves no container, no files volume and no resources in state", async () => {
        await deployment.stack.destroy({ onOutput: fixture.log });
        assert.strictEqual(containerId(deployment.containerName), undefined);
        const volume = spawnSync("docker", ["volume", "inspect", deployment.filesVolume], { encoding: "utf8" });
        assert.notStrictEqual(volume.status, 0, "the files volume is gone");
        const state = (await deployment.stack.exportStack()).deployment as { resources?: unknown[] };
        assert.strictEqual((state.resources ?? []).length, 0);
    });
});

/** The policy pack's client-key-custody rule through the real CLI: it reads what each certificate's CSR comes from. */
describe("policy: client-key-custody with requireClientCsr (real CLI)", function () {
    const directory = partnerKeyDirectory("mtls-e2e-csr-policy-");
    const partner = makeClientRequest(directory, "partner-a");
    let deployment: ThrowawayStack | undefined;

    after(async () => {
        await deployment?.dispose();
        fs.rmSync(directory, { recursive: true, force: true });
    });

    it("refuses the client whose key the stack makes, and only that one", async () => {
        deployment = await createThrowawayStack("csr-policy", {
            clients: ["bob", { name: "partner-a", csr: partner.csrPem }],
        });
        const policyConfig = path.join(directory, "policy.json");
        fs.writeFileSync(policyConfig, JSON.stringify({ "client-key-custody": { requireClientCsr: true } }));
        let output = "";
        const preview = deployment.stack.preview({
            policyPacks: [path.join(repoRoot, "policy")],
            policyPackConfigs: [policyConfig],
            onOutput: (text) => (output += text),
        });
        await assert.rejects(preview, "the mandatory violation fails the preview");
        assert.match(output, /client-key-custody/);
        assert.match(output, /client-bob-cert: a client certificate whose key the stack made/);
        assert.doesNotMatch(output, /client-partner-a-cert: a client certificate/);
    });
});
