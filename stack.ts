import * as pulumi from "@pulumi/pulumi";
import { CertificateRevocationList } from "./components/certificateRevocationList";
import { curlCommand, endpointUrl, resolveArgument, type EndpointAddress } from "./components/clientAccess";
import {
    ClientCertificates,
    IssuedCertificate,
    IssuedCertificateArgs,
    IssuedLeaf,
    resourceNameOf,
} from "./components/issuedCertificate";
import type { DockerEngineArgs } from "./components/dockerEngine";
import type { EndpointFileArgs } from "./components/endpointFiles";
import { NginxEndpoint } from "./components/nginxEndpoint";
import { SwarmEndpoint } from "./components/swarmEndpoint";
import { SmokeTest } from "./components/smokeTest";
import { isTcpEngine } from "./config/endpoint";
import type { StackConfig } from "./config/stackConfig";
import type { ContainerHardening } from "./nginx/container";
import { containerListenPort } from "./nginx/files";
import { greetingFor, renderNginxConfig, trustDigest } from "./nginx/renderNginxConfig";
import { CaSlots, createCaSlots } from "./pki/caSlots";
import type { CaHierarchy } from "./components/certificateAuthority";
import { RotationPlanner } from "./rotation/rotationPlanner";
import { expiryFromNow, RotationRecord } from "./rotation/rotationSchedule";
import { earliestNextUpdate } from "./domain/x509";
import {
    CertificateHistory,
    issuedSerialsOf,
    nextCertificateHistory,
    parseCertificateHistory,
    revokedSerials,
} from "./rotation/certificateHistory";

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
    smokeTest: pulumi.Output<string>;
    /** External-root mode: the CSR the root must sign (the one waiting, else the active CA's). */
    intermediateCsrPem?: pulumi.Output<string>;
    /** Each trusted CA slot's mode, and what it waits for. */
    caStatus: Record<string, string>;
    /** The server certificate the endpoint serves (public): `npm run status` compares it with what is live. */
    serverCertificatePem: pulumi.Output<string>;
    /** Clients whose certificates are revoked. */
    revokedClients: string[];
    /** The CRLs Nginx enforces (public); empty while nobody is revoked. */
    certificateRevocationListPem: pulumi.Output<string>;
    /** Every unexpired certificate each client name has held (serial and expiry): what revoking it refuses. */
    clientCertificateSerials: pulumi.Output<CertificateHistory>;
}

/** Inputs that do not come from stack config. */
export interface DeployContext {
    /** The previous deployment's `rotationState` output (anything malformed counts as none). */
    readonly previousRotationState: pulumi.Input<Record<string, unknown> | undefined>;
    /** The previous deployment's `clientCertificateSerials` output (absent or malformed: none). */
    readonly previousCertificateHistory?: pulumi.Input<Record<string, unknown> | undefined>;
    /** The time rotation decisions are made against. */
    readonly now: Date;
}

/**
 * Composes the stack from validated config, as named steps: authorities, leaves, revocation, the
 * endpoint, the smoke test, and the outputs. Rotation bookkeeping rides along in the planner.
 */
export function deployMtlsEndpoint(config: StackConfig, context: DeployContext): MtlsEndpointOutputs {
    const rotation = new RotationPlanner(context.previousRotationState, context.now, config.rotationLookaheadHours);
    const authorities = createCaSlots(config, rotation, context.now);
    const previousHistory = pulumi.output(context.previousCertificateHistory).apply(parseCertificateHistory);
    if (!authorities.active) {
        // External root, first up: only the intermediate key and its CSR exist until the root signs it.
        const history = previousHistory.apply((previous) => nextCertificateHistory(previous, {}, context.now));
        return waitingForIntermediate(config, authorities, rotation, history);
    }
    const leaves = issueLeaves(config, authorities.active, rotation);
    const history = recordIssuedCertificates(leaves, previousHistory, context.now);
    const revocation = revoke(config, authorities, history, rotation, context.now);
    const endpoint = deployEndpoint(config, endpointFilesOf(config, authorities, leaves, revocation));
    const smokeTest = runSmokeTest(config, authorities.trustBundlePem, leaves, endpoint);
    return outputsOf(config, { authorities, leaves, history, revocation, endpoint, smokeTest, rotation });
}

/** Each certificate's one item name: rotation records, `rotationDue` and `certificateExpiries` all use it. */
export const itemName = {
    server: "server",
    // The same as the name of the client's resources: both are in deployed state, so neither may change.
    client: resourceNameOf,
    crl: "crl",
} as const;

/** The server certificate and one certificate per client, issued by the active CA. */
interface Leaves {
    readonly server: IssuedCertificate;
    readonly clients: ReadonlyMap<string, IssuedLeaf>;
}

/** The leaves step: what is due rotates (a new key too); a revoked client's certificate is frozen. */
function issueLeaves(config: StackConfig, ca: CaHierarchy, rotation: RotationPlanner): Leaves {
    const issuer = { issuerCertificatePem: ca.issuerCertificatePem, issuerPrivateKeyPem: ca.issuerPrivateKeyPem };
    const server = new IssuedCertificate("server", {
        profile: "server",
        commonName: config.serverName,
        organization: config.organization,
        dnsNames: config.serverDnsNames,
        ipAddresses: config.serverIpAddresses,
        keyAlgorithm: config.keyAlgorithm,
        ...issuer,
        lifetime: config.lifetimes.server,
        rotationTrigger: rotation.schedule(itemName.server, config.lifetimes.server.renewBeforeHours),
    });
    rotation.record(itemName.server, server.validityEndTime);

    const clientArgs = new Map(
        config.clients.map((clientName) => {
            const revoked = config.revokedClients.includes(clientName);
            const item = itemName.client(clientName);
            const args: IssuedCertificateArgs = {
                profile: "client",
                commonName: clientName,
                organization: config.organization,
                keyAlgorithm: config.keyAlgorithm,
                ...issuer,
                lifetime: config.lifetimes.client,
                rotationTrigger: rotation.schedule(
                    item,
                    config.lifetimes.client.renewBeforeHours,
                    revoked ? "freeze" : "rotate",
                ),
                frozen: revoked,
            };
            return [clientName, args];
        }),
    );
    const clients = new ClientCertificates("clients", { certificates: clientArgs }).certificates;
    for (const [clientName, certificate] of clients) {
        rotation.record(itemName.client(clientName), certificate.validityEndTime);
    }
    return { server, clients };
}

/**
 * The history step: every unexpired certificate each client name has held, this deployment's
 * included. A rotation or a rollover replaces a certificate without ending it: revocation must
 * still name the one replaced, so its serial is carried until it expires.
 */
function recordIssuedCertificates(
    leaves: Leaves,
    previous: pulumi.Output<CertificateHistory>,
    now: Date,
): pulumi.Output<CertificateHistory> {
    const current = pulumi
        .all(Object.fromEntries([...leaves.clients].map(([clientName, leaf]) => [clientName, leaf.certificatePem])))
        .apply((pems) =>
            Object.fromEntries(Object.entries(pems).map(([clientName, pem]) => [clientName, issuedSerialsOf(pem)])),
        );
    return pulumi.all([previous, current]).apply(([recorded, issued]) => nextCertificateHistory(recorded, issued, now));
}

/** The CRLs Nginx enforces, and when the first of them runs out; absent while nobody is revoked. */
interface Revocation {
    readonly crlPem: pulumi.Output<string>;
    readonly nextUpdate: pulumi.Output<string>;
}

/**
 * The revocation step: a CRL per CA in the chain, only while someone is revoked (an expired CRL locks
 * everyone out, so none is better than a stale one).
 */
function revoke(
    config: StackConfig,
    authorities: CaSlots,
    history: pulumi.Output<CertificateHistory>,
    rotation: RotationPlanner,
    now: Date,
): Revocation | undefined {
    if (config.revokedClients.length === 0) {
        return undefined;
    }
    const caCertificates = authorities.certificates;
    // Nginx checks a CRL for every CA of a chain, so every trusted CA gets one. Each names every
    // certificate a revoked client still holds: the current one, and those a rotation or a rollover
    // replaced, whichever CA issued them.
    const crl = new CertificateRevocationList("crl", {
        // A CA held elsewhere (an external root) signs its own CRL: it comes from config, below.
        authorities: caCertificates
            .filter((authority) => authority.privateKeyPem !== undefined)
            .map((authority) => ({
                certificatePem: authority.certificatePem,
                privateKeyPem: authority.privateKeyPem!,
            })),
        revoked: history.apply((recorded) => revokedSerials(recorded, config.revokedClients)),
        validityHours: config.lifetimes.crl.validityHours,
        rotationTrigger: rotation.schedule(itemName.crl, config.lifetimes.crl.renewBeforeHours),
    });
    const externalCrls = caCertificates.flatMap((authority) => authority.externalCrl ?? []);
    // One PEM block after another: the command's stdout comes without its final newline.
    const crlPem =
        externalCrls.length === 0
            ? crl.crlPem
            : crl.crlPem.apply((own) =>
                  [own, ...externalCrls.map((external) => external.pem)].map((pem) => `${pem.trim()}\n`).join(""),
              );
    // The deadline is read from the CRLs themselves: any re-issue (a new revocation, a changed
    // validity) moves it, and a computed date would drift from what Nginx enforces. Only text without
    // a CRL in it (the unit tests' mocks) falls back to the planned date.
    const plannedNextUpdate = rotation
        .decision(itemName.crl)
        .apply((decision) =>
            decision.due || !decision.notAfter
                ? expiryFromNow(config.lifetimes.crl.validityHours, now)
                : decision.notAfter,
        );
    const ownNextUpdate = pulumi
        .all([crl.crlPem, plannedNextUpdate])
        .apply(([pem, planned]) => earliestNextUpdate(pem) ?? planned);
    rotation.record(itemName.crl, ownNextUpdate);
    // The live CRLs expire with the first of them (the health check watches it).
    const nextUpdate = ownNextUpdate.apply((own) =>
        [own, ...externalCrls.map((external) => external.nextUpdate)].reduce((first, next) =>
            Date.parse(next) < Date.parse(first) ? next : first,
        ),
    );
    return { crlPem, nextUpdate };
}

/** The file set the endpoint serves: nginx.conf (rendered from config and the trust material), chain, key, CAs, CRLs. */
function endpointFilesOf(
    config: StackConfig,
    authorities: CaSlots,
    leaves: Leaves,
    revocation: Revocation | undefined,
): EndpointFileArgs {
    const trustBundlePem = authorities.trustBundlePem;
    // Rendered from the trust material too: its digest names the TLS session cache (see renderNginxConfig).
    const nginxConfig = pulumi.all([trustBundlePem, revocation?.crlPem ?? ""]).apply(([bundle, crl]) =>
        renderNginxConfig({
            serverNames: config.serverDnsNames,
            listenPort: containerListenPort,
            verifyClient: config.verifyClient,
            verifyDepth: config.verifyDepth,
            workerProcesses: config.workerProcesses,
            keyExchangeGroups: config.keyExchangeGroups,
            // Where the bundle admits CAs that are not ours, clients must also be issued by one of ours.
            clientIssuers: authorities.clientIssuers,
            upstreamTrust: config.upstreamCaCertificates ? "bundle" : "system",
            locations: config.locations,
            checkRevocation: revocation !== undefined,
            trustDigest: trustDigest(bundle, crl),
        }),
    );
    return {
        nginxConfig,
        serverCertificateChainPem: pulumi.concat(leaves.server.certificatePem, authorities.active!.chainPem),
        serverPrivateKeyPem: leaves.server.privateKeyPem,
        clientTrustBundlePem: trustBundlePem,
        certificateRevocationListPem: revocation?.crlPem,
        certificateRevocationListNextUpdate: revocation?.nextUpdate,
        upstreamTrustBundlePem: config.upstreamCaCertificates || undefined,
    };
}

/** The smoke test step: every address clients use, with and without a certificate; re-run on any change. */
function runSmokeTest(
    config: StackConfig,
    trustBundlePem: pulumi.Output<string>,
    leaves: Leaves,
    endpoint: DeployedEndpoint,
): pulumi.Output<string> {
    // Validation chose the probe (config/smokeProbe.ts); it is present exactly when smokeTest is true.
    const probe = config.smokeProbe;
    if (!probe) {
        return pulumi.output("disabled (mtls-nginx:smokeTest is false)");
    }
    const addresses = clientAddresses(config);
    const probeClient = leaves.clients.get(probe.clientName)!;
    return new SmokeTest(
        "smoke-test",
        {
            urls: addresses.map((address) => endpointUrl(address, probe.path)),
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

/** The outputs step: the contract of index.ts, from what the other steps made. */
function outputsOf(
    config: StackConfig,
    deployed: {
        authorities: CaSlots;
        leaves: Leaves;
        history: pulumi.Output<CertificateHistory>;
        revocation: Revocation | undefined;
        endpoint: DeployedEndpoint;
        smokeTest: pulumi.Output<string>;
        rotation: RotationPlanner;
    },
): MtlsEndpointOutputs {
    const { authorities, leaves, revocation, endpoint, rotation } = deployed;
    const address = clientAddresses(config)[0];
    const ofClients = (pick: (certificate: IssuedLeaf) => pulumi.Output<string>) =>
        Object.fromEntries([...leaves.clients].map(([clientName, certificate]) => [clientName, pick(certificate)]));
    return {
        endpointUrl: endpointUrl(address),
        serverName: config.serverName,
        caCertificatePem: authorities.trustBundlePem,
        clientCertificatePems: pulumi.output(ofClients((certificate) => certificate.certificatePem)),
        clientPrivateKeyPems: pulumi.secret(ofClients((certificate) => certificate.privateKeyPem)),
        curlCommands: Object.fromEntries(
            config.clients.map((clientName) => [clientName, curlCommand(address, clientName)]),
        ),
        containerId: endpoint.id,
        hostDirectory: endpoint.filesLocation,
        certificateExpiries: expiriesOf(rotation),
        rotationState: rotation.state,
        rotationDue: rotation.due,
        smokeTest: deployed.smokeTest,
        intermediateCsrPem: authorities.intermediateCsrPem,
        caStatus: authorities.status,
        serverCertificatePem: leaves.server.certificatePem,
        revokedClients: [...config.revokedClients],
        certificateRevocationListPem: revocation?.crlPem ?? pulumi.output(""),
        clientCertificateSerials: deployed.history,
    };
}

/** Every certificate's, CA's and CRL's expiry, read from the rotation records (one name per item). */
function expiriesOf(rotation: RotationPlanner): pulumi.Output<Record<string, string>> {
    return rotation.state.apply((records) =>
        Object.fromEntries(Object.entries(records).map(([item, record]) => [item, record.notAfter])),
    );
}

/**
 * The outputs of a stack whose issuing CA waits for the external root's signature: the CSR to sign
 * and what to do next; no leaf, endpoint or smoke test exists yet (they need the certificate).
 */
function waitingForIntermediate(
    config: StackConfig,
    authorities: CaSlots,
    rotation: RotationPlanner,
    history: pulumi.Output<CertificateHistory>,
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
        smokeTest: pulumi.output(nextStep),
        intermediateCsrPem: authorities.intermediateCsrPem,
        caStatus: authorities.status,
        serverCertificatePem: pulumi.output(""),
        revokedClients: [...config.revokedClients],
        certificateRevocationListPem: pulumi.output(""),
        clientCertificateSerials: history,
    };
}

/** The Docker engine stack config names; its TLS key becomes a secret here, the moment it leaves config. */
function engineOf(config: StackConfig): DockerEngineArgs {
    if (!isTcpEngine(config.dockerHost)) {
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
function deployEndpoint(config: StackConfig, files: EndpointFileArgs): DeployedEndpoint {
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
