/**
 * TLS key exchange groups, as OpenSSL and Nginx's `ssl_ecdh_curve` name them. The hybrids pair a
 * classical curve with ML-KEM (FIPS 203): a recorded session stays secret even against a future
 * quantum computer ("harvest now, decrypt later"), and as long as either half holds. OpenSSL offers
 * them from 3.5 on.
 */
export const hybridGroups = ["X25519MLKEM768", "SecP256r1MLKEM768", "SecP384r1MLKEM1024"] as const;
export const classicalGroups = ["X25519", "prime256v1", "secp384r1", "secp521r1", "X448"] as const;
export type KeyExchangeGroup = (typeof hybridGroups)[number] | (typeof classicalGroups)[number];

/** Every group the stack may list, hybrids first. */
export const keyExchangeGroups: readonly KeyExchangeGroup[] = [...hybridGroups, ...classicalGroups];

/** For an image whose OpenSSL predates ML-KEM, or is unknown: the classical curves, fastest first. */
export const classicalDefaultGroups: readonly KeyExchangeGroup[] = ["X25519", "prime256v1", "secp384r1"];

/** For an image on OpenSSL 3.5 or later: the hybrid first, the classical curves as fallbacks. */
export const hybridFirstGroups: readonly KeyExchangeGroup[] = ["X25519MLKEM768", ...classicalDefaultGroups];

export function isHybridGroup(group: string): boolean {
    return (hybridGroups as readonly string[]).includes(group);
}
