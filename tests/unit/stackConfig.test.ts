import * as assert from "assert";
import * as pulumi from "@pulumi/pulumi";
import { readStackConfig } from "../../config/readStackConfig";
import { chooseSmokeProbe } from "../../config/smokeProbe";
import { RawStackConfig, StackConfigError, validateStackConfig } from "../../config/stackConfig";

const context = { stack: "unit", projectDirectory: "/srv/mtls" };
const validate = (raw: RawStackConfig) => validateStackConfig(raw, context);
const json = (text: string) => JSON.parse(text) as RawStackConfig;
const digest = "sha256:" + "a1".repeat(32);
const label63 = "a".repeat(63);
/** A kubeconfig with one context, "test" (the validator reads its shape, never the cluster). */
const testKubeconfig = [
    "apiVersion: v1",
    "kind: Config",
    "current-context: test",
    "clusters: [{name: local, cluster: {server: 'https://127.0.0.1:26443'}}]",
    "users: [{name: admin, user: {token: unit}}]",
    "contexts: [{name: test, context: {cluster: local, user: admin}}]",
].join("\n");

/** The StackConfigError validation throws for this config. */
function rejection(raw: RawStackConfig): StackConfigError {
    try {
        validate(raw);
    } catch (error) {
        assert.ok(error instanceof StackConfigError, `expected StackConfigError, got ${String(error)}`);
        return error;
    }
    assert.fail(`accepted ${JSON.stringify(raw)}`);
}

/** A PEM-shaped value of a kind (the validator checks the armour, not the content). */
function pem(kind: string): string {
    return `-----BEGIN ${kind}-----\nAAAA\n-----END ${kind}-----\n`;
}

describe("validateStackConfig", () => {
    it("reads a Kubernetes endpoint: the cluster, the namespace, the Service", () => {
        const config = validate({
            platform: "kubernetes",
            kubeconfig: testKubeconfig,
            kubernetesContext: "test",
            kubernetesNamespace: "edge",
            kubernetesServiceType: "NodePort",
            kubernetesNodePort: "30443",
            replicas: "2",
        });
        assert.strictEqual(config.platform, "kubernetes");
        assert.strictEqual(config.kubernetesNamespace, "edge");
        assert.strictEqual(config.kubernetesServiceType, "NodePort");
        assert.strictEqual(config.kubernetesNodePort, 30443);
        assert.strictEqual(config.replicas, 2);
        assert.strictEqual(config.containerName, "mtls-nginx-unit");
    });

    it("fills every default for an empty config", () => {
        const config = validate({});
        assert.strictEqual(config.serverName, "localhost");
        assert.deepStrictEqual(config.serverDnsNames, ["localhost"]);
        assert.deepStrictEqual(config.serverIpAddresses, ["127.0.0.1"]);
        assert.deepStrictEqual(config.clients, ["client-1"]);
        assert.strictEqual(config.keyAlgorithm, "ECDSA-P256");
        assert.strictEqual(config.intermediateCa, false);
        assert.deepStrictEqual(config.trustedCas, ["a"]);
        assert.strictEqual(config.verifyDepth, 1);
        assert.strictEqual(config.verifyClient, "on");
        assert.deepStrictEqual(config.locations, [{ path: "/", requireClientCertificate: true }]);
        assert.strictEqual(config.containerName, "mtls-nginx-unit");
        assert.strictEqual(config.publishPort, 8443);
        assert.deepStrictEqual(config.lifetimes.client, { validityHours: 8760, renewBeforeHours: 720 });
        assert.deepStrictEqual(config.smokeProbe, { clientName: "client-1", path: "/" });
    });

    it("offers the post-quantum hybrid first where the image's OpenSSL can, the classical curves elsewhere", () => {
        const classical = ["X25519", "prime256v1", "secp384r1"];
        const groupsFor = (image: string) => validate({ image }).keyExchangeGroups;
        assert.deepStrictEqual(groupsFor("mtls-nginx/nginx:trixie-local"), ["X25519MLKEM768", ...classical]);
        assert.deepStrictEqual(groupsFor("nginx:1.29-trixie"), ["X25519MLKEM768", ...classical]);
        assert.deepStrictEqual(groupsFor("nginx:1.27"), classical, "bookworm-based: OpenSSL 3.0");
        assert.deepStrictEqual(groupsFor("nginx:1.27.4-bookworm@sha256:" + "a".repeat(64)), classical);
        assert.deepStrictEqual(groupsFor("registry.example.com/nginx:stable"), classical, "unknown: classical");
        // Set by hand for an image nobody can tell: accepted (Nginx's own check at up is the backstop).
        const chosen = ["X25519MLKEM768", "X25519"];
        assert.deepStrictEqual(
            validate({ image: "nginx:stable", keyExchangeGroups: chosen }).keyExchangeGroups,
            chosen,
        );
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

    it("keeps the server name as the first DNS SAN and removes repeats of it", () => {
        const config = validate({
            serverName: "api.example.com",
            serverDnsNames: ["API.example.com", "alt.example.com", "*.api.example.com"],
        });
        assert.deepStrictEqual(config.serverDnsNames, ["api.example.com", "alt.example.com", "*.api.example.com"]);
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
        assert.deepStrictEqual(config.smokeProbe, { clientName: "b", path: "/admin/" });
    });

    it("accepts every form that works: IPv6, registries, digests, upstreams, dotted paths", () => {
        const config = validate({
            serverIpAddresses: ["10.0.0.5", "::1", "2001:db8::7"],
            publishAddress: "::",
            image: `registry.example:5000/team/nginx-mtls__x.y:1.27.3-alpine@${digest}`,
            containerName: "edge_proxy.1",
            clients: ["Alice", "bob.svc", "ops_1"],
            revokedClients: ["bob.svc"],
            activeCa: "b",
            trustedCas: ["a", "b"],
            locations: [
                { path: "/.well-known/" },
                { path: "/api/", proxyPass: "https://api.internal:8443/v1/" },
                { path: "/v6/", proxyPass: "http://[2001:db8::1]:8080/" },
                { path: "/app", proxyPass: "http://backend.internal:8080", allowedClients: ["Alice"] },
                { path: "/~user/a-b_c.d" },
            ],
            workerProcesses: "16",
            serverName: `${label63}.example.com`,
        });
        assert.deepStrictEqual(config.trustedCas, ["b", "a"]);
        assert.strictEqual(config.locations[1].proxyPass, "https://api.internal:8443/v1/");
        assert.deepStrictEqual(config.smokeProbe, { clientName: "Alice", path: "/.well-known/" });
    });

    it("accepts Docker's own reference forms", () => {
        for (const image of [
            "nginx",
            "nginx:latest",
            "library/nginx:1.27",
            "localhost/nginx",
            "localhost:5000/a/b/c:tag_1",
            "[::1]:5000/nginx",
            `nginx@${digest}`,
            "a--b/c.d/e__f:T.a-g",
            "mtls-nginx/nginx:trixie-local",
        ]) {
            assert.strictEqual(validate({ image }).image, image);
        }
    });

    it("has no smoke probe when the smoke test is off", () => {
        const config = validate({ smokeTest: false, clients: ["a"], revokedClients: ["a"] });
        assert.strictEqual(config.smokeProbe, undefined);
    });

    it("reads only own properties of the raw config and of locations", () => {
        const raw = Object.create({ clients: ["inherited"], locations: [{ path: "/inherited" }] }) as RawStackConfig;
        raw.publishPort = 9000;
        const config = validate(raw);
        assert.deepStrictEqual(config.clients, ["client-1"]);
        assert.deepStrictEqual(config.locations, [{ path: "/", requireClientCertificate: true }]);
        const bare = Object.assign(Object.create(null) as RawStackConfig, { clients: ["x"] });
        assert.deepStrictEqual(validate(bare).clients, ["x"]);
    });

    // Each bad input: the key the message must name, and a fragment saying what is allowed. Each
    // reports exactly one problem: a bad key must not drag others into the report.
    const badInputs: Array<[string, RawStackConfig, string, RegExp]> = [
        // Keys, including names a plain object inherits.
        [
            "a misspelt key",
            { keyAlgoritm: "RSA-2048" },
            "keyAlgoritm",
            /unknown key \(did you mean keyAlgorithm\?\); allowed: the known keys serverName, /,
        ],
        [
            "a __proto__ key",
            json('{"__proto__": {"clients": ["x"]}}'),
            "__proto__",
            /unknown key; allowed: the known keys serverName, /,
        ],
        ["a constructor key", { constructor: "x" }, "constructor", /unknown key; allowed: the known keys serverName, /],
        ["a toString key", { toString: "x" }, "toString", /unknown key; allowed: the known keys serverName, /],
        [
            "a hasOwnProperty key",
            { hasOwnProperty: "x" },
            "hasOwnProperty",
            /unknown key; allowed: the known keys serverName, /,
        ],
        ["a valueOf key", { valueOf: 1 }, "valueOf", /unknown key; allowed: the known keys serverName, /],
        [
            "an unknown location field",
            { locations: [{ path: "/", root: "/var/www" }] },
            "locations[0].root",
            /unknown field; allowed: path, allowedClients, requireClientCertificate, proxyPass/,
        ],
        [
            "a toString location field",
            { locations: [{ path: "/", toString: "x" }] },
            "locations[0].toString",
            /unknown field; allowed: path, allowedClients/,
        ],
        [
            "a __proto__ location field",
            json('{"locations": [{"path": "/", "__proto__": {"proxyPass": "http://x"}}]}'),
            "locations[0].__proto__",
            /unknown field; allowed: path, allowedClients/,
        ],
        [
            "a constructor location field",
            { locations: [{ path: "/", constructor: "x" }] },
            "locations[0].constructor",
            /unknown field; allowed: path, allowedClients/,
        ],
        [
            "a location whose path is only inherited",
            { locations: [Object.create({ path: "/" })] },
            "locations[0].path",
            /the path is missing; allowed: a prefix starting with '\/'/,
        ],

        // Client names, compared as Nginx's map compares them.
        ["an empty client list", { clients: [] }, "clients", /allowed: a non-empty list of client names/],
        ["an empty client name", { clients: ["alice", ""] }, "clients", /empty client name; allowed: a client name is/],
        [
            "a duplicate client name",
            { clients: ["alice", "bob", "alice"] },
            "clients",
            /"alice" is listed twice; allowed: each client name once/,
        ],
        [
            "client names that differ only in case",
            { clients: ["Alice", "alice"] },
            "clients",
            /"alice" repeats "Alice" \(Nginx's map compares client names case-insensitively\); allowed: each client name once, regardless of case/,
        ],
        [
            "a CN with a quote and a semicolon",
            { clients: ['evil";return 200'] },
            "clients",
            /allowed: a client name is 1-64 letters, digits/,
        ],
        ["a CN with a space", { clients: ["two words"] }, "clients", /not allowed; allowed: a client name is/],
        ["a CN with a comma (breaks the subject DN)", { clients: ["a,O=x"] }, "clients", /allowed: a client name is/],
        ["a CN of 65 characters", { clients: ["c".repeat(65)] }, "clients", /allowed: a client name is 1-64/],
        ["a CN starting with '-'", { clients: ["-rf"] }, "clients", /starting with a letter or digit/],
        ["clients that are not a list", { clients: "alice" }, "clients", /allowed: a list like \["a", "b"\]/],
        ["clients that are not strings", { clients: [1, 2] }, "clients", /allowed: a list like/],
        [
            "a revoked client that does not exist",
            { clients: ["a"], revokedClients: ["b"] },
            "revokedClients",
            /"b" is not in clients; allowed: a name from mtls-nginx:clients \(a\)/,
        ],
        [
            "a revoked client spelt in another case",
            { clients: ["alice", "bob"], revokedClients: ["Alice"] },
            "revokedClients",
            /"Alice" is spelt "alice" in clients; allowed: a name from mtls-nginx:clients, spelt exactly as there/,
        ],
        [
            "a client revoked twice",
            { clients: ["a", "b"], revokedClients: ["a", "a"] },
            "revokedClients",
            /"a" is listed twice; allowed: each client name once/,
        ],
        [
            "an allowlist naming an unknown client",
            { clients: ["a"], locations: [{ path: "/", allowedClients: ["z"] }] },
            "locations[0].allowedClients",
            /"z" is not in clients; allowed: a name from mtls-nginx:clients/,
        ],
        [
            "an allowlist spelling a client in another case",
            { clients: ["bob"], locations: [{ path: "/", allowedClients: ["Bob"] }] },
            "locations[0].allowedClients",
            /"Bob" is spelt "bob" in clients; allowed: .*spelt exactly/,
        ],
        [
            "an allowlist naming a client twice",
            { clients: ["bob"], locations: [{ path: "/", allowedClients: ["bob", "bob"] }] },
            "locations[0].allowedClients",
            /listed twice; allowed: each client name once/,
        ],
        [
            "an allowlist naming a client twice in two cases",
            { clients: ["bob"], locations: [{ path: "/", allowedClients: ["bob", "BOB"] }] },
            "locations[0].allowedClients",
            /"BOB" repeats "bob".*allowed: each client name once, regardless of case/,
        ],
        [
            "an empty allowlist",
            { locations: [{ path: "/", allowedClients: [] }] },
            "locations[0].allowedClients",
            /refuse every client; allowed: a non-empty list of names from mtls-nginx:clients/,
        ],
        [
            "an allowlist on a public location",
            {
                verifyClient: "optional",
                clients: ["a"],
                locations: [{ path: "/", requireClientCertificate: false, allowedClients: ["a"] }],
            },
            "locations[0].allowedClients",
            /cannot have an allowlist; allowed: allowedClients only where a client certificate is required/,
        ],
        [
            "an organization starting with '-'",
            { organization: "-x" },
            "organization",
            /allowed: 1-64 letters, digits, spaces/,
        ],
        ["an organization of 65 characters", { organization: "o".repeat(65) }, "organization", /allowed: 1-64 letters/],

        // Host names and addresses.
        ["a server name with a space", { serverName: "my host" }, "serverName", /not a DNS name.*allowed: a DNS name/],
        ["an empty server name", { serverName: "" }, "serverName", /empty label; allowed: a DNS name/],
        [
            "an IP address as server name",
            { serverName: "10.0.0.1" },
            "serverName",
            /it is an IP address; allowed: .*IP addresses go in mtls-nginx:serverIpAddresses/,
        ],
        [
            "a wildcard server name",
            { serverName: "*.example.com" },
            "serverName",
            /has a wildcard; allowed: .*no wildcard/,
        ],
        [
            "a server name with a trailing dot",
            { serverName: "example.com." },
            "serverName",
            /ends with a dot; allowed: .*no trailing dot/,
        ],
        [
            "a server name label of 64 characters",
            { serverName: `${label63}a.example.com` },
            "serverName",
            /label of 64 characters \(more than 63\); allowed: .*1-63 characters each/,
        ],
        [
            "a server name of 254 characters",
            { serverName: [label63, label63, label63, "a".repeat(62)].join(".") },
            "serverName",
            /254 characters long \(more than 253\); allowed: .*253 characters in all/,
        ],
        [
            "an all-numeric top-level label",
            { serverName: "host.123" },
            "serverName",
            /all-numeric label.*allowed: .*a top-level label that is not all digits/,
        ],
        ["a label starting with '-'", { serverName: "-a.example.com" }, "serverName", /inner '-'/],
        ["an underscore in a server name", { serverName: "my_host" }, "serverName", /allowed: a DNS name of/],
        [
            "a wildcard inside a DNS SAN",
            { serverDnsNames: ["a.*.example.com"] },
            "serverDnsNames",
            /wildcard other than one leading "\*\."; allowed: .*optionally starting with one "\*\."/,
        ],
        [
            "two wildcards in a DNS SAN",
            { serverDnsNames: ["*.*.example.com"] },
            "serverDnsNames",
            /optionally starting/,
        ],
        ["a wildcard without its dot", { serverDnsNames: ["*example.com"] }, "serverDnsNames", /optionally starting/],
        [
            "DNS SANs that differ only in case",
            { serverDnsNames: ["a.example.com", "A.example.com"] },
            "serverDnsNames",
            /DNS names compare case-insensitively\); allowed: each DNS name once, regardless of case/,
        ],
        [
            "a DNS SAN listed twice",
            { serverDnsNames: ["a.example.com", "a.example.com"] },
            "serverDnsNames",
            /listed twice; allowed: each DNS name once/,
        ],
        [
            "an IP address as a DNS SAN",
            { serverDnsNames: ["192.168.1.1"] },
            "serverDnsNames",
            /IP addresses go in mtls-nginx:serverIpAddresses/,
        ],
        ["a DNS SAN with a trailing dot", { serverDnsNames: ["a.example."] }, "serverDnsNames", /no trailing dot/],
        [
            "a bad IP SAN",
            { serverIpAddresses: ["300.1.1.1"] },
            "serverIpAddresses",
            /not an IP address; allowed: an IPv4 address \(no leading zeros\) or an IPv6 address/,
        ],
        [
            "an IPv6 zone ID",
            { serverIpAddresses: ["fe80::1%eth0"] },
            "serverIpAddresses",
            /zone ID.*allowed: .*no zone ID/,
        ],
        [
            "an IPv4 with leading zeros",
            { serverIpAddresses: ["010.0.0.1"] },
            "serverIpAddresses",
            /leading zero.*allowed: an IPv4 address \(no leading zeros\)/,
        ],
        [
            "one address written two ways",
            { serverIpAddresses: ["::1", "0:0:0:0:0:0:0:1"] },
            "serverIpAddresses",
            /written differently\); allowed: each address once, compared as addresses/,
        ],
        [
            "an IP SAN listed twice",
            { serverIpAddresses: ["10.0.0.1", "10.0.0.1"] },
            "serverIpAddresses",
            /listed twice; allowed: each address once/,
        ],
        [
            "a host name as publish address",
            { publishAddress: "localhost" },
            "publishAddress",
            /not an IP address; allowed: an IPv4/,
        ],
        ["a publish address with a zone", { publishAddress: "fe80::1%lo" }, "publishAddress", /zone ID/],
        ["a publish address with leading zeros", { publishAddress: "127.000.0.1" }, "publishAddress", /leading zero/],

        // Integers and ranges.
        ["port 0", { publishPort: 0 }, "publishPort", /integer from 1 to 65535/],
        ["port 70000", { publishPort: "70000" }, "publishPort", /integer from 1 to 65535/],
        [
            "a non-numeric port",
            { publishPort: "https" },
            "publishPort",
            /not an integer; allowed: an integer from 1 to 65535/,
        ],
        ["a fractional port", { publishPort: 8443.5 }, "publishPort", /integer from 1 to 65535/],
        ["a negative lookahead", { rotationLookaheadHours: -1 }, "rotationLookaheadHours", /integer from 0 to 876000/],
        ["a verify depth of 11", { verifyDepth: 11 }, "verifyDepth", /integer from 1 to 10/],
        [
            "an intermediate with depth 1",
            { intermediateCa: true, verifyDepth: 1 },
            "verifyDepth",
            /too shallow for a root and an intermediate CA; allowed: 2 to 10/,
        ],

        // PKI lifetimes.
        [
            "a zero client renewal window",
            { clientRenewBeforeHours: 0 },
            "clientRenewBeforeHours",
            /integer from 1 to 876000/,
        ],
        ["a zero CRL renewal window", { crlRenewBeforeHours: "0" }, "crlRenewBeforeHours", /integer from 1 to 876000/],
        ["a zero CA renewal window", { caRenewBeforeHours: 0 }, "caRenewBeforeHours", /integer from 1 to 876000/],
        ["a validity of one hour", { serverValidityHours: 1 }, "serverValidityHours", /integer from 2 to 876000/],
        [
            "validity shorter than the renewal window",
            { clientValidityHours: 24, clientRenewBeforeHours: 48 },
            "clientRenewBeforeHours",
            /not shorter than clientValidityHours \(24 h\); allowed: 1 to 23/,
        ],
        [
            "validity equal to the renewal window",
            { serverValidityHours: 100, serverRenewBeforeHours: 100 },
            "serverRenewBeforeHours",
            /allowed: 1 to 99/,
        ],
        [
            "a CRL renewed for its whole validity",
            { crlValidityHours: 240, crlRenewBeforeHours: 240 },
            "crlRenewBeforeHours",
            /allowed: 1 to 239/,
        ],
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
            /exceeds caValidityHours \(1000 h\), the CA that signs it; allowed: 2 to 1000/,
        ],
        [
            "a leaf that outlives its intermediate",
            { intermediateCa: true, intermediateValidityHours: 3000, intermediateRenewBeforeHours: 10 },
            "clientValidityHours",
            /exceeds intermediateValidityHours \(3000 h\).*allowed: 2 to 3000/,
        ],
        [
            "an intermediate that outlives its root",
            { intermediateCa: true, caValidityHours: 40000, caRenewBeforeHours: 10 },
            "intermediateValidityHours",
            /exceeds caValidityHours \(40000 h\).*allowed: 2 to 40000/,
        ],

        // Enumerations and booleans.
        [
            "an unknown key algorithm",
            { keyAlgorithm: "DSA-1024" },
            "keyAlgorithm",
            /allowed: ECDSA-P256, ECDSA-P384, RSA-2048, RSA-3072, RSA-4096/,
        ],
        ["a key algorithm in lower case", { keyAlgorithm: "ecdsa-p256" }, "keyAlgorithm", /allowed: ECDSA-P256, /],
        ["an unknown verify mode", { verifyClient: "required" }, "verifyClient", /allowed: on, optional/],
        ["a boolean that is not one", { intermediateCa: "yes" }, "intermediateCa", /allowed: true or false/],
        ["a smoke test flag of 1", { smokeTest: "1" }, "smokeTest", /allowed: true or false/],

        // CA slots and rollover.
        ["an unknown CA slot", { activeCa: "c" }, "activeCa", /allowed: a, b/],
        [
            "a trust list without the active CA",
            { activeCa: "b", trustedCas: ["a"] },
            "trustedCas",
            /must include the active CA "b" \(mtls-nginx:activeCa\); allowed: a list of CA slots \(a, b\) that includes "b"/,
        ],
        [
            "a trust list with an unknown slot",
            { trustedCas: ["a", "z"] },
            "trustedCas",
            /"z" is not a CA slot; allowed: a, b/,
        ],
        [
            "a trust list naming a slot twice",
            { trustedCas: ["a", "a"] },
            "trustedCas",
            /"a" is listed twice; allowed: each CA slot once/,
        ],

        // Image references, as Docker parses them.
        [
            "an image reference with a space",
            { image: "nginx latest" },
            "image",
            /not a Docker image reference.*allowed: \[registry\[:port\]\/\]path/,
        ],
        [
            "capitals in the repository",
            { image: "Nginx:1.27" },
            "image",
            /capitals in its repository path.*allowed: .*lowercase components/,
        ],
        ["capitals after a namespace", { image: "library/Nginx" }, "image", /capitals/],
        ["an empty tag", { image: "nginx:" }, "image", /has tag "".*allowed: .*a tag of 1-128 letters/],
        ["a tag starting with '-'", { image: "nginx:-rc" }, "image", /not starting with '.' or '-'/],
        ["a tag of 129 characters", { image: `nginx:${"t".repeat(129)}` }, "image", /a tag of 1-128/],
        [
            "a short digest",
            { image: "nginx@sha256:abc" },
            "image",
            /digest "sha256:abc".*allowed: .*@sha256:<64 hex digits>/,
        ],
        ["an upper-case digest", { image: `nginx@${digest.toUpperCase()}` }, "image", /@sha256:<64 hex digits>/],
        ["two dots in a path component", { image: "nginx..x" }, "image", /path component "nginx..x"/],
        [
            "a registry port that is not a number",
            { image: "registry.example:abc/nginx" },
            "image",
            /registry "registry.example:abc"/,
        ],
        ["a path starting with '-'", { image: "-nginx" }, "image", /path component "-nginx"/],
        ["a trailing slash", { image: "team/" }, "image", /path component ""/],
        ["a name over 255 characters", { image: `${"n".repeat(256)}:1` }, "image", /at most 255 characters/],

        // Locations.
        [
            "a path without a leading slash",
            { locations: [{ path: "api" }] },
            "locations[0].path",
            /does not start with '\/'; allowed: a prefix starting with '\/'/,
        ],
        [
            "a path that breaks the config",
            { locations: [{ path: "/a { return 200; }" }] },
            "locations[0].path",
            /whitespace; allowed: a prefix/,
        ],
        [
            "a path with '//'",
            { locations: [{ path: "/a//b" }] },
            "locations[0].path",
            /merges slashes.*allowed: .*no '\/\/'/,
        ],
        [
            "a path with a '..' segment",
            { locations: [{ path: "/a/../b" }] },
            "locations[0].path",
            /'\.\.' segment.*allowed: .*no '\.' or '\.\.' segment/,
        ],
        ["a path with a '.' segment", { locations: [{ path: "/a/./b" }] }, "locations[0].path", /segment/],
        ["a path ending in '/.'", { locations: [{ path: "/a/." }] }, "locations[0].path", /segment/],
        [
            "a path with a query",
            { locations: [{ path: "/a?x=1" }] },
            "locations[0].path",
            /'\?' or '#'.*allowed: a prefix/,
        ],
        ["a path with a fragment", { locations: [{ path: "/a#top" }] }, "locations[0].path", /'\?' or '#'/],
        [
            "a path with an escape",
            { locations: [{ path: "/a%20b" }] },
            "locations[0].path",
            /decodes escapes.*allowed: a prefix/,
        ],
        [
            "a path that is not a string",
            { locations: [{ path: 5 }] },
            "locations[0].path",
            /not a string; allowed: a prefix/,
        ],
        [
            "a duplicated location",
            { locations: [{ path: "/" }, { path: "/" }] },
            "locations[1].path",
            /"\/" is listed twice; allowed: each path once/,
        ],
        [
            "an empty location list",
            { locations: [] },
            "locations",
            /allowed: a non-empty list of objects like \{"path": "\/"\}/,
        ],
        ["locations that are not a list", { locations: "/" }, "locations", /allowed: a non-empty list of objects/],
        [
            "a location that is a string",
            { locations: ["/"] },
            "locations[0]",
            /allowed: an object like \{"path": "\/"\}/,
        ],
        [
            "a certificate requirement that is not a boolean",
            { locations: [{ path: "/", requireClientCertificate: "maybe" }] },
            "locations[0].requireClientCertificate",
            /allowed: true or false/,
        ],
        [
            "a public location with verifyClient on",
            { locations: [{ path: "/", requireClientCertificate: false }] },
            "locations[0].requireClientCertificate",
            /needs verifyClient "optional".*allowed: true, or false with mtls-nginx:verifyClient "optional"/,
        ],

        // Upstream URLs, as Nginx reads them.
        ...(
            [
                ["a proxy target that is not a URL", "unix:/x", /is not a URL/],
                ["an ftp upstream", "ftp://files.example/", /scheme "ftp"/],
                ["an upstream with credentials", "http://user:pw@backend/", /user information/],
                ["an upstream with a query", "http://backend/?q=1", /query string/],
                ["an upstream with a fragment", "http://backend/#f", /fragment/],
                ["an upstream on port 0", "http://backend:0/", /port "0"/],
                ["an upstream on port 65536", "http://backend:65536/", /port "65536"/],
                ["an upstream without a host", "http://", /no host/],
                ["an upstream with an empty port", "http://backend:/", /port ""/],
                ["an upstream host with '_'", "http://back_end/", /host "back_end"/],
                ["an IPv6 upstream without brackets", "http://::1/", /without \[brackets\]/],
                ["an IPv6 upstream with a zone", "http://[fe80::1%25eth0]/", /zone ID/],
                ["a short-form IPv4 upstream", "http://1.2.3/", /host "1.2.3", which is not an IP address/],
                ["an octal-looking IPv4 upstream", "http://010.0.0.1/", /leading zero/],
                ["an upstream with a space", "http://backend/a b", /characters Nginx would misread/],
                ["an upstream with a variable", "http://backend/$uri", /characters Nginx would misread/],
                ["an upstream with a trailing dot", "http://backend./", /ends with a dot/],
                ["an upstream with a bad escape", "http://backend/%zz", /not a %XX escape/],
                [
                    "an https upstream named by its address",
                    "https://10.0.0.5:8443/",
                    /verifies an https upstream by its DNS name only/,
                ],
                ["an https upstream named by its IPv6 address", "https://[2001:db8::1]/", /by its DNS name only/],
            ] as Array<[string, string, RegExp]>
        ).map(([description, proxyPass, reason]): [string, RawStackConfig, string, RegExp] => [
            description,
            { smokeTest: false, locations: [{ path: "/", proxyPass }] },
            "locations[0].proxyPass",
            new RegExp(`${reason.source}.*; allowed: an http:// or https:// URL with a host`),
        ]),
        [
            "a proxy target that is not a string",
            { locations: [{ path: "/", proxyPass: 5 }] },
            "locations[0].proxyPass",
            /allowed: a string/,
        ],

        // Endpoint.
        ["a one-letter container name", { containerName: "a" }, "containerName", /allowed: 2-63 letters, digits/],
        [
            "a container name starting with '-'",
            { containerName: "-x" },
            "containerName",
            /starting with a letter or digit/,
        ],
        ["a container name with '/'", { containerName: "a/b" }, "containerName", /allowed: 2-63/],
        [
            "the retired host directory",
            { hostDirectory: "/var/lib/mtls-nginx" },
            "hostDirectory",
            /was removed: .*Docker API.*; allowed: delete the key/,
        ],
        [
            "a Docker host with an unknown scheme",
            { dockerHost: "http://10.0.0.5:2375" },
            "dockerHost",
            /allowed: empty/,
        ],
        ["an unknown platform", { platform: "nomad" }, "platform", /allowed: container, swarm, kubernetes/],
        ["zero replicas", { platform: "swarm", replicas: "0" }, "replicas", /integer from 1 to 100/],
        [
            "an unknown publish mode",
            { platform: "swarm", publishMode: "mesh" },
            "publishMode",
            /allowed: ingress, host/,
        ],
        [
            "replicas for a single container",
            { replicas: "5" },
            "replicas",
            /only with platforms "swarm" and "kubernetes"/,
        ],
        [
            "a Kubernetes key on a Docker platform",
            { kubernetesNamespace: "edge" },
            "kubernetesNamespace",
            /only with platform "kubernetes"/,
        ],
        [
            "a Docker engine key on Kubernetes",
            { platform: "kubernetes", dockerHost: "unix:///run/docker.sock" },
            "dockerHost",
            /not used with platform "kubernetes"/,
        ],
        [
            "a container name that cannot name a Deployment",
            { platform: "kubernetes", containerName: "Edge_1" },
            "containerName",
            /cannot name a Deployment and a Service; allowed: 1-63 lower-case/,
        ],
        [
            "a namespace that is no RFC 1123 label",
            { platform: "kubernetes", kubernetesNamespace: "Prod" },
            "kubernetesNamespace",
            /not an RFC 1123 label/,
        ],
        [
            "an unknown Service type",
            { platform: "kubernetes", kubernetesServiceType: "Ingress" },
            "kubernetesServiceType",
            /allowed: ClusterIP, NodePort, LoadBalancer/,
        ],
        [
            "a node port outside the node port range",
            { platform: "kubernetes", kubernetesServiceType: "NodePort", kubernetesNodePort: "8443" },
            "kubernetesNodePort",
            /allowed: 0 \(Kubernetes picks\) or 30000-32767/,
        ],
        [
            "a node port without a NodePort Service",
            { platform: "kubernetes", kubernetesNodePort: "30443" },
            "kubernetesNodePort",
            /only with kubernetesServiceType "NodePort"/,
        ],
        [
            "a kubeconfig that is not YAML",
            { platform: "kubernetes", kubeconfig: "a: [" },
            "kubeconfig",
            /is not YAML .*allowed: a kubeconfig/,
        ],
        [
            "a kubeconfig without contexts",
            { platform: "kubernetes", kubeconfig: "clusters: []\nusers: []" },
            "kubeconfig",
            /has no contexts list/,
        ],
        [
            "a context the kubeconfig lacks",
            { platform: "kubernetes", kubeconfig: testKubeconfig, kubernetesContext: "staging" },
            "kubernetesContext",
            /"staging" is not a context of the kubeconfig; allowed: "test"/,
        ],
        [
            "a host publish mode for a single container",
            { publishMode: "host" },
            "publishMode",
            /only with platform "swarm"|only with platforms "swarm" and "kubernetes"/,
        ],
        [
            "a DNS name as an endpoint address",
            { endpointAddresses: ["edge-1.example.com"] },
            "endpointAddresses",
            /not an IP address/,
        ],
        [
            "an endpoint address listed twice",
            { platform: "swarm", endpointAddresses: ["10.0.0.1", "10.0.0.1"] },
            "endpointAddresses",
            /each address once/,
        ],
        [
            "several addresses for one container",
            { endpointAddresses: ["10.0.0.1", "10.0.0.2"] },
            "endpointAddresses",
            /at most one address/,
        ],
        ["a tcp Docker host without a port", { dockerHost: "tcp://10.0.0.5" }, "dockerHost", /tcp:\/\/host:port/],
        ["a unix Docker host without a path", { dockerHost: "unix://" }, "dockerHost", /unix:\/\/\/path/],
        ["a Docker host that is not a URL", { dockerHost: "my-docker-host" }, "dockerHost", /is not a URL; allowed/],
        ["an ssh Docker host with a password", { dockerHost: "ssh://u:pw@h" }, "dockerHost", /ssh:\/\/\[user@\]host/],
        // Docker reads TCP:// as tcp://: an upper-case scheme must not slip past the TLS rules.
        [
            "a Docker host with an upper-case scheme",
            { dockerHost: "TCP://10.0.0.5:2376" },
            "dockerHost",
            /tcp:\/\/host:port/,
        ],
        [
            "a tcp Docker host without its TLS certificate",
            {
                dockerHost: "tcp://10.0.0.5:2376",
                dockerTlsCaCertificate: pem("CERTIFICATE"),
                dockerTlsKey: pem("PRIVATE KEY"),
            },
            "dockerTlsCertificate",
            /is required with dockerHost "tcp:\/\/10.0.0.5:2376"; allowed: a PEM value/,
        ],
        [
            "TLS material without a tcp Docker host",
            { dockerTlsCertificate: pem("CERTIFICATE") },
            "dockerTlsCertificate",
            /only used with a tcp:\/\/ dockerHost; allowed: empty/,
        ],
        [
            "a Docker TLS key that is not PEM",
            { dockerTlsKey: "hunter2" },
            "dockerTlsKey",
            /not a PEM private key; allowed/,
        ],
        ["a capability with the CAP_ prefix", { capabilities: ["CAP_CHOWN"] }, "capabilities", /no CAP_ prefix/],
        ["ALL as a kept capability", { capabilities: ["ALL"] }, "capabilities", /not ALL/],
        // Shaped like a capability, but Linux has none of that name: Docker refuses it only at up.
        ["a capability Linux does not have", { capabilities: ["NET_SNIFF"] }, "capabilities", /not a Linux capability/],
        [
            "a wildcard for a whole top-level domain",
            { serverDnsNames: ["*.com"] },
            "serverDnsNames",
            /no certificate authority issues/,
        ],
        ["a capability listed twice", { capabilities: ["CHOWN", "CHOWN"] }, "capabilities", /each capability once/],
        [
            "upstream CAs without an https upstream",
            {
                smokeTest: false,
                upstreamCaCertificates: pem("CERTIFICATE"),
                locations: [{ path: "/", proxyPass: "http://app:8080" }],
            },
            "upstreamCaCertificates",
            /only used with an https:\/\/ proxyPass, and no location has one/,
        ],
        [
            "upstream CAs that are not a certificate",
            { upstreamCaCertificates: "hunter2" },
            "upstreamCaCertificates",
            /is not a PEM certificate/,
        ],
        [
            "a publish address Swarm cannot honour",
            { platform: "swarm", publishAddress: "10.0.0.7" },
            "publishAddress",
            /cannot be honoured with platform "swarm": Swarm publishes a service's port on every interface/,
        ],
        [
            "a key exchange group OpenSSL does not have",
            { keyExchangeGroups: ["X25519Kyber768", "X25519"] },
            "keyExchangeGroups",
            /"X25519Kyber768" is not a key exchange group; allowed: X25519MLKEM768, /,
        ],
        [
            "a post-quantum hybrid on an image whose OpenSSL predates it",
            { image: "nginx:1.27", keyExchangeGroups: ["X25519MLKEM768", "X25519"] },
            "keyExchangeGroups",
            /image "nginx:1.27" cannot offer \(its OpenSSL is older than 3.5\); allowed: classical groups/,
        ],
        [
            "only post-quantum hybrids, no classical fallback",
            { image: "mtls-nginx/nginx:trixie-local", keyExchangeGroups: ["X25519MLKEM768"] },
            "keyExchangeGroups",
            /with a classical fallback after them/,
        ],
        ["no key exchange group at all", { keyExchangeGroups: [] }, "keyExchangeGroups", /is empty; allowed/],
        ["a memory limit of 1 MiB", { memoryLimitMb: "1" }, "memoryLimitMb", /integer from 16 to/],
        ["a pids limit of 0", { pidsLimit: "0" }, "pidsLimit", /integer from 8 to/],
        ["no log file kept", { logMaxFiles: "0" }, "logMaxFiles", /integer from 1 to 100/],
        [
            "a read-only root that is not a boolean",
            { readOnlyRootFilesystem: "yes" },
            "readOnlyRootFilesystem",
            /true or false/,
        ],
        ["a worker count that is not one", { workerProcesses: "many" }, "workerProcesses", /allowed: "auto" or 1-999/],
        ["zero workers", { workerProcesses: "0" }, "workerProcesses", /allowed: "auto" or 1-999/],

        // Smoke test.
        [
            "a smoke test with nothing to probe",
            { locations: [{ path: "/", proxyPass: "http://backend:8080" }] },
            "smokeTest",
            /needs a location that requires a client certificate and has no proxyPass; allowed: false, or true/,
        ],
        [
            "a smoke test whose every client is revoked",
            { clients: ["a", "b"], revokedClients: ["b"], locations: [{ path: "/", allowedClients: ["b"] }] },
            "smokeTest",
            /has no client to probe \/ with.*allowed: false, or true with a client allowed at \//,
        ],
    ];

    it("has at least 60 bad-config cases", () => {
        assert.ok(badInputs.length >= 60, `${badInputs.length} cases`);
    });

    for (const [description, raw, key, allowed] of badInputs) {
        it(`rejects ${description}, naming ${key}`, () => {
            const error = rejection(raw);
            assert.deepStrictEqual(
                error.errors.map((problem) => problem.key),
                [key],
                `expected one problem, under ${key}:\n${error.message}`,
            );
            assert.strictEqual(error.key, key);
            assert.ok(error.message.startsWith(`Invalid stack config "mtls-nginx:${key}": `), error.message);
            assert.match(error.message, /allowed: /);
            assert.match(error.errors[0].message, allowed);
        });
    }

    it("reports every problem of a config at once, in one message", () => {
        const error = rejection({
            keyAlgoritm: "RSA-2048",
            serverName: "10.0.0.1",
            clients: ["Alice", "alice"],
            publishPort: 0,
            image: "Nginx",
            clientRenewBeforeHours: 0,
            verifyClient: "optional",
            locations: [
                { path: "/a//b" },
                { path: "/ok", allowedClients: ["nobody"], proxyPass: "http://user@backend/" },
                { path: "/public", requireClientCertificate: false },
            ],
        });
        const keys = error.errors.map((problem) => problem.key);
        assert.deepStrictEqual(keys, [
            "keyAlgoritm",
            "serverName",
            "clients",
            "locations[0].path",
            "locations[1].proxyPass",
            "image",
            "publishPort",
            "clientRenewBeforeHours",
        ]);
        assert.strictEqual(error.key, "keyAlgoritm");
        const lines = error.message.split("\n");
        assert.strictEqual(lines[0], `Invalid stack config (${keys.length} problems):`);
        keys.forEach((key, index) =>
            assert.ok(lines[index + 1].startsWith(`  "mtls-nginx:${key}": `), lines[index + 1]),
        );
    });

    it("checks allowlists and public locations even when another location is bad", () => {
        const error = rejection({
            clients: ["a"],
            locations: [
                { path: "no-slash" },
                { path: "/x", allowedClients: ["z"] },
                { path: "/p", requireClientCertificate: false },
            ],
        });
        assert.deepStrictEqual(
            error.errors.map((problem) => problem.key),
            ["locations[0].path", "locations[1].allowedClients", "locations[2].requireClientCertificate"],
        );
    });

    it("checks revoked clients against clients, and lifetimes against each other, in the same run", () => {
        const error = rejection({
            clients: ["a"],
            revokedClients: ["b"],
            serverValidityHours: 10,
            serverRenewBeforeHours: 20,
            activeCa: "b",
            trustedCas: ["a"],
        });
        assert.deepStrictEqual(
            error.errors.map((problem) => problem.key),
            ["revokedClients", "trustedCas", "serverRenewBeforeHours"],
        );
    });
});

describe("chooseSmokeProbe", () => {
    it("probes the first protected location without an upstream, as the first allowed unrevoked client", () => {
        const probe = chooseSmokeProbe({
            clients: ["a", "b", "c"],
            revokedClients: ["b"],
            locations: [
                { path: "/healthz", requireClientCertificate: false },
                { path: "/api/", requireClientCertificate: true, proxyPass: "http://backend" },
                { path: "/admin/", requireClientCertificate: true, allowedClients: ["b", "c"] },
            ],
        });
        assert.deepStrictEqual(probe, { clientName: "c", path: "/admin/" });
    });

    it("throws a StackConfigError naming smokeTest when there is no probe", () => {
        assert.throws(
            () =>
                chooseSmokeProbe({
                    clients: ["a"],
                    revokedClients: ["a"],
                    locations: [{ path: "/", requireClientCertificate: true }],
                }),
            (error: unknown) => error instanceof StackConfigError && error.key === "smokeTest",
        );
    });
});

describe("readStackConfig", () => {
    let saved: Record<string, string>;
    beforeEach(() => {
        saved = pulumi.runtime.allConfig();
    });
    afterEach(() => {
        pulumi.runtime.setAllConfig(saved);
    });

    it("reads the mtls-nginx namespace, lists as JSON, and ignores other namespaces", () => {
        pulumi.runtime.setAllConfig({
            "mtls-nginx:clients": '["alice","bob"]',
            "mtls-nginx:publishPort": "9443",
            "aws:region": "eu-west-1",
        });
        const config = readStackConfig("/srv/mtls");
        assert.deepStrictEqual(config.clients, ["alice", "bob"]);
        assert.strictEqual(config.publishPort, 9443);
    });

    it("ends the program with a RunError (no stack trace) listing every problem", () => {
        pulumi.runtime.setAllConfig({
            "mtls-nginx:keyAlgorithm": "DSA-1024",
            "mtls-nginx:publishPort": "0",
            "mtls-nginx:__proto__": "x",
        });
        assert.throws(
            () => readStackConfig("/srv/mtls"),
            (error: unknown) => {
                assert.ok(pulumi.RunError.isInstance(error), `expected a RunError, got ${String(error)}`);
                assert.match(error.message, /^Invalid stack config \(3 problems\):/);
                assert.match(error.message, /"mtls-nginx:__proto__": unknown key/);
                assert.match(
                    error.message,
                    /"mtls-nginx:keyAlgorithm": "DSA-1024" is not allowed; allowed: ECDSA-P256/,
                );
                assert.match(
                    error.message,
                    /"mtls-nginx:publishPort": 0 is out of range|"mtls-nginx:publishPort": "0"/,
                );
                return true;
            },
        );
    });
});
