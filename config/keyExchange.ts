import { classicalGroups, isHybridGroup, keyExchangeGroups } from "../domain/keyExchange";
import { imageKeyExchange } from "./image";
import type { ConfigProblems } from "./problems";
import type { ConfigSettings } from "./types";
import { show, stringList } from "./values";

/** The groups Nginx offers: names OpenSSL knows, each once. */
export const keyExchangeGroupList = stringList({
    noun: "group",
    emptyMessage: `is empty; allowed: a list of ${keyExchangeGroups.join(", ")}`,
    item: (group) =>
        (keyExchangeGroups as readonly string[]).includes(group)
            ? undefined
            : `${show(group)} is not a key exchange group; allowed: ${keyExchangeGroups.join(", ")}`,
});

/**
 * Key exchange concern, across keys: a hybrid group needs an image on OpenSSL 3.5 or later (Nginx
 * would refuse the whole config at start), and a list with a hybrid keeps a classical fallback for the
 * clients that offer none.
 */
export function validateKeyExchange(settings: Partial<ConfigSettings>, problems: ConfigProblems): void {
    const { keyExchangeGroups: groups, image } = settings;
    if (groups === undefined) {
        return;
    }
    const hybrids = groups.filter(isHybridGroup);
    if (hybrids.length === 0) {
        return;
    }
    if (image !== undefined && imageKeyExchange(image) === "classical") {
        problems.add(
            "keyExchangeGroups",
            `lists ${hybrids.join(", ")}, which image ${show(image)} cannot offer (its OpenSSL is older than 3.5); ` +
                `allowed: classical groups (${classicalGroups.join(", ")}), or an image on OpenSSL 3.5 or later ` +
                "(Debian 13 trixie based)",
        );
    }
    if (hybrids.length === groups.length) {
        problems.add(
            "keyExchangeGroups",
            `lists only post-quantum hybrids (${hybrids.join(", ")}), which clients without ML-KEM cannot use; ` +
                `allowed: the same with a classical fallback after them, e.g. ${[...hybrids, "X25519"].join(", ")}`,
        );
    }
}
