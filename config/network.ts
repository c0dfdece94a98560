import * as net from "net";
import { Check, show, stringList } from "./values";

const labelPattern = /^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$/;
const dnsNameAllowed =
    "a DNS name of dot-separated labels (letters, digits and inner '-', 1-63 characters each), " +
    "253 characters in all, no trailing dot, a top-level label that is not all digits";

/**
 * Why a host name cannot work, or undefined. `wildcard`: a single leading "*." is allowed (a
 * certificate SAN and an Nginx server_name take it); anywhere else a "*" matches nothing.
 */
export function dnsNameProblem(name: string, options: { wildcard: boolean }): string | undefined {
    if (net.isIP(name) !== 0 || net.isIP(name.replace(/^\[|\]$/g, "")) !== 0) {
        return "is an IP address";
    }
    if (name.endsWith(".")) {
        return "ends with a dot";
    }
    if (name.length > 253) {
        return `is ${name.length} characters long (more than 253)`;
    }
    const base = options.wildcard && name.startsWith("*.") ? name.slice(2) : name;
    if (base.includes("*")) {
        return options.wildcard ? 'has a wildcard other than one leading "*."' : "has a wildcard";
    }
    const labels = base.split(".");
    for (const label of labels) {
        if (label.length === 0) {
            return "has an empty label";
        }
        if (label.length > 63) {
            return `has a label of ${label.length} characters (more than 63)`;
        }
        if (!labelPattern.test(label)) {
            return `has label ${show(label)}, which is not letters, digits and inner '-'`;
        }
    }
    if (/^[0-9]+$/.test(labels[labels.length - 1])) {
        return "ends in an all-numeric label (no top-level domain is all digits)";
    }
    if (base !== name && labels.length < 2) {
        // CA/Browser Forum Baseline Requirements 3.2.2.6: no wildcard right below a top-level domain.
        return `is a wildcard for a whole top-level domain ("*.${base}"), which no certificate authority issues`;
    }
    return undefined;
}

/** The server's primary name: a DNS name, never a wildcard or an IP address. */
export const checkServerName: Check = (name) => {
    const problem = dnsNameProblem(name, { wildcard: false });
    return problem === undefined
        ? undefined
        : `${show(name)} is not a DNS name: it ${problem}; allowed: ${dnsNameAllowed}, no wildcard ` +
              "(IP addresses go in mtls-nginx:serverIpAddresses)";
};

/** Extra SAN names: DNS names, unique regardless of case (DNS compares names case-insensitively). */
export const serverDnsNameList = stringList({
    noun: "DNS name",
    item: (name) => {
        const problem = dnsNameProblem(name, { wildcard: true });
        return problem === undefined
            ? undefined
            : `${show(name)} is not a DNS name: it ${problem}; allowed: ${dnsNameAllowed}, optionally starting ` +
                  'with one "*." (IP addresses go in mtls-nginx:serverIpAddresses)';
    },
    sameness: {
        normalize: (name) => name.toLowerCase(),
        why: "DNS names compare case-insensitively",
        qualifier: "regardless of case",
    },
});

/** Why a literal IP address cannot work, or undefined. */
export function ipAddressProblem(address: string): string | undefined {
    if (address.includes("%")) {
        return "has an IPv6 zone ID (certificates, Docker and Nginx take none)";
    }
    if (/^[0-9.]+$/.test(address) && address.split(".").some((part) => /^0[0-9]/.test(part))) {
        return "has an IPv4 part with a leading zero (some tools read it as octal)";
    }
    if (net.isIP(address) === 0) {
        return "is not an IP address";
    }
    return undefined;
}

const ipAddressAllowed = "an IPv4 address (no leading zeros) or an IPv6 address (no zone ID)";

/** One IP address, e.g. where the endpoint is published. */
export const checkIpAddress: Check = (address) => {
    const problem = ipAddressProblem(address);
    return problem === undefined
        ? undefined
        : `${show(address)} ${problem}; allowed: ${ipAddressAllowed}, e.g. 127.0.0.1 or 0.0.0.0`;
};

/** The canonical text of an address: "0:0::1" and "::1" are the same SAN. */
export function normalizeIpAddress(address: string): string {
    if (net.isIPv6(address)) {
        try {
            return new URL(`http://[${address}]/`).hostname;
        } catch {
            return address.toLowerCase();
        }
    }
    return address;
}

/** IP SANs, unique once normalized. */
export const serverIpAddressList = stringList({
    noun: "address",
    item: checkIpAddress,
    sameness: {
        normalize: normalizeIpAddress,
        why: "the same address written differently",
        qualifier: "compared as addresses, not as text",
    },
});

const upstreamAllowed =
    "an http:// or https:// URL with a host (a DNS name, an IPv4 address or an [IPv6] address), " +
    "an optional port 1-65535 and an optional path of letters, digits and -._~%/:@!*+,=; " +
    "no user@, ?query or #fragment";

/**
 * Why Nginx cannot proxy to this URL, or undefined. The host and port are checked on the text as
 * written: a WHATWG URL parser would quietly rewrite "1.2.3" or "0x7f.1", Nginx would not.
 */
export function upstreamUrlProblem(url: string): string | undefined {
    const match = /^([A-Za-z][A-Za-z0-9+.-]*):\/\/([^/?#]*)(.*)$/s.exec(url);
    if (match === null) {
        return "is not a URL";
    }
    const [, scheme, authority, rest] = match;
    if (!/^https?$/i.test(scheme)) {
        return `has scheme ${show(scheme)}`;
    }
    if (authority.includes("@")) {
        return "has user information (user@)";
    }
    const hostAndPort = /^(\[[^\]]*\]|[^:]*)(?::([^:]*))?$/.exec(authority);
    if (hostAndPort === null) {
        return "has an IPv6 address without [brackets] or more than one port";
    }
    const [, host, port] = hostAndPort;
    if (host === "" || host === "[]") {
        return "has no host";
    }
    const hostProblem = host.startsWith("[")
        ? (ipAddressProblem(host.slice(1, -1)) ?? (net.isIPv6(host.slice(1, -1)) ? undefined : "is not IPv6"))
        : /^[0-9.]+$/.test(host)
          ? ipAddressProblem(host)
          : dnsNameProblem(host, { wildcard: false });
    if (hostProblem !== undefined) {
        return `has host ${show(host)}, which ${hostProblem}`;
    }
    if (/^https$/i.test(scheme) && (host.startsWith("[") || /^[0-9.]+$/.test(host))) {
        // Nginx checks an upstream's certificate against a host name only (X509_check_host): never an IP SAN.
        return (
            `has the IP address ${show(host)} with https, and Nginx verifies an https upstream by its DNS name ` +
            "only (every request would get 502)"
        );
    }
    if (port !== undefined && (!/^[0-9]{1,5}$/.test(port) || Number(port) < 1 || Number(port) > 65535)) {
        return `has port ${show(port)}`;
    }
    if (rest.includes("?")) {
        return "has a query string";
    }
    if (rest.includes("#")) {
        return "has a fragment";
    }
    if (!/^[A-Za-z0-9._~%/:@!*+,=-]*$/.test(rest)) {
        return "has a path with characters Nginx would misread (spaces, quotes, ';', '$', braces)";
    }
    if (/%(?![0-9A-Fa-f]{2})/.test(rest)) {
        return "has a '%' that is not a %XX escape";
    }
    try {
        new URL(url);
    } catch {
        return "is not a URL";
    }
    return undefined;
}

/** An upstream for proxy_pass. */
export const checkUpstreamUrl: Check = (url) => {
    const problem = upstreamUrlProblem(url);
    return problem === undefined ? undefined : `${show(url)} ${problem}; allowed: ${upstreamAllowed}`;
};
