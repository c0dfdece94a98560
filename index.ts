import { readStackConfig } from "./config/readStackConfig";
import { skipSourceMapsForPromiseStacks } from "./program/promiseStackTraces";
import { readPreviousStackOutput } from "./rotation/previousOutputs";
import { deployMtlsEndpoint } from "./stack";

skipSourceMapsForPromiseStacks();

// Validation runs here, before any resource is registered: bad config changes nothing.
const config = readStackConfig(__dirname);

// The previous deployment's rotation records, read from this very stack's outputs: they tell
// which certificates are inside their renewal window, so `pulumi preview` shows them rotating.
const deployed = deployMtlsEndpoint(config, {
    previousRotationState: readPreviousStackOutput("rotationState") as Promise<Record<string, unknown> | undefined>,
    // Every certificate each client held that has not expired: revoking a client refuses them all.
    previousCertificateHistory: readPreviousStackOutput("clientCertificateSerials") as Promise<
        Record<string, unknown> | undefined
    >,
    now: new Date(),
});

export const endpointUrl = deployed.endpointUrl;
export const serverName = deployed.serverName;
export const caCertificatePem = deployed.caCertificatePem;
export const clientCertificatePems = deployed.clientCertificatePems;
export const clientPrivateKeyPems = deployed.clientPrivateKeyPems;
export const curlCommands = deployed.curlCommands;
export const containerId = deployed.containerId;
export const hostDirectory = deployed.hostDirectory;
export const certificateExpiries = deployed.certificateExpiries;
export const rotationState = deployed.rotationState;
export const rotationDue = deployed.rotationDue;
export const smokeTest = deployed.smokeTest;
// Empty unless a CA slot is in external-root mode.
export const intermediateCsrPem = deployed.intermediateCsrPem ?? "";
export const caStatus = deployed.caStatus;
export const serverCertificatePem = deployed.serverCertificatePem;
export const revokedClients = deployed.revokedClients;
export const certificateRevocationListPem = deployed.certificateRevocationListPem;
export const clientCertificateSerials = deployed.clientCertificateSerials;
