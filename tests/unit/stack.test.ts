import * as assert from "assert";
import * as pulumi from "@pulumi/pulumi";
import { validateStackConfig, RawStackConfig } from "../../config/stackConfig";
import { chooseSmokeProbe } from "../../config/smokeProbe";
import {
    additionalSecretOutputs,
    installMocks,
    promiseOf,
    recordedResources,
    resetRecordedResources,
    resourcesOfType,
    settled,
} from "./mocks";

installMocks();
// Imported after the mocks are installed, as the Pulumi docs require.
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { deployMtlsEndpoint } = require("../../stack") as typeof import("../../stack");

const context = { stack: "unit", projectDirectory: "/srv/mtls" };

const now = new Date("2026-11-28T12:00:00Z");

async function deploy(raw: RawStackConfig, previousRotationState: Record<string, unknown> = {}) {
    resetRecordedResources();
    const outputs = deployMtlsEndpoint(validateStackConfig(raw, context), { previousRotationState, now });
    // Resolving every output waits for every registration upstream of it.
    await Promise.all([
        promiseOf(outputs.caCertificatePem),
        promiseOf(outputs.clientCertificatePems),
        promiseOf(outputs.clientPrivateKeyPems),
        promiseOf(outputs.containerId),
        promiseOf(outputs.certificateExpiries),
        typeof outputs.smokeTest === "string" ? outputs.smokeTest : promiseOf(outputs.smokeTest),
    ]);
    await settled();
    return outputs;
}

const named = (type: string, name: string) => {
    const found = resourcesOfType(type).find((resource) => resource.name === name);
    assert.ok(found, `no ${type} named ${name}; have ${recordedResources.map((r) => r.name).join(", ")}`);
    return found;
};

describe("deployMtlsEndpoint (resource graph)", () => {
    it("issues one key and one certificate per client, plus the CA and the server", async () => {
        await deploy({ clients: ["alice", "bob", "carol"] });
        const keys = resourcesOfType("tls:index/privateKey:PrivateKey").map((resource) => resource.name);
        assert.deepStrictEqual(keys.sort(), [
            "ca-root-key",
            "client-alice-key",
            "client-bob-key",
            "client-carol-key",
            "server-key",
        ]);
        const leafCertificates = resourcesOfType("tls:index/locallySignedCert:LocallySignedCert").map((r) => r.name);
        assert.deepStrictEqual(leafCertificates.sort(), [
            "client-alice-cert",
            "client-bob-cert",
            "client-carol-cert",
            "server-cert",
        ]);
        assert.strictEqual(resourcesOfType("tls:index/selfSignedCert:SelfSignedCert").length, 1);
    });

    it("makes a root CA with the CA flag and cert/CRL signing usages", async () => {
        await deploy({});
        const root = named("tls:index/selfSignedCert:SelfSignedCert", "ca-root");
        assert.strictEqual(root.inputs.isCaCertificate, true);
        assert.deepStrictEqual(root.inputs.allowedUses, ["cert_signing", "crl_signing", "digital_signature"]);
        assert.strictEqual(root.inputs.maxPathLength, 0);
        assert.strictEqual(root.inputs.validityPeriodHours, 87600);
    });

    it("adds an intermediate signed by the root when asked, and issues leaves from it", async () => {
        await deploy({ intermediateCa: true });
        const intermediate = named("tls:index/locallySignedCert:LocallySignedCert", "ca-intermediate");
        assert.strictEqual(intermediate.inputs.isCaCertificate, true);
        assert.strictEqual(intermediate.inputs.caCertPem, "CERT OF ca-root\n");
        assert.strictEqual(intermediate.inputs.maxPathLength, 0);
        assert.strictEqual(named("tls:index/selfSignedCert:SelfSignedCert", "ca-root").inputs.maxPathLength, 1);
        const server = named("tls:index/locallySignedCert:LocallySignedCert", "server-cert");
        assert.strictEqual(server.inputs.caCertPem, "CERT OF ca-intermediate\n");
        // The server sends its chain: leaf then intermediate.
        const files = named("command:local:Command", "endpoint-files");
        const environment = files.inputs.environment as Record<string, string>;
        assert.strictEqual(environment.MTLS_SERVER_CHAIN, "CERT OF server-cert\nCERT OF ca-intermediate\n");
        assert.strictEqual(environment.MTLS_CLIENT_CA, "CERT OF ca-intermediate\nCERT OF ca-root\n");
        assert.match(environment.MTLS_NGINX_CONF, /ssl_verify_depth 2;/);
    });

    it("gives the server SANs and server-auth usage only, and clients client-auth only", async () => {
        await deploy({ serverName: "api.example.com", serverIpAddresses: ["10.0.0.5"], clients: ["alice"] });
        const serverRequest = named("tls:index/certRequest:CertRequest", "server-csr");
        assert.deepStrictEqual(serverRequest.inputs.dnsNames, ["api.example.com"]);
        assert.deepStrictEqual(serverRequest.inputs.ipAddresses, ["10.0.0.5"]);
        assert.deepStrictEqual((serverRequest.inputs.subject as { commonName: string }).commonName, "api.example.com");
        const server = named("tls:index/locallySignedCert:LocallySignedCert", "server-cert");
        assert.deepStrictEqual(server.inputs.allowedUses, ["digital_signature", "server_auth"]);
        assert.strictEqual(server.inputs.isCaCertificate, false);
        const client = named("tls:index/locallySignedCert:LocallySignedCert", "client-alice-cert");
        assert.deepStrictEqual(client.inputs.allowedUses, ["digital_signature", "client_auth"]);
        const clientRequest = named("tls:index/certRequest:CertRequest", "client-alice-csr");
        assert.strictEqual((clientRequest.inputs.subject as { commonName: string }).commonName, "alice");
    });

    for (const [algorithm, expected] of [
        ["ECDSA-P256", { algorithm: "ECDSA", ecdsaCurve: "P256" }],
        ["ECDSA-P384", { algorithm: "ECDSA", ecdsaCurve: "P384" }],
        ["RSA-3072", { algorithm: "RSA", rsaBits: 3072 }],
    ] as const) {
        it(`makes every key ${algorithm} when asked`, async () => {
            await deploy({ keyAlgorithm: algorithm });
            for (const key of resourcesOfType("tls:index/privateKey:PrivateKey")) {
                assert.strictEqual(key.inputs.algorithm, expected.algorithm, key.name);
                if ("ecdsaCurve" in expected) assert.strictEqual(key.inputs.ecdsaCurve, expected.ecdsaCurve);
                if ("rsaBits" in expected) assert.strictEqual(key.inputs.rsaBits, expected.rsaBits);
            }
        });
    }

    it("adds key encipherment to RSA leaves only", async () => {
        await deploy({ keyAlgorithm: "RSA-2048" });
        const server = named("tls:index/locallySignedCert:LocallySignedCert", "server-cert");
        assert.ok((server.inputs.allowedUses as string[]).includes("key_encipherment"));
    });

    it("keeps every private key secret: outputs, derived files and the smoke test's input", async () => {
        const outputs = await deploy({ clients: ["alice", "bob"] });
        assert.strictEqual(await pulumi.isSecret(outputs.clientPrivateKeyPems), true);
        assert.strictEqual(await pulumi.isSecret(outputs.clientCertificatePems), false);
        assert.strictEqual(await pulumi.isSecret(outputs.caCertificatePem), false);
        assert.deepStrictEqual(await promiseOf(outputs.clientPrivateKeyPems), {
            alice: "PRIVATE KEY OF client-alice-key",
            bob: "PRIVATE KEY OF client-bob-key",
        });
    });

    it("writes the files, mounts the directory read-only and publishes the configured port", async () => {
        await deploy({ publishPort: 9443, publishAddress: "0.0.0.0", image: "registry.example/nginx:1.27" });
        const files = named("command:local:Command", "endpoint-files");
        assert.match(files.inputs.create as string, /write_file server-key\.pem "\$MTLS_SERVER_KEY" 0600/);
        assert.strictEqual(files.inputs.create, files.inputs.update, "an update rewrites the files in place");
        const environment = files.inputs.environment as Record<string, string>;
        assert.strictEqual(environment.MTLS_DIR, "/srv/mtls/.mtls-nginx/unit");
        assert.strictEqual(environment.MTLS_SERVER_KEY, "PRIVATE KEY OF server-key");
        assert.ok(files.secretInputs.includes("environment"), "the file contents include the key: secret");
        const container = named("docker:index/container:Container", "endpoint-container");
        assert.deepStrictEqual(container.inputs.volumes, [
            { hostPath: "/srv/mtls/.mtls-nginx/unit", containerPath: "/etc/nginx/mtls", readOnly: true },
        ]);
        assert.deepStrictEqual(container.inputs.ports, [{ internal: 443, external: 9443, ip: "0.0.0.0" }]);
        assert.strictEqual(container.inputs.restart, "unless-stopped");
        assert.ok(
            (container.inputs.healthcheck as { tests: string[] }).tests[1].includes(
                "--resolve localhost:443:127.0.0.1",
            ),
        );
        assert.strictEqual(
            named("docker:index/remoteImage:RemoteImage", "endpoint-image").inputs.name,
            "registry.example/nginx:1.27",
        );
    });

    it("reloads Nginx when the files change, after checking the config", async () => {
        await deploy({});
        const reload = named("command:local:Command", "endpoint-reload");
        assert.match(reload.inputs.create as string, /nginx -c \/etc\/nginx\/mtls\/nginx\.conf -t -q\n.*-s reload/);
        assert.strictEqual((reload.inputs.triggers as unknown[]).length, 2);
    });

    it("smoke-tests with hostname verification, with and without a certificate", async () => {
        const outputs = await deploy({ clients: ["alice", "bob"] });
        const probe = named("command:local:Command", "smoke-test-probe");
        const environment = probe.inputs.environment as Record<string, string>;
        assert.strictEqual(environment.SMOKE_URL, "https://localhost:8443/");
        assert.strictEqual(environment.SMOKE_RESOLVE, "localhost:8443:127.0.0.1");
        assert.strictEqual(environment.SMOKE_CLIENT, "alice");
        assert.strictEqual(environment.SMOKE_EXPECTED_BODY, "mtls-nginx: hello alice");
        assert.doesNotMatch(probe.inputs.create as string, /curl[^\n]* (-k|--insecure)/);
        assert.match(probe.inputs.create as string, /expected 200/);
        assert.match(probe.inputs.create as string, /expected 400/);
        assert.strictEqual((probe.inputs.triggers as unknown[]).length, 4);
        assert.ok(probe.secretInputs.includes("environment"), "the probe gets the client key: secret");
        assert.strictEqual(outputs.endpointUrl, "https://localhost:8443/");
        assert.strictEqual(
            outputs.curlCommands.bob,
            "curl --cacert ca.pem --cert bob.crt --key bob.key --resolve localhost:8443:127.0.0.1 https://localhost:8443/",
        );
    });

    it("registers no smoke test when it is turned off", async () => {
        const outputs = await deploy({ smokeTest: false });
        assert.strictEqual(resourcesOfType("command:local:Command").length, 2);
        assert.match(outputs.smokeTest as string, /disabled/);
    });

    it("parents every resource under a component", async () => {
        await deploy({ intermediateCa: true });
        const componentTypes = recordedResources.filter((resource) => resource.type.startsWith("mtls:"));
        assert.deepStrictEqual([...new Set(componentTypes.map((resource) => resource.type))].sort(), [
            "mtls:nginx:NginxEndpoint",
            "mtls:pki:CertificateAuthority",
            "mtls:pki:IssuedCertificate",
            "mtls:test:SmokeTest",
        ]);
    });
});

describe("secrets echoed by providers", () => {
    it("marks every command output that echoes a key secret", async () => {
        resetRecordedResources();
        const outputs = deployMtlsEndpoint(
            validateStackConfig({ clients: ["a", "b"], revokedClients: ["b"] }, context),
            { previousRotationState: {}, now },
        );
        await promiseOf(outputs.smokeTest as pulumi.Output<string>);
        await settled();
        for (const name of ["endpoint-files", "smoke-test-probe", "crl-issue"]) {
            assert.ok(
                additionalSecretOutputs.get(name)?.includes("environment"),
                `${name} keeps its environment secret`,
            );
        }
    });
});

describe("chooseSmokeProbe", () => {
    it("probes the first protected location with the first allowed, unrevoked client", () => {
        const config = validateStackConfig(
            {
                verifyClient: "optional",
                clients: ["a", "b", "c"],
                revokedClients: ["b"],
                locations: [
                    { path: "/healthz", requireClientCertificate: false },
                    { path: "/admin/", allowedClients: ["b", "c"] },
                ],
            },
            context,
        );
        assert.deepStrictEqual(chooseSmokeProbe(config), { clientName: "c", path: "/admin/" });
    });

    it("says what to change when no client can be probed with", () => {
        // Validation now chooses the probe, so it is validation that refuses the config.
        assert.throws(
            () => validateStackConfig({ clients: ["a"], revokedClients: ["a"] }, context),
            /"mtls-nginx:smokeTest": has no client/,
        );
    });
});
