import { CaMode, caModes } from "../domain/caSource";
import type { CaSlot } from "../domain/pki";
import { caSourceKeys, MaterialKind } from "./caSlotKeys";
import { pemCertificates, pemCrls, pemPrivateKey } from "./caPemChecks";
import type { ConfigKey } from "./types";
import { Check, oneOf, text } from "./values";

// The declarations of each CA slot's keys (config/configTable.ts lists them).

/** Like the slot a key, for slot b: the description says so and nothing more. */
const forSlotB = (slot: CaSlot, name: string, description: string) =>
    slot === "a" ? description : `Like ${name}, for CA slot b.`;

export function caModeKey(slot: CaSlot): ConfigKey<CaMode> {
    return {
        type: "string",
        description: forSlotB(
            slot,
            "caMode",
            "Where CA slot a comes from: generated (by the stack), external-root (an intermediate whose CSR a root " +
                "held elsewhere signs) or import (an existing CA with its key).",
        ),
        default: "generated",
        parse: oneOf(caModes),
    };
}

const materialDescriptions: Record<MaterialKind, string> = {
    intermediateCertificate:
        "external-root: the PEM certificate the root signed for the intermediateCsrPem output; empty until then.",
    rootCertificate: "external-root: the PEM certificate of the root that signed externalIntermediateCertificate.",
    externalCrl:
        "PEM CRLs signed by the CAs above the stack's CA, whose keys it does not hold (the external root; each " +
        "importedCaChain CA); required while revokedClients is not empty.",
    importedCertificate: "import: the PEM certificate of the CA that issues the leaves.",
    importedKey: "import: the CA's PEM private key; set it as a secret (pulumi config set --secret).",
    importedChain: "import: the PEM certificates above importedCaCertificate up to its root (empty for a root).",
};

const materialChecks: Record<MaterialKind, Check> = {
    intermediateCertificate: pemCertificates({ single: true }),
    rootCertificate: pemCertificates({ single: true }),
    externalCrl: pemCrls,
    importedCertificate: pemCertificates({ single: true }),
    importedKey: pemPrivateKey,
    importedChain: pemCertificates({ single: false }),
};

export function caMaterialKey(slot: CaSlot, kind: MaterialKind): ConfigKey<string> {
    return {
        type: "string",
        description: forSlotB(slot, caSourceKeys("a")[kind], materialDescriptions[kind]),
        default: "",
        parse: text(materialChecks[kind]),
    };
}
