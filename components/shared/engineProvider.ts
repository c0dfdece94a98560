import * as docker from "@pulumi/docker";
import * as pulumi from "@pulumi/pulumi";

/** The Docker engine the endpoint runs on, as stack config names it. */
export interface DockerEngineArgs {
    /** unix://, tcp:// (with TLS) or ssh:// URL; empty: DOCKER_HOST or the local socket. */
    readonly host: string;
    /** TLS client material for a tcp:// engine. */
    readonly tls?: {
        readonly caPem: pulumi.Input<string>;
        readonly certificatePem: pulumi.Input<string>;
        /** Secret. */
        readonly keyPem: pulumi.Input<string>;
    };
}

/** What the file delivery needs to reach the same engine: plain data, secret as a whole. */
export function engineAddress(engine: DockerEngineArgs): pulumi.Output<unknown> {
    const tls = engine.tls;
    return pulumi.secret(
        tls
            ? pulumi.all([tls.caPem, tls.certificatePem, tls.keyPem]).apply(([caPem, certificatePem, keyPem]) => ({
                  host: engine.host,
                  tls: { caPem, certificatePem, keyPem },
              }))
            : pulumi.output({ host: engine.host }),
    );
}

/**
 * An explicit provider for a configured engine; none for the default one, so stacks that never set
 * `dockerHost` keep using the default provider (and their resources keep their provider reference).
 */
export function dockerProvider(
    name: string,
    engine: DockerEngineArgs,
    parent: pulumi.Resource,
): docker.Provider | undefined {
    if (!engine.host) {
        return undefined;
    }
    return new docker.Provider(
        name,
        {
            host: engine.host,
            caMaterial: engine.tls?.caPem,
            certMaterial: engine.tls?.certificatePem,
            keyMaterial: engine.tls ? pulumi.secret(engine.tls.keyPem) : undefined,
        },
        { parent },
    );
}
