/** Pure helpers that tell a client how to reach the endpoint from the deploying machine. */

export interface EndpointAddress {
    /** Name the server answers to (sent as SNI, checked against the certificate). */
    readonly serverName: string;
    /** Address the port is published on (0.0.0.0 / :: mean every interface). */
    readonly publishAddress: string;
    readonly publishPort: number;
}

/** The address a client on the deploying machine connects to. */
export function connectAddress(endpoint: EndpointAddress): string {
    if (endpoint.publishAddress === "0.0.0.0") {
        return "127.0.0.1";
    }
    if (endpoint.publishAddress === "::") {
        return "::1";
    }
    return endpoint.publishAddress;
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
 * come from the stack outputs (see the README: caCertificatePem, clientCertificatePems, ...).
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
