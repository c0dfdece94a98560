import * as assert from "assert";
import * as pulumi from "@pulumi/pulumi";
import { validateStackConfig, RawStackConfig } from "../../config/stackConfig";
import { chooseSmokeProbe } from "../../config/smokeProbe";
import {
    additionalSecretOutputs,
    installMocks,
    promiseOf,
    recordedResources,
    resourcesOfType,
    deliveredFiles,
    recordedCalls,
} from "./mocks";
import { context, deployOnMocks } from "./deploy";

installMocks();

const now = new Date("2026-11-28T12:00:00Z");

const deploy = (raw: RawStackConfig, previousRotationState: Record<string, unknown> = {}) =>
    deployOnMocks(raw, {
        now,
        previousRotationState,
        awaiting: [
            "caCertificatePem",
            "clientCertificatePems",
            "clientPrivateKeyPems",
            "containerId",
            "certificateExpiries",
            "smokeTest",
        ],
    });

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
        const files = deliveredFiles();
        assert.strictEqual(files["server-chain.pem"].content, "CERT OF server-cert\nCERT OF ca-intermediate\n");
        assert.strictEqual(files["client-ca.pem"].content, "CERT OF ca-intermediate\nCERT OF ca-root\n");
        assert.match(files["nginx.conf"].content, /ssl_verify_depth 2;/);
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

    it("hands the files to the container through the Docker API, keys on stdin only, and publishes the port", async () => {
        await deploy({ publishPort: 9443, publishAddress: "0.0.0.0", image: "registry.example/nginx:1.27" });
        const delivery = named("command:local:Command", "endpoint-delivery");
        assert.match(delivery.inputs.create as string, /^node .*delivery\/deliverFiles\.ts$/);
        assert.strictEqual(delivery.inputs.environment, undefined, "nothing in the environment");
        assert.ok(delivery.secretInputs.includes("stdin"), "stdin holds the key: secret");
        assert.deepStrictEqual(additionalSecretOutputs.get("endpoint-delivery"), ["stdin", "stdout", "stderr"]);
        const files = deliveredFiles();
        assert.deepStrictEqual(Object.keys(files).sort(), [
            "client-ca.pem",
            "nginx.conf",
            "server-chain.pem",
            "server-key.pem",
        ]);
        assert.deepStrictEqual(files["server-key.pem"], { content: "PRIVATE KEY OF server-key", mode: 0o600 });
        assert.strictEqual(files["nginx.conf"].mode, 0o644);
        const container = named("docker:index/container:Container", "endpoint-container");
        assert.deepStrictEqual(container.inputs.volumes, [
            { volumeName: "mtls-nginx-unit-files", containerPath: "/etc/nginx/mtls", readOnly: true },
        ]);
        assert.match(
            (container.inputs.command as string[]).join(" "),
            /nginx -c \/etc\/nginx\/mtls\/live\/nginx\.conf/,
        );
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
        assert.strictEqual(resourcesOfType("docker:index/provider:Provider").length, 0, "the default engine");
    });

    it("locks the container down: capabilities, no-new-privileges, read-only root, limits, log rotation", async () => {
        await deploy({});
        const container = named("docker:index/container:Container", "endpoint-container");
        assert.deepStrictEqual(container.inputs.capabilities, {
            drops: ["ALL"],
            adds: ["CAP_CHOWN", "CAP_NET_BIND_SERVICE", "CAP_SETGID", "CAP_SETUID"],
        });
        assert.deepStrictEqual(container.inputs.securityOpts, ["no-new-privileges:true"]);
        assert.strictEqual(container.inputs.readOnly, true);
        assert.deepStrictEqual(Object.keys(container.inputs.tmpfs as object).sort(), [
            "/run",
            "/tmp",
            "/var/cache/nginx",
            "/var/lib/nginx",
        ]);
        assert.strictEqual(container.inputs.memory, 256);
        assert.deepStrictEqual(container.inputs.logOpts, { "max-size": "10m", "max-file": "3" });
        const request = JSON.parse(named("command:local:Command", "endpoint-delivery").inputs.stdin as string);
        assert.strictEqual(request.pidsLimit, 256, "the pids limit is set through the Docker API");
    });

    it("re-delivers the files when the container is replaced, and repairs files changed by hand at each up", async () => {
        await deploy({});
        const delivery = named("command:local:Command", "endpoint-delivery");
        assert.strictEqual((delivery.inputs.triggers as unknown[]).length, 1);
        const repair = recordedCalls.find((call) => call.token === "command:local:run");
        assert.ok(repair, "a drift check runs during up");
        assert.match(repair.inputs.command as string, /deliverFiles\.ts --restore-if-changed$/);
        assert.strictEqual(JSON.parse(repair.inputs.stdin as string).deliveredAs, "stdout of endpoint-delivery");
    });

    it("smoke-tests with hostname verification, with and without a certificate", async () => {
        const outputs = await deploy({ clients: ["alice", "bob"] });
        const probe = named("command:local:Command", "smoke-test-probe");
        const environment = probe.inputs.environment as Record<string, string>;
        assert.strictEqual(environment.SMOKE_URLS, "https://localhost:8443/");
        assert.strictEqual(environment.SMOKE_RESOLVES, "localhost:8443:127.0.0.1");
        assert.strictEqual(environment.SMOKE_CLIENT, "alice");
        assert.strictEqual(environment.SMOKE_EXPECTED_BODY, "mtls-nginx: hello alice");
        assert.doesNotMatch(probe.inputs.create as string, /curl[^\n]* (-k|--insecure)/);
        assert.match(probe.inputs.create as string, /expected 200/);
        assert.match(probe.inputs.create as string, /expected 400/);
        assert.strictEqual((probe.inputs.triggers as unknown[]).length, 3);
        assert.strictEqual(probe.inputs.stdin, "PRIVATE KEY OF client-alice-key", "the client key comes on stdin");
        assert.ok(probe.secretInputs.includes("stdin"), "the probe gets the client key: secret");
        assert.doesNotMatch(JSON.stringify(probe.inputs.environment), /PRIVATE KEY/, "and never in the environment");
        assert.strictEqual(await promiseOf(outputs.endpointUrl), "https://localhost:8443/");
        assert.strictEqual(
            (await promiseOf(outputs.curlCommands)).bob,
            "curl --cacert ca.pem --cert bob.crt --key bob.key --resolve localhost:8443:127.0.0.1 https://localhost:8443/",
        );
    });

    it("registers no smoke test when it is turned off", async () => {
        const outputs = await deploy({ smokeTest: false });
        assert.deepStrictEqual(
            resourcesOfType("command:local:Command").map((command) => command.name),
            ["endpoint-files-claim", "endpoint-delivery"],
        );
        assert.match(await promiseOf(outputs.smokeTest), /disabled/);
    });

    it("parents every resource under a component", async () => {
        await deploy({ intermediateCa: true });
        const componentTypes = recordedResources.filter((resource) => resource.type.startsWith("mtls:"));
        assert.deepStrictEqual([...new Set(componentTypes.map((resource) => resource.type))].sort(), [
            "mtls:nginx:NginxEndpoint",
            "mtls:pki:CertificateAuthority",
            "mtls:pki:ClientCertificates",
            "mtls:pki:IssuedCertificate",
            "mtls:test:SmokeTest",
        ]);
    });
});

describe("revocation of every certificate a client held", () => {
    it("lists the serials carried from earlier deployments in every CA's CRL, and carries them on", async () => {
        const previousCertificateHistory = {
            // b's certificate before a rotation (still valid), and one already expired.
            b: [
                { serial: "0B01", notAfter: "2027-01-01T00:00:00Z" },
                { serial: "0B00", notAfter: "2026-11-01T00:00:00Z" },
            ],
            a: [{ serial: "0A01", notAfter: "2027-01-01T00:00:00Z" }],
        };
        const outputs = await deployOnMocks(
            { clients: ["a", "b"], revokedClients: ["b"], intermediateCa: true },
            { now, previousCertificateHistory, awaiting: ["smokeTest", "clientCertificateSerials"] },
        );
        const stdin = String(named("command:local:Command", "crl-issue").inputs.stdin);
        assert.strictEqual(stdin.match(/### issuer/g)?.length, 2, "a CRL per CA of the chain");
        assert.strictEqual(stdin.match(/### revoked 0B01 270101000000Z/g)?.length, 2, "in every CA's CRL");
        assert.doesNotMatch(stdin, /0B00|0A01/, "neither the expired one nor another client's");
        assert.deepStrictEqual(await promiseOf(outputs.clientCertificateSerials), {
            a: [{ serial: "0A01", notAfter: "2027-01-01T00:00:00Z" }],
            b: [{ serial: "0B01", notAfter: "2027-01-01T00:00:00Z" }],
        });
    });
});

describe("secrets echoed by providers", () => {
    it("marks every command output that echoes a key secret", async () => {
        await deployOnMocks({ clients: ["a", "b"], revokedClients: ["b"] }, { now, awaiting: ["smokeTest"] });
        for (const name of ["endpoint-delivery", "smoke-test-probe", "crl-issue"]) {
            assert.ok(additionalSecretOutputs.get(name)?.includes("stdin"), `${name} keeps its stdin secret`);
        }
        for (const command of resourcesOfType("command:local:Command")) {
            assert.doesNotMatch(JSON.stringify(command.inputs.environment ?? {}), /PRIVATE KEY/, command.name);
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
