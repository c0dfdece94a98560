import * as crypto from "crypto";
import { CaMode, caModes } from "../domain/caSource";
import { CaSlot, caSlots } from "../domain/pki";
import {
    hasSubjectKeyIdentifier,
    isIssuedBy,
    isSelfSigned,
    parseCrl,
    pemBlocks,
    privateKeyBlock,
    sameKey,
} from "../domain/x509";
import { caSourceKeys, MaterialKind, SlotKeys } from "./caSlotKeys";
import type { ConfigProblems } from "./problems";
import type { ConfigSettings } from "./types";

// Across keys: what each slot's mode needs, and how its certificates, key and CRLs fit together.

/** The slot's material keys a mode does not use (externalRootCrl serves both modes that take material). */
const unusedBy: Record<CaMode, MaterialKind[]> = {
    generated: [
        "intermediateCertificate",
        "rootCertificate",
        "externalCrl",
        "importedCertificate",
        "importedKey",
        "importedChain",
    ],
    "external-root": ["importedCertificate", "importedKey", "importedChain"],
    import: ["intermediateCertificate", "rootCertificate"],
};

/**
 * CA source concern: each slot's mode gets the material it needs and no other; certificates chain
 * as they claim, keys match their certificates, every CA whose key the stack lacks brings a CRL
 * while anyone is revoked, a slot still waiting for its signed certificate issues nothing while
 * another CA is trusted, and verifyDepth covers every trusted chain.
 */
export function validateCaModes(settings: Partial<ConfigSettings>, problems: ConfigProblems): void {
    for (const slot of caSlots) {
        const keys = caSourceKeys(slot);
        const mode = settings[keys.mode];
        if (mode === undefined) {
            continue;
        }
        for (const kind of unusedBy[mode]) {
            const value = settings[keys[kind]];
            if (value !== undefined && value.trim() !== "") {
                const users = caModes.filter((candidate) => !unusedBy[candidate].includes(kind));
                problems.add(
                    keys[kind],
                    `is only used with ${keys.mode} ${users.join(" or ")}; allowed: empty with ${keys.mode} "${mode}"`,
                );
            }
        }
        const check = new SlotCheck(slot, settings, problems);
        if (mode === "external-root") {
            check.externalRoot();
        } else if (mode === "import") {
            check.imported();
        }
    }
}

/** The checks of one slot, with what it needs from the other keys. */
class SlotCheck {
    private readonly keys: SlotKeys;
    /** CRLs are deployed (someone is revoked) and this slot's CAs are in the chain Nginx checks. */
    private readonly needsCrls: boolean;

    constructor(
        private readonly slot: CaSlot,
        private readonly settings: Partial<ConfigSettings>,
        private readonly problems: ConfigProblems,
    ) {
        this.keys = caSourceKeys(slot);
        this.needsCrls = (settings.revokedClients?.length ?? 0) > 0 && (settings.trustedCas ?? []).includes(slot);
    }

    externalRoot(): void {
        const { keys, settings, problems } = this;
        const root = this.certificate(keys.rootCertificate);
        const intermediate = this.certificate(keys.intermediateCertificate);
        if (root) {
            if (!root.ca || !isSelfSigned(root)) {
                problems.add(
                    keys.rootCertificate,
                    `is not a root (a self-signed CA certificate); allowed: the certificate of the root that signs ` +
                        `the intermediate`,
                );
            }
        }
        if (intermediate) {
            if (!settings[keys.rootCertificate]?.trim()) {
                problems.add(
                    keys.rootCertificate,
                    `is required once ${keys.intermediateCertificate} is set; allowed: the PEM certificate of the ` +
                        `root that signed it`,
                );
            }
            this.issuingCa(keys.intermediateCertificate, intermediate);
            if (root && !isIssuedBy(intermediate, root)) {
                problems.add(
                    keys.intermediateCertificate,
                    `is not signed by ${keys.rootCertificate}; allowed: the certificate that root signed for the ` +
                        `intermediateCsrPem output`,
                );
            }
        } else if (settings[keys.intermediateCertificate] !== undefined) {
            this.waiting();
        }
        // A CRL is needed for the root only once the intermediate (which it covers) is in the chain.
        this.externalCrls(root ? [root] : [], intermediate !== undefined);
    }

    imported(): void {
        const { keys, settings, problems } = this;
        for (const key of [keys.importedCertificate, keys.importedKey]) {
            if (settings[key] !== undefined && settings[key].trim() === "") {
                problems.add(
                    key,
                    `is required with ${keys.mode} import; allowed: ${
                        key === keys.importedKey
                            ? "the CA's PEM private key, set as a secret"
                            : "the PEM certificate of the CA"
                    }`,
                );
            }
        }
        const certificate = this.certificate(keys.importedCertificate);
        if (!certificate) {
            return;
        }
        this.issuingCa(keys.importedCertificate, certificate);
        const keyBlock = privateKeyBlock(settings[keys.importedKey] ?? "");
        if (keyBlock !== undefined && !sameKey(crypto.createPrivateKey(keyBlock), certificate)) {
            problems.add(
                keys.importedKey,
                `does not belong to ${keys.importedCertificate} (their public keys differ); allowed: that ` +
                    `certificate's own private key`,
            );
        }
        const chainText = settings[keys.importedChain];
        if (chainText === undefined) {
            return;
        }
        const chain = chainText.trim() === "" ? [] : pemBlocks(chainText, "CERTIFICATE").map(parseCertificate);
        if (isSelfSigned(certificate)) {
            if (chain.length > 0) {
                problems.add(
                    keys.importedChain,
                    `must be empty: ${keys.importedCertificate} is a root (self-signed); allowed: empty`,
                );
            }
        } else if (!chainsToRoot(certificate, chain)) {
            problems.add(
                keys.importedChain,
                `${chain.length === 0 ? "is required" : "does not chain"}: ${keys.importedCertificate} is not ` +
                    `self-signed, and Nginx verifies up to a root; allowed: the PEM certificates above it, its ` +
                    `issuer first, each signed by the next, ending with a self-signed root`,
            );
            return;
        }
        this.externalCrls(chain, true);
    }

    /** A parsed certificate, or undefined when the key is empty or already reported. */
    private certificate(key: string): crypto.X509Certificate | undefined {
        const value = this.settings[key as keyof ConfigSettings];
        return typeof value === "string" && value.trim() !== "" ? parseCertificate(value) : undefined;
    }

    /** The CA that issues leaves and whose CRLs the stack signs (openssl names it by key identifier). */
    private issuingCa(key: string, certificate: crypto.X509Certificate): void {
        if (!certificate.ca) {
            this.problems.add(key, "is not a CA certificate; allowed: a certificate with basicConstraints CA:TRUE");
        } else if (!hasSubjectKeyIdentifier(certificate)) {
            this.problems.add(
                key,
                "has no subject key identifier (the CRLs the stack signs name it); allowed: a CA certificate " +
                    "issued with subjectKeyIdentifier = hash",
            );
        }
    }

    /** A slot waiting for its signed certificate can issue nothing: only while no other CA is trusted. */
    private waiting(): void {
        const { settings, slot, keys } = this;
        const others = (settings.trustedCas ?? []).filter((other) => other !== slot);
        if (settings.activeCa === slot && others.length > 0) {
            this.problems.add(
                "activeCa",
                `"${slot}" waits for its signed certificate (${keys.intermediateCertificate} is empty) while CA ` +
                    `${others.join(", ")} is trusted; allowed: ${others.join(", ")} until the root has signed ` +
                    `the intermediateCsrPem output and ${keys.intermediateCertificate} holds the result`,
            );
        }
    }

    /** CRLs of the CAs whose keys the stack lacks: each signed by one of them, one per CA while revoking. */
    private externalCrls(issuers: crypto.X509Certificate[], inChain: boolean): void {
        const { keys, settings, problems } = this;
        const text = settings[keys.externalCrl];
        if (text === undefined) {
            return;
        }
        const crls = pemBlocks(text, "X509 CRL").map(parseCrl);
        if (issuers.length === 0 && crls.length > 0 && settings[keys.mode] === "import") {
            problems.add(
                keys.externalCrl,
                `is only used when ${keys.importedCertificate} has a chain: the stack signs the imported CA's own ` +
                    `CRL with its key; allowed: empty`,
            );
            return;
        }
        for (const crl of crls) {
            if (issuers.length > 0 && !issuers.some((issuer) => crl.signedBy(issuer))) {
                problems.add(
                    keys.externalCrl,
                    `holds a CRL not signed by ${
                        settings[keys.mode] === "import" ? `a CA of ${keys.importedChain}` : keys.rootCertificate
                    }; allowed: CRLs those CAs signed (openssl ca -gencrl, see docs/ca-modes.md)`,
                );
                return;
            }
        }
        if (!this.needsCrls || !inChain) {
            return;
        }
        for (const issuer of issuers) {
            if (!crls.some((crl) => crl.signedBy(issuer))) {
                problems.add(
                    keys.externalCrl,
                    `is required while revokedClients is not empty: Nginx checks a CRL for every CA of a chain and ` +
                        `refuses every client when one is missing, and the stack does not hold the key of ` +
                        `"${issuer.subject.replace(/\n/g, ", ")}"; allowed: a CRL that CA signed (openssl ca ` +
                        `-gencrl, see docs/ca-modes.md)`,
                );
            }
        }
    }
}

function parseCertificate(block: string): crypto.X509Certificate {
    return new crypto.X509Certificate(pemBlocks(block, "CERTIFICATE")[0] ?? block);
}

/** Whether `chain` (issuer first) leads from `certificate` to a self-signed root, each signed by the next. */
function chainsToRoot(certificate: crypto.X509Certificate, chain: crypto.X509Certificate[]): boolean {
    let current = certificate;
    for (const issuer of chain) {
        if (!isIssuedBy(current, issuer) || !issuer.ca) {
            return false;
        }
        current = issuer;
    }
    return chain.length > 0 && isSelfSigned(current);
}
