import { CaSlot, caSlots } from "../domain/pki";

/** The config keys of one CA slot: slot a's are plain, slot b's end in "B". */
export function caSourceKeys(slot: CaSlot) {
    const suffix: "" | "B" = slot === "a" ? "" : "B";
    return {
        mode: `caMode${suffix}`,
        intermediateCertificate: `externalIntermediateCertificate${suffix}`,
        rootCertificate: `externalRootCertificate${suffix}`,
        externalCrl: `externalRootCrl${suffix}`,
        importedCertificate: `importedCaCertificate${suffix}`,
        importedKey: `importedCaKey${suffix}`,
        importedChain: `importedCaChain${suffix}`,
    } as const;
}

export type SlotKeys = ReturnType<typeof caSourceKeys>;
/** Every key of both slots: StackConfig holds them folded into `caSources`. */
export type CaSourceKey = SlotKeys[keyof SlotKeys];
export const caSourceKeyNames: readonly string[] = caSlots.flatMap((slot) => Object.values(caSourceKeys(slot)));

/** What a slot's keys other than its mode hold: certificates, a key or CRLs. */
export type MaterialKind = Exclude<keyof SlotKeys, "mode">;
