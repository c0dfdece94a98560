import * as crypto from "crypto";
import { CaMode, caModes, CaSource } from "../domain/caSource";
import { CaSlot, caSlots } from "../domain/pki";
import {
    hasSubjectKeyIdentifier,
    isIssuedBy,
    isSelfSigned,
    parseCrl,
    pemBlocks,
    pemLabels,
    privateKeyBlock,
    sameKey,
} from "../domain/x509";
import type { ConfigKey, ConfigSettings } from "./configTable";
import { ConfigProblems } from "./problems";
import { Check, oneOf, text } from "./values";

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

type SlotKeys = ReturnType<typeof caSourceKeys>;
/** Every key of both slots: StackConfig holds them folded into `caSources`. */
export type CaSourceKey = SlotKeys[keyof SlotKeys];
export const caSourceKeyNames: readonly string[] = caSlots.flatMap((slot) => Object.values(caSourceKeys(slot)));

type MaterialKind = Exclude<keyof SlotKeys, "mode">;

// ---- Declarations (config/configTable.ts lists them) ----

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

// ---- Shape of one value ----

/**
 * What is wrong with a value that should hold PEM blocks of the allowed labels only: a block of
 * another label first, then no block at all, then text outside the blocks. Messages never quote
 * the value (it may be a key).
 */
function pemShape(value: string, allowed: readonly string[], found: number, noun: string): string | undefined {
    const stray = pemLabels(value).find((label) => !allowed.includes(label));
    if (stray !== undefined) {
        return `holds a "${stray}" PEM block`;
    }
    if (found === 0) {
        return `is not a PEM ${noun}`;
    }
    const rest = value.replace(/-----BEGIN ([A-Z0-9 ]+)-----[A-Za-z0-9+/=\s]+?-----END \1-----/g, "");
    return rest.trim() === "" ? undefined : "holds text outside its PEM blocks";
}

function pemCertificates(options: { single: boolean }): Check {
    const allowed = options.single
        ? 'empty, or one PEM certificate ("-----BEGIN CERTIFICATE-----" block)'
        : 'empty, or PEM certificates ("-----BEGIN CERTIFICATE-----" blocks)';
    return (value) => {
        if (value.trim() === "") {
            return undefined;
        }
        const blocks = pemBlocks(value, "CERTIFICATE");
        const shape = pemShape(value, ["CERTIFICATE"], blocks.length, "certificate");
        if (shape !== undefined || (options.single && blocks.length > 1)) {
            return `${shape ?? `holds ${blocks.length} certificates`}; allowed: ${allowed}`;
        }
        for (const block of blocks) {
            try {
                new crypto.X509Certificate(block);
            } catch {
                return `holds a certificate that does not parse; allowed: ${allowed}`;
            }
        }
        return undefined;
    };
}

function pemCrls(value: string): string | undefined {
    const allowed = 'empty, or PEM CRLs ("-----BEGIN X509 CRL-----" blocks, from openssl ca -gencrl)';
    if (value.trim() === "") {
        return undefined;
    }
    const blocks = pemBlocks(value, "X509 CRL");
    const shape = pemShape(value, ["X509 CRL"], blocks.length, "CRL");
    if (shape !== undefined) {
        return `${shape}; allowed: ${allowed}`;
    }
    for (const block of blocks) {
        try {
            if (parseCrl(block).nextUpdate === undefined) {
                return `holds a CRL without a next update (its expiry could not be watched); allowed: ${allowed}`;
            }
        } catch (error) {
            return `holds a CRL that does not parse (${(error as Error).message}); allowed: ${allowed}`;
        }
    }
    return undefined;
}

function pemPrivateKey(value: string): string | undefined {
    const allowed = "empty, or an unencrypted PEM private key (PKCS#8, EC or RSA)";
    if (value.trim() === "") {
        return undefined;
    }
    if (pemLabels(value).some((label) => label.includes("ENCRYPTED"))) {
        return `is encrypted; allowed: ${allowed}`;
    }
    const block = privateKeyBlock(value);
    const labels = ["PRIVATE KEY", "EC PRIVATE KEY", "RSA PRIVATE KEY", "EC PARAMETERS"];
    const shape = pemShape(value, labels, block === undefined ? 0 : 1, "private key");
    if (block === undefined || shape !== undefined) {
        return `${shape}; allowed: ${allowed}`;
    }
    try {
        crypto.createPrivateKey(block);
    } catch {
        return `does not parse as a private key; allowed: ${allowed}`;
    }
    return undefined;
}

// ---- Across keys ----

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
                    }; allowed: CRLs those CAs signed (openssl ca -gencrl, see README "Bring your own CA")`,
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
                        `-gencrl, see README "Bring your own CA")`,
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
