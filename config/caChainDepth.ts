import type { CaMode } from "../domain/caSource";
import { caSlots } from "../domain/pki";
import { pemBlocks } from "../domain/x509";
import { caSourceKeys } from "./caSlotKeys";
import type { ConfigProblems } from "./problems";
import type { ConfigSettings } from "./types";

// How deep Nginx must verify for the CA slots: verifyDepth's computed default, and the rule that it is deep enough.

/** Certificates from the leaf's issuer to the root: how deep Nginx must verify for a slot. */
function chainDepth(mode: CaMode | undefined, intermediateCa: boolean, importedChain: string | undefined): number {
    switch (mode) {
        case "external-root":
            return 2;
        case "import":
            return 1 + pemBlocks(importedChain ?? "", "CERTIFICATE").length;
        default:
            return intermediateCa ? 2 : 1;
    }
}

/** verifyDepth's default: the deepest chain either slot can issue (a deeper limit than needed does no harm). */
export function defaultVerifyDepth(settings: Readonly<Record<string, unknown>>): number | undefined {
    if (typeof settings.intermediateCa !== "boolean") {
        return undefined;
    }
    return Math.max(
        ...caSlots.map((slot) => {
            const keys = caSourceKeys(slot);
            return chainDepth(
                settings[keys.mode] as CaMode | undefined,
                settings.intermediateCa as boolean,
                settings[keys.importedChain] as string | undefined,
            );
        }),
    );
}

/** Rollover concern, for slots that are not generated: Nginx must verify as deep as their chains. */
export function validateCaDepth(settings: Partial<ConfigSettings>, problems: ConfigProblems): void {
    const { verifyDepth, trustedCas, intermediateCa } = settings;
    if (verifyDepth === undefined || trustedCas === undefined || intermediateCa === undefined) {
        return;
    }
    for (const slot of trustedCas) {
        const keys = caSourceKeys(slot);
        const mode = settings[keys.mode];
        const depth = chainDepth(mode, intermediateCa, settings[keys.importedChain]);
        if (mode !== undefined && mode !== "generated" && verifyDepth < depth) {
            problems.add(
                "verifyDepth",
                `${verifyDepth} is too shallow for CA slot ${slot} (${keys.mode} ${mode}: chains ${depth} CA ` +
                    `certificate${depth === 1 ? "" : "s"} deep); allowed: ${depth} to 10`,
            );
        }
    }
}
