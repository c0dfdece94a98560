import { CaSlot, caSlots, CertificateKind, certificateKinds, CertificateLifetime } from "../domain/pki";
import { ConfigProblems } from "./problems";
import type { ConfigSettings } from "./types";
import { Parse, show, stringList } from "./values";

/** Hours a validity or renewal window may span: up to 100 years. */
export const maxHours = 876000;

/** The two lifetime keys of a kind. */
export function lifetimeKeys(kind: CertificateKind) {
    return { validity: `${kind}ValidityHours`, renewBefore: `${kind}RenewBeforeHours` } as const;
}

/** The lifetimes of every kind, or undefined while any of their keys is invalid. */
export function lifetimesOf(
    settings: Partial<ConfigSettings>,
): Record<CertificateKind, CertificateLifetime> | undefined {
    const entries = certificateKinds.map((kind) => {
        const keys = lifetimeKeys(kind);
        return [
            kind,
            { validityHours: settings[keys.validity], renewBeforeHours: settings[keys.renewBefore] },
        ] as const;
    });
    if (
        entries.some(([, lifetime]) => lifetime.validityHours === undefined || lifetime.renewBeforeHours === undefined)
    ) {
        return undefined;
    }
    return Object.fromEntries(entries) as Record<CertificateKind, CertificateLifetime>;
}

/**
 * PKI lifetimes concern: a renewal window shorter than the validity (a window of the whole validity
 * would rotate on every `pulumi up`), and no certificate outliving the CA that signs it (the CA
 * would rotate first and strand it).
 */
export function validateLifetimes(settings: Partial<ConfigSettings>, problems: ConfigProblems): void {
    for (const kind of certificateKinds) {
        const keys = lifetimeKeys(kind);
        const validity = settings[keys.validity];
        const renewBefore = settings[keys.renewBefore];
        if (validity !== undefined && renewBefore !== undefined && renewBefore >= validity) {
            problems.add(
                keys.renewBefore,
                `${renewBefore} h is not shorter than ${keys.validity} (${validity} h); ` +
                    `allowed: 1 to ${validity - 1}`,
            );
        }
    }
    if (settings.intermediateCa === undefined) {
        return;
    }
    const issuer: CertificateKind = settings.intermediateCa ? "intermediate" : "ca";
    const signedBy: Array<[CertificateKind, CertificateKind]> = [
        ["server", issuer],
        ["client", issuer],
        ...(settings.intermediateCa ? [["intermediate", "ca"] as [CertificateKind, CertificateKind]] : []),
    ];
    for (const [kind, signer] of signedBy) {
        const validity = settings[lifetimeKeys(kind).validity];
        const signerValidity = settings[lifetimeKeys(signer).validity];
        if (validity !== undefined && signerValidity !== undefined && validity > signerValidity) {
            problems.add(
                lifetimeKeys(kind).validity,
                `${validity} h exceeds ${lifetimeKeys(signer).validity} (${signerValidity} h), the CA that signs it; ` +
                    `allowed: 2 to ${signerValidity}`,
            );
        }
    }
}

/** The CA slots in the trust bundle. */
export const trustedCaList: Parse<CaSlot[]> = stringList({
    noun: "CA slot",
    item: (slot) =>
        (caSlots as readonly string[]).includes(slot)
            ? undefined
            : `${show(slot)} is not a CA slot; allowed: ${caSlots.join(", ")}`,
}) as Parse<CaSlot[]>;

/**
 * Rollover concern: the issuing CA must be trusted, and Nginx must verify chains as deep as the
 * PKI issues them.
 */
export function validateCaSlots(settings: Partial<ConfigSettings>, problems: ConfigProblems): void {
    const { activeCa, trustedCas, intermediateCa, verifyDepth } = settings;
    if (activeCa !== undefined && trustedCas !== undefined && !trustedCas.includes(activeCa)) {
        problems.add(
            "trustedCas",
            `must include the active CA "${activeCa}" (mtls-nginx:activeCa); ` +
                `allowed: a list of CA slots (${caSlots.join(", ")}) that includes "${activeCa}"`,
        );
    }
    if (intermediateCa !== undefined && verifyDepth !== undefined) {
        const minimumDepth = intermediateCa ? 2 : 1;
        if (verifyDepth < minimumDepth) {
            problems.add(
                "verifyDepth",
                `${verifyDepth} is too shallow for ${intermediateCa ? "a root and an intermediate CA" : "a root CA"}; ` +
                    `allowed: ${minimumDepth} to 10`,
            );
        }
    }
}
