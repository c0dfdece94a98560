import * as command from "@pulumi/command";
import * as pulumi from "@pulumi/pulumi";
import * as fs from "fs";
import * as path from "path";
import type { IssuedSerial } from "../rotation/certificateHistory";

/** One CA that signs a CRL. */
export interface RevokingAuthority {
    readonly certificatePem: pulumi.Input<string>;
    /** The CA's private key (secret): a CRL is signed by its issuer. */
    readonly privateKeyPem: pulumi.Input<string>;
}

export interface CertificateRevocationListArgs {
    /** Every CA in the chain, root first: Nginx checks a CRL for each of them. */
    readonly authorities: RevokingAuthority[];
    /**
     * The revoked certificates, by serial: every CA's CRL lists all of them. A certificate keeps its
     * issuer through a CA rollover, and a serial listed by a CA that did not issue it matches nothing.
     */
    readonly revoked: pulumi.Input<IssuedSerial[]>;
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
        const revokedLines = pulumi.output(args.revoked).apply((revoked) => revoked.map(revokedLine));
        const issuers = pulumi.secret(
            pulumi
                .all([
                    pulumi.all(
                        args.authorities.map((authority) =>
                            pulumi.all([authority.certificatePem, authority.privateKeyPem]),
                        ),
                    ),
                    revokedLines,
                ])
                .apply(([entries, lines]) =>
                    entries
                        .map(([certificate, key]) =>
                            ["### issuer", certificate.trim(), key.trim(), ...lines].join("\n"),
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
                    revokedLines.apply((lines) => lines.join("\n")),
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

/** The script's line for a certificate known by serial: its expiry as the CA database writes it. */
export function revokedLine(entry: IssuedSerial): string {
    const expiry = new Date(entry.notAfter);
    if (Number.isNaN(expiry.getTime())) {
        throw new Error(`revoked certificate ${entry.serial}: notAfter "${entry.notAfter}" is not a date`);
    }
    // UTCTime (two-digit year) before 2050, GeneralizedTime from then on (RFC 5280, 4.1.2.5).
    const digits = expiry.toISOString().replace(/[-:T]|\.\d+Z$/g, "");
    const time = expiry.getUTCFullYear() < 2050 ? digits.slice(2) : digits;
    return `### revoked ${entry.serial} ${time}Z`;
}
