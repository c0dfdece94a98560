/** How Nginx asks for client certificates. */
export const verifyClientModes = ["on", "optional"] as const;
export type VerifyClientMode = (typeof verifyClientModes)[number];

/** One Nginx location of the endpoint. */
export interface LocationConfig {
    /** Nginx location prefix, e.g. "/" or "/api/". */
    readonly path: string;
    /** Client CNs allowed here; an authenticated client not listed gets 403. Absent: every valid client. */
    readonly allowedClients?: string[];
    /** With verifyClient "optional": false makes this location public (no certificate needed). */
    readonly requireClientCertificate: boolean;
    /** Upstream URL to proxy to; absent: Nginx answers 200 itself. */
    readonly proxyPass?: string;
}

/** The fields a location may set. */
export const locationFields = ["path", "allowedClients", "requireClientCertificate", "proxyPass"] as const;

/** What the smoke test requests during `pulumi up`: a path, as a client allowed there. */
export interface SmokeProbe {
    readonly clientName: string;
    readonly path: string;
}
