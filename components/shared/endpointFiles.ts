import * as pulumi from "@pulumi/pulumi";

import type { DeliveredFile } from "../../delivery/deliverFiles";
import { fileSet } from "../../nginx/container";

/** The files every platform serves; NginxEndpoint and SwarmEndpoint take them alike. */
export interface EndpointFileArgs {
    /** Rendered nginx.conf (names the other files relative to itself). */
    readonly nginxConfig: pulumi.Input<string>;
    /** Server certificate followed by any intermediate. */
    readonly serverCertificateChainPem: pulumi.Input<string>;
    /** Server private key (secret). */
    readonly serverPrivateKeyPem: pulumi.Input<string>;
    /** CA certificates Nginx verifies clients against. */
    readonly clientTrustBundlePem: pulumi.Input<string>;
    /** CRLs for every CA in the chain; absent: no revocation check. */
    readonly certificateRevocationListPem?: pulumi.Input<string>;
    /** When the CRLs must be replaced (ISO time); the health check turns red after it. */
    readonly certificateRevocationListNextUpdate?: pulumi.Input<string>;
    /** CA certificates https upstreams must chain to; absent: the image's system bundle (none is written). */
    readonly upstreamTrustBundlePem?: pulumi.Input<string>;
}

/**
 * The file set as one Output. With the key it is secret, as the key is; without it (`withKey: false`,
 * the key's content left empty) it is public, so what is derived from it stays readable in state.
 */
export function fileSetOf(args: EndpointFileArgs, options: { withKey: boolean }): pulumi.Output<DeliveredFile[]> {
    return pulumi
        .all([
            args.nginxConfig,
            args.serverCertificateChainPem,
            options.withKey ? args.serverPrivateKeyPem : "",
            args.clientTrustBundlePem,
            args.certificateRevocationListPem ?? "",
            args.certificateRevocationListNextUpdate ?? "",
            args.upstreamTrustBundlePem ?? "",
        ])
        .apply(([nginxConfig, serverChainPem, serverKeyPem, trustBundlePem, crlPem, crlNextUpdate, upstream]) =>
            fileSet({
                nginxConfig,
                serverChainPem,
                serverKeyPem,
                trustBundlePem,
                crlPem,
                crlNextUpdate,
                upstreamTrustBundlePem: upstream,
            }),
        );
}
