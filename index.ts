import { readStackConfig } from "./config/readStackConfig";
import { deployMtlsEndpoint } from "./stack";

// Validation runs here, before any resource is registered: bad config changes nothing.
const config = readStackConfig(__dirname);
const deployed = deployMtlsEndpoint(config);

export const endpointUrl = deployed.endpointUrl;
export const serverName = deployed.serverName;
export const caCertificatePem = deployed.caCertificatePem;
export const clientCertificatePems = deployed.clientCertificatePems;
export const clientPrivateKeyPems = deployed.clientPrivateKeyPems;
export const curlCommands = deployed.curlCommands;
export const containerId = deployed.containerId;
export const hostDirectory = deployed.hostDirectory;
export const certificateExpiries = deployed.certificateExpiries;
export const smokeTest = deployed.smokeTest;
