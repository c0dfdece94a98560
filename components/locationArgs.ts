/** One Nginx location of an MtlsEndpoint (the `locations` arg; validated like the stack config's). */
export interface LocationArgs {
    /** Nginx location prefix, e.g. "/" or "/api/". */
    path: string;
    /** Client names allowed here; an authenticated client not listed gets 403. Absent: every valid client. */
    allowedClients?: string[];
    /** With verifyClient "optional": false makes this location public (no certificate needed). Default: true. */
    requireClientCertificate?: boolean;
    /** Upstream URL to proxy to; absent: Nginx answers 200 itself. */
    proxyPass?: string;
}
