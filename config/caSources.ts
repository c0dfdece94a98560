import * as crypto from "crypto";
import type { CaSource } from "../domain/caSource";
import type { CaSlot } from "../domain/pki";
import { pemBlocks, privateKeyBlock } from "../domain/x509";
import { caSourceKeys } from "./caSlotKeys";
import type { ConfigSettings } from "./types";

/** Each slot's source, from valid settings; certificates and CRLs in canonical PEM (whitespace never matters). */
export function caSourcesOf(settings: ConfigSettings): Record<CaSlot, CaSource> {
    const canonicalCertificates = (text: string) =>
        pemBlocks(text, "CERTIFICATE")
            .map((block) => new crypto.X509Certificate(block).toString())
            .join("");
    const canonicalCrls = (text: string) =>
        pemBlocks(text, "X509 CRL")
            .map((block) => {
                const body = block.replace(/-----(BEGIN|END) X509 CRL-----|\s+/g, "");
                const lines = body.match(/.{1,64}/g) ?? [];
                return ["-----BEGIN X509 CRL-----", ...lines, "-----END X509 CRL-----", ""].join("\n");
            })
            .join("");
    const sourceOf = (slot: CaSlot): CaSource => {
        const keys = caSourceKeys(slot);
        switch (settings[keys.mode]) {
            case "generated":
                return { mode: "generated" };
            case "external-root":
                return {
                    mode: "external-root",
                    intermediateCertificatePem: canonicalCertificates(settings[keys.intermediateCertificate]),
                    rootCertificatePem: canonicalCertificates(settings[keys.rootCertificate]),
                    rootCrlPem: canonicalCrls(settings[keys.externalCrl]),
                };
            case "import":
                return {
                    mode: "import",
                    certificatePem: canonicalCertificates(settings[keys.importedCertificate]),
                    privateKeyPem: privateKeyBlock(settings[keys.importedKey]) ?? "",
                    chainPem: canonicalCertificates(settings[keys.importedChain]),
                    chainCrlPem: canonicalCrls(settings[keys.externalCrl]),
                };
        }
    };
    return { a: sourceOf("a"), b: sourceOf("b") };
}
