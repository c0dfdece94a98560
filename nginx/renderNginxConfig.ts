import { createHash } from "crypto";
import { classicalDefaultGroups } from "../domain/keyExchange";
import { endpointFiles, nginxPidFile, systemTrustBundle } from "./files";

/** One location block, as validated from stack config. */
export interface NginxLocation {
    /** Location prefix, e.g. "/" or "/api/". */
    readonly path: string;
    /** Client CNs allowed here; absent: every verified client. */
    readonly allowedClients?: readonly string[];
    /** With verifyClient "optional": whether this location demands a verified certificate. */
    readonly requireClientCertificate: boolean;
    /** Upstream URL; absent: Nginx answers itself. */
    readonly proxyPass?: string;
}

/** Plain data in: everything the rendered config depends on. */
export interface NginxConfigSpec {
    /** Names the mTLS server answers to (SNI); any other name is refused at the handshake. */
    readonly serverNames: readonly string[];
    /** Port Nginx listens on. */
    readonly listenPort: number;
    /** "on": every request needs a verified client certificate; "optional": enforced per location. */
    readonly verifyClient: "on" | "optional";
    /** Maximum client chain depth: 1 for a root CA, 2 with an intermediate. */
    readonly verifyDepth: number;
    /** "auto" or a number. */
    readonly workerProcesses: string;
    readonly locations: readonly NginxLocation[];
    /** Whether a CRL file is present and checked. */
    readonly checkRevocation: boolean;
    /**
     * Digest of what decides who is trusted: the client CA bundle and the CRLs (see `trustDigest`).
     * It names the session cache, so a change of trust starts an empty cache.
     */
    readonly trustDigest: string;
    /**
     * TLS key exchange groups, most preferred first (OpenSSL names); absent: the classical curves.
     * A post-quantum hybrid (X25519MLKEM768) needs OpenSSL 3.5 in the image.
     */
    readonly keyExchangeGroups?: readonly string[];
    /**
     * Subject DNs (RFC 2253, as Nginx prints $ssl_client_i_dn) of the CAs whose clients these are,
     * when the trusted CAs also vouch for others (an external root, an imported CA's chain): a
     * certificate that verifies but was issued by any other CA is refused with 400. Absent: every
     * certificate that verifies is a client.
     */
    readonly clientIssuers?: readonly string[];
    /**
     * What an https upstream's certificate must chain to: "bundle", the set's own upstream-ca.pem
     * (stack config gave CAs), or "system" (default), the image's CA bundle.
     */
    readonly upstreamTrust?: "bundle" | "system";
    /** Directory the certificate files live in; absent: next to nginx.conf (relative names). */
    readonly fileDirectory?: string;
}

// Mozilla "intermediate" profile for TLS 1.2; TLS 1.3 suites are fixed by OpenSSL and all strong.
const tls12Ciphers = [
    "ECDHE-ECDSA-AES128-GCM-SHA256",
    "ECDHE-RSA-AES128-GCM-SHA256",
    "ECDHE-ECDSA-AES256-GCM-SHA384",
    "ECDHE-RSA-AES256-GCM-SHA384",
    "ECDHE-ECDSA-CHACHA20-POLY1305",
    "ECDHE-RSA-CHACHA20-POLY1305",
].join(":");

/**
 * The request headers that tell an upstream who called, and the value each gets. Nginx sends these
 * instead of any copy the client sent: `proxy_set_header` drops every inbound header of the same
 * name (case-insensitively, duplicates too), and an empty value sends none. Without a verified
 * certificate all but X-Client-Verify (then "NONE") are empty, so absent.
 */
export const upstreamIdentityHeaders = {
    "X-Client-Verify": "$ssl_client_verify",
    "X-Client-DN": "$ssl_client_s_dn",
    "X-Client-Serial": "$ssl_client_serial",
    "X-Client-CN": "$mtls_client_cn",
    // RFC 9440: the DER certificate, base64, as a Structured Field Byte Sequence (":...:").
    "Client-Cert": "$mtls_client_cert",
    // RFC 9440's chain header: Nginx exposes the client's leaf only, never the intermediates it sent.
    "Client-Cert-Chain": "",
    // No fingerprint header: Nginx core computes SHA-1 only ($ssl_client_fingerprint), and SHA-256
    // would need njs or Perl. An upstream hashes the DER from Client-Cert itself. Both names an
    // upstream might look for are cleared: ours, and Envoy's, whose Hash field is a SHA-256.
    "X-Client-Fingerprint": "",
    "X-Forwarded-Client-Cert": "",
    // Names other proxies use for the same facts (Apache and HAProxy setups, Traefik, AWS ALB): an
    // upstream written for one of them must not find a value the client made up.
    "X-SSL-Client-Cert": "",
    "X-SSL-Client-DN": "",
    "X-SSL-Client-Verify": "",
    "X-Forwarded-Tls-Client-Cert": "",
    "X-Amzn-Mtls-Clientcert": "",
} as const;

/**
 * The request headers that tell an upstream where the request came from. X-Forwarded-For keeps
 * Nginx's usual form (what the client sent, then the address Nginx saw): an upstream trusts its last
 * entry only. X-Real-IP is the address Nginx saw, never the client's copy. Forwarded (RFC 7239) is
 * cleared: it would repeat these facts, and a client's own copy must not reach an upstream that
 * reads it.
 */
export const upstreamForwardingHeaders = {
    Host: "$host",
    "X-Forwarded-For": "$proxy_add_x_forwarded_for",
    "X-Forwarded-Proto": "https",
    "X-Real-IP": "$remote_addr",
    Forwarded: "",
} as const;

/**
 * How many base64 lines a client certificate's PEM may have for Client-Cert: 128 lines of 64
 * characters, 6 KiB of DER (an RSA-4096 leaf of an RSA-4096 CA is about 1.5 KiB). A verified
 * certificate beyond that is refused with 500 on proxied locations rather than forwarded without
 * its Client-Cert. Bounded by Nginx, which reads no config token longer than 4 KiB.
 */
export const clientCertMaxPemLines = 128;

/** Text body a location answers with when it has no upstream; the smoke test looks for it. */
export function greetingFor(clientName: string): string {
    return `mtls-nginx: hello ${clientName}`;
}

/**
 * Renders the complete nginx.conf for the endpoint. Pure: same spec, same text, so a
 * config change shows in `pulumi preview` as exactly the file diff and nothing else.
 */
export function renderNginxConfig(spec: NginxConfigSpec): string {
    // Relative names resolve against nginx.conf's own directory: a file set checked with `nginx -t`
    // in its staging place is exactly the set that serves once `live` points at it.
    const file = (name: string): string => (spec.fileDirectory ? `${spec.fileDirectory}/${name}` : name);
    return [
        "# Rendered by mtls-nginx (nginx/renderNginxConfig.ts). Do not edit: `pulumi up` rewrites it.",
        `worker_processes ${spec.workerProcesses};`,
        `pid ${nginxPidFile};`,
        "error_log stderr warn;",
        "",
        "events {",
        "    worker_connections 4096;",
        "}",
        "",
        "http {",
        ...renderHttpSettings(spec),
        "",
        ...renderClientMaps(spec),
        "",
        ...renderTlsSettings(spec),
        "",
        ...renderDefaultServer(spec.listenPort, file(endpointFiles.clientTrustBundle)),
        "",
        ...renderMtlsServer(spec, file),
        "}",
        "",
    ].join("\n");
}

/** The http block's own settings and the access log that names who called. */
function renderHttpSettings(spec: NginxConfigSpec): string[] {
    return [
        "    server_tokens off;",
        // Before the first map: the issuer DNs are longer than the default bucket holds.
        ...(spec.clientIssuers ? [`    map_hash_bucket_size ${mapBucketSizeFor(spec.clientIssuers)};`] : []),
        "    default_type text/plain;",
        "    charset utf-8;",
        "    keepalive_timeout 65s;",
        "    keepalive_requests 10000;",
        "    client_max_body_size 10m;",
        "",
        "    # Who called, as the certificate says: subject DN, serial and the verification result.",
        "    log_format mtls '$remote_addr [$time_iso8601] \"$request\" $status $body_bytes_sent '",
        "                    'client_verify=$ssl_client_verify client_dn=\"$ssl_client_s_dn\" '",
        "                    'client_serial=$ssl_client_serial tls=$ssl_protocol session_reused=$ssl_session_reused '",
        "                    'group=$ssl_curve';",
        "    # Buffered: an unbuffered line per request costs the Docker log pipeline more CPU than Nginx itself.",
        "    access_log /dev/stdout mtls buffer=64k flush=1s;",
    ];
}

/** The variables the locations decide on: the client's CN, the allowlists, the issuers, Client-Cert. */
function renderClientMaps(spec: NginxConfigSpec): string[] {
    const allowlistMaps = spec.locations.flatMap((location, index) =>
        location.allowedClients ? [renderAllowlistMap(index, location.allowedClients)] : [],
    );
    const proxies = spec.locations.some((location) => location.proxyPass !== undefined);
    return [
        "    # The client's CN, taken from the RFC 2253 subject DN.",
        "    map $ssl_client_s_dn $mtls_client_cn {",
        '        default "";',
        '        "~(^|,)CN=(?<cn>[^,]+)" $cn;',
        "    }",
        ...allowlistMaps,
        ...(spec.clientIssuers ? renderIssuerMaps(spec.clientIssuers) : []),
        ...(proxies ? ["", ...renderClientCertMaps()] : []),
    ];
}

/** Protocols, ciphers, key exchange groups and session resumption, for every server. */
function renderTlsSettings(spec: NginxConfigSpec): string[] {
    return [
        "    ssl_protocols TLSv1.2 TLSv1.3;",
        `    ssl_ciphers ${tls12Ciphers};`,
        "    ssl_prefer_server_ciphers off;",
        `    ssl_ecdh_curve ${(spec.keyExchangeGroups ?? classicalDefaultGroups).join(":")};`,
        "    # Resumption through a shared cache (stateful, TLS 1.2 and 1.3); no ticket keys to rotate or leak.",
        "    # A resumed session skips certificate verification, and Nginx keeps a cache zone of the same name",
        "    # across reloads. Naming the zone after the trust material means that a revocation or a retired CA",
        "    # empties the cache: every later connection verifies its certificate against the new CRL and CAs.",
        `    ssl_session_cache shared:${sessionCacheZone(spec.trustDigest)}:10m;`,
        "    ssl_session_timeout 1h;",
        "    ssl_session_tickets off;",
    ];
}

/** The server our names reach: client verification, the certificate files, and the locations. */
function renderMtlsServer(spec: NginxConfigSpec, file: (name: string) => string): string[] {
    return [
        "    server {",
        `        listen ${spec.listenPort} ssl;`,
        `        server_name ${spec.serverNames.join(" ")};`,
        "",
        `        ssl_certificate ${file(endpointFiles.serverCertificateChain)};`,
        `        ssl_certificate_key ${file(endpointFiles.serverPrivateKey)};`,
        `        ssl_client_certificate ${file(endpointFiles.clientTrustBundle)};`,
        `        ssl_verify_client ${spec.verifyClient};`,
        `        ssl_verify_depth ${spec.verifyDepth};`,
        ...(spec.checkRevocation ? [`        ssl_crl ${file(endpointFiles.certificateRevocationList)};`] : []),
        "",
        '        add_header Strict-Transport-Security "max-age=63072000" always;',
        '        add_header X-Content-Type-Options "nosniff" always;',
        ...(spec.clientIssuers
            ? [
                  "        # A certificate that verifies, but from a CA the trusted ones vouch for that is not ours.",
                  "        if ($mtls_foreign_issuer) { return 400; }",
              ]
            : []),
        "        # No location serves files. Without this, Nginx's compiled-in root holds the image's own pages.",
        "        root /nonexistent;",
        "",
        ...spec.locations.flatMap((location, index) =>
            renderLocation(location, index, spec.verifyClient, upstreamTrustOf(spec, file)),
        ),
        ...(spec.locations.some((location) => location.path === "/") ? [] : renderUndeclaredPaths(spec.verifyClient)),
        "    }",
    ];
}

/**
 * The catch-all server. Any SNI name but ours (and no SNI at all) is refused at the handshake. A
 * request can still land here after a handshake with our name: Nginx picks the server for a request
 * by its Host (or an absolute-form target) once the handshake is done. Because this server verifies
 * clients, Nginx itself answers such a request 421 Misdirected Request; `return 421` holds whatever
 * Nginx decides, and the root names no directory, so the image's own pages are never served.
 */
function renderDefaultServer(listenPort: number, clientTrustBundle: string): string[] {
    return [
        "    # Any name but ours (and no SNI at all) is refused at the handshake. A request whose Host names",
        "    # another server than the handshake's SNI lands here too: it gets 421, never content.",
        "    server {",
        `        listen ${listenPort} ssl default_server;`,
        "        ssl_reject_handshake on;",
        "        ssl_verify_client on;",
        `        ssl_client_certificate ${clientTrustBundle};`,
        "        root /nonexistent;",
        "        return 421;",
        "    }",
    ];
}

/**
 * A short digest of the client trust bundle and the CRLs, in the form the renderer expects.
 * Same inputs, same digest: a deployment that changes neither keeps its sessions.
 */
export function trustDigest(clientTrustBundlePem: string, certificateRevocationListPem: string): string {
    return createHash("sha256")
        .update(clientTrustBundlePem)
        .update("\0")
        .update(certificateRevocationListPem)
        .digest("hex")
        .slice(0, 16);
}

function sessionCacheZone(digest: string): string {
    if (!/^[0-9a-f]{16}$/.test(digest)) {
        throw new Error(`trustDigest must be 16 lowercase hex digits (from trustDigest()), got "${digest}"`);
    }
    return `mtls_${digest}`;
}

/**
 * $mtls_foreign_issuer: 1 for a verified certificate whose issuer is not one of `issuers`. The DNs
 * are compared as text, as Nginx prints them (and, like every map key, regardless of case).
 */
function renderIssuerMaps(issuers: readonly string[]): string[] {
    if (issuers.length === 0) {
        throw new Error("clientIssuers is empty: no client could ever be accepted");
    }
    const quoted = (text: string) => `"${text.replace(/[\\"]/g, (character) => `\\${character}`)}"`;
    return [
        "    # The CAs whose certificates are clients of this endpoint (subject DNs, RFC 2253).",
        "    map $ssl_client_i_dn $mtls_issuer_ours {",
        "        default 0;",
        ...[...new Set(issuers)].map((issuer) => `        ${quoted(issuer)} 1;`),
        "    }",
        '    map "$ssl_client_verify:$mtls_issuer_ours" $mtls_foreign_issuer {',
        "        default 0;",
        '        "SUCCESS:0" 1;',
        "    }",
    ];
}

/** A map hash bucket that holds the longest key: a power of two, at least Nginx's default of 64. */
function mapBucketSizeFor(keys: readonly string[]): number {
    const longest = Math.max(64, ...keys.map((key) => Buffer.byteLength(key) + 32));
    return 2 ** Math.ceil(Math.log2(longest));
}

/** Words a map block reads as its own parameters, not as a source value, unless escaped. */
const mapParameters = new Set(["default", "hostnames", "include", "volatile"]);

function renderAllowlistMap(index: number, allowedClients: readonly string[]): string {
    // A client may be named like a map parameter ("default", "include"): the backslash makes it a value.
    const source = (name: string) => (mapParameters.has(name) ? `\\${name}` : name);
    return [
        `    map $mtls_client_cn $mtls_allowed_${index} {`,
        "        default 0;",
        ...allowedClients.map((name) => `        "${source(name)}" 1;`),
        "    }",
    ].join("\n");
}

/**
 * $mtls_client_cert: the Client-Cert value, or empty without a verified certificate. Nginx core
 * offers the certificate only as PEM ($ssl_client_raw_cert: 64-character base64 lines between
 * armour lines) and has no substitution, so one regex captures each base64 line and the value joins
 * them. Possessive groups (`?+`) never give a line back, which keeps a failed match linear.
 * $mtls_client_cert_unforwardable: a verified certificate that does not fit the regex.
 */
function renderClientCertMaps(): string[] {
    const names = Array.from({ length: clientCertMaxPemLines }, (_, index) => `ccl${index + 1}`);
    const lines = names.map((name) => `(?:(?<${name}>[\\w+/=]+)\\n)?+`).join("");
    const pattern = `~^SUCCESS -----BEGIN CERTIFICATE-----\\n${lines}-----END CERTIFICATE-----\\n?$`;
    return [
        "    # RFC 9440 Client-Cert for upstreams: the verified certificate's DER, base64, between colons.",
        '    map "$ssl_client_verify $ssl_client_raw_cert" $mtls_client_cert {',
        '        default "";',
        `        "${pattern}"`,
        `            ":${names.map((name) => `$${name}`).join("")}:";`,
        "    }",
        '    map "$ssl_client_verify:$mtls_client_cert" $mtls_client_cert_unforwardable {',
        "        default 0;",
        '        "SUCCESS:" 1;',
        "    }",
    ];
}

/** A catch-all for paths no location declares: 404, never a file; 400 first without a certificate. */
function renderUndeclaredPaths(verifyClient: "on" | "optional"): string[] {
    return [
        '        # Paths no location declares. With "optional", the certificate check comes first, so that a',
        "        # client without one cannot tell an undeclared path from a protected one.",
        "        location / {",
        ...(verifyClient === "optional" ? ["            if ($ssl_client_verify != SUCCESS) { return 400; }"] : []),
        "            return 404;",
        "        }",
        "",
    ];
}

/** The CA file an https upstream is verified against. */
function upstreamTrustOf(spec: NginxConfigSpec, file: (name: string) => string): string {
    return spec.upstreamTrust === "bundle" ? file(endpointFiles.upstreamTrustBundle) : systemTrustBundle;
}

/**
 * An https upstream is verified as a browser would: its chain against `trustedCertificate`, its name
 * against the proxyPass host (sent as SNI too), TLS 1.2 or 1.3 only. Nginx's default verifies nothing.
 */
function renderUpstreamTls(trustedCertificate: string): string[] {
    return [
        "            proxy_ssl_verify on;",
        "            proxy_ssl_verify_depth 4;",
        `            proxy_ssl_trusted_certificate ${trustedCertificate};`,
        "            proxy_ssl_server_name on;",
        "            proxy_ssl_name $proxy_host;",
        "            proxy_ssl_protocols TLSv1.2 TLSv1.3;",
    ];
}

function renderLocation(
    location: NginxLocation,
    index: number,
    verifyClient: "on" | "optional",
    upstreamTrust: string,
): string[] {
    const guards: string[] = [];
    if (verifyClient === "optional" && location.requireClientCertificate) {
        // "optional" lets a request without a certificate through the handshake; refuse it here.
        guards.push("            if ($ssl_client_verify != SUCCESS) { return 400; }");
    }
    if (location.allowedClients) {
        guards.push(`            if ($mtls_allowed_${index} = 0) { return 403; }`);
    }
    if (location.proxyPass) {
        // Never proxy a verified client without its certificate: an upstream could take it for anonymous.
        guards.push("            if ($mtls_client_cert_unforwardable) { return 500; }");
    }
    const answer = location.proxyPass
        ? [
              `            proxy_pass ${location.proxyPass};`,
              ...(location.proxyPass.startsWith("https://") ? renderUpstreamTls(upstreamTrust) : []),
              ...Object.entries({ ...upstreamForwardingHeaders, ...upstreamIdentityHeaders }).map(
                  ([name, value]) => `            proxy_set_header ${name} ${value === "" ? '""' : value};`,
              ),
          ]
        : location.requireClientCertificate
          ? [`            return 200 "${greetingFor("$mtls_client_cn")}\\n";`]
          : ['            return 200 "mtls-nginx: ok\\n";'];
    return [`        location ${location.path} {`, ...guards, ...answer, "        }", ""];
}
