import * as pulumi from "@pulumi/pulumi";
import { CertificateRevocationList } from "./components/certificateRevocationList";
import { curlCommand, endpointUrl, resolveArgument, type EndpointAddress } from "./components/clientAccess";
import { IssuedCertificate } from "./components/issuedCertificate";
import type { DockerEngineArgs } from "./components/dockerEngine";
import { NginxEndpoint, type NginxEndpointArgs } from "./components/nginxEndpoint";
import { SwarmEndpoint } from "./components/swarmEndpoint";
import { SmokeTest } from "./components/smokeTest";
import type { StackConfig } from "./config/stackConfig";
import type { ContainerHardening } from "./nginx/container";
import { containerListenPort } from "./nginx/files";
import { greetingFor, renderNginxConfig, trustDigest } from "./nginx/renderNginxConfig";
import { CaSlots, createCaSlots } from "./pki/caSlots";
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
    /** External-root mode: the CSR the root must sign (the one waiting, else the active CA's). */
    intermediateCsrPem?: pulumi.Output<string>;
    /** Each trusted CA slot's mode, and what it waits for. */
    caStatus: Record<string, string>;
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

    // CA slots, each generated, signed by an external root or imported (pki/caSlots.ts).
    const authorities = createCaSlots(config, rotation, context.now);
    if (!authorities.active) {
        // External root, first up: only the intermediate key and its CSR exist until the root signs it.
        return waitingForIntermediate(config, authorities, rotation);
    }
    const ca = authorities.active;
    const caCertificates = authorities.certificates;
    const trustBundlePem = authorities.trustBundlePem;

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
            // A CA held elsewhere (an external root) signs its own CRL: it comes from config, below.
            authorities: caCertificates
                .filter((authority) => authority.privateKeyPem !== undefined)
                .map((authority) => ({
                    certificatePem: authority.certificatePem,
                    privateKeyPem: authority.privateKeyPem!,
                    revokedCertificatePems,
                })),
            validityHours: config.lifetimes.crl.validityHours,
            rotationTrigger: rotation.schedule("crl", config.lifetimes.crl.renewBeforeHours),
        });
        const externalCrls = caCertificates.flatMap((authority) => authority.externalCrl ?? []);
        // One PEM block after another: the command's stdout comes without its final newline.
        crlPem =
            externalCrls.length === 0
                ? crl.crlPem
                : crl.crlPem.apply((own) =>
                      [own, ...externalCrls.map((external) => external.pem)].map((pem) => `${pem.trim()}\n`).join(""),
                  );
        // The CRL reports no expiry of its own: a new one is valid for validityHours from now.
        crlNextUpdate = rotation
            .decision("crl")
            .apply((decision) =>
                decision.due || !decision.notAfter
                    ? expiryFromNow(config.lifetimes.crl.validityHours, context.now)
                    : decision.notAfter,
            );
        rotation.record("crl", crlNextUpdate);
        // The live CRLs expire with the first of them (the health check watches it).
        crlNextUpdate = crlNextUpdate.apply((own) =>
            [own, ...externalCrls.map((external) => external.nextUpdate)].reduce((first, next) =>
                Date.parse(next) < Date.parse(first) ? next : first,
            ),
        );
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

    const endpoint = deployEndpoint(config, {
        nginxConfig,
        serverCertificateChainPem: pulumi.concat(server.certificatePem, ca.chainPem),
        serverPrivateKeyPem: server.privateKeyPem,
        clientTrustBundlePem: trustBundlePem,
        certificateRevocationListPem: crlPem,
        certificateRevocationListNextUpdate: crlNextUpdate,
    });

    const addresses = clientAddresses(config);
    const address = addresses[0];
    let smokeTest: pulumi.Output<string> | string = "disabled (mtls-nginx:smokeTest is false)";
    // Validation chose the probe (config/smokeProbe.ts); it is present exactly when smokeTest is true.
    const probe = config.smokeProbe;
    if (probe) {
        const probeClient = clients.get(probe.clientName)!;
        smokeTest = new SmokeTest(
            "smoke-test",
            {
                urls: addresses.map((each) => endpointUrl(each, probe.path)),
                resolves: addresses.map(resolveArgument),
                caCertificatePem: trustBundlePem,
                clientName: probe.clientName,
                clientCertificatePem: probeClient.certificatePem,
                clientPrivateKeyPem: probeClient.privateKeyPem,
                expectedBody: greetingFor(probe.clientName),
                triggers: [endpoint.id, endpoint.reloadId, probeClient.certificatePem],
            },
            { dependsOn: [endpoint.resource] },
        ).report;
    }

    const expiries: Record<string, pulumi.Output<string>> = { server: server.validityEndTime };
    for (const authority of caCertificates) {
        expiries[authority.name] = authority.validityEndTime;
        if (authority.externalCrl && config.revokedClients.length > 0) {
            expiries[`${authority.name}-crl`] = pulumi.output(authority.externalCrl.nextUpdate);
        }
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
        containerId: endpoint.id,
        hostDirectory: endpoint.filesLocation,
        certificateExpiries: pulumi.all(expiries),
        rotationState: rotation.state,
        rotationDue: rotation.due,
        smokeTest,
        intermediateCsrPem: authorities.intermediateCsrPem,
        caStatus: authorities.status,
    };
}

/**
 * The outputs of a stack whose issuing CA waits for the external root's signature: the CSR to sign
 * and what to do next; no leaf, endpoint or smoke test exists yet (they need the certificate).
 */
function waitingForIntermediate(
    config: StackConfig,
    authorities: CaSlots,
    rotation: RotationPlanner,
): MtlsEndpointOutputs {
    const nextStep = `not run: ${authorities.status[config.activeCa]}`;
    void pulumi.log.warn(`CA slot ${config.activeCa} is ${authorities.status[config.activeCa]}`);
    const none = pulumi.output<Record<string, string>>({});
    return {
        endpointUrl: endpointUrl(config),
        serverName: config.serverName,
        caCertificatePem: pulumi.output(""),
        clientCertificatePems: none,
        clientPrivateKeyPems: pulumi.secret(none),
        curlCommands: {},
        containerId: pulumi.output(""),
        hostDirectory: pulumi.output(""),
        certificateExpiries: none,
        rotationState: rotation.state,
        rotationDue: rotation.due,
        smokeTest: nextStep,
        intermediateCsrPem: authorities.intermediateCsrPem,
        caStatus: authorities.status,
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

/** The files every platform serves: config, chain, key (secret), trust bundle, CRLs. */
type EndpointFiles = Pick<
    NginxEndpointArgs,
    | "nginxConfig"
    | "serverCertificateChainPem"
    | "serverPrivateKeyPem"
    | "clientTrustBundlePem"
    | "certificateRevocationListPem"
    | "certificateRevocationListNextUpdate"
>;

/** What the rest of the stack needs of a running endpoint, whatever the platform. */
interface DeployedEndpoint {
    /** The component, for dependsOn. */
    readonly resource: pulumi.Resource;
    /** The container ID, or the Swarm service ID. */
    readonly id: pulumi.Output<string>;
    /** Changes whenever a new file set is serving. */
    readonly reloadId: pulumi.Output<string>;
    /** Where the files live, in words. */
    readonly filesLocation: pulumi.Output<string>;
}

/** The endpoint step: one hardened container, or a Swarm service, on the configured engine. */
function deployEndpoint(config: StackConfig, files: EndpointFiles): DeployedEndpoint {
    const common = {
        ...files,
        engine: engineOf(config),
        hardening: hardeningOf(config),
        image: config.image,
        publishPort: config.publishPort,
        serverName: config.serverName,
    };
    if (config.platform === "swarm") {
        const service = new SwarmEndpoint("endpoint", {
            ...common,
            serviceName: config.containerName,
            replicas: config.replicas,
            publishMode: config.publishMode,
        });
        return {
            resource: service,
            id: service.serviceId,
            reloadId: service.rolloutReport,
            filesLocation: pulumi.output(`Swarm configs and a secret of service ${config.containerName}`),
        };
    }
    const container = new NginxEndpoint("endpoint", {
        ...common,
        containerName: config.containerName,
        publishAddress: config.publishAddress,
    });
    return {
        resource: container,
        id: container.containerId,
        reloadId: container.reloadId,
        filesLocation: pulumi.interpolate`docker volume ${container.filesVolume}`,
    };
}

function hardeningOf(config: StackConfig): ContainerHardening {
    return {
        capabilities: config.capabilities,
        noNewPrivileges: config.noNewPrivileges,
        readOnlyRootFilesystem: config.readOnlyRootFilesystem,
        memoryLimitMb: config.memoryLimitMb,
        pidsLimit: config.pidsLimit,
        logMaxSizeMb: config.logMaxSizeMb,
        logMaxFiles: config.logMaxFiles,
    };
}

/** Where clients reach the endpoint: each configured address, else the published one. */
function clientAddresses(config: StackConfig): EndpointAddress[] {
    const base = {
        serverName: config.serverName,
        publishAddress: config.publishAddress,
        publishPort: config.publishPort,
        dockerHost: config.dockerHost,
    };
    return config.endpointAddresses.length === 0
        ? [base]
        : config.endpointAddresses.map((address) => ({ ...base, publishAddress: address }));
}
