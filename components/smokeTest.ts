import * as command from "@pulumi/command";
import * as pulumi from "@pulumi/pulumi";
import * as fs from "fs";
import * as path from "path";

export interface SmokeTestArgs {
    /** URLs probed, e.g. https://localhost:8443/ (one per published address). */
    readonly urls: pulumi.Input<readonly string[]>;
    /** curl --resolve values (name:port:address), one per URL, so the name needs no DNS. */
    readonly resolves: pulumi.Input<readonly string[]>;
    /** CA bundle the server certificate must verify against (no -k). */
    readonly caCertificatePem: pulumi.Input<string>;
    /** Name of the client whose certificate is presented. */
    readonly clientName: string;
    readonly clientCertificatePem: pulumi.Input<string>;
    /** Client private key (secret); handed to the probe on stdin. */
    readonly clientPrivateKeyPem: pulumi.Input<string>;
    /** Text the answer with a certificate must contain. */
    readonly expectedBody: string;
    /** Any change here re-runs the test (certificates, config, container, reload). */
    readonly triggers: pulumi.Input<unknown>[];
}

/**
 * Proves the deployed endpoint enforces mutual TLS: with a client certificate the answer is
 * 200 and the expected body; without one it is 400. A mismatch fails `pulumi up`.
 */
export class SmokeTest extends pulumi.ComponentResource {
    /** What the probe reported. */
    public readonly report: pulumi.Output<string>;

    constructor(name: string, args: SmokeTestArgs, opts?: pulumi.ComponentResourceOptions) {
        super("mtls:test:SmokeTest", name, {}, opts);

        const probe = new command.local.Command(
            `${name}-probe`,
            {
                create: smokeTestScript,
                interpreter: ["/bin/bash", "-c"],
                stdin: pulumi.secret(args.clientPrivateKeyPem),
                environment: {
                    SMOKE_URLS: pulumi.output(args.urls).apply((urls) => urls.join(" ")),
                    SMOKE_RESOLVES: pulumi.output(args.resolves).apply((resolves) => resolves.join(" ")),
                    SMOKE_CLIENT: args.clientName,
                    SMOKE_EXPECTED_BODY: args.expectedBody,
                    SMOKE_CA: pulumi.output(args.caCertificatePem),
                    SMOKE_CLIENT_CERT: pulumi.output(args.clientCertificatePem),
                },
                triggers: args.triggers,
            },
            // The provider echoes inputs back as outputs; the client key on stdin must stay secret there too.
            { parent: this, additionalSecretOutputs: ["stdin"] },
        );
        this.report = probe.stdout;
        this.registerOutputs({ report: this.report });
    }
}

/** The probe, kept as a shell script of its own so it can be read and run by hand. */
export const smokeTestScript = fs.readFileSync(path.join(__dirname, "smokeTest.sh"), "utf8");
