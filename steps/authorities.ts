/**
 * The authorities step of the stack: one CA per trusted slot, made the way the slot's caMode says
 * (generated, external-root, import), their expiries scheduled for reporting, and the trust bundle.
 */
import * as pulumi from "@pulumi/pulumi";
import { AuthorityCertificate, CaHierarchy, CertificateAuthority } from "../components/certificateAuthority";
import { ExternalRootIntermediate } from "../components/externalRootIntermediate";
import { ImportedAuthority } from "../components/importedAuthority";
import { caSourceKeys } from "../config/caSlotKeys";
import { qualified, StackConfigError } from "../config/problems";
import type { StackConfig } from "../config/stackConfig";
import type { CaSlot } from "../domain/pki";
import { earliestNextUpdate } from "../domain/x509";
import type { RotationPlanner } from "../rotation/rotationPlanner";
import type { ResourceScope } from "./scope";

export interface CaSlots {
    /** The CA that issues leaves; undefined while it waits for the root to sign its intermediate. */
    readonly active?: CaHierarchy;
    /** Every CA certificate of the trusted slots that can issue, root first per slot. */
    readonly certificates: AuthorityCertificate[];
    /** Everything a verifier trusts: the active CA first, then any CA still inside its overlap. */
    readonly trustBundlePem: pulumi.Output<string>;
    /**
     * The CAs whose leaves are clients of this stack (each ready slot's issuing CA), when the trust
     * bundle also admits others: an external root or an imported CA's chain vouches for every CA it
     * signed, siblings of ours included. Absent while every slot is generated here (then only ours chain
     * to the bundle).
     */
    readonly clientIssuers?: string[];
    /** The CSR waiting for the root's signature, else the active slot's; absent when no slot is external-root. */
    readonly intermediateCsrPem?: pulumi.Output<string>;
    /** Each trusted slot's mode and what it waits for, as operators read it. */
    readonly status: Record<string, string>;
}

interface Slot {
    readonly authority: CaHierarchy;
    /** Whether it can issue (an external-root slot cannot before its certificate is signed). */
    readonly ready: boolean;
    readonly csrPem?: pulumi.Output<string>;
    readonly status: string;
}

/** CA slots: normally one; two while a rollover overlaps (the old one trusted, the new one issuing). */
export function createCaSlots(
    config: StackConfig,
    rotation: RotationPlanner,
    now: Date,
    scope: ResourceScope,
): CaSlots {
    checkExternalCrlsFresh(config, now);
    const slots = new Map(config.trustedCas.map((slot) => [slot, createSlot(slot, config, scope)]));
    // Rotation items are named without the endpoint's prefix: records belong to one endpoint anyway.
    const itemOf = (resourceName: string) => resourceName.slice(scope.name("").length);
    const ready = [...slots].filter(([, slot]) => slot.ready);

    const certificates = ready.flatMap(([, slot]) => slot.authority.authorities);
    for (const authority of certificates) {
        const item = itemOf(authority.name);
        const kind = item.endsWith("-intermediate") ? config.lifetimes.intermediate : config.lifetimes.ca;
        rotation.schedule(item, kind.renewBeforeHours, "report");
        rotation.record(item, authority.validityEndTime);
    }
    if (config.revokedClients.length > 0) {
        for (const authority of certificates.filter((candidate) => candidate.externalCrl)) {
            // Signed elsewhere: never re-issued here, only reported when due (like a CA).
            const item = `${itemOf(authority.name)}-crl`;
            rotation.schedule(item, config.lifetimes.crl.renewBeforeHours, "report");
            rotation.record(item, authority.externalCrl!.nextUpdate);
        }
    }

    const waiting = [...slots.values()].find((slot) => slot.csrPem && !slot.ready);
    const activeSlot = slots.get(config.activeCa)!;
    return {
        active: activeSlot.ready ? activeSlot.authority : undefined,
        certificates,
        trustBundlePem: pulumi
            .all(ready.map(([, slot]) => slot.authority.trustBundlePem))
            .apply((bundles) => bundles.join("")),
        clientIssuers: config.trustedCas.every((slot) => config.caSources[slot].mode === "generated")
            ? undefined
            : ready.map(([, slot]) => slot.authority.issuerSubjectDn),
        intermediateCsrPem: (waiting ?? activeSlot).csrPem,
        status: Object.fromEntries([...slots].map(([slotName, slot]) => [slotName, slot.status])),
    };
}

function createSlot(slot: CaSlot, config: StackConfig, scope: ResourceScope): Slot {
    // Legacy naming: slot a keeps the name "ca" from before CA rollover existed, because renaming it would
    // change its URN and replace every real CA and certificate already deployed; later slots are ca-<slot>.
    const name = slot === "a" ? "ca" : `ca-${slot}`;
    const commonNamePrefix = slot === "a" ? config.organization : `${config.organization} ${slot.toUpperCase()}`;
    const source = config.caSources[slot];
    const keys = caSourceKeys(slot);
    switch (source.mode) {
        case "generated":
            return {
                authority: new CertificateAuthority(
                    scope.name(name),
                    {
                        organization: config.organization,
                        commonNamePrefix,
                        keyAlgorithm: config.keyAlgorithm,
                        rootLifetime: config.lifetimes.ca,
                        intermediateLifetime: config.intermediateCa ? config.lifetimes.intermediate : undefined,
                    },
                    scope.options(name),
                ),
                ready: true,
                status: `generated${config.intermediateCa ? " (root and intermediate)" : " (root)"}`,
            };
        case "external-root": {
            const authority = new ExternalRootIntermediate(
                scope.name(name),
                {
                    organization: config.organization,
                    commonNamePrefix,
                    keyAlgorithm: config.keyAlgorithm,
                    intermediateCertificatePem: source.intermediateCertificatePem,
                    rootCertificatePem: source.rootCertificatePem,
                    rootCrlPem: source.rootCrlPem,
                    certificateSetting: qualified(keys.intermediateCertificate),
                },
                scope.options(name),
            );
            return {
                authority,
                ready: authority.signed,
                csrPem: authority.csrPem,
                status: authority.signed
                    ? "external-root (intermediate signed by the external root)"
                    : `external-root, waiting: sign the intermediateCsrPem output with the root, set ` +
                      `${qualified(keys.intermediateCertificate)} and ${qualified(keys.rootCertificate)}, run up again`,
            };
        }
        case "import":
            return {
                authority: new ImportedAuthority(
                    scope.name(name),
                    {
                        certificatePem: source.certificatePem,
                        privateKeyPem: pulumi.secret(source.privateKeyPem),
                        chainPem: source.chainPem,
                        chainCrlPem: source.chainCrlPem,
                    },
                    scope.options(name),
                ),
                ready: true,
                status: `import${source.chainPem ? " (with its chain)" : " (a root)"}`,
            };
    }
}

/**
 * While anyone is revoked Nginx checks a CRL for every CA of a chain, and one past its next update
 * refuses every client. The stack re-issues its own CRLs; one signed elsewhere that has expired
 * stops the deployment before any resource is touched. (Validation made sure each is there.)
 */
function checkExternalCrlsFresh(config: StackConfig, now: Date): void {
    if (config.revokedClients.length === 0) {
        return;
    }
    for (const slot of config.trustedCas) {
        const source = config.caSources[slot];
        const crls =
            source.mode === "import"
                ? source.chainCrlPem
                : source.mode === "external-root" && source.intermediateCertificatePem !== ""
                  ? source.rootCrlPem
                  : "";
        const nextUpdate = earliestNextUpdate(crls);
        if (nextUpdate !== undefined && Date.parse(nextUpdate) <= now.getTime()) {
            throw new pulumi.RunError(
                new StackConfigError(
                    caSourceKeys(slot).externalCrl,
                    `holds a CRL that expired at ${nextUpdate} (its next update), and someone is revoked: Nginx ` +
                        `would refuse every client; allowed: a fresh CRL signed by the same CA (openssl ca ` +
                        `-gencrl, see docs/ca-modes.md)`,
                ).message,
            );
        }
    }
}
