import * as assert from "assert";
import { NginxConfigSpec, renderNginxConfig, trustDigest } from "../../nginx/renderNginxConfig";

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
        assert.doesNotMatch(location, /return 200/);
    });

    it("uses the given depth, worker count and port", () => {
        const text = renderNginxConfig({ ...base, verifyDepth: 2, workerProcesses: "4", listenPort: 8443 });
        assert.match(text, /ssl_verify_depth 2;/);
        assert.match(text, /worker_processes 4;/);
        assert.match(text, /listen 8443 ssl;/);
    });

    it("balances its braces", () => {
        const text = renderNginxConfig({
            ...base,
            locations: [{ path: "/", requireClientCertificate: true, allowedClients: ["a"] }],
        });
        assert.strictEqual((text.match(/\{/g) ?? []).length, (text.match(/\}/g) ?? []).length);
    });
});
