import * as assert from "assert";
import { spawnSync } from "child_process";
import * as crypto from "crypto";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { newP256KeyPem, opensslKeyOnPipe } from "../../testkit/pki";
import { repoRoot } from "../../testkit/stack";

/**
 * Scale limits, for real: components/revocationListScript.sh issues the CRLs of a chain (root and
 * intermediate, as the stack hands them) that revokes 1,000 real certificates, in bounded time,
 * and every serial is listed. (tests/unit/scale.test.ts proves that nothing growing with the
 * clients reaches argv or the environment.)
 */

const revokedCount = 1000;

/** The serials a CRL lists, upper-case hex without leading zeros. */
function crlSerials(dir: string, crlPem: string): string[] {
    fs.writeFileSync(path.join(dir, "one.crl"), crlPem);
    return [
        ...opensslKeyOnPipe(dir, ["crl", "-in", "one.crl", "-noout", "-text"]).matchAll(/Serial Number: ([0-9A-F]+)/g),
    ]
        .map((match) => match[1].replace(/^0+(?=.)/, ""))
        .sort();
}

describe("scale: the CRL script with 1,000 revoked certificates", function () {
    this.timeout(300_000);
    // Made in `before`, not while mocha loads the file: a suite that never starts leaves nothing in /tmp.
    let dir = "";
    const rootKey = newP256KeyPem();
    const intermediateKey = newP256KeyPem();
    const clientKey = newP256KeyPem();
    let revokedPems: string[] = [];
    let issuedSerials: string[] = [];

    before(() => {
        dir = fs.mkdtempSync(path.join(os.tmpdir(), "mtls-scale-"));
        const started = Date.now();
        opensslKeyOnPipe(
            dir,
            ["req", "-x509", "-new", "-key", "/dev/stdin", "-subj", "/O=Scale/CN=Scale Root", "-days", "30"].concat([
                "-addext",
                "basicConstraints=critical,CA:TRUE",
                "-out",
                "root.pem",
            ]),
            rootKey,
        );
        opensslKeyOnPipe(
            dir,
            ["req", "-new", "-key", "/dev/stdin", "-subj", "/O=Scale/CN=Scale Intermediate", "-out", "int.csr"],
            intermediateKey,
        );
        fs.writeFileSync(path.join(dir, "int.ext"), "basicConstraints=critical,CA:TRUE,pathlen:0\n");
        opensslKeyOnPipe(
            dir,
            ["x509", "-req", "-in", "int.csr", "-CA", "root.pem", "-CAkey", "/dev/stdin", "-days", "30"].concat([
                "-set_serial",
                "7",
                "-extfile",
                "int.ext",
                "-out",
                "intermediate.pem",
            ]),
            rootKey,
        );
        opensslKeyOnPipe(
            dir,
            ["req", "-new", "-key", "/dev/stdin", "-subj", "/O=Scale/CN=client", "-out", "client.csr"],
            clientKey,
        );
        // 1,000 client certificates from the intermediate in one openssl run, with 128-bit serials
        // like @pulumi/tls's: a random start, then consecutive.
        fs.mkdirSync(path.join(dir, "issued"));
        fs.writeFileSync(path.join(dir, "index.txt"), "");
        fs.writeFileSync(path.join(dir, "serial"), `7F${crypto.randomBytes(15).toString("hex").toUpperCase()}\n`);
        fs.writeFileSync(
            path.join(dir, "ca.cnf"),
            ["[ca]", "default_ca = issuer", "[issuer]", "database = index.txt", "serial = serial"]
                .concat(["new_certs_dir = issued", "default_md = sha256", "default_days = 30", "policy = any"])
                .concat(["unique_subject = no", "[any]", "commonName = supplied", "organizationName = optional", ""])
                .join("\n"),
        );
        opensslKeyOnPipe(
            dir,
            ["ca", "-batch", "-notext", "-config", "ca.cnf", "-cert", "intermediate.pem", "-keyfile"].concat([
                "/dev/stdin",
                "-out",
                "/dev/null",
                "-infiles",
                ...Array<string>(revokedCount).fill("client.csr"),
            ]),
            intermediateKey,
        );
        const issued = fs.readdirSync(path.join(dir, "issued")).sort();
        revokedPems = issued.map((file) => fs.readFileSync(path.join(dir, "issued", file), "utf8"));
        issuedSerials = issued.map((file) => file.replace(/\.pem$/, "").replace(/^0+(?=.)/, "")).sort();
        console.log(`      ${revokedPems.length} certificates generated in ${(Date.now() - started) / 1000} s`);
    });

    after(() => dir && fs.rmSync(dir, { recursive: true, force: true }));

    it("issues the root's and the intermediate's CRLs, each listing all 1,000 serials, quickly", () => {
        assert.strictEqual(revokedPems.length, revokedCount);
        const root = fs.readFileSync(path.join(dir, "root.pem"), "utf8");
        const intermediate = fs.readFileSync(path.join(dir, "intermediate.pem"), "utf8");
        // What components/certificateRevocationList.ts writes: every CA, each with every revoked certificate.
        const stdin = [
            ["### issuer", root.trim(), rootKey.trim(), ...revokedPems.map((pem) => pem.trim())].join("\n"),
            ["### issuer", intermediate.trim(), intermediateKey.trim(), ...revokedPems.map((pem) => pem.trim())].join(
                "\n",
            ),
        ].join("\n");
        const started = Date.now();
        const result = spawnSync("bash", [path.join(repoRoot, "components", "revocationListScript.sh")], {
            input: stdin,
            env: { ...process.env, CRL_HOURS: "720" },
            encoding: "utf8",
            maxBuffer: 64 * 1024 * 1024,
        });
        const seconds = (Date.now() - started) / 1000;
        console.log(
            `      revocationListScript.sh: 2 CRLs x ${revokedCount} revoked in ${seconds} s ` +
                `(stdin ${(Buffer.byteLength(stdin) / 1024).toFixed(0)} KiB, CRLs ${(result.stdout.length / 1024).toFixed(0)} KiB)`,
        );
        assert.strictEqual(result.status, 0, result.stderr);
        const crls = result.stdout.match(/-----BEGIN X509 CRL-----[\s\S]*?-----END X509 CRL-----\n?/g) ?? [];
        assert.strictEqual(crls.length, 2);
        for (const [index, crl] of crls.entries()) {
            assert.deepStrictEqual(crlSerials(dir, crl), issuedSerials, `CRL ${index + 1} lists every serial`);
            const issuer = index === 0 ? "root.pem" : "intermediate.pem";
            fs.writeFileSync(path.join(dir, "check.crl"), crl);
            const verified = spawnSync("openssl", ["crl", "-in", "check.crl", "-CAfile", issuer, "-noout"], {
                cwd: dir,
                encoding: "utf8",
            });
            assert.match(verified.stderr + verified.stdout, /verify OK/, `CRL ${index + 1} is signed by ${issuer}`);
        }
        // One openssl per certificate took 68 s for 1,000 on this machine; one pass takes about a second.
        assert.ok(seconds < 30, `${seconds} s for ${revokedCount} revoked certificates`);
    });
});
