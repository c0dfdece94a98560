import * as assert from "assert";
import * as pulumi from "@pulumi/pulumi";
import { createHash } from "crypto";

import {
    additionalSecretOutputs,
    aliasesOf,
    installMocks,
    parents,
    promiseOf,
    recordedResources,
    resetRecordedResources,
    resourcesOfType,
    settled,
} from "./mocks";

installMocks();
// Imported after the mocks are installed, as the Pulumi docs require.
/* eslint-disable @typescript-eslint/no-require-imports */
const { NginxEndpoint } = require("../../components/nginxEndpoint") as typeof import("../../components/nginxEndpoint");
const { SwarmEndpoint } = require("../../components/swarmEndpoint") as typeof import("../../components/swarmEndpoint");
const { SmokeTest } = require("../../components/smokeTest") as typeof import("../../components/smokeTest");
const { ClientCertificates, IssuedCertificate } =
    require("../../components/issuedCertificate") as typeof import("../../components/issuedCertificate");
const { CertificateRevocationList } =
    require("../../components/certificateRevocationList") as typeof import("../../components/certificateRevocationList");
/* eslint-enable @typescript-eslint/no-require-imports */

/** The resources registered since the last reset (the component itself aside), as "type name". */
const childrenOf = () =>
    recordedResources
        .filter((resource) => !resource.type.startsWith("mtls:"))
        .map((resource) => `${resource.type} ${resource.name}`)
        .sort();

const files = {
    nginxConfig: "events {}\n",
    serverCertificateChainPem: "CHAIN\n",
    serverPrivateKeyPem: pulumi.secret("SERVER KEY"),
    clientTrustBundlePem: "CA BUNDLE\n",
};
const hardening = {
    capabilities: ["CHOWN", "NET_BIND_SERVICE", "SETGID", "SETUID"],
    noNewPrivileges: true,
    readOnlyRootFilesystem: true,
    memoryLimitMb: 128,
    pidsLimit: 64,
    logMaxSizeMb: 5,
    logMaxFiles: 2,
};

/** Each component on its own: its children and its public outputs, as awsx tests its components. */
describe("components, one by one", () => {
    beforeEach(() => resetRecordedResources());

    it("NginxEndpoint on a tcp:// engine: a provider with a secret key, a volume, the image, the container, the delivery", async () => {
        const endpoint = new NginxEndpoint("edge", {
            ...files,
            engine: {
                host: "tcp://10.0.0.5:2376",
                tls: { caPem: "ENGINE CA", certificatePem: "ENGINE CERT", keyPem: pulumi.secret("ENGINE KEY") },
            },
            image: "nginx:1.30",
            containerName: "edge-nginx",
            publishAddress: "0.0.0.0",
            publishPort: 443,
            serverName: "edge.example.com",
            hardening,
        });
        assert.match(await promiseOf(endpoint.containerId), /^edge-container-id-/);
        assert.strictEqual(await promiseOf(endpoint.filesVolume), "edge-nginx-files");
        assert.strictEqual(await promiseOf(endpoint.reloadId), "stdout of edge-delivery");
        await settled();
        assert.deepStrictEqual(childrenOf(), [
            "command:local:Command edge-delivery",
            "command:local:Command edge-files-claim",
            "docker:index/container:Container edge-container",
            "docker:index/remoteImage:RemoteImage edge-image",
            "docker:index/volume:Volume edge-files",
            "pulumi:providers:docker edge-engine",
        ]);
        const provider = resourcesOfType("pulumi:providers:docker")[0];
        assert.strictEqual(provider.inputs.host, "tcp://10.0.0.5:2376");
        assert.ok(provider.secretInputs.includes("keyMaterial"), "the engine's TLS key is a secret");
        const container = resourcesOfType("docker:index/container:Container")[0];
        assert.strictEqual(container.inputs.memory, 128);
        assert.deepStrictEqual(container.inputs.logOpts, { "max-size": "5m", "max-file": "2" });
        const commands = resourcesOfType("command:local:Command");
        const delivery = commands.find((command) => command.name === "edge-delivery")!;
        assert.ok(delivery.secretInputs.includes("stdin"));
        const request = JSON.parse(delivery.inputs.stdin as string);
        assert.strictEqual(
            request.engine.tls.keyPem,
            "ENGINE KEY",
            "the delivery reaches the same engine, key on stdin",
        );
        assert.strictEqual(request.pidsLimit, 64);
        assert.deepStrictEqual(request.limits, {
            capabilities: ["CHOWN", "NET_BIND_SERVICE", "SETGID", "SETUID"],
            memoryLimitMb: 128,
            pidsLimit: 64,
        });
        // The volume is claimed first: one of that name without this stack's label stops up before it is created.
        const claim = commands.find((command) => command.name === "edge-files-claim")!;
        assert.ok(claim.secretInputs.includes("stdin"), "the claim reaches the engine with its key, on stdin");
        const claimed = JSON.parse(claim.inputs.stdin as string);
        assert.deepStrictEqual(
            { volume: claimed.volume, label: claimed.label, owner: claimed.owner },
            { volume: "edge-nginx-files", label: "mtls-nginx.owner", owner: "edge-nginx" },
        );
        assert.strictEqual(claimed.engine.tls.keyPem, "ENGINE KEY");
        assert.match(String(claim.inputs.create), /delivery\/claimVolume\.ts$/);
    });

    it("SwarmEndpoint: content-named configs, the key as a 0400 secret, a health-gated rolling update, the checks around it", async () => {
        const endpoint = new SwarmEndpoint("edge", {
            ...files,
            engine: { host: "" },
            image: "registry.example.com/nginx:1.30",
            serviceName: "edge-nginx",
            replicas: 3,
            publishMode: "host",
            publishPort: 8443,
            serverName: "edge.example.com",
            hardening,
        });
        assert.match(await promiseOf(endpoint.serviceId), /^edge-service-id-/);
        assert.strictEqual(await promiseOf(endpoint.rolloutReport), "stdout of edge-rollout");
        await settled();
        assert.deepStrictEqual(childrenOf(), [
            "command:local:Command edge-check",
            "command:local:Command edge-rollout",
            "docker:index/secret:Secret edge-server-key.pem",
            "docker:index/service:Service edge-service",
            "docker:index/serviceConfig:ServiceConfig edge-client-ca.pem",
            "docker:index/serviceConfig:ServiceConfig edge-nginx.conf",
            "docker:index/serviceConfig:ServiceConfig edge-server-chain.pem",
        ]);
        for (const config of resourcesOfType("docker:index/serviceConfig:ServiceConfig")) {
            assert.match(
                config.inputs.name as string,
                /^edge-nginx-[a-z-]+-pem-[0-9a-f]{12}$|^edge-nginx-nginx-conf-[0-9a-f]{12}$/,
            );
            assert.deepStrictEqual(config.secretInputs, [], "certificates and config are public");
        }
        const secret = resourcesOfType("docker:index/secret:Secret")[0];
        assert.ok(secret.secretInputs.includes("data"));
        assert.strictEqual(Buffer.from(secret.inputs.data as string, "base64").toString(), "SERVER KEY");
        const service = resourcesOfType("docker:index/service:Service")[0];
        const spec = service.inputs.taskSpec as {
            containerSpec: {
                secrets: Array<{ fileMode: number; fileUid: string }>;
                capDrops: string[];
                readOnly: boolean;
            };
            placement: { maxReplicas: number };
        };
        assert.deepStrictEqual(
            spec.containerSpec.secrets.map((entry) => [entry.fileMode, entry.fileUid]),
            [[0o400, "0"]],
        );
        assert.deepStrictEqual(spec.containerSpec.capDrops, ["ALL"]);
        assert.strictEqual(spec.containerSpec.readOnly, true);
        assert.strictEqual(spec.placement.maxReplicas, 1, "host mode: one task per node");
        assert.deepStrictEqual(service.inputs.updateConfig, {
            parallelism: 1,
            delay: "2s",
            order: "stop-first",
            failureAction: "rollback",
            monitor: "20s",
            maxFailureRatio: "0",
        });
        const rollout = resourcesOfType("command:local:Command").find((command) => command.name === "edge-rollout")!;
        assert.strictEqual(
            JSON.parse(rollout.inputs.stdin as string).expected.image,
            "registry.example.com/nginx:1.30",
        );
        assert.ok(additionalSecretOutputs.get("edge-check")?.includes("stdin"), "the check gets the key: secret");
        // The secret is named after the public chain (the chain config's digest), never after the key.
        const digest = (text: string) => createHash("sha256").update(text).digest("hex").slice(0, 12);
        assert.strictEqual(secret.inputs.name, `edge-nginx-server-key-${digest("CHAIN\n")}`);
        assert.ok(!(secret.inputs.name as string).includes(digest("SERVER KEY")), "no digest of the key in a name");
        const chainConfig = resourcesOfType("docker:index/serviceConfig:ServiceConfig").find(
            (config) => config.name === "edge-server-chain.pem",
        )!;
        assert.strictEqual(chainConfig.inputs.name, `edge-nginx-server-chain-pem-${digest("CHAIN\n")}`);
        // The check runs within the service's limits; the watch sets the pids limit the provider cannot.
        const check = resourcesOfType("command:local:Command").find((command) => command.name === "edge-check")!;
        assert.deepStrictEqual(JSON.parse(check.inputs.stdin as string).limits, {
            capabilities: ["CHOWN", "NET_BIND_SERVICE", "SETGID", "SETUID"],
            memoryLimitMb: 128,
            pidsLimit: 64,
        });
        assert.strictEqual(JSON.parse(rollout.inputs.stdin as string).expected.pidsLimit, 64);
        assert.strictEqual(
            (rollout.inputs.triggers as unknown[]).length,
            6,
            "any update of the service drops the limit",
        );
    });

    it("SmokeTest: one probe command, the client key on stdin only", async () => {
        const test = new SmokeTest("probe", {
            urls: ["https://a.example:8443/", "https://a.example:8443/"],
            resolves: ["a.example:8443:10.0.0.1", "a.example:8443:10.0.0.2"],
            caCertificatePem: "CA",
            clientName: "alice",
            clientCertificatePem: "ALICE CERT",
            clientPrivateKeyPem: pulumi.secret("ALICE KEY"),
            expectedBody: "hello alice",
            triggers: ["x"],
        });
        assert.strictEqual(await promiseOf(test.report), "stdout of probe-probe");
        await settled();
        const probe = resourcesOfType("command:local:Command")[0];
        assert.strictEqual(probe.inputs.stdin, "ALICE KEY");
        assert.ok(probe.secretInputs.includes("stdin"));
        assert.deepStrictEqual(Object.keys(probe.inputs.environment as object).sort(), [
            "SMOKE_CA",
            "SMOKE_CLIENT",
            "SMOKE_CLIENT_CERT",
            "SMOKE_EXPECTED_BODY",
            "SMOKE_RESOLVES",
            "SMOKE_URLS",
        ]);
    });

    it("IssuedCertificate: a key, a CSR and a certificate signed by its issuer, with its outputs", async () => {
        const leaf = new IssuedCertificate("client-alice", {
            profile: "client",
            commonName: "alice",
            organization: "example",
            keyAlgorithm: "ECDSA-P256",
            issuerCertificatePem: "ISSUER CERT",
            issuerPrivateKeyPem: pulumi.secret("ISSUER KEY"),
            lifetime: { validityHours: 48, renewBeforeHours: 12 },
        });
        assert.strictEqual(await promiseOf(leaf.certificatePem), "CERT OF client-alice-cert\n");
        assert.strictEqual(await pulumi.isSecret(leaf.privateKeyPem), true);
        await settled();
        assert.deepStrictEqual(childrenOf(), [
            "tls:index/certRequest:CertRequest client-alice-csr",
            "tls:index/locallySignedCert:LocallySignedCert client-alice-cert",
            "tls:index/privateKey:PrivateKey client-alice-key",
        ]);
    });

    it("ClientCertificates: each client's key, CSR and certificate under one component, aliased from its own former one", async () => {
        const clientArgs = (commonName: string) => ({
            profile: "client" as const,
            commonName,
            organization: "example",
            keyAlgorithm: "ECDSA-P256" as const,
            issuerCertificatePem: "ISSUER CERT",
            issuerPrivateKeyPem: pulumi.secret("ISSUER KEY"),
            lifetime: { validityHours: 48, renewBeforeHours: 12 },
        });
        const clients = new ClientCertificates("clients", {
            certificates: new Map([
                ["alice", clientArgs("alice")],
                ["bob", clientArgs("bob")],
            ]),
        });
        assert.deepStrictEqual([...clients.certificates.keys()], ["alice", "bob"]);
        assert.strictEqual(
            await promiseOf(clients.certificates.get("bob")!.certificatePem),
            "CERT OF client-bob-cert\n",
        );
        assert.strictEqual(await pulumi.isSecret(clients.certificates.get("alice")!.privateKeyPem!), true);
        await settled();
        assert.deepStrictEqual(childrenOf(), [
            "tls:index/certRequest:CertRequest client-alice-csr",
            "tls:index/certRequest:CertRequest client-bob-csr",
            "tls:index/locallySignedCert:LocallySignedCert client-alice-cert",
            "tls:index/locallySignedCert:LocallySignedCert client-bob-cert",
            "tls:index/privateKey:PrivateKey client-alice-key",
            "tls:index/privateKey:PrivateKey client-bob-key",
        ]);
        const componentUrn = await promiseOf(clients.urn);
        const types = {
            key: "tls:index/privateKey:PrivateKey",
            csr: "tls:index/certRequest:CertRequest",
            cert: "tls:index/locallySignedCert:LocallySignedCert",
        };
        for (const [suffix, type] of Object.entries(types)) {
            const child = `client-alice-${suffix}`;
            assert.strictEqual(parents.get(child), componentUrn, `${child} is the component's child`);
            // Deployed before: a child of its own IssuedCertificate. The alias keeps it (no re-issue);
            // a whole URN, what the engine makes of {name, parent} (and the SDK makes cheaply).
            assert.deepStrictEqual(aliasesOf.get(child), [
                `the URN urn:pulumi:unit::mtls-nginx::mtls:pki:IssuedCertificate$${type}::${child}`,
            ]);
        }
    });

    it("CertificateRevocationList: one command, every CA's certificate, key and revoked certificates on stdin", async () => {
        const crl = new CertificateRevocationList("crl", {
            authorities: [
                {
                    certificatePem: "ROOT CERT",
                    privateKeyPem: pulumi.secret("ROOT KEY"),
                },
                { certificatePem: "INTERMEDIATE CERT", privateKeyPem: pulumi.secret("INTERMEDIATE KEY") },
            ],
            revoked: [
                { serial: "0A1B", notAfter: "2027-11-28T00:00:00Z" },
                { serial: "FF01", notAfter: "2051-01-02T03:04:05Z" },
            ],
            validityHours: 24,
        });
        assert.strictEqual(await promiseOf(crl.crlPem), "stdout of crl-issue");
        await settled();
        const issue = resourcesOfType("command:local:Command")[0];
        // Every CA lists every revoked serial, with its expiry as the CA database writes it.
        const revoked = "### revoked 0A1B 271128000000Z\n### revoked FF01 20510102030405Z";
        assert.strictEqual(
            issue.inputs.stdin,
            `### issuer\nROOT CERT\nROOT KEY\n${revoked}\n### issuer\nINTERMEDIATE CERT\nINTERMEDIATE KEY\n${revoked}`,
        );
        assert.deepStrictEqual(issue.inputs.environment, { CRL_HOURS: "24" });
    });
});
