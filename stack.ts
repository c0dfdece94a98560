import * as pulumi from "@pulumi/pulumi";
import { CertificateAuthority } from "./components/certificateAuthority";
import { CertificateRevocationList } from "./components/certificateRevocationList";
import { curlCommand, endpointUrl, resolveArgument } from "./components/clientAccess";
import { IssuedCertificate } from "./components/issuedCertificate";
import type { DockerEngineArgs } from "./components/dockerEngine";
import { NginxEndpoint } from "./components/nginxEndpoint";
import { SmokeTest } from "./components/smokeTest";
import type { StackConfig } from "./config/stackConfig";
import { containerListenPort } from "./nginx/files";
import { greetingFor, renderNginxConfig, trustDigest } from "./nginx/renderNginxConfig";
import { RotationPlanner } from "./rotation/rotationPlanner";
import { expiryFromNow, RotationRecord } from "./rotation/rotationSchedule";

/** What the stack exports: a contract that tools rely on (add to it, never rename). */
export interface MtlsEndpointOutputs {
    endpointUrl: string;
    serverName: string;
    caCertificatePem: pulumi.Output<string>;
    clientCertificatePems: pulumi.Output<Record<string, string>>;
    clientPrivateKeyPems: pulumi.Output<Record<string, string>>;
    curlCommands: Record<string, string>;
    containerId: pulumi.Output<string>;
    /** Where the endpoint's files live: a Docker volume on the engine (no directory on the deploying machine). */
    hostDirectory: pulumi.Output<string>;
    certificateExpiries: pulumi.Output<Record<string, string>>;
    rotationState: pulumi.Output<Record<string, RotationRecord>>;
    rotationDue: pulumi.Output<Record<string, string>>;
    smokeTest: pulumi.Output<string> | string;
}

/** Inputs that do not come from stack config. */
export interface DeployContext {
    /** The previous deployment's `rotationState` output (anything malformed counts as none). */
    readonly previousRotationState: pulumi.Input<Record<string, unknown> | undefined>;
    /** The time rotation decisions are made against. */
    readonly now: Date;
}

/** Composes the PKI, the endpoint and the smoke test from validated config. */
export function deployMtlsEndpoint(config: StackConfig, context: DeployContext): MtlsEndpointOutputs {
    const rotation = new RotationPlanner(context.previousRotationState, context.now, config.rotationLookaheadHours);

    // CA slots: normally one; two while a rollover overlaps (the old one trusted, the new one issuing).
    const authorities = new Map(
        config.trustedCas.map((slot) => [
            slot,
            new CertificateAuthority(slot === "a" ? "ca" : `ca-${slot}`, {
                organization: config.organization,
                commonNamePrefix: slot === "a" ? config.organization : `${config.organization} ${slot.toUpperCase()}`,
                keyAlgorithm: config.keyAlgorithm,
                rootLifetime: config.lifetimes.ca,
                intermediateLifetime: config.intermediateCa ? config.lifetimes.intermediate : undefined,
            }),
        ]),
    );
    const ca = authorities.get(config.activeCa)!;
    const caCertificates = [...authorities.values()].flatMap((authority) => authority.authorities);
    for (const authority of caCertificates) {
        const kind = authority.name.endsWith("-intermediate") ? config.lifetimes.intermediate : config.lifetimes.ca;
        rotation.schedule(authority.name, kind.renewBeforeHours, "report");
        rotation.record(authority.name, authority.validityEndTime);
    }
    // Everything a verifier trusts: the active CA first, then any CA still inside its overlap.
    const trustBundlePem = pulumi
        .all([...authorities.values()].map((authority) => authority.trustBundlePem))
        .apply((bundles) => bundles.join(""));

    const server = new IssuedCertificate("server", {
        profile: "server",
        commonName: config.serverName,
        organization: config.organization,
        dnsNames: config.serverDnsNames,
        ipAddresses: config.serverIpAddresses,
        keyAlgorithm: config.keyAlgorithm,
        issuerCertificatePem: ca.issuerCertificatePem,
        issuerPrivateKeyPem: ca.issuerPrivateKeyPem,
        lifetime: config.lifetimes.server,
        rotationTrigger: rotation.schedule("server", config.lifetimes.server.renewBeforeHours),
    });
    rotation.record("server", server.validityEndTime);

    const clients = new Map(
        config.clients.map((clientName) => [
            clientName,
            new IssuedCertificate(`client-${clientName}`, {
                profile: "client",
                commonName: clientName,
                organization: config.organization,
                keyAlgorithm: config.keyAlgorithm,
                issuerCertificatePem: ca.issuerCertificatePem,
                issuerPrivateKeyPem: ca.issuerPrivateKeyPem,
                lifetime: config.lifetimes.client,
                rotationTrigger: rotation.schedule(
                    `client-${clientName}`,
                    config.lifetimes.client.renewBeforeHours,
                    config.revokedClients.includes(clientName) ? "freeze" : "rotate",
                ),
                frozen: config.revokedClients.includes(clientName),
            }),
        ]),
    );
    for (const [clientName, certificate] of clients) {
        rotation.record(`client-${clientName}`, certificate.validityEndTime);
    }

    // Revocation: a CRL per CA in the chain, only while someone is revoked (an expired CRL locks everyone out).
    let crlPem: pulumi.Output<string> | undefined;
    let crlNextUpdate: pulumi.Output<string> | undefined;
    if (config.revokedClients.length > 0) {
        // Nginx checks a CRL for every CA of a chain, so every trusted CA gets one. Each names every revoked
        // certificate: a revoked certificate keeps its original issuer through a CA rollover, and a serial
        // listed by a CA that did not issue it matches nothing.
        const revokedCertificatePems = config.revokedClients.map(
            (clientName) => clients.get(clientName)!.certificatePem,
        );
        const crl = new CertificateRevocationList("crl", {
            authorities: caCertificates.map((authority) => ({
                certificatePem: authority.certificatePem,
                privateKeyPem: authority.privateKeyPem,
                revokedCertificatePems,
            })),
            validityHours: config.lifetimes.crl.validityHours,
            rotationTrigger: rotation.schedule("crl", config.lifetimes.crl.renewBeforeHours),
        });
        crlPem = crl.crlPem;
        // The CRL reports no expiry of its own: a new one is valid for validityHours from now.
        crlNextUpdate = rotation
            .decision("crl")
            .apply((decision) =>
                decision.due || !decision.notAfter
                    ? expiryFromNow(config.lifetimes.crl.validityHours, context.now)
                    : decision.notAfter,
            );
        rotation.record("crl", crlNextUpdate);
    }

    // Rendered from the trust material too: its digest names the TLS session cache (see renderNginxConfig).
    const nginxConfig = pulumi.all([trustBundlePem, crlPem ?? ""]).apply(([bundle, crl]) =>
        renderNginxConfig({
            serverNames: config.serverDnsNames,
            listenPort: containerListenPort,
            verifyClient: config.verifyClient,
            verifyDepth: config.verifyDepth,
            workerProcesses: config.workerProcesses,
            locations: config.locations,
            checkRevocation: crlPem !== undefined,
            trustDigest: trustDigest(bundle, crl),
        }),
    );

    const endpoint = new NginxEndpoint("endpoint", {
        nginxConfig,
        serverCertificateChainPem: pulumi.concat(server.certificatePem, ca.chainPem),
        serverPrivateKeyPem: server.privateKeyPem,
        clientTrustBundlePem: trustBundlePem,
        certificateRevocationListPem: crlPem,
        certificateRevocationListNextUpdate: crlNextUpdate,
        engine: engineOf(config),
        hardening: {
            capabilities: config.capabilities,
            noNewPrivileges: config.noNewPrivileges,
            readOnlyRootFilesystem: config.readOnlyRootFilesystem,
            memoryLimitMb: config.memoryLimitMb,
            pidsLimit: config.pidsLimit,
            logMaxSizeMb: config.logMaxSizeMb,
            logMaxFiles: config.logMaxFiles,
        },
        image: config.image,
        containerName: config.containerName,
        publishAddress: config.publishAddress,
        publishPort: config.publishPort,
        serverName: config.serverName,
    });

    const address = {
        serverName: config.serverName,
        publishAddress: config.publishAddress,
        publishPort: config.publishPort,
        dockerHost: config.dockerHost,
    };
    let smokeTest: pulumi.Output<string> | string = "disabled (mtls-nginx:smokeTest is false)";
    // Validation chose the probe (config/smokeProbe.ts); it is present exactly when smokeTest is true.
    const probe = config.smokeProbe;
    if (probe) {
        const probeClient = clients.get(probe.clientName)!;
        smokeTest = new SmokeTest(
            "smoke-test",
            {
                urls: [endpointUrl(address, probe.path)],
                resolves: [resolveArgument(address)],
                caCertificatePem: trustBundlePem,
                clientName: probe.clientName,
                clientCertificatePem: probeClient.certificatePem,
                clientPrivateKeyPem: probeClient.privateKeyPem,
                expectedBody: greetingFor(probe.clientName),
                triggers: [endpoint.containerId, endpoint.reloadId, probeClient.certificatePem],
            },
            { dependsOn: [endpoint] },
        ).report;
    }

    const expiries: Record<string, pulumi.Output<string>> = { server: server.validityEndTime };
    for (const authority of caCertificates) {
        expiries[authority.name] = authority.validityEndTime;
    }
    for (const [clientName, certificate] of clients) {
        expiries[`client-${clientName}`] = certificate.validityEndTime;
    }

    return {
        endpointUrl: endpointUrl(address),
        serverName: config.serverName,
        caCertificatePem: trustBundlePem,
        clientCertificatePems: pulumi.output(
            Object.fromEntries(
                [...clients].map(([clientName, certificate]) => [clientName, certificate.certificatePem]),
            ),
        ),
        clientPrivateKeyPems: pulumi.secret(
            Object.fromEntries(
                [...clients].map(([clientName, certificate]) => [clientName, certificate.privateKeyPem]),
            ),
        ),
        curlCommands: Object.fromEntries(
            config.clients.map((clientName) => [clientName, curlCommand(address, clientName)]),
        ),
        containerId: endpoint.containerId,
        hostDirectory: pulumi.interpolate`docker volume ${endpoint.filesVolume}`,
        certificateExpiries: pulumi.all(expiries),
        rotationState: rotation.state,
        rotationDue: rotation.due,
        smokeTest,
    };
}

/** The Docker engine stack config names; its TLS key becomes a secret here, the moment it leaves config. */
function engineOf(config: StackConfig): DockerEngineArgs {
    if (!config.dockerHost.startsWith("tcp://")) {
        return { host: config.dockerHost };
    }
    return {
        host: config.dockerHost,
        tls: {
            caPem: config.dockerTlsCaCertificate,
            certificatePem: config.dockerTlsCertificate,
            keyPem: pulumi.secret(config.dockerTlsKey),
        },
    };
}
