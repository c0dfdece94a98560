import * as assert from "assert";
import { randomBytes } from "crypto";
import { clientCertMaxPemLines, NginxConfigSpec, renderNginxConfig, trustDigest } from "../../nginx/renderNginxConfig";

const base: NginxConfigSpec = {
    serverNames: ["localhost", "mtls.test"],
    listenPort: 443,
    verifyClient: "on",
    verifyDepth: 1,
    workerProcesses: "auto",
    locations: [{ path: "/", requireClientCertificate: true }],
    checkRevocation: false,
    trustDigest: trustDigest("CA bundle", ""),
};

/** The lines of one block, found by its opening line. */
function block(text: string, opening: string): string {
    const start = text.indexOf(opening);
    assert.ok(start >= 0, `no block starting with ${opening}`);
    let depth = 0;
    for (let index = start; index < text.length; index++) {
        if (text[index] === "{") depth++;
        if (text[index] === "}" && --depth === 0) return text.slice(start, index + 1);
    }
    throw new Error(`unclosed block ${opening}`);
}

const proxied: NginxConfigSpec = {
    ...base,
    verifyClient: "optional",
    locations: [
        { path: "/public/", requireClientCertificate: false, proxyPass: "http://app:8080" },
        { path: "/api/", requireClientCertificate: true, proxyPass: "http://app:8080", allowedClients: ["ops"] },
        { path: "/", requireClientCertificate: true },
    ],
};

/** A certificate's PEM as OpenSSL writes it (and Nginx hands it over): 64-character base64 lines. */
function pemOf(der: Buffer): string {
    const lines = der.toString("base64").match(/.{1,64}/g) ?? [];
    return ["-----BEGIN CERTIFICATE-----", ...lines, "-----END CERTIFICATE-----", ""].join("\n");
}

/**
 * The $mtls_client_cert map run in JavaScript: the key is "$ssl_client_verify $ssl_client_raw_cert",
 * the value the map's own value with its captures put in. PCRE's possessive `?+` becomes `?`, which
 * matches the same inputs (JavaScript has no possessive quantifier); "\n" means a newline in both.
 */
function clientCertFor(text: string, verify: string, pem: string): string {
    const map = block(text, 'map "$ssl_client_verify $ssl_client_raw_cert" $mtls_client_cert {');
    const [, pattern, value] = /\n\s+"~([^"]+)"\s+"([^"]+)";/.exec(map)!;
    const match = new RegExp(pattern.replaceAll(")?+", ")?")).exec(`${verify} ${pem}`);
    return match ? value.replace(/\$(\w+)/g, (_, name: string) => match.groups?.[name] ?? "") : "";
}

/** The proxy_set_header lines of a block, as [name, value] in order. */
function proxyHeaders(location: string): [string, string][] {
    return [...location.matchAll(/proxy_set_header (\S+) (.+);/g)].map((match) => [match[1], match[2]]);
}

describe("renderNginxConfig", () => {
    it("is deterministic", () => {
        assert.strictEqual(renderNginxConfig(base), renderNginxConfig({ ...base }));
    });

    it("names the session cache after the trust material, so a revocation or a retired CA empties it", () => {
        const zone = (text: string) => /ssl_session_cache shared:(\w+):10m;/.exec(text)![1];
        const before = zone(renderNginxConfig(base));
        const revoked = zone(renderNginxConfig({ ...base, trustDigest: trustDigest("CA bundle", "a CRL") }));
        const retired = zone(renderNginxConfig({ ...base, trustDigest: trustDigest("another bundle", "") }));
        const sameTrust = zone(
            renderNginxConfig({ ...base, workerProcesses: "2", trustDigest: trustDigest("CA bundle", "") }),
        );
        assert.notStrictEqual(revoked, before, "a new CRL gives a new cache");
        assert.notStrictEqual(retired, before, "a new trust bundle gives a new cache");
        assert.strictEqual(sameTrust, before, "a change that keeps the trust keeps the sessions");
        assert.match(renderNginxConfig(base), /^\s+ssl_session_tickets off;$/m);
        assert.throws(() => renderNginxConfig({ ...base, trustDigest: "x;evil" }), /16 lowercase hex/);
    });

    it("requires client certificates, TLS 1.2/1.3 only, a session cache, and the configured depth", () => {
        const text = renderNginxConfig(base);
        assert.match(text, /^\s+ssl_verify_client on;$/m);
        assert.match(text, /^\s+ssl_verify_depth 1;$/m);
        assert.match(text, /^\s+ssl_protocols TLSv1\.2 TLSv1\.3;$/m);
        assert.match(text, /^\s+ssl_session_cache shared:mtls_[0-9a-f]{16}:10m;$/m);
        assert.match(text, /^\s+ssl_certificate server-chain\.pem;$/m);
        assert.match(text, /^\s+ssl_certificate_key server-key\.pem;$/m);
        assert.match(text, /^\s+ssl_client_certificate client-ca\.pem;$/m);
        assert.match(text, /^worker_processes auto;$/m);
        assert.doesNotMatch(text, /TLSv1(\.1)? /);
        assert.doesNotMatch(text, /ssl_crl/);
    });

    it("offers only forward-secret AEAD ciphers for TLS 1.2", () => {
        const ciphers = /ssl_ciphers ([^;]+);/.exec(renderNginxConfig(base))![1].split(":");
        assert.ok(ciphers.length >= 4);
        for (const cipher of ciphers) {
            assert.match(cipher, /^ECDHE-(ECDSA|RSA)-(AES(128|256)-GCM-SHA(256|384)|CHACHA20-POLY1305)$/);
        }
    });

    it("refuses unknown and missing SNI in a default server", () => {
        const text = renderNginxConfig(base);
        const defaultServer = block(text, "server {");
        assert.match(defaultServer, /listen 443 ssl default_server;/);
        assert.match(defaultServer, /ssl_reject_handshake on;/);
        assert.match(text, /server_name localhost mtls\.test;/);
    });

    it("escapes client names that a map block would read as its own parameters", () => {
        const text = renderNginxConfig({
            ...base,
            locations: [
                {
                    path: "/admin/",
                    requireClientCertificate: true,
                    allowedClients: ["default", "include", "hostnames", "volatile", "alice"],
                },
            ],
        });
        const map = block(text, "map $mtls_client_cn $mtls_allowed_0 {");
        for (const name of ["default", "include", "hostnames", "volatile"]) {
            assert.ok(map.includes(`"\\${name}" 1;`), `${name} escaped:\n${map}`);
        }
        assert.ok(map.includes('"alice" 1;'));
        assert.match(map, /^\s*default 0;$/m, "the map's own default stays");
    });

    it("binds clients to the issuers given, quoting their DNs for Nginx, and only when given", () => {
        assert.doesNotMatch(renderNginxConfig(base), /ssl_client_i_dn|mtls_foreign_issuer|map_hash_bucket_size/);
        const issuers = ["CN=mtls-nginx Intermediate CA,O=mtls-nginx", 'CN=Zo\\C3\\AB \\"q\\",O=Ex\\, Inc.'];
        const text = renderNginxConfig({ ...base, clientIssuers: issuers });
        const map = block(text, "map $ssl_client_i_dn $mtls_issuer_ours {");
        assert.ok(map.includes('        "CN=mtls-nginx Intermediate CA,O=mtls-nginx" 1;'), map);
        // Nginx reads \\ as \ and \" as " inside a quoted string: the DN arrives as Nginx prints it.
        assert.ok(map.includes('        "CN=Zo\\\\C3\\\\AB \\\\\\"q\\\\\\",O=Ex\\\\, Inc." 1;'), map);
        assert.match(text, /^ {4}map_hash_bucket_size (64|128|256);$/m);
        assert.ok(text.indexOf("map_hash_bucket_size") < text.indexOf("map "), "set before the first map");
        const server = block(text, "server {\n        listen 443 ssl;");
        assert.match(server, /if \(\$mtls_foreign_issuer\) \{ return 400; \}/);
        assert.throws(() => renderNginxConfig({ ...base, clientIssuers: [] }), /no client could ever be accepted/);
    });

    it("verifies an https upstream's chain and name, against the set's CAs or the image's bundle", () => {
        const locations = [
            { path: "/secure/", requireClientCertificate: true, proxyPass: "https://api.internal:8443" },
            { path: "/plain/", requireClientCertificate: true, proxyPass: "http://app:8080" },
        ];
        for (const [upstreamTrust, bundle] of [
            [undefined, "/etc/ssl/certs/ca-certificates.crt"],
            ["system", "/etc/ssl/certs/ca-certificates.crt"],
            ["bundle", "upstream-ca.pem"],
        ] as const) {
            const text = renderNginxConfig({ ...base, locations, upstreamTrust });
            const secure = block(text, "location /secure/ {");
            for (const line of [
                "proxy_ssl_verify on;",
                `proxy_ssl_trusted_certificate ${bundle};`,
                "proxy_ssl_server_name on;",
                "proxy_ssl_name $proxy_host;",
                "proxy_ssl_protocols TLSv1.2 TLSv1.3;",
            ]) {
                assert.ok(secure.includes(line), `${upstreamTrust}: ${line}\n${secure}`);
            }
            assert.doesNotMatch(block(text, "location /plain/ {"), /proxy_ssl_/, "plain http has no TLS to verify");
        }
    });

    it("answers a request misdirected to the default server by its Host with 421 and no content", () => {
        const defaultServer = block(renderNginxConfig(base), "server {");
        // A verifying default server makes Nginx answer 421 itself; the return holds regardless.
        assert.match(defaultServer, /ssl_verify_client on;/);
        assert.match(defaultServer, /ssl_client_certificate \S+;/);
        assert.match(defaultServer, /return 421;/);
        assert.match(defaultServer, /root \/nonexistent;/);
        assert.doesNotMatch(defaultServer, /location|proxy_pass/);
    });

    it("logs the client's subject DN, serial and verify result", () => {
        const text = renderNginxConfig(base);
        assert.match(
            text,
            /log_format mtls [^;]*\$ssl_client_s_dn[^;]*\$ssl_client_serial[^;]*\$ssl_client_verify|log_format mtls [^;]*\$ssl_client_verify[^;]*\$ssl_client_s_dn[^;]*\$ssl_client_serial/s,
        );
        assert.match(text, /access_log \/dev\/stdout mtls buffer=64k flush=1s;/);
    });

    it("with verifyClient optional, enforces the certificate only where a location asks for it", () => {
        const text = renderNginxConfig({
            ...base,
            verifyClient: "optional",
            locations: [
                { path: "/healthz", requireClientCertificate: false },
                { path: "/", requireClientCertificate: true },
            ],
        });
        assert.match(text, /ssl_verify_client optional;/);
        assert.doesNotMatch(block(text, "location /healthz {"), /ssl_client_verify/);
        assert.match(block(text, "location / {"), /if \(\$ssl_client_verify != SUCCESS\) \{ return 400; \}/);
    });

    it("with verifyClient on, adds no per-location certificate check", () => {
        assert.doesNotMatch(block(renderNginxConfig(base), "location / {"), /ssl_client_verify/);
    });

    it("renders a CN allowlist per location that answers 403", () => {
        const text = renderNginxConfig({
            ...base,
            locations: [
                { path: "/", requireClientCertificate: true },
                { path: "/admin/", requireClientCertificate: true, allowedClients: ["ops", "alice.b"] },
            ],
        });
        const allowlist = block(text, "map $mtls_client_cn $mtls_allowed_1 {");
        assert.match(allowlist, /default 0;/);
        assert.match(allowlist, /"ops" 1;/);
        assert.match(allowlist, /"alice\.b" 1;/);
        assert.match(block(text, "location /admin/ {"), /if \(\$mtls_allowed_1 = 0\) \{ return 403; \}/);
        assert.doesNotMatch(block(text, "location / {"), /mtls_allowed/);
        assert.doesNotMatch(text, /mtls_allowed_0/);
    });

    it("checks the CRL when revocation is on", () => {
        assert.match(renderNginxConfig({ ...base, checkRevocation: true }), /ssl_crl crl\.pem;/);
    });

    it("proxies with the client's identity in headers", () => {
        const location = block(
            renderNginxConfig({
                ...base,
                locations: [{ path: "/", requireClientCertificate: true, proxyPass: "http://app:8080" }],
            }),
            "location / {",
        );
        assert.match(location, /proxy_pass http:\/\/app:8080;/);
        assert.match(location, /proxy_set_header X-Client-DN \$ssl_client_s_dn;/);
        assert.match(location, /proxy_set_header Client-Cert \$mtls_client_cert;/);
        assert.doesNotMatch(location, /return 200/);
    });

    it("sets or clears every identity header in each proxied location, once, whatever the client sent", () => {
        const text = renderNginxConfig(proxied);
        for (const opening of ["location /public/ {", "location /api/ {"]) {
            const headers = proxyHeaders(block(text, opening));
            const names = headers.map(([name]) => name.toLowerCase());
            assert.deepStrictEqual(names, [...new Set(names)], `${opening} sets a header twice`);
            // proxy_set_header drops the client's copies of a header it names; "" sends none at all.
            assert.deepStrictEqual(
                headers.filter(([name]) => /client|forwarded|real-ip/i.test(name)),
                [
                    ["X-Forwarded-For", "$proxy_add_x_forwarded_for"],
                    ["X-Forwarded-Proto", "https"],
                    ["X-Real-IP", "$remote_addr"],
                    ["Forwarded", '""'],
                    ["X-Client-Verify", "$ssl_client_verify"],
                    ["X-Client-DN", "$ssl_client_s_dn"],
                    ["X-Client-Serial", "$ssl_client_serial"],
                    ["X-Client-CN", "$mtls_client_cn"],
                    ["Client-Cert", "$mtls_client_cert"],
                    ["Client-Cert-Chain", '""'],
                    ["X-Client-Fingerprint", '""'],
                    ["X-Forwarded-Client-Cert", '""'],
                    ["X-SSL-Client-Cert", '""'],
                    ["X-SSL-Client-DN", '""'],
                    ["X-SSL-Client-Verify", '""'],
                    ["X-Forwarded-Tls-Client-Cert", '""'],
                    ["X-Amzn-Mtls-Clientcert", '""'],
                ],
            );
        }
    });

    it("forwards the verified certificate as an RFC 9440 byte sequence of its DER", () => {
        const text = renderNginxConfig(proxied);
        // DER sizes from a tiny certificate up to the limit: partial last line, full last line, every line.
        for (const size of [1, 2, 3, 48, 400, 1234, 2048, 3001, clientCertMaxPemLines * 48]) {
            const der = randomBytes(size);
            assert.strictEqual(clientCertFor(text, "SUCCESS", pemOf(der)), `:${der.toString("base64")}:`, `${size}`);
        }
        const pem = pemOf(randomBytes(700));
        assert.strictEqual(clientCertFor(text, "NONE", ""), "", "no certificate");
        assert.strictEqual(clientCertFor(text, "FAILED:certificate has expired", pem), "", "not verified");
        assert.strictEqual(clientCertFor(text, "SUCCESS", pem.trimEnd()), clientCertFor(text, "SUCCESS", pem));
        const map = block(text, 'map "$ssl_client_verify $ssl_client_raw_cert" $mtls_client_cert {');
        assert.strictEqual((map.match(/\(\?<ccl\d+>/g) ?? []).length, clientCertMaxPemLines);
        assert.strictEqual((map.match(/\)\?\+/g) ?? []).length, clientCertMaxPemLines, "every group possessive");
    });

    it("answers 500 rather than proxy a verified client whose certificate does not fit Client-Cert", () => {
        const text = renderNginxConfig(proxied);
        const unforwardable = block(
            text,
            'map "$ssl_client_verify:$mtls_client_cert" $mtls_client_cert_unforwardable {',
        );
        assert.match(unforwardable, /default 0;/);
        assert.match(unforwardable, /"SUCCESS:" 1;/);
        for (const opening of ["location /public/ {", "location /api/ {"]) {
            const location = block(text, opening);
            const guard = location.indexOf("if ($mtls_client_cert_unforwardable) { return 500; }");
            assert.ok(guard > 0 && guard < location.indexOf("proxy_pass"), `${opening} has no guard before proxying`);
        }
        assert.doesNotMatch(block(text, "location / {"), /unforwardable/);
        // Without a proxied location, Nginx need not compile the map's regex.
        assert.doesNotMatch(renderNginxConfig(base), /mtls_client_cert|ssl_client_raw_cert/);
    });

    it("keeps every token under the 4 KiB Nginx reads", () => {
        for (const token of renderNginxConfig(proxied).match(/"[^"]*"|[^\s"]+/g) ?? []) {
            assert.ok(token.length < 4096 - 100, `a token of ${token.length} bytes: ${token.slice(0, 60)}...`);
        }
    });

    it("serves no files: a root that does not exist, and 404 for paths no location declares", () => {
        for (const verifyClient of ["on", "optional"] as const) {
            const text = renderNginxConfig({
                ...base,
                verifyClient,
                locations: [{ path: "/app/", requireClientCertificate: true }],
            });
            // Both servers: the mTLS one, and the catch-all a misdirected Host lands in.
            assert.deepStrictEqual(text.match(/^\s*root .*$/gm), [
                "        root /nonexistent;",
                "        root /nonexistent;",
            ]);
            assert.doesNotMatch(text, /\/usr\/share\/nginx|\/var\/www|\b(alias|try_files|autoindex) /);
            const catchAll = block(text, "location / {");
            assert.match(catchAll, /return 404;/);
            assert.doesNotMatch(catchAll, /return 200|proxy_pass/);
            // With "optional", no certificate means 400 first, as on a protected location.
            assert.strictEqual(
                /if \(\$ssl_client_verify != SUCCESS\) \{ return 400; \}\s+return 404;/.test(catchAll),
                verifyClient === "optional",
            );
        }
    });

    it("adds no catch-all where / is declared: the declared location keeps answering every path", () => {
        for (const requireClientCertificate of [true, false]) {
            const text = renderNginxConfig({
                ...base,
                verifyClient: "optional",
                locations: [{ path: "/", requireClientCertificate }],
            });
            assert.strictEqual(text.match(/location \/ \{/g)?.length, 1);
            assert.doesNotMatch(block(text, "location / {"), /return 404/);
            assert.match(text, /^\s+root \/nonexistent;$/m);
        }
    });

    it("uses the given depth, worker count and port", () => {
        const text = renderNginxConfig({ ...base, verifyDepth: 2, workerProcesses: "4", listenPort: 8443 });
        assert.match(text, /ssl_verify_depth 2;/);
        assert.match(text, /worker_processes 4;/);
        assert.match(text, /listen 8443 ssl;/);
    });

    it("balances its braces", () => {
        for (const spec of [
            { ...base, locations: [{ path: "/", requireClientCertificate: true, allowedClients: ["a"] }] },
            { ...proxied, locations: proxied.locations.slice(0, 2) },
        ]) {
            const text = renderNginxConfig(spec);
            assert.strictEqual((text.match(/\{/g) ?? []).length, (text.match(/\}/g) ?? []).length);
        }
    });
});
