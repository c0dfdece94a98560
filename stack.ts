import * as pulumi from "@pulumi/pulumi";
import { curlCommand, endpointUrl } from "./domain/clientAccess";
import type { IssuedLeaf } from "./components/issuedCertificate";
import type { HeldResources } from "./rotation/clientHold";
import type { StackConfig } from "./config/stackConfig";
import { CertificateHistory, nextCertificateHistory, parseCertificateHistory } from "./rotation/certificateHistory";
import { RotationPlanner } from "./rotation/rotationPlanner";
import type { MtlsEndpointOutputs } from "./components/mtlsEndpoint";
import { CaSlots, createCaSlots } from "./steps/authorities";
import { deployEndpoint, endpointFilesOf, type DeployedEndpoint } from "./steps/endpoint";
import { issueLeaves, recordIssuedCertificates, type Leaves } from "./steps/leaves";
import { revoke, warnOfRemovedClients, type Revocation } from "./steps/revocation";
import { type ResourceScope, rootScope } from "./steps/scope";
import { runSmokeTest } from "./steps/smokeTest";

/** Inputs that do not come from stack config. */
export interface DeployContext {
    /** The previous deployment's `rotationState` output (anything malformed counts as none). */
    readonly previousRotationState: pulumi.Input<Record<string, unknown> | undefined>;
    /** The previous deployment's `clientCertificateSerials` output (absent or malformed: none). */
    readonly previousCertificateHistory?: pulumi.Input<Record<string, unknown> | undefined>;
    /** The time rotation decisions are made against. */
    readonly now: Date;
    /**
     * The clients' resources the clients-only `up` holds (rotation/clientHold.ts): excluded from the
     * engine's update, so they are not registered; their certificates come from the last deployment.
     */
    readonly heldResources?: HeldResources;
}

/**
 * Composes one endpoint from validated config, as named steps (each in steps/): authorities, leaves,
 * revocation, the endpoint, the smoke test; then the outputs. Rotation bookkeeping rides along in
 * the planner. `scope`: where the resources go (MtlsEndpoint passes itself; the unit tests, the root).
 */
export function deployMtlsEndpoint(
    config: StackConfig,
    context: DeployContext,
    scope: ResourceScope = rootScope,
): MtlsEndpointOutputs {
    const rotation = new RotationPlanner(context.previousRotationState, context.now, config.rotationLookaheadHours);
    const authorities = createCaSlots(config, rotation, context.now, scope);
    const previousHistory = pulumi.output(context.previousCertificateHistory).apply(parseCertificateHistory);
    warnOfRemovedClients(config, previousHistory, context.now, scope);
    if (!authorities.active) {
        // External root, first up: only the intermediate key and its CSR exist until the root signs it.
        const history = previousHistory.apply((previous) => nextCertificateHistory(previous, {}, context.now));
        return waitingForIntermediate(config, authorities, rotation, history);
    }
    const leaves = issueLeaves(config, authorities.active, rotation, scope, context.heldResources);
    const history = recordIssuedCertificates(leaves, previousHistory, context.now);
    const revocation = revoke(config, authorities, history, rotation, context.now, scope);
    const endpoint = deployEndpoint(config, endpointFilesOf(config, authorities, leaves, revocation), scope);
    const smokeTest = runSmokeTest(config, authorities.trustBundlePem, leaves, endpoint, scope);
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
    const address = endpoint.addresses.apply((addresses) => addresses[0]);
    // A client that brought a CSR has no key here: it is absent from the key map.
    const ofClients = (pick: (certificate: IssuedLeaf) => pulumi.Output<string> | undefined) =>
        Object.fromEntries(
            [...leaves.clients].flatMap(([clientName, certificate]) => {
                const value = pick(certificate);
                return value === undefined ? [] : [[clientName, value]];
            }),
        );
    return {
        endpointUrl: address.apply((first) => endpointUrl(first)),
        serverName: pulumi.output(config.serverName),
        caCertificatePem: authorities.trustBundlePem,
        clientCertificatePems: pulumi.output(ofClients((certificate) => certificate.certificatePem)),
        clientPrivateKeyPems: pulumi.secret(ofClients((certificate) => certificate.privateKeyPem)),
        curlCommands: address.apply((first) =>
            Object.fromEntries(config.clients.map((clientName) => [clientName, curlCommand(first, clientName)])),
        ),
        containerId: endpoint.id,
        hostDirectory: endpoint.filesLocation,
        certificateExpiries: expiriesOf(rotation),
        rotationState: rotation.state,
        rotationDue: rotation.due,
        smokeTest: deployed.smokeTest,
        // Empty unless a CA slot is in external-root mode.
        intermediateCsrPem: authorities.intermediateCsrPem ?? pulumi.output(""),
        caStatus: pulumi.output(authorities.status),
        serverCertificatePem: leaves.server.certificatePem,
        revokedClients: pulumi.output([...config.revokedClients]),
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
        endpointUrl: pulumi.output(endpointUrl(config)),
        serverName: pulumi.output(config.serverName),
        caCertificatePem: pulumi.output(""),
        clientCertificatePems: none,
        clientPrivateKeyPems: pulumi.secret(none),
        curlCommands: none,
        containerId: pulumi.output(""),
        hostDirectory: pulumi.output(""),
        certificateExpiries: none,
        rotationState: rotation.state,
        rotationDue: rotation.due,
        smokeTest: pulumi.output(nextStep),
        intermediateCsrPem: authorities.intermediateCsrPem ?? pulumi.output(""),
        caStatus: pulumi.output(authorities.status),
        serverCertificatePem: pulumi.output(""),
        revokedClients: pulumi.output([...config.revokedClients]),
        certificateRevocationListPem: pulumi.output(""),
        clientCertificateSerials: history,
    };
}
