import * as assert from "assert";
import { spawnSync } from "child_process";

import {
    matchesTargetGlob,
    pureResourcePhaseEnvironment,
    pureResourceTargets,
    worthTwoPhases,
} from "../../scripts/upPhases";
import { repoRoot } from "../../testkit/stack";

/** Real URNs of a deployed stack (container and swarm platforms, an external root, a CRL), by type. */
const stackPrefix = "urn:pulumi:dev::mtls-nginx::";
const endpoint = "mtls-nginx:index:MtlsEndpoint";
const inPhase1 = [
    `${endpoint}::mtls-nginx`,
    `${endpoint}$mtls:pki:CertificateAuthority::mtls-nginx-ca`,
    `${endpoint}$mtls:pki:CertificateAuthority$tls:index/privateKey:PrivateKey::mtls-nginx-ca-root-key`,
    `${endpoint}$mtls:pki:CertificateAuthority$tls:index/selfSignedCert:SelfSignedCert::mtls-nginx-ca-root`,
    `${endpoint}$mtls:pki:ExternalRootIntermediate::mtls-nginx-ca-next`,
    `${endpoint}$mtls:pki:ExternalRootIntermediate$tls:index/certRequest:CertRequest::mtls-nginx-ca-next-intermediate-csr`,
    `${endpoint}$mtls:pki:ImportedAuthority::mtls-nginx-ca-imported`,
    `${endpoint}$mtls:pki:ClientCertificates::mtls-nginx-clients`,
    `${endpoint}$mtls:pki:ClientCertificates$tls:index/privateKey:PrivateKey::mtls-nginx-client-alice-key`,
    `${endpoint}$mtls:pki:ClientCertificates$tls:index/certRequest:CertRequest::mtls-nginx-client-alice-csr`,
    `${endpoint}$mtls:pki:ClientCertificates$tls:index/locallySignedCert:LocallySignedCert::mtls-nginx-client-alice-cert`,
    `${endpoint}$mtls:pki:IssuedCertificate::mtls-nginx-server`,
    `${endpoint}$mtls:pki:IssuedCertificate$tls:index/locallySignedCert:LocallySignedCert::mtls-nginx-server-cert`,
    // A consumer's program: the endpoint inside a component of its own.
    `acme:index:Edge$${endpoint}$mtls:pki:ClientCertificates$tls:index/privateKey:PrivateKey::partners-client-bob-key`,
];
const inPhase2 = [
    "pulumi:pulumi:Stack::mtls-nginx-dev",
    "pulumi:providers:tls::default_5_5_1",
    `${endpoint}$mtls:pki:CertificateRevocationList::mtls-nginx-crl`,
    `${endpoint}$mtls:pki:CertificateRevocationList$command:local:Command::mtls-nginx-crl-issue`,
    `${endpoint}$mtls:nginx:NginxEndpoint::mtls-nginx-endpoint`,
    `${endpoint}$mtls:nginx:NginxEndpoint$docker:index/volume:Volume::mtls-nginx-endpoint-files`,
    `${endpoint}$mtls:nginx:NginxEndpoint$docker:index/container:Container::mtls-nginx-endpoint-container`,
    `${endpoint}$mtls:nginx:NginxEndpoint$command:local:Command::mtls-nginx-endpoint-delivery`,
    `${endpoint}$mtls:nginx:SwarmEndpoint$docker:index/service:Service::mtls-nginx-endpoint-service`,
    `${endpoint}$mtls:test:SmokeTest$command:local:Command::mtls-nginx-smoke-test-probe`,
    // The consumer's own component is not phase 1's unless the consumer adds it (docs/operations.md).
    "acme:index:Edge::edge",
];

describe("an up in two phases (scripts/upPhases.ts, scripts/up-phases.sh)", () => {
    const targeted = (urn: string) => pureResourceTargets.some((glob) => matchesTargetGlob(glob, stackPrefix + urn));

    it("phase 1 targets every tls:index resource and the components that parent them", () => {
        assert.deepStrictEqual(
            inPhase1.filter((urn) => !targeted(urn)),
            [],
        );
    });

    it("phase 1 targets nothing with an effect outside state (commands, Docker objects, providers)", () => {
        assert.deepStrictEqual(inPhase2.filter(targeted), []);
    });

    it("globs follow the engine: * stops at a colon, ** does not", () => {
        assert.ok(
            matchesTargetGlob(
                "**mtls:pki:IssuedCertificate::*",
                `${stackPrefix}${endpoint}$mtls:pki:IssuedCertificate::a-b`,
            ),
        );
        assert.ok(
            !matchesTargetGlob(
                "**mtls:pki:IssuedCertificate::*",
                `${stackPrefix}${endpoint}$mtls:pki:IssuedCertificate::a:b`,
            ),
        );
    });

    it("takes two phases from 50 certificate steps", () => {
        assert.strictEqual(worthTwoPhases(3), false);
        assert.strictEqual(worthTwoPhases(49), false);
        assert.strictEqual(worthTwoPhases(50), true);
    });

    it("gives up.sh the same targets", () => {
        const script = ". scripts/env.sh && . scripts/up-phases.sh && mtls_pure_resource_targets";
        const result = spawnSync("bash", ["-c", script], { cwd: repoRoot, encoding: "utf8" });
        assert.strictEqual(result.status, 0, result.stderr);
        assert.deepStrictEqual(
            result.stdout.trim().split("\n"),
            pureResourceTargets.map((glob) => `--target=${glob}`),
        );
    });

    it("gives up.sh's phase 1 the same engine settings, and phase 2 only those scripts/env.sh sets for every command", () => {
        const variables = Object.keys(pureResourcePhaseEnvironment);
        const shown = variables.map((name) => `${name}=\${${name}:-}`).join(" ");
        // A stand-in for the CLI that prints the settings it was run with.
        const script = `. scripts/env.sh && . scripts/up-phases.sh && pulumi() { echo "${shown} $1"; } && mtls_up_in_phases s f`;
        const result = spawnSync("bash", ["-c", script], {
            cwd: repoRoot,
            encoding: "utf8",
            env: { PATH: process.env.PATH },
        });
        assert.strictEqual(result.status, 0, result.stderr);
        const runs = result.stdout.split("\n").filter((line) => line.endsWith(" up"));
        // scripts/env.sh turns on the legacy diff for every command; checkpoints are skipped in phase 1 only.
        const everyCommand: Record<string, string> = { PULUMI_ENABLE_LEGACY_DIFF: "true" };
        const expected = (set: boolean) =>
            variables
                .map((name) => `${name}=${set ? pureResourcePhaseEnvironment[name] : (everyCommand[name] ?? "")}`)
                .join(" ") + " up";
        assert.deepStrictEqual(runs, [expected(true), expected(false)]);
    });
});
