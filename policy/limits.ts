import type { PolicyConfigSchema } from "@pulumi/policy";
import type { HardeningLimits } from "./containers";
import type { ClientVerificationLimits } from "./nginxConfig";
import type { KeyAlgorithmLimits, KeySizeLimits, ValidityLimits } from "./pki";

/**
 * Each policy's limits, with the defaults an organisation would start from. An operator changes them
 * in a policy config file (`pulumi preview --policy-pack policy --policy-pack-config limits.json`),
 * `{"<policy name>": {"<limit>": value}}`; the schemas below are what the CLI validates it against.
 */
export const defaultLimits = {
    "key-algorithm": {
        allowedAlgorithms: ["ECDSA", "RSA"],
        allowedEcdsaCurves: ["P256", "P384"],
    } satisfies KeyAlgorithmLimits,
    // 112-bit security (RSA-2048) is acceptable only through 2030 (NIST SP 800-57 part 1); a 10-year
    // CA issued today outlives that, so the floor is 128-bit security: RSA-3072.
    "key-size": { minimumRsaBits: 3072 } satisfies KeySizeLimits,
    "certificate-validity": {
        maxRootCaHours: 87600, // 10 years
        maxIntermediateCaHours: 43800, // 5 years
        maxServerHours: 9552, // 398 days, the CA/Browser Forum ceiling for TLS server certificates
        maxClientHours: 8760, // 1 year
    } satisfies ValidityLimits,
    "tls-protocol-floor": { allowedProtocols: ["TLSv1.2", "TLSv1.3"] },
    "client-certificate-verification": {
        allowedModes: ["on", "optional"],
        publicLocations: ["/healthz"],
    } satisfies ClientVerificationLimits,
    "container-hardening": {
        allowedCapabilities: ["CHOWN", "NET_BIND_SERVICE", "SETGID", "SETUID"],
        maximumMemoryMb: 1024,
    } satisfies HardeningLimits,
};

export type PolicyName = keyof typeof defaultLimits;

const stringList = (description: string, values: readonly string[], allowed?: readonly string[]) => ({
    type: "array" as const,
    items: allowed ? { type: "string" as const, enum: [...allowed] } : { type: "string" as const },
    uniqueItems: true,
    default: [...values],
    description,
});

const hours = (description: string, value: number) => ({
    type: "integer" as const,
    minimum: 1,
    default: value,
    description,
});

const validity = defaultLimits["certificate-validity"];

export const configSchemas: Record<PolicyName, PolicyConfigSchema> = {
    "key-algorithm": {
        properties: {
            allowedAlgorithms: stringList(
                "Key algorithms allowed (@pulumi/tls names).",
                defaultLimits["key-algorithm"].allowedAlgorithms,
                ["ECDSA", "RSA", "ED25519"],
            ),
            allowedEcdsaCurves: stringList(
                "ECDSA curves allowed (@pulumi/tls names).",
                defaultLimits["key-algorithm"].allowedEcdsaCurves,
                ["P224", "P256", "P384", "P521"],
            ),
        },
    },
    "key-size": {
        properties: {
            minimumRsaBits: {
                type: "integer",
                minimum: 1024,
                default: defaultLimits["key-size"].minimumRsaBits,
                description: "Smallest RSA modulus allowed, in bits.",
            },
        },
    },
    "certificate-validity": {
        properties: {
            maxRootCaHours: hours("Longest root CA validity, in hours.", validity.maxRootCaHours),
            maxIntermediateCaHours: hours(
                "Longest intermediate CA validity, in hours.",
                validity.maxIntermediateCaHours,
            ),
            maxServerHours: hours("Longest server certificate validity, in hours.", validity.maxServerHours),
            maxClientHours: hours("Longest client certificate validity, in hours.", validity.maxClientHours),
        },
    },
    "tls-protocol-floor": {
        properties: {
            allowedProtocols: stringList(
                "Protocols ssl_protocols may enable.",
                defaultLimits["tls-protocol-floor"].allowedProtocols,
                ["SSLv2", "SSLv3", "TLSv1", "TLSv1.1", "TLSv1.2", "TLSv1.3"],
            ),
        },
    },
    "client-certificate-verification": {
        properties: {
            allowedModes: stringList(
                "ssl_verify_client values allowed.",
                defaultLimits["client-certificate-verification"].allowedModes,
                ["on", "optional", "optional_no_ca", "off"],
            ),
            publicLocations: stringList(
                'Location paths that may answer without a verified client certificate under "optional".',
                defaultLimits["client-certificate-verification"].publicLocations,
            ),
        },
    },
    "container-hardening": {
        properties: {
            allowedCapabilities: stringList(
                "Capabilities a container may add back after dropping ALL.",
                defaultLimits["container-hardening"].allowedCapabilities,
            ),
            maximumMemoryMb: {
                type: "integer",
                minimum: 1,
                default: defaultLimits["container-hardening"].maximumMemoryMb,
                description: "Largest memory limit allowed, in MiB (a limit must be set).",
            },
        },
    },
};

/** A policy's limits: its configured values over the defaults. */
export function limitsOf<Name extends PolicyName>(
    name: Name,
    configured: Record<string, unknown>,
): (typeof defaultLimits)[Name] {
    return { ...defaultLimits[name], ...configured };
}
