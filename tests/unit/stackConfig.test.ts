import * as assert from "assert";
import * as path from "path";
import { RawStackConfig, StackConfigError, validateStackConfig } from "../../config/stackConfig";

const context = { stack: "unit", projectDirectory: "/srv/mtls" };
const validate = (raw: RawStackConfig) => validateStackConfig(raw, context);

describe("validateStackConfig", () => {
    it("fills every default for an empty config", () => {
        const config = validate({});
        assert.strictEqual(config.serverName, "localhost");
        assert.deepStrictEqual(config.serverDnsNames, ["localhost"]);
        assert.deepStrictEqual(config.serverIpAddresses, ["127.0.0.1"]);
        assert.deepStrictEqual(config.clients, ["client-1"]);
        assert.strictEqual(config.keyAlgorithm, "ECDSA-P256");
        assert.strictEqual(config.intermediateCa, false);
        assert.strictEqual(config.verifyDepth, 1);
        assert.strictEqual(config.verifyClient, "on");
        assert.deepStrictEqual(config.locations, [{ path: "/", requireClientCertificate: true }]);
        assert.strictEqual(config.containerName, "mtls-nginx-unit");
        assert.strictEqual(config.hostDirectory, path.join("/srv/mtls", ".mtls-nginx", "unit"));
        assert.strictEqual(config.publishPort, 8443);
        assert.deepStrictEqual(config.lifetimes.client, { validityHours: 8760, renewBeforeHours: 720 });
    });

    it("derives verify depth 2 from an intermediate CA", () => {
        assert.strictEqual(validate({ intermediateCa: "true" }).verifyDepth, 2);
    });

    it("accepts config values as the strings the Pulumi config gives", () => {
        const config = validate({
            publishPort: "9443",
            intermediateCa: "false",
            clientValidityHours: "48",
            clientRenewBeforeHours: "12",
        });
        assert.strictEqual(config.publishPort, 9443);
        assert.strictEqual(config.intermediateCa, false);
        assert.strictEqual(config.lifetimes.client.validityHours, 48);
    });

    it("keeps the server name as the first DNS SAN and removes repeats", () => {
        const config = validate({
            serverName: "api.example.com",
            serverDnsNames: ["api.example.com", "alt.example.com"],
        });
        assert.deepStrictEqual(config.serverDnsNames, ["api.example.com", "alt.example.com"]);
    });

    it("accepts a full optional-verification setup with an allowlist", () => {
        const config = validate({
            verifyClient: "optional",
            clients: ["a", "b"],
            locations: [
                { path: "/healthz", requireClientCertificate: false },
                { path: "/admin/", allowedClients: ["b"] },
            ],
        });
        assert.strictEqual(config.locations[1].allowedClients?.[0], "b");
        assert.strictEqual(config.locations[0].requireClientCertificate, false);
    });

    // Each bad input: the key the message must name, and a fragment saying what is allowed.
    const badInputs: Array<[string, RawStackConfig, string, RegExp]> = [
        [
            "an unknown key algorithm",
            { keyAlgorithm: "DSA-1024" },
            "keyAlgorithm",
            /allowed: ECDSA-P256, ECDSA-P384, RSA-2048, RSA-3072, RSA-4096/,
        ],
        ["an empty client list", { clients: [] }, "clients", /at least one client/],
        ["an empty client name", { clients: ["alice", ""] }, "clients", /empty client name/],
        ["a duplicate client name", { clients: ["alice", "bob", "alice"] }, "clients", /"alice" is listed twice/],
        ["a CN with a quote and a semicolon", { clients: ['evil";return 200'] }, "clients", /letters, digits/],
        ["a CN with a space", { clients: ["two words"] }, "clients", /not allowed/],
        ["a CN with a comma (breaks the subject DN)", { clients: ["a,O=x"] }, "clients", /not allowed/],
        ["clients that are not a list", { clients: "alice" }, "clients", /list of strings/],
        ["port 0", { publishPort: 0 }, "publishPort", /integer from 1 to 65535/],
        ["port 70000", { publishPort: "70000" }, "publishPort", /integer from 1 to 65535/],
        ["a non-numeric port", { publishPort: "https" }, "publishPort", /integer from 1 to 65535/],
        [
            "validity shorter than the renewal window",
            { clientValidityHours: 24, clientRenewBeforeHours: 48 },
            "clientRenewBeforeHours",
            /not shorter than clientValidityHours/,
        ],
        [
            "validity equal to the renewal window",
            { serverValidityHours: 100, serverRenewBeforeHours: 100 },
            "serverRenewBeforeHours",
            /allowed: 0 to 99/,
        ],
        [
            "an intermediate with depth 1",
            { intermediateCa: true, verifyDepth: 1 },
            "verifyDepth",
            /too shallow for a root and an intermediate CA; allowed: 2 to 10/,
        ],
        ["an unknown verify mode", { verifyClient: "required" }, "verifyClient", /allowed: on, optional/],
        ["a misspelt key", { keyAlgoritm: "RSA-2048" }, "keyAlgoritm", /unknown key; known keys are/],
        ["a server name with a space", { serverName: "my host" }, "serverName", /not a DNS name/],
        ["a bad IP SAN", { serverIpAddresses: ["300.1.1.1"] }, "serverIpAddresses", /not an IPv4 or IPv6 address/],
        ["a bad publish address", { publishAddress: "localhost" }, "publishAddress", /not an IP address/],
        [
            "a revoked client that does not exist",
            { clients: ["a"], revokedClients: ["b"] },
            "revokedClients",
            /"b" is not in clients/,
        ],
        [
            "an allowlist naming an unknown client",
            { clients: ["a"], locations: [{ path: "/", allowedClients: ["z"] }] },
            "locations[0].allowedClients",
            /"z" is not in clients/,
        ],
        [
            "a public location with verifyClient on",
            { locations: [{ path: "/", requireClientCertificate: false }] },
            "locations[0].requireClientCertificate",
            /needs verifyClient "optional"/,
        ],
        [
            "a location path that breaks the config",
            { locations: [{ path: "/a { return 200; }" }] },
            "locations[0].path",
            /must start with '\/'/,
        ],
        ["a duplicated location", { locations: [{ path: "/" }, { path: "/" }] }, "locations[1].path", /listed twice/],
        [
            "an unknown location field",
            { locations: [{ path: "/", root: "/var/www" }] },
            "locations[0].root",
            /allowed: path, allowedClients/,
        ],
        ["a boolean that is not one", { intermediateCa: "yes" }, "intermediateCa", /true or false/],
        [
            "a leaf that outlives its CA",
            {
                caValidityHours: 1000,
                caRenewBeforeHours: 10,
                serverValidityHours: 100,
                serverRenewBeforeHours: 10,
                clientValidityHours: 2000,
                clientRenewBeforeHours: 10,
            },
            "clientValidityHours",
            /exceeds caValidityHours/,
        ],
        ["a worker count that is not one", { workerProcesses: "many" }, "workerProcesses", /"auto" or 1-999/],
        ["an unknown CA slot", { activeCa: "c" }, "activeCa", /allowed: a, b/],
        [
            "a trust list without the active CA",
            { activeCa: "b", trustedCas: ["a"] },
            "trustedCas",
            /must include the active CA "b"/,
        ],
        [
            "a trust list with an unknown slot",
            { trustedCas: ["a", "z"] },
            "trustedCas",
            /"z" is not a CA slot; allowed: a, b/,
        ],
        ["an image reference with a space", { image: "nginx latest" }, "image", /not a Docker image reference/],
        [
            "a proxy target that is not a URL",
            { locations: [{ path: "/", proxyPass: "unix:/x" }] },
            "locations[0].proxyPass",
            /http:\/\/ or https:\/\//,
        ],
    ];

    for (const [description, raw, key, allowed] of badInputs) {
        it(`rejects ${description}, naming ${key}`, () => {
            assert.throws(
                () => validate(raw),
                (error: unknown) => {
                    assert.ok(error instanceof StackConfigError, `expected StackConfigError, got ${String(error)}`);
                    assert.strictEqual(error.key, key);
                    assert.ok(error.message.startsWith(`Invalid stack config "mtls-nginx:${key}"`), error.message);
                    assert.match(error.message, allowed);
                    return true;
                },
            );
        });
    }
});
