/** Pure helpers that tell a client how to reach the endpoint from the deploying machine. */

export interface EndpointAddress {
    /** Name the server answers to (sent as SNI, checked against the certificate). */
    readonly serverName: string;
    /** Address the port is published on (0.0.0.0 / :: mean every interface). */
    readonly publishAddress: string;
    readonly publishPort: number;
    /** The Docker engine's URL (dockerHost); empty: the local engine. */
    readonly dockerHost?: string;
}

/**
 * The address a client on the deploying machine connects to: the published address, or for a
 * wildcard, the engine's host (a remote engine publishes on its own interfaces, not ours).
 */
export function connectAddress(endpoint: EndpointAddress): string {
    const wildcard = endpoint.publishAddress === "0.0.0.0" || endpoint.publishAddress === "::";
    if (!wildcard) {
        return endpoint.publishAddress;
    }
    const engineHost = remoteEngineHost(endpoint.dockerHost ?? "");
    if (engineHost) {
        return engineHost;
    }
    return endpoint.publishAddress === "::" ? "::1" : "127.0.0.1";
}

/** The host part of a tcp:// or ssh:// engine URL; undefined for the local socket. */
function remoteEngineHost(dockerHost: string): string | undefined {
    if (!/^(tcp|ssh):\/\//.test(dockerHost)) {
        return undefined;
    }
    return new URL(dockerHost).hostname.replace(/^\[|\]$/g, "");
}

export function endpointUrl(endpoint: EndpointAddress, path = "/"): string {
    const port = endpoint.publishPort === 443 ? "" : `:${endpoint.publishPort}`;
    return `https://${endpoint.serverName}${port}${path}`;
}

/** curl's --resolve pins the name to the published address, so no DNS entry is needed. */
export function resolveArgument(endpoint: EndpointAddress): string {
    const address = connectAddress(endpoint);
    const bracketed = address.includes(":") ? `[${address}]` : address;
    return `${endpoint.serverName}:${endpoint.publishPort}:${bracketed}`;
}

/**
 * A ready-to-paste curl line for a client, with hostname verification on. The files it names
 * come from the stack outputs (see docs/outputs.md: caCertificatePem, clientCertificatePems, ...).
 */
export function curlCommand(endpoint: EndpointAddress, clientName: string, path = "/"): string {
    return [
        "curl",
        "--cacert ca.pem",
        `--cert ${clientName}.crt`,
        `--key ${clientName}.key`,
        `--resolve ${resolveArgument(endpoint)}`,
        endpointUrl(endpoint, path),
    ].join(" ");
}
