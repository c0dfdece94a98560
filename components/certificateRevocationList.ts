import * as command from "@pulumi/command";
import * as pulumi from "@pulumi/pulumi";
import * as fs from "fs";
import * as path from "path";

/** One CA and the certificates it revokes. */
export interface RevokingAuthority {
    readonly certificatePem: pulumi.Input<string>;
    /** The CA's private key (secret): a CRL is signed by its issuer. */
    readonly privateKeyPem: pulumi.Input<string>;
    /** Certificates this CA issued that are revoked (may be empty). */
    readonly revokedCertificatePems: pulumi.Input<string>[];
}

export interface CertificateRevocationListArgs {
    /** Every CA in the chain, root first: Nginx checks a CRL for each of them. */
    readonly authorities: RevokingAuthority[];
    /** Distance to the CRL's next update, in hours. */
    readonly validityHours: number;
    /** Changing this value re-issues the CRLs (refresh ahead of next update). */
    readonly rotationTrigger?: pulumi.Input<string>;
}

/**
 * CRLs for the whole chain, issued by `openssl ca -gencrl` on the deploying machine (@pulumi/tls
 * has no CRL resource; components/revocationListScript.sh). Re-issued when the revoked set changes or the refresh is due.
 */
export class CertificateRevocationList extends pulumi.ComponentResource {
    /** The CRLs, PEM, concatenated (public). */
    public readonly crlPem: pulumi.Output<string>;

    constructor(name: string, args: CertificateRevocationListArgs, opts?: pulumi.ComponentResourceOptions) {
        super("mtls:pki:CertificateRevocationList", name, {}, opts);

        // Every CA's certificate, key and revoked certificates, on stdin: no key in the environment
        // or in a file, and no size limit of the environment however many clients are revoked.
        const issuers = pulumi.secret(
            pulumi
                .all(
                    args.authorities.map((authority) =>
                        pulumi.all([
                            authority.certificatePem,
                            authority.privateKeyPem,
                            pulumi.all(authority.revokedCertificatePems),
                        ]),
                    ),
                )
                .apply((entries) =>
                    entries
                        .map(([certificate, key, revoked]) =>
                            ["### issuer", certificate.trim(), key.trim(), ...revoked.map((pem) => pem.trim())].join(
                                "\n",
                            ),
                        )
                        .join("\n"),
                ),
        );
        const issue = new command.local.Command(
            `${name}-issue`,
            {
                create: revocationListScript,
                interpreter: ["/bin/bash", "-c"],
                environment: { CRL_HOURS: String(args.validityHours) },
                stdin: issuers,
                // No update command: any change re-runs create, which issues fresh CRLs.
                triggers: [
                    args.rotationTrigger ?? "",
                    ...args.authorities.map((authority) => authority.certificatePem),
                    ...args.authorities.flatMap((authority) => authority.revokedCertificatePems),
                ],
            },
            // The provider echoes inputs back as outputs; the CA keys on stdin must stay secret there too.
            { parent: this, additionalSecretOutputs: ["stdin"] },
        );
        this.crlPem = pulumi.unsecret(issue.stdout);
        this.registerOutputs({ crlPem: this.crlPem });
    }
}

/** The shell script, kept as a file of its own so it can be read and run by hand. */
export const revocationListScript = fs.readFileSync(path.join(__dirname, "revocationListScript.sh"), "utf8");
