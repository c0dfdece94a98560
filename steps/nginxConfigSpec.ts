/**
 * What the rendered nginx.conf is made of: the stack config's part, and the trust material's. Pure, so
 * the bench renders the config exactly as a deployment does.
 */
import type { StackConfig } from "../config/stackConfig";
import { containerListenPort } from "../nginx/files";
import type { NginxConfigSpec } from "../nginx/renderNginxConfig";

/** What the trust material decides: issuer binding, revocation, and the session cache's name. */
export interface TrustPart {
    /** Where the bundle admits CAs that are not ours, clients must also be issued by one of ours. */
    readonly clientIssuers?: readonly string[];
    readonly checkRevocation: boolean;
    /** `trustDigest` of the client CA bundle and the CRLs. */
    readonly trustDigest: string;
}

export function nginxConfigSpecOf(config: StackConfig, trust: TrustPart): NginxConfigSpec {
    return {
        serverNames: config.serverDnsNames,
        listenPort: containerListenPort,
        verifyClient: config.verifyClient,
        verifyDepth: config.verifyDepth,
        workerProcesses: config.workerProcesses,
        keyExchangeGroups: config.keyExchangeGroups,
        clientIssuers: trust.clientIssuers,
        upstreamTrust: config.upstreamCaCertificates ? "bundle" : "system",
        locations: config.locations,
        checkRevocation: trust.checkRevocation,
        trustDigest: trust.trustDigest,
    };
}
