import * as pulumi from "@pulumi/pulumi";
import { curlCommand, endpointUrl } from "./domain/clientAccess";
import type { IssuedLeaf } from "./components/issuedCertificate";
import type { StackConfig } from "./config/stackConfig";
import { CertificateHistory, nextCertificateHistory, parseCertificateHistory } from "./rotation/certificateHistory";
import { RotationPlanner } from "./rotation/rotationPlanner";
import type { RotationRecord } from "./rotation/rotationSchedule";
import { CaSlots, createCaSlots } from "./steps/authorities";
import { clientAddresses, deployEndpoint, endpointFilesOf, type DeployedEndpoint } from "./steps/endpoint";
import { issueLeaves, recordIssuedCertificates, type Leaves } from "./steps/leaves";
import { revoke, type Revocation } from "./steps/revocation";
import { runSmokeTest } from "./steps/smokeTest";

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
 * Composes the stack from validated config, as named steps (each in steps/): authorities, leaves,
 * revocation, the endpoint, the smoke test; then the outputs. Rotation bookkeeping rides along in
 * the planner.
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
