/** Key algorithms a stack may choose; ECDSA P-256 is the fast default. */
export const keyAlgorithms = ["ECDSA-P256", "ECDSA-P384", "RSA-2048", "RSA-3072", "RSA-4096"] as const;
export type KeyAlgorithm = (typeof keyAlgorithms)[number];

/** The two CA slots a rollover moves between. */
export const caSlots = ["a", "b"] as const;
export type CaSlot = (typeof caSlots)[number];

/** Things with their own validity and renewal window: four certificate kinds and the CRL. */
export const certificateKinds = ["ca", "intermediate", "server", "client", "crl"] as const;
export type CertificateKind = (typeof certificateKinds)[number];

export interface CertificateLifetime {
    /** How long a certificate of this kind is valid, in hours. */
    readonly validityHours: number;
    /** How long before expiry it is due for rotation, in hours. */
    readonly renewBeforeHours: number;
}
