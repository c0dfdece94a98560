/**
 * Integration tier: an https upstream is verified. Nginx's default (proxy_ssl_verify off) hands a
 * client's request, its certificate in Client-Cert included, to whatever answers at the upstream
 * address. The rendered config verifies the upstream's chain (against the CAs stack config gives, or
 * the image's system bundle) and its name (the proxyPass host), so a wrong CA or a wrong name gets
 * 502, never the upstream's answer. A control with the verification taken out shows the gap.
 */
import * as assert from "assert/strict";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";

import { containerListenPort, endpointFiles } from "../../nginx/files";
import { renderNginxConfig, trustDigest, type NginxLocation } from "../../nginx/renderNginxConfig";
import {
    addressOn,
    assertDockerReady,
    connectToNetwork,
    createNetwork,
    docker,
    ownedByThisRun,
    removeContainer,
    removeNetwork,
    serveFileSet,
    testImage,
    type RunningEndpoint,
} from "../../testkit/docker";
import { TestPki, type CertificateAuthority, type IssuedCertificate } from "../../testkit/pki";
import { tlsRequest, type TlsResponse } from "../../testkit/tls";

const serverName = "localhost";
const upstreamPort = 8443;

describe("https upstreams are verified: chain and name", function () {
    this.timeout(120_000);
    let directory: string;
    let network: string;
    let pki: TestPki;
    let root: CertificateAuthority;
    let server: IssuedCertificate;
    let client: IssuedCertificate;
    let upstreamCa: CertificateAuthority;
    const containers: string[] = [];
    const endpoints: Record<string, RunningEndpoint> = {};

    /** Upstream names the endpoints resolve (through /etc/hosts: no DNS server here). */
    const hosts: Record<string, string> = {};

    /**
     * An Nginx on the test network, named `${label}.upstream.test`, serving TLS with a certificate for
     * `certifiedName`; returns its name.
     */
    const startUpstream = (label: string, certifiedName: string): string => {
        const mounted = path.join(directory, `upstream-${label}`);
        fs.mkdirSync(mounted);
        const name = `mtls-nginx-it-${process.pid}-upstream-${label}`;
        // prettier-ignore
        const started = docker([
            "run", "-d", "--name", name, ...ownedByThisRun(), "--network", network, "-v", `${mounted}:/u:ro`, testImage,
            "sh", "-c", "until [ -s /u/nginx.conf ]; do sleep 0.2; done; exec nginx -c /u/nginx.conf -g 'daemon off;'",
        ]);
        assert.equal(started.status, 0, started.stderr);
        containers.push(name);
        const hostName = `${label}.upstream.test`;
        hosts[hostName] = addressOn(network, name);
        const certificate = pki.issueLeaf({
            name: `upstream-${label}`,
            profile: "server",
            issuer: upstreamCa,
            algorithm: "ECDSA-P256",
            dnsNames: [certifiedName],
        });
        fs.writeFileSync(path.join(mounted, "chain.pem"), certificate.chainPem);
        fs.writeFileSync(path.join(mounted, "key.pem"), certificate.keyPem, { mode: 0o644 });
        const config = [
            "pid /tmp/upstream.pid;",
            "events {}",
            "http {",
            `    server { listen ${upstreamPort} ssl; ssl_certificate /u/chain.pem; ssl_certificate_key /u/key.pem;`,
            `        location / { return 200 "upstream ${label} answered\\n"; } }`,
            "}",
        ].join("\n");
        fs.writeFileSync(path.join(mounted, "nginx.conf"), config);
        return hostName;
    };

    /** An endpoint proxying each location to its upstream, trusting `upstreamTrust`. */
    const startEndpointFor = async (
        label: string,
        locations: NginxLocation[],
        upstreamTrust: "bundle" | "system",
        edit: (config: string) => string = (config) => config,
    ): Promise<RunningEndpoint> => {
        const mounted = path.join(directory, `endpoint-${label}`);
        fs.mkdirSync(mounted);
        if (upstreamTrust === "bundle") {
            fs.writeFileSync(path.join(mounted, endpointFiles.upstreamTrustBundle), upstreamCa.certificatePem);
        }
        const endpoint = await serveFileSet(
            mounted,
            `upstream-tls-${label}`,
            {
                nginxConfig: edit(
                    renderNginxConfig({
                        serverNames: [serverName],
                        listenPort: containerListenPort,
                        verifyClient: "on",
                        verifyDepth: 1,
                        workerProcesses: "1",
                        locations,
                        upstreamTrust,
                        checkRevocation: false,
                        trustDigest: trustDigest(root.certificatePem, ""),
                    }),
                ),
                serverChainPem: server.chainPem,
                serverKeyPem: server.keyPem,
                clientTrustBundlePem: root.certificatePem,
            },
            { serverName, caPem: root.certificatePem },
            hosts,
        );
        containers.push(endpoint.name);
        connectToNetwork(network, endpoint.name);
        return endpoint;
    };

    const get = (endpoint: RunningEndpoint, requestPath: string): Promise<TlsResponse> =>
        tlsRequest({
            port: endpoint.port,
            servername: serverName,
            ca: root.certificatePem,
            cert: client.chainPem,
            key: client.keyPem,
            path: requestPath,
        });

    before(async () => {
        assertDockerReady();
        directory = fs.mkdtempSync(path.join(os.tmpdir(), "mtls-nginx-upstream-tls-"));
        network = createNetwork("upstream-tls");
        pki = new TestPki(path.join(directory, "pki"));
        root = pki.createRootCa("mtls-nginx root CA", "ECDSA-P256");
        server = pki.issueServer(serverName, root);
        client = pki.issueLeaf({ name: "client-1", profile: "client", issuer: root, algorithm: "ECDSA-P256" });
        upstreamCa = pki.createRootCa("upstream CA", "ECDSA-P256");
        // One upstream whose certificate carries its name, one whose certificate names another host.
        const named = startUpstream("named", "named.upstream.test");
        const misnamed = startUpstream("misnamed", "other.upstream.test");
        const locations: NginxLocation[] = [
            { path: "/named/", requireClientCertificate: true, proxyPass: `https://${named}:${upstreamPort}` },
            { path: "/misnamed/", requireClientCertificate: true, proxyPass: `https://${misnamed}:${upstreamPort}` },
        ];
        endpoints.bundle = await startEndpointFor("bundle", locations, "bundle");
        endpoints.system = await startEndpointFor("system", locations, "system");
        // Control: the same config without the verification lines, as Nginx defaults.
        endpoints.unverified = await startEndpointFor("unverified", locations, "bundle", (config) =>
            config.replace(/^ *proxy_ssl_(verify|verify_depth|trusted_certificate) .*\n/gm, ""),
        );
    });

    after(() => {
        for (const name of containers) removeContainer(name);
        if (network) removeNetwork(network);
        fs.rmSync(directory, { recursive: true, force: true });
    });

    it("proxies to an upstream whose chain verifies against the given CAs and whose certificate names it", async () => {
        const answer = await get(endpoints.bundle, "/named/");
        assert.equal(answer.status, 200, answer.body);
        assert.equal(answer.body.trim(), "upstream named answered");
    });

    it("answers 502 for an upstream whose certificate names another host", async () => {
        const answer = await get(endpoints.bundle, "/misnamed/");
        assert.equal(answer.status, 502, answer.body);
        assert.doesNotMatch(answer.body, /answered/);
    });

    it("answers 502 for an upstream whose CA is not trusted (the image's system bundle by default)", async () => {
        const answer = await get(endpoints.system, "/named/");
        assert.equal(answer.status, 502, answer.body);
        assert.doesNotMatch(answer.body, /answered/);
    });

    it("control: without the verification, the misnamed upstream gets the request", async () => {
        const answer = await get(endpoints.unverified, "/misnamed/");
        assert.equal(answer.status, 200, answer.body);
        assert.equal(answer.body.trim(), "upstream misnamed answered");
    });
});
