import * as assert from "assert";
import { spawnSync } from "child_process";
import { X509Certificate } from "crypto";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import * as tls from "tls";
import { CertificateAuthority, IssuedCertificate, TestPki } from "../../testkit/pki";

const repoRoot = path.join(__dirname, "..", "..");
const password = "correct horse battery staple";

/** Runs scripts/clientBundle.sh with the password as its stdin, as scripts/client.sh does. */
function writeBundle(
    client: IssuedCertificate,
    ca: CertificateAuthority,
    out: string,
    options: { legacy?: boolean; password?: string } = {},
) {
    const args = [
        ...(options.legacy ? ["--legacy"] : []),
        client.name,
        client.certificatePath,
        client.keyPath,
        ca.certificatePath,
        out,
    ];
    return spawnSync("bash", [path.join(repoRoot, "scripts", "clientBundle.sh"), ...args], {
        input: `${options.password ?? password}\n`,
        encoding: "utf8",
    });
}

/** `openssl pkcs12` reading a bundle, the password on stdin. */
function readWithOpenssl(bundle: string, args: string[], passwordGiven = password) {
    return spawnSync("openssl", ["pkcs12", "-in", bundle, "-passin", "stdin", ...args], {
        input: `${passwordGiven}\n`,
        encoding: "utf8",
    });
}

function modeOf(file: string): number {
    return fs.statSync(file).mode & 0o777;
}

/** A server on 127.0.0.1 that requires a client certificate from the test CA and reports its CN. */
async function handshakeAs(pfx: Buffer, pki: { ca: CertificateAuthority; server: IssuedCertificate }) {
    let peerCommonName: string | undefined;
    const server = tls.createServer(
        {
            key: pki.server.keyPem,
            cert: pki.server.certificatePem,
            ca: pki.ca.certificatePem,
            requestCert: true,
            rejectUnauthorized: true,
        },
        (socket) => {
            peerCommonName = String(socket.getPeerCertificate().subject.CN);
            socket.end(`hello ${peerCommonName}`);
        },
    );
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const port = (server.address() as { port: number }).port;
    try {
        const answer = await new Promise<string>((resolve, reject) => {
            const socket = tls.connect(
                {
                    host: "127.0.0.1",
                    port,
                    servername: "localhost",
                    ca: pki.ca.certificatePem,
                    pfx,
                    passphrase: password,
                },
                () => {
                    let text = "";
                    socket.on("data", (chunk: Buffer) => (text += chunk.toString("utf8")));
                    socket.on("end", () => resolve(text));
                },
            );
            socket.on("error", reject);
        });
        return { answer, peerCommonName };
    } finally {
        await new Promise((resolve) => server.close(resolve));
    }
}

describe("PKCS#12 client bundles (scripts/clientBundle.sh)", () => {
    let directory: string;
    let ca: CertificateAuthority;
    let server: IssuedCertificate;
    let alice: IssuedCertificate;
    let modern: string;
    let legacy: string;

    before(() => {
        directory = fs.mkdtempSync(path.join(os.tmpdir(), "mtls-bundle-test-"));
        const pki = new TestPki(directory);
        ca = pki.createRootCa("Test Root CA", "ECDSA-P256");
        server = pki.issueLeaf({
            name: "localhost",
            profile: "server",
            issuer: ca,
            algorithm: "ECDSA-P256",
            dnsNames: ["localhost"],
        });
        alice = pki.issueLeaf({ name: "alice", profile: "client", issuer: ca, algorithm: "ECDSA-P256" });
        modern = path.join(directory, "alice.p12");
        legacy = path.join(directory, "alice-legacy.p12");
        for (const [out, isLegacy] of [
            [modern, false],
            [legacy, true],
        ] as const) {
            const result = writeBundle(alice, ca, out, { legacy: isLegacy });
            assert.strictEqual(result.status, 0, result.stderr);
        }
    });

    after(() => {
        fs.rmSync(directory, { recursive: true, force: true });
        assert.ok(!fs.existsSync(directory), "the temp directory is gone");
    });

    it("keeps every key file and bundle at mode 0600", () => {
        for (const file of [ca.keyPath, server.keyPath, alice.keyPath, modern, legacy]) {
            assert.strictEqual(modeOf(file).toString(8), "600", file);
        }
        assert.deepStrictEqual(
            fs.readdirSync(directory).filter((name) => /\.p12\./.test(name)),
            [],
            "no partial bundle left",
        );
    });

    it("writes the default bundle with AES-256 under PBKDF2 and a SHA-256 MAC, readable by openssl", () => {
        const info = readWithOpenssl(modern, ["-info", "-noout"]);
        assert.strictEqual(info.status, 0, info.stderr);
        assert.match(info.stderr, /MAC: sha256/);
        assert.match(info.stderr, /Shrouded Keybag: PBES2, PBKDF2, AES-256-CBC/);
        assert.match(info.stderr, /PKCS7 Encrypted data: PBES2, PBKDF2, AES-256-CBC/);
        // A current work factor for the key, the certificates and the MAC (openssl's default is 2,048).
        assert.match(info.stderr, /MAC: sha256, Iteration 600000/);
        assert.match(info.stderr, /Shrouded Keybag: PBES2, PBKDF2, AES-256-CBC, Iteration 600000, PRF hmacWithSHA256/);
        assert.match(info.stderr, /PKCS7 Encrypted data: PBES2, PBKDF2, AES-256-CBC, Iteration 600000/);
    });

    it("writes the --legacy bundle with 3DES and a SHA-1 MAC, readable by openssl without its legacy provider", () => {
        const info = readWithOpenssl(legacy, ["-info", "-noout"]);
        assert.strictEqual(info.status, 0, info.stderr);
        assert.match(info.stderr, /MAC: sha1/);
        assert.match(info.stderr, /Shrouded Keybag: pbeWithSHA1And3-KeyTripleDES-CBC/);
        assert.match(info.stderr, /PKCS7 Encrypted data: pbeWithSHA1And3-KeyTripleDES-CBC, Iteration 100000/);
        assert.match(info.stderr, /MAC: sha1, Iteration 100000/);
    });

    for (const [label, bundle] of [
        ["default", () => modern],
        ["legacy", () => legacy],
    ] as const) {
        it(`round-trips alice's certificate and the CA through the ${label} bundle`, () => {
            const certificates = readWithOpenssl(bundle(), ["-nokeys"]);
            assert.strictEqual(certificates.status, 0, certificates.stderr);
            const pems = certificates.stdout.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g);
            const fingerprints = (pems ?? []).map((pem) => new X509Certificate(pem).fingerprint256).sort();
            const expected = [alice.certificatePem, ca.certificatePem].map(
                (pem) => new X509Certificate(pem).fingerprint256,
            );
            assert.deepStrictEqual(fingerprints, expected.sort());
            assert.notStrictEqual(readWithOpenssl(bundle(), ["-noout"], "wrong password").status, 0);
        });
    }

    it("loads the default bundle into Node's TLS client and completes an mTLS handshake as alice", async () => {
        const pfx = fs.readFileSync(modern);
        assert.throws(() => tls.createSecureContext({ pfx, passphrase: "wrong password" }));
        const { answer, peerCommonName } = await handshakeAs(pfx, { ca, server });
        assert.strictEqual(peerCommonName, "alice");
        assert.strictEqual(answer, "hello alice");
    });

    it("refuses a key that is not the certificate's (a CSR client's bundle needs the key its CSR was made with)", () => {
        const out = path.join(directory, "mismatch.p12");
        const result = writeBundle({ ...alice, keyPath: server.keyPath }, ca, out);
        assert.strictEqual(result.status, 65, result.stderr);
        assert.match(
            result.stderr,
            /is not the key of .*alice.*allowed: the certificate's own key \(for a client that brought a CSR: the key the CSR was made with\)/,
        );
        assert.ok(!fs.existsSync(out));
    });

    it("refuses an empty password and writes nothing", () => {
        const out = path.join(directory, "empty.p12");
        const result = writeBundle(alice, ca, out, { password: "" });
        assert.strictEqual(result.status, 64);
        assert.match(result.stderr, /empty password/);
        assert.ok(!fs.existsSync(out));
    });

    it("npm run client refuses --legacy without --p12 before touching the stack", () => {
        const result = spawnSync("bash", [path.join(repoRoot, "scripts", "client.sh"), "dev", "alice", "--legacy"], {
            encoding: "utf8",
        });
        assert.strictEqual(result.status, 64);
        assert.match(result.stderr, /only apply with --p12/);
    });
});
