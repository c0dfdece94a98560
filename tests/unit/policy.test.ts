import * as assert from "assert";
import { NginxConfigSpec, renderNginxConfig, trustDigest } from "../../nginx/renderNginxConfig";
import {
    ContainerInputs,
    containerProblems,
    podTemplateProblems,
    PodTemplateOwnerInputs,
    ServiceInputs,
    serviceProblems,
    volumeProblems,
} from "../../policy/containers";
import { nginxConfigOf } from "../../policy/endpointFiles";
import { defaultLimits, PolicyName } from "../../policy/limits";
import { clientVerificationProblems, tlsProtocolProblems } from "../../policy/nginxConfig";
import { Directive, parseNginxConfig } from "../../policy/nginxSyntax";
import { problemsOf, resourceTypes, rules } from "../../policy/rules";
import { deployOnMocks } from "./deploy";
import { recordedResources } from "./mocks";

/**
 * The policy pack's rules as pure functions (policy/rules.ts and the checks under it): nginx.conf read
 * as Nginx reads it, each known way around the rules refused with a message naming it, and what the
 * product itself renders and deploys accepted. The pack through the real engine: tests/e2e/policy.test.ts.
 */

const floor = defaultLimits["tls-protocol-floor"].allowedProtocols;
const verification = defaultLimits["client-certificate-verification"];
const hardening = defaultLimits["container-hardening"];

/** Both nginx.conf rules on one text, as the pack runs them on a file set. */
function nginxProblems(text: string, limits = verification): string[] {
    const config = parseNginxConfig(text);
    return [...tlsProtocolProblems(config, floor), ...clientVerificationProblems(config, limits)];
}

function assertAccepted(text: string): void {
    assert.deepStrictEqual(nginxProblems(text), []);
}

/** Asserts that the text is refused, with a problem matching `expected` (a substring or a pattern). */
function assertRefused(problems: readonly string[], expected: string | RegExp): void {
    const found = problems.some((problem) =>
        typeof expected === "string" ? problem.includes(expected) : expected.test(problem),
    );
    assert.ok(found, `a problem matching ${String(expected)}; got:\n  ${problems.join("\n  ") || "(none)"}`);
}

/** `text` with `from` replaced (once; it must be there). */
function edit(text: string, from: string, to: string): string {
    assert.ok(text.includes(from), `the rendered config has ${JSON.stringify(from)}`);
    return text.replace(from, to);
}

/** `text` with `insert` put right after `anchor`, or right before it. */
const after = (text: string, anchor: string, insert: string) => edit(text, anchor, anchor + insert);
const before = (text: string, anchor: string, insert: string) => edit(text, anchor, insert + anchor);

const base: NginxConfigSpec = {
    serverNames: ["localhost"],
    listenPort: 443,
    verifyClient: "on",
    verifyDepth: 1,
    workerProcesses: "auto",
    locations: [{ path: "/", requireClientCertificate: true }],
    checkRevocation: false,
    trustDigest: trustDigest("CA bundle", ""),
};

/** Optional verification, as the staging stack has it: a public /healthz, an allowlist, an upstream. */
const optionalSpec: NginxConfigSpec = {
    ...base,
    verifyClient: "optional",
    verifyDepth: 2,
    checkRevocation: true,
    locations: [
        { path: "/healthz", requireClientCertificate: false },
        { path: "/", requireClientCertificate: true },
        { path: "/admin/", requireClientCertificate: true, allowedClients: ["ops-oncall"] },
        { path: "/api/", requireClientCertificate: true, proxyPass: "http://upstream:8080" },
    ],
};

const verifyOn = renderNginxConfig(base);
const optional = renderNginxConfig(optionalSpec);
const adminGuard = "        location /admin/ {\n            if ($ssl_client_verify != SUCCESS) { return 400; }\n";
/** Where server-level directives go: after the main server's root. */
const serverRoot = "        root /nonexistent;\n\n";
/** The main server's opening (the catch-all server before it listens with default_server). */
const mainServer = "    server {\n        listen 443 ssl;\n";
const healthz = "        location /healthz {";
const unguardAdmin = (text: string) => edit(text, adminGuard, "        location /admin/ {\n");
/** The main server's ssl_verify_client line (the catch-all server before it has one too). */
const mainVerify = (text: string) => text.lastIndexOf("        ssl_verify_client ");

describe("policy: nginx.conf read as Nginx reads it (policy/nginxSyntax.ts)", () => {
    /**
     * Each text and what `nginx -t` said of it (nginx 1.26.3, the mtls-nginx/nginx:trixie-local image;
     * "probe" directives are unknown to Nginx, so its error names the first one it read), then the
     * directives the parser reads, or none when Nginx refuses the text.
     */
    const cases: Array<{ text: string; nginx: string; reads?: string[][] }> = [
        // The review's case: a quote inside a word is an ordinary character, so what follows is a directive.
        {
            text: 'env a"; probe1 off; # "\n',
            nginx: 'unknown directive "probe1"',
            reads: [
                ["env", 'a"'],
                ["probe1", "off"],
            ],
        },
        { text: "env 'a; probe1;\n", nginx: 'unexpected end of file, expecting ";" or "}"' },
        { text: 'probe"x;\n', nginx: 'unknown directive "probe"x"', reads: [['probe"x']] },
        { text: '"probe y";\n', nginx: 'unknown directive "probe y"', reads: [["probe y"]] },
        { text: 'env "a"b;\n', nginx: 'unexpected "b"' },
        { text: "env a#b; probe1;\n", nginx: 'unknown directive "probe1"', reads: [["env", "a#b"], ["probe1"]] },
        {
            text: "env a #b; probe1;\nprobe2;\n",
            nginx: 'invalid number of arguments in "env" directive',
            reads: [["env", "a", "probe2"]],
        },
        { text: "env a}; probe1;\n", nginx: 'unknown directive "probe1"', reads: [["env", "a}"], ["probe1"]] },
        {
            text: String.raw`env a\"b; probe1;` + "\n",
            nginx: 'unknown directive "probe1"',
            reads: [["env", 'a"b'], ["probe1"]],
        },
        {
            text: String.raw`env "a\"; probe1;"; probe2;` + "\n",
            nginx: 'unknown directive "probe2"',
            reads: [["env", 'a"; probe1;'], ["probe2"]],
        },
        { text: "probe${x};\n", nginx: 'unknown directive "probe${x}"', reads: [["probe${x}"]] },
        { text: "env\fa; probe1;\n", nginx: 'unknown directive "env\fa"', reads: [["env\fa"], ["probe1"]] },
        { text: '"env" a; probe1;\n', nginx: 'unknown directive "probe1"', reads: [["env", "a"], ["probe1"]] },
        { text: "env a;probe1;\n", nginx: 'unknown directive "probe1"', reads: [["env", "a"], ["probe1"]] },
        { text: "env 'a'\"b\";\n", nginx: 'unexpected """' },
        {
            text: String.raw`env \"a; probe1;` + "\n",
            nginx: 'unknown directive "probe1"',
            reads: [["env", '"a'], ["probe1"]],
        },
        { text: "env a;#probe1;\nprobe2;\n", nginx: 'unknown directive "probe2"', reads: [["env", "a"], ["probe2"]] },
        {
            text: String.raw`env a\;b; probe1;` + "\n",
            nginx: 'unknown directive "probe1"',
            reads: [["env", String.raw`a\;b`], ["probe1"]],
        },
        { text: 'env "a"}\n', nginx: 'unexpected "}"' },
        { text: "events { worker_connections 10 } probe1;\n", nginx: 'unexpected "}"' },
        { text: 'env "a"\n', nginx: 'unexpected end of file, expecting ";" or "}"' },
        { text: "env a\\\nb; probe1;\n", nginx: 'unknown directive "probe1"', reads: [["env", "a\\\nb"], ["probe1"]] },
        {
            text: String.raw`probe\x\t\"\\y;` + "\n",
            nginx: 'unknown directive "probe\\x\t"\\y"',
            reads: [['probe\\x\t"\\y']],
        },
        { text: 'env "a"#x\n;probe1;\n', nginx: 'unexpected "#"' },
        { text: "env 'it''s'; probe1;\n", nginx: 'unexpected "\'"' },
        { text: "events {} }\n", nginx: 'unexpected "}"' },
    ];

    const flat = (directives: readonly Directive[]): string[][] => directives.map((d) => [d.name, ...d.args]);

    for (const { text, nginx, reads } of cases) {
        it(`${JSON.stringify(text)}: ${reads ? "reads" : "refuses"} it as Nginx does (${nginx})`, () => {
            if (!reads) {
                assert.throws(() => parseNginxConfig(text));
                return;
            }
            const parsed = flat(parseNginxConfig(text));
            assert.deepStrictEqual(parsed, reads);
            const unknown = /^unknown directive "(.*)"$/s.exec(nginx)?.[1];
            if (unknown !== undefined) {
                assert.ok(
                    parsed.some(([name]) => name === unknown),
                    `Nginx's first unknown directive ${unknown}`,
                );
            }
        });
    }

    it("keeps blocks, lines and the renderer's escapes (a map value that is a map parameter stays a value)", () => {
        const config = parseNginxConfig('http {\n    map $a $b {\n        "\\include" 1;\n    }\n}\n');
        assert.deepStrictEqual(config[0].block?.[0].block?.[0], { name: "\\include", args: ["1"], line: 3 });
    });
});

describe("policy: nginx.conf rules refuse each way around them", () => {
    it("accepts what the renderer emits, with verification on and optional", () => {
        assertAccepted(verifyOn);
        assertAccepted(optional);
    });

    it("reads a quote inside a word as Nginx does: a hidden `ssl_verify_client off` is seen", () => {
        const hidden = 'add_header X-A a"; ssl_verify_client off; add_header X-B "x; ssl_verify_client on; #";';
        const at = mainVerify(verifyOn);
        const text = `${verifyOn.slice(0, at)}        ${hidden}${verifyOn.slice(verifyOn.indexOf("\n", at))}`;
        assertRefused(nginxProblems(text), "server localhost: ssl_verify_client is off; allowed: on, optional");
    });

    for (const answer of ['return 200 "secret\\n";', "proxy_pass http://upstream:8080;", "root /srv/files;"]) {
        it(`refuses \`${answer}\` before a location's guard (optional verification)`, () => {
            const text = after(optional, "        location /admin/ {\n", `            ${answer}\n`);
            assertRefused(
                nginxProblems(text),
                `server localhost: location /admin/: ${answer.split(" ")[0]} comes before the guard ` +
                    '"if ($ssl_client_verify != SUCCESS) { return 4xx; }", so it can answer or skip it',
            );
        });
    }

    it("refuses a guard whose block does not refuse first, and one that compares another value", () => {
        for (const guard of [
            adminGuard.replace("{ return 400; }", "{ break; return 400; }"),
            adminGuard.replace("SUCCESS", "success"),
        ]) {
            assertRefused(
                nginxProblems(edit(optional, adminGuard, guard)),
                "location /admin/ answers without a verified client certificate",
            );
        }
    });

    it("accepts the guard in the other forms Nginx reads the same: spaced parentheses, quotes, the variable's case", () => {
        for (const guard of [
            'if ( $ssl_client_verify != "SUCCESS" ) { return 403; }',
            "if ($SSL_Client_Verify != SUCCESS) { return 400; }",
        ]) {
            assertAccepted(edit(optional, adminGuard, adminGuard.replace(/if .*\n/, `${guard}\n`)));
        }
    });

    it("refuses a nested location: it inherits none of its parent's guard", () => {
        const text = after(optional, adminGuard, "            location /admin/secret { return 200; }\n");
        assertRefused(
            nginxProblems(text),
            "server localhost: location /admin/secret answers without a verified client certificate",
        );
    });

    it("refuses a regex or named location on a public path, and a named location without a guard", () => {
        for (const location of ["location ~ /healthz", "location @fallback"]) {
            const text = before(optional, healthz, `        ${location} { return 200; }\n`);
            assertRefused(nginxProblems(text), `${location} answers without a verified client certificate`);
        }
    });

    it("refuses what answers at server level before any location's guard, and what skips a server-level guard", () => {
        for (const [directive, shown] of [
            ['return 200 "secret";', "return 200 secret"],
            ["if ($arg_x) { return 200; }", "if ($arg_x)"],
        ]) {
            assertRefused(
                nginxProblems(after(optional, serverRoot, `        ${directive}\n`)),
                `server localhost: ${shown} at server level answers before any location's guard`,
            );
        }
        const serverGuard = "        if ($ssl_client_verify != SUCCESS) { return 400; }\n";
        const problems = nginxProblems(after(unguardAdmin(optional), serverRoot, `        break;\n${serverGuard}`));
        assertRefused(problems, "server localhost: break comes before the server-level guard");
        assertRefused(problems, "location /admin/ answers without a verified client certificate");
        // A server-level guard that nothing can skip covers every location; a 4xx refusal is not an answer.
        assertAccepted(after(unguardAdmin(optional), serverRoot, `        set $a 1;\n${serverGuard}`));
        assertAccepted(after(optional, serverRoot, "        if ($http_x_forbidden) { return 403; }\n"));
    });

    it("refuses plaintext: a listen without ssl, in a TLS server or a server of its own, and a server with no listen", () => {
        for (const [text, expected] of [
            [
                after(optional, mainServer, "        listen 8080;\n"),
                "server localhost: listen 8080 has no ssl: it answers without TLS and without a client certificate",
            ],
            [
                before(optional, mainServer, '    server { listen 80; return 200 "x"; }\n'),
                "the unnamed server: listen 80 has no ssl",
            ],
            [
                before(optional, mainServer, "    server { server_name other; }\n"),
                "server other: no listen, so Nginx listens in plaintext on port 80",
            ],
        ]) {
            assertRefused(nginxProblems(text), expected);
        }
    });

    it('refuses include anywhere (a map\'s "include" is one too), load_module, and stream or mail blocks', () => {
        for (const [anchor, insert, expected] of [
            [
                "http {\n",
                "    include conf.d/*.conf;\n",
                "include conf.d/*.conf: the policy cannot see an included file",
            ],
            [adminGuard, "            include snippets/admin.conf;\n", "include snippets/admin.conf:"],
            ["        default 0;\n", '        "include" extra.map;\n', "include extra.map:"],
        ]) {
            assertRefused(nginxProblems(after(optional, anchor, insert)), expected);
        }
        for (const [insert, expected] of [
            ["load_module modules/ngx_http_perl_module.so;", "load_module modules/ngx_http_perl_module.so: a module"],
            ["stream { server { listen 8443; proxy_pass upstream:8080; } }", "a stream block serves outside http"],
            ["mail { server { listen 25; } }", "a mail block serves outside http"],
        ]) {
            const text = before(optional, "events {", `${insert}\n`);
            assertRefused(nginxProblems(text), expected);
            // Both rules refuse it: neither can judge past it.
            assertRefused(tlsProtocolProblems(parseNginxConfig(text), floor), expected);
        }
    });

    it("refuses error_page for a refused certificate (495, 496) or a plaintext request (497): Nginx would answer it", () => {
        for (const codes of ["495 496", "497"]) {
            assertRefused(
                nginxProblems(after(verifyOn, serverRoot, `        error_page ${codes} =200 /;\n`)),
                `error_page ${codes} =200 / turns a request refused for its client certificate`,
            );
        }
    });

    it("refuses a made-up $ssl_client_verify: set, map (Nginx's SSL variables are changeable)", () => {
        const set = after(optional, serverRoot, "        set $ssl_client_verify SUCCESS;\n");
        assertRefused(nginxProblems(set), "set $ssl_client_verify SUCCESS redefines $ssl_client_verify");
        const map = before(optional, "    ssl_protocols", "    map $uri $SSL_CLIENT_VERIFY { default SUCCESS; }\n");
        assertRefused(nginxProblems(map), "map $uri $SSL_CLIENT_VERIFY redefines $ssl_client_verify");
        // Reading it is fine: the renderer's maps and upstream headers do.
        assertAccepted(
            before(optional, "    ssl_protocols", "    map $ssl_client_verify $ok { default 0; SUCCESS 1; }\n"),
        );
    });

    it("adds up every ssl_protocols line of a block, as Nginx does (a bitmask), in any case", () => {
        const protocols = "    ssl_protocols TLSv1.2 TLSv1.3;";
        assertRefused(
            nginxProblems(before(optional, protocols, "    ssl_protocols TLSv1 TLSv1.1;\n")),
            "server localhost: ssl_protocols enables TLSv1, TLSv1.1; allowed: TLSv1.2, TLSv1.3",
        );
        assertAccepted(edit(optional, protocols, "    ssl_protocols tlsv1.2 TLSV1.3;"));
    });

    const catchAll = {
        reject: "        ssl_reject_handshake on;\n",
        verify: "        ssl_verify_client on;\n",
        trust: "        ssl_client_certificate client-ca.pem;\n        root /nonexistent;\n        return 421;",
    };

    it("refuses a catch-all server that rejects handshakes but does not verify: a request can reach it by Host", () => {
        const text = edit(optional, catchAll.reject + catchAll.verify, catchAll.reject);
        assertRefused(
            nginxProblems(text),
            "the unnamed server: no ssl_verify_client, so client certificates are not asked for",
        );
    });

    it("refuses two servers that complete handshakes with different client CAs", () => {
        const certificate = "        ssl_certificate server-chain.pem;\n        ssl_certificate_key server-key.pem;\n";
        const completes = edit(optional, catchAll.reject, certificate);
        const text = edit(completes, catchAll.trust, catchAll.trust.replace("client-ca.pem", "other-ca.pem"));
        assertRefused(
            nginxProblems(text),
            "the unnamed server (ssl_client_certificate other-ca.pem) and server localhost (ssl_client_certificate " +
                "client-ca.pem, ssl_crl crl.pem) complete handshakes with different client CAs or CRLs",
        );
    });
});

describe("policy: the renderer's own nginx.conf passes", () => {
    const specs: Record<string, NginxConfigSpec> = {
        "verification on, one location": base,
        "verification on, several names, an upstream, a CRL, key exchange groups": {
            ...base,
            serverNames: ["localhost", "mtls.test"],
            checkRevocation: true,
            keyExchangeGroups: ["X25519MLKEM768", "X25519"],
            locations: [
                { path: "/", requireClientCertificate: true, allowedClients: ["default", "include", "hostnames"] },
                { path: "/api/", requireClientCertificate: true, proxyPass: "http://app:8080" },
            ],
        },
        "optional verification, public health, allowlist, upstream, CRL": optionalSpec,
        "client issuers (an external root or an imported chain: a server-level 4xx refusal), verification on": {
            ...base,
            clientIssuers: ["CN=mtls-nginx intermediate,O=mtls-nginx", 'CN=Odd \\"name\\"'],
        },
        "client issuers under optional verification": { ...optionalSpec, clientIssuers: ["CN=Issuing CA,O=Example"] },
        "optional verification without a location /": {
            ...optionalSpec,
            locations: optionalSpec.locations.filter((location) => location.path !== "/"),
        },
        "optional verification, a public upstream, files in the Swarm config directory": {
            ...optionalSpec,
            fileDirectory: "/etc/nginx/mtls",
            locations: [
                { path: "/healthz", requireClientCertificate: false, proxyPass: "http://app:8080" },
                { path: "/", requireClientCertificate: true, proxyPass: "http://app:8080" },
            ],
        },
    };
    for (const [name, spec] of Object.entries(specs)) {
        it(name, () => assertAccepted(renderNginxConfig(spec)));
    }
});

describe("policy: the product's own resources pass every rule (the program on the mocks)", () => {
    const now = new Date("2026-11-28T12:00:00Z");
    const stacks: Record<string, Record<string, unknown>> = {
        "the default stack (container, verification on)": {},
        "a Swarm service": { platform: "swarm" },
        "a Kubernetes Deployment": { platform: "kubernetes", replicas: "2" },
        "optional verification, an intermediate CA, a revocation, an upstream": {
            verifyClient: "optional",
            intermediateCa: true,
            clients: ["alice", "bob"],
            revokedClients: ["bob"],
            locations: [
                { path: "/healthz", requireClientCertificate: false },
                { path: "/" },
                { path: "/admin/", allowedClients: ["alice"] },
                { path: "/api/", proxyPass: "http://upstream:8080" },
            ],
        },
    };
    for (const [name, raw] of Object.entries(stacks)) {
        it(name, async () => {
            await deployOnMocks(raw, { now, awaiting: ["caCertificatePem", "smokeTest"] });
            const judged = new Set<string>();
            for (const resource of recordedResources) {
                for (const rule of Object.keys(rules) as PolicyName[]) {
                    if (!rules[rule].types.includes(resource.type)) continue;
                    if (rules[rule].readsNginxConfig && !nginxConfigOf(resource.type, resource.inputs)) continue;
                    judged.add(`${rule} ${resource.type}`);
                    assert.deepStrictEqual(
                        problemsOf(rule, resource.type, resource.inputs),
                        [],
                        `${rule}: ${resource.name}`,
                    );
                }
            }
            const runtime = {
                swarm: [resourceTypes.service],
                kubernetes: [resourceTypes.deployment, resourceTypes.job],
            }[String(raw.platform)] ?? [resourceTypes.container];
            const nginxConfigCarrier = raw.platform === "kubernetes" ? resourceTypes.configMap : resourceTypes.command;
            for (const expected of [
                ...runtime.map((type) => `container-hardening ${type}`),
                `tls-protocol-floor ${nginxConfigCarrier}`,
                `client-certificate-verification ${nginxConfigCarrier}`,
            ]) {
                assert.ok(judged.has(expected), `${expected} was judged; judged: ${[...judged].join(", ")}`);
            }
        });
    }
});

describe("policy: container-hardening judges a Kubernetes pod template", () => {
    /** The parts of a pod spec the cases change (mutable, unlike the rule's input type). */
    interface PodSpec {
        securityContext: { seccompProfile: { type: string } };
        containers: Array<{
            name: string;
            securityContext: {
                capabilities: { drop: string[]; add: string[] };
                allowPrivilegeEscalation?: boolean;
                readOnlyRootFilesystem: boolean;
                privileged?: boolean;
            };
            resources?: { limits: { memory: string } };
        }>;
        initContainers?: Array<{ name: string }>;
        volumes: Array<{ name: string; projected?: object; hostPath?: { path: string } }>;
        hostNetwork?: boolean;
    }
    const pod = (change: (spec: PodSpec) => void) => {
        const owner = {
            spec: {
                template: {
                    spec: {
                        securityContext: { seccompProfile: { type: "RuntimeDefault" } },
                        containers: [
                            {
                                name: "nginx",
                                securityContext: {
                                    capabilities: { drop: ["ALL"], add: ["NET_BIND_SERVICE"] },
                                    allowPrivilegeEscalation: false,
                                    readOnlyRootFilesystem: true,
                                },
                                resources: { limits: { memory: "256Mi" } },
                            },
                        ],
                        volumes: [{ name: "file-set", projected: {} }],
                    } as PodSpec,
                },
            },
        };
        change(owner.spec.template.spec);
        return podTemplateProblems(owner as PodTemplateOwnerInputs, hardening);
    };

    it("accepts a locked-down pod", () =>
        assert.deepStrictEqual(
            pod(() => {}),
            [],
        ));
    const cases: Array<[string, (spec: PodSpec) => void, RegExp]> = [
        ["capabilities kept", (spec) => (spec.containers[0].securityContext.capabilities.drop = []), /not dropped/],
        [
            "an extra capability",
            (spec) => spec.containers[0].securityContext.capabilities.add.push("SYS_ADMIN"),
            /SYS_ADMIN are added/,
        ],
        [
            "privilege escalation",
            (spec) => delete spec.containers[0].securityContext.allowPrivilegeEscalation,
            /privilege escalation is allowed/,
        ],
        [
            "a writable root",
            (spec) => (spec.containers[0].securityContext.readOnlyRootFilesystem = false),
            /root filesystem is writable/,
        ],
        ["a privileged container", (spec) => (spec.containers[0].securityContext.privileged = true), /is privileged/],
        ["seccomp off", (spec) => (spec.securityContext.seccompProfile.type = "Unconfined"), /seccomp is Unconfined/],
        ["no memory limit", (spec) => delete spec.containers[0].resources, /no memory limit/],
        [
            "too much memory",
            (spec) => (spec.containers[0].resources = { limits: { memory: "64Gi" } }),
            /above the maximum/,
        ],
        [
            "the host's network",
            (spec) => (spec.hostNetwork = true),
            /hostNetwork: the pod shares the host's network stack/,
        ],
        [
            "a hostPath volume",
            (spec) => spec.volumes.push({ name: "sock", hostPath: { path: "/run/containerd/containerd.sock" } }),
            /engine's socket/,
        ],
        [
            "an init container that is not locked down",
            (spec) => (spec.initContainers = [{ name: "init" }]),
            /container init: capabilities are not dropped/,
        ],
    ];
    for (const [name, change, expected] of cases) {
        it(`refuses ${name}`, () => assertRefused(pod(change), expected));
    }
});

describe("policy: container-hardening refuses each way around it", () => {
    /** What the product's container asks for (components/nginxEndpoint.ts, containerLockdown). */
    const hardened: ContainerInputs = {
        capabilities: { drops: ["ALL"], adds: ["CAP_CHOWN", "CAP_NET_BIND_SERVICE", "CAP_SETGID", "CAP_SETUID"] },
        securityOpts: ["no-new-privileges:true"],
        readOnly: true,
        memory: 256,
        memorySwap: 256,
        volumes: [{ volumeName: "mtls-nginx-files", containerPath: "/etc/nginx/mtls" }],
    };
    const refused = (container: ContainerInputs, expected: string) =>
        assertRefused(containerProblems(container, hardening), expected);

    it("accepts the product's container, and the default confinements spelled out", () => {
        assert.deepStrictEqual(containerProblems(hardened, hardening), []);
        const spelled = {
            ...hardened,
            securityOpts: ["seccomp=builtin", "apparmor=docker-default", "no-new-privileges"],
        };
        assert.deepStrictEqual(containerProblems(spelled, hardening), []);
    });

    for (const [option, expected] of [
        ["seccomp=unconfined", "securityOpts seccomp=unconfined turns seccomp filtering off"],
        ["seccomp:unconfined", "securityOpts seccomp:unconfined turns seccomp filtering off"],
        ["apparmor=unconfined", "securityOpts apparmor=unconfined turns AppArmor off"],
        ["label=disable", "securityOpts label=disable turns SELinux separation off"],
        ["label:disable", "securityOpts label:disable turns SELinux separation off"],
        ["systempaths=unconfined", "securityOpts systempaths=unconfined unmasks /proc and /sys paths"],
        [
            'seccomp={"defaultAction":"SCMP_ACT_ALLOW"}',
            "replaces a default confinement with one the policy cannot judge",
        ],
        ["label=type:spc_t", "securityOpts label=type:spc_t replaces a default confinement"],
    ]) {
        it(`refuses securityOpts ${option}`, () =>
            refused({ ...hardened, securityOpts: ["no-new-privileges:true", option] }, expected));
    }

    it("refuses no-new-privileges turned off again after it was set (the daemon keeps the last one)", () => {
        refused(
            { ...hardened, securityOpts: ["no-new-privileges:true", "no-new-privileges=false"] },
            'no-new-privileges is not set (securityOpts "no-new-privileges:true")',
        );
    });

    for (const [field, value, expected] of [
        ["networkMode", "host", "networkMode host: the container shares the host's network stack"],
        ["pidMode", "host", "pidMode host: the container shares the host's processes"],
        ["ipcMode", "host", "ipcMode host: the container shares the host's IPC namespace"],
        ["usernsMode", "host", "usernsMode host: the container shares the host's user namespace"],
        ["cgroupnsMode", "host", "cgroupnsMode host: the container shares the host's cgroup namespace"],
        ["pidMode", "container:other", "pidMode container:other: the container joins another container's processes"],
        ["networkMode", "container:other", "joins another container's network stack"],
    ] as const) {
        it(`refuses ${field} ${value}`, () => refused({ ...hardened, [field]: value }, expected));
    }

    it("refuses host bind mounts: the Docker socket, the root filesystem, any host path, another container's volumes", () => {
        const volume = (entry: NonNullable<ContainerInputs["volumes"]>[number]) => ({ ...hardened, volumes: [entry] });
        refused(
            volume({ hostPath: "/var/run/docker.sock", containerPath: "/var/run/docker.sock" }),
            "volumes /var/run/docker.sock: bind-mounts the container engine's socket /var/run/docker.sock",
        );
        // The provider binds volumeName as the source when it is set: a path there is a host path too.
        refused(
            volume({ volumeName: "/", containerPath: "/host" }),
            "volumes /host: bind-mounts the host's root filesystem",
        );
        refused(
            volume({ volumeName: "//run/", containerPath: "/host" }),
            "volumes /host: bind-mounts the host path //run/",
        );
        refused(volume({ fromContainer: "other" }), "volumes takes every volume of container other");
        const mount = (entry: NonNullable<ContainerInputs["mounts"]>[number]) => ({ ...hardened, mounts: [entry] });
        refused(
            mount({ type: "bind", source: "/", target: "/host" }),
            "mounts /host: bind-mounts the host's root filesystem",
        );
        refused(
            mount({ type: "bind", source: "/run/docker.sock", target: "/docker.sock" }),
            "mounts /docker.sock: bind-mounts the container engine's socket /run/docker.sock",
        );
        refused(
            mount({
                type: "volume",
                source: "v",
                target: "/host",
                volumeOptions: { driverOptions: { type: "none", o: "bind", device: "/" } },
            }),
            "mounts /host: volumeOptions.driverOptions device=/ o=bind mounts a host path",
        );
        assert.deepStrictEqual(containerProblems(mount({ type: "tmpfs", target: "/tmp" }), hardening), []);
    });

    it("refuses devices, GPUs and a privileged container", () => {
        refused(
            { ...hardened, devices: [{ hostPath: "/dev/sda" }] },
            "devices /dev/sda give the container host devices",
        );
        refused({ ...hardened, gpus: "all" }, "gpus all gives the container the host's GPUs");
        refused({ ...hardened, privileged: true }, "the container is privileged");
    });

    it("refuses swap on top of the memory limit: unlimited (-1), Docker's default (unset), or more than memory", () => {
        refused({ ...hardened, memorySwap: -1 }, "memorySwap -1 gives the container unlimited swap");
        refused({ ...hardened, memorySwap: undefined }, "memorySwap is not set, so Docker adds 256 MiB of swap on top");
        refused({ ...hardened, memorySwap: 1024 }, "memorySwap 1024 MiB adds 768 MiB of swap on top");
    });

    describe("a Swarm service", () => {
        const containerSpec = {
            capDrops: ["ALL"],
            capAdds: ["NET_BIND_SERVICE"],
            readOnly: true,
            mounts: [{ target: "/tmp", type: "tmpfs" }],
        };
        const service = (
            spec: Partial<NonNullable<NonNullable<ServiceInputs["taskSpec"]>["containerSpec"]>>,
            more = {},
        ) => ({
            taskSpec: {
                containerSpec: { ...containerSpec, ...spec },
                resources: { limits: { memoryBytes: 256 * 1024 * 1024 } },
                ...more,
            },
        });

        it("accepts the hardened service", () => assert.deepStrictEqual(serviceProblems(service({}), hardening), []));

        it("refuses any host bind mount, a volume that binds a host path, SELinux off, the host network", () => {
            assertRefused(
                serviceProblems(
                    service({ mounts: [{ type: "bind", source: "/var/run/docker.sock", target: "/s" }] }),
                    hardening,
                ),
                "taskSpec.containerSpec.mounts /s: bind-mounts the container engine's socket /var/run/docker.sock",
            );
            assertRefused(
                serviceProblems(service({ mounts: [{ type: "bind", source: "/srv/www", target: "/www" }] }), hardening),
                "taskSpec.containerSpec.mounts /www: bind-mounts the host path /srv/www; allowed: named volumes and tmpfs",
            );
            assertRefused(
                serviceProblems(
                    service({
                        mounts: [
                            {
                                type: "volume",
                                target: "/h",
                                volumeOptions: { driverOptions: { o: "bind", device: "/etc" } },
                            },
                        ],
                    }),
                    hardening,
                ),
                "taskSpec.containerSpec.mounts /h: volumeOptions.driverOptions device=/etc o=bind mounts a host path",
            );
            assertRefused(
                serviceProblems(service({ privileges: { seLinuxContext: { disable: true } } }), hardening),
                "seLinuxContext.disable turns SELinux separation off",
            );
            assertRefused(
                serviceProblems(service({}, { networksAdvanceds: [{ name: "host" }] }), hardening),
                "taskSpec.networksAdvanceds host: the tasks share the host's network stack",
            );
        });
    });

    it("refuses a named volume that is a host path (local driver, o=bind or a device path), through the pack's rule", () => {
        const volume = resourceTypes.volume;
        assertRefused(
            problemsOf("container-hardening", volume, {
                driverOpts: { type: "none", o: "bind", device: "/var/run/docker.sock" },
            }),
            "driverOpts device=/var/run/docker.sock o=bind mounts a host path",
        );
        assert.deepStrictEqual(volumeProblems({ driverOpts: { type: "tmpfs", device: "tmpfs" } }), []);
        assert.deepStrictEqual(problemsOf("container-hardening", volume, { name: "mtls-nginx-files" }), []);
    });
});

describe("policy: the pack's rules on the resources that carry nginx.conf (policy/rules.ts)", () => {
    const fileSet = (content: string) => JSON.stringify({ files: [{ name: "nginx.conf", content, mode: 0o644 }] });

    it("judges the file set a Command carries and the Swarm config, and says why a set cannot be parsed", () => {
        const command = resourceTypes.command;
        assert.deepStrictEqual(
            problemsOf("client-certificate-verification", command, { stdin: fileSet(optional) }),
            [],
        );
        const included = {
            data: Buffer.from(after(optional, "http {\n", "    include x.conf;\n")).toString("base64"),
        };
        assertRefused(problemsOf("tls-protocol-floor", resourceTypes.serviceConfig, included), "include x.conf:");
        assertRefused(
            problemsOf("client-certificate-verification", command, { stdin: fileSet('env "a"b;\n') }),
            'nginx.conf cannot be parsed: unexpected "b" on line 1',
        );
        assert.deepStrictEqual(problemsOf("container-hardening", command, { stdin: fileSet(optional) }), []);
    });
});
