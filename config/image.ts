import * as net from "net";
import { Check, show } from "./values";

// Docker's reference grammar (distribution/reference):
//   reference := name [":" tag] ["@" digest]
//   name      := [domain "/"] path-component ["/" path-component]*
//   domain    := host [":" port], host a domain name or an [IPv6] address
//   path-component := [a-z0-9]+ (separator [a-z0-9]+)*, separator := [_.] | "__" | "-"+
//   tag       := [\w][\w.-]{0,127}
const domainComponent = "(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])";
const domainPattern = new RegExp(
    `^(?:${domainComponent}(?:\\.${domainComponent})*|\\[([0-9A-Fa-f:.]+)\\])(?::[0-9]+)?$`,
);
const pathComponentPattern = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;
const tagPattern = /^[\w][\w.-]{0,127}$/;
const digestPattern = /^(?:sha256:[a-f0-9]{64}|sha384:[a-f0-9]{96}|sha512:[a-f0-9]{128})$/;
const nameMaxLength = 255;

const imageAllowed =
    "[registry[:port]/]path[:tag][@sha256:<64 hex digits>], the path lowercase components of a-z and 0-9 " +
    "joined by '.', '_', '__' or '-' and separated by '/', a tag of 1-128 letters, digits, '_', '.' or '-' " +
    `not starting with '.' or '-', the name at most ${nameMaxLength} characters`;

/** Why Docker would refuse this image reference, or undefined. */
export function imageReferenceProblem(reference: string): string | undefined {
    let rest = reference;
    const at = rest.indexOf("@");
    if (at >= 0) {
        const digest = rest.slice(at + 1);
        if (!digestPattern.test(digest)) {
            return `has digest ${show(digest)}, not sha256: and 64 lowercase hex digits`;
        }
        rest = rest.slice(0, at);
    }
    const colon = rest.lastIndexOf(":");
    if (colon > rest.lastIndexOf("/")) {
        const tag = rest.slice(colon + 1);
        if (!tagPattern.test(tag)) {
            return `has tag ${show(tag)}`;
        }
        rest = rest.slice(0, colon);
    }
    if (rest.length === 0) {
        return "has no name";
    }
    if (rest.length > nameMaxLength) {
        return `has a name of ${rest.length} characters`;
    }
    // Like Docker: the first component is a registry when it has a '.' or ':', is "localhost" or has capitals.
    const slash = rest.indexOf("/");
    const first = slash >= 0 ? rest.slice(0, slash) : "";
    const hasDomain = slash >= 0 && (/[.:]/.test(first) || first === "localhost" || first !== first.toLowerCase());
    if (hasDomain) {
        const domain = domainPattern.exec(first);
        if (domain === null || (domain[1] !== undefined && !net.isIPv6(domain[1]))) {
            return `has registry ${show(first)}, which is not a host name or [IPv6] address with an optional port`;
        }
    }
    const path = hasDomain ? rest.slice(slash + 1) : rest;
    if (path !== path.toLowerCase()) {
        return "has capitals in its repository path (Docker wants it lowercase)";
    }
    for (const component of path.split("/")) {
        if (!pathComponentPattern.test(component)) {
            return `has path component ${show(component)}`;
        }
    }
    return undefined;
}

/** The image the container runs. */
export const checkImageReference: Check = (reference) => {
    const problem = imageReferenceProblem(reference);
    return problem === undefined
        ? undefined
        : `${show(reference)} is not a Docker image reference: it ${problem}; allowed: ${imageAllowed}`;
};

/**
 * What an image's OpenSSL is known to offer for key exchange: "hybrid" (3.5 or later, with ML-KEM),
 * "classical" (older), or undefined when the reference does not say. Known from the tag: a Debian 13
 * (trixie) base has OpenSSL 3.5; Debian 12 (bookworm) and older have 3.0 or less; the official
 * nginx images up to 1.27 are built on those (or on Alpine releases before OpenSSL 3.5).
 */
export function imageKeyExchange(reference: string): "hybrid" | "classical" | undefined {
    const withoutDigest = reference.split("@")[0];
    const colon = withoutDigest.lastIndexOf(":");
    const tag = colon > withoutDigest.lastIndexOf("/") ? withoutDigest.slice(colon + 1) : "latest";
    const name = colon > withoutDigest.lastIndexOf("/") ? withoutDigest.slice(0, colon) : withoutDigest;
    if (/trixie|forky/.test(tag)) {
        return "hybrid";
    }
    if (/bookworm|bullseye|buster|stretch/.test(tag)) {
        return "classical";
    }
    const official = /^(?:(?:docker\.io|registry-1\.docker\.io)\/)?(?:library\/)?nginx$/.test(name);
    const version = /^1\.(\d+)(?:[.-]|$)/.exec(tag);
    if (official && version !== null && Number(version[1]) <= 27) {
        return "classical";
    }
    return undefined;
}
