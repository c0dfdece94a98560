import * as assert from "assert";
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";

const repoRoot = path.join(__dirname, "..", "..");

/**
 * scripts/client.sh in a scratch checkout, against a stand-in `pulumi` (the stack's outputs as
 * files) and a stand-in `curl`: what it writes, with which modes, and which names it refuses.
 */
describe("npm run client (scripts/client.sh)", () => {
    let checkout: string;
    let bin: string;

    const run = (...args: string[]) =>
        spawnSync("bash", [path.join(checkout, "scripts", "client.sh"), ...args], {
            cwd: checkout,
            encoding: "utf8",
            env: { ...process.env, PATH: `${bin}:${process.env.PATH}`, INIT_CWD: checkout },
        });
    const clientFile = (name: string) => path.join(checkout, ".mtls-nginx", "clients", "dev", name);
    const modeOf = (file: string) => (fs.statSync(file).mode & 0o777).toString(8);

    before(() => {
        checkout = fs.mkdtempSync(path.join(os.tmpdir(), "mtls-client-script-"));
        fs.cpSync(path.join(repoRoot, "scripts"), path.join(checkout, "scripts"), { recursive: true });
        const outputs = path.join(checkout, "outputs");
        fs.mkdirSync(outputs);
        const write = (name: string, value: unknown) =>
            fs.writeFileSync(path.join(outputs, name), typeof value === "string" ? value : JSON.stringify(value));
        write("caCertificatePem", "CA PEM\n");
        // carol brought a CSR: she has a certificate and no key in the stack.
        write("clientCertificatePems", { alice: "ALICE CERT\n", carol: "CAROL CERT\n" });
        write("clientPrivateKeyPems", { alice: "ALICE KEY\n" });
        write("curlCommands", {
            alice: "curl --cacert ca.pem --cert alice.crt --key alice.key https://localhost:8443/",
            carol: "curl --cacert ca.pem --cert carol.crt --key carol.key https://localhost:8443/",
        });
        // scripts/env.sh puts the checkout's .pulumi-home/bin first on PATH: the stand-in goes there.
        const pulumiBin = path.join(checkout, ".pulumi-home", "bin");
        fs.mkdirSync(pulumiBin, { recursive: true });
        fs.writeFileSync(
            path.join(pulumiBin, "pulumi"),
            `#!/bin/sh\n[ "$1 $2" = "stack output" ] || exit 2\ncat "${outputs}/$3"\n`,
            { mode: 0o755 },
        );
        bin = path.join(checkout, "bin");
        fs.mkdirSync(bin);
        fs.writeFileSync(path.join(bin, "curl"), '#!/bin/sh\necho "curl ran in $(pwd) with $*"\n', { mode: 0o755 });
    });

    after(() => fs.rmSync(checkout, { recursive: true, force: true }));

    it("writes the key with mode 0600 even over an existing 0644 file, and the directory 0700", () => {
        fs.mkdirSync(path.dirname(clientFile("alice.key")), { recursive: true });
        fs.writeFileSync(clientFile("alice.key"), "OLD KEY\n", { mode: 0o644 });
        fs.chmodSync(clientFile("alice.key"), 0o644);
        const result = run("dev", "alice");
        assert.strictEqual(result.status, 0, result.stderr);
        assert.match(result.stdout, /curl ran in .*\.mtls-nginx\/clients\/dev/);
        assert.strictEqual(fs.readFileSync(clientFile("alice.key"), "utf8"), "ALICE KEY\n");
        assert.strictEqual(modeOf(clientFile("alice.key")), "600");
        assert.strictEqual(modeOf(path.dirname(clientFile("alice.key"))), "700");
        assert.strictEqual(fs.readFileSync(clientFile("alice.crt"), "utf8"), "ALICE CERT\n");
        assert.deepStrictEqual(
            fs.readdirSync(path.dirname(clientFile("alice.key"))).filter((name) => name.includes(".key.")),
            [],
            "no partial key file left",
        );
    });

    describe("a client that brought a CSR", () => {
        it("writes its certificate and no key, says the key is the client's, and runs nothing without --key", () => {
            fs.mkdirSync(path.dirname(clientFile("carol.key")), { recursive: true });
            fs.writeFileSync(clientFile("carol.key"), "A KEY FROM BEFORE THE CSR\n", { mode: 0o600 });
            const result = run("dev", "carol");
            assert.strictEqual(result.status, 0, result.stderr);
            assert.match(result.stderr, /carol brought a CSR: its key is the client's own and the stack holds none/);
            assert.match(result.stderr, /add --key FILE \(the key the CSR was made with\)/);
            assert.doesNotMatch(result.stdout, /curl ran/);
            assert.strictEqual(fs.readFileSync(clientFile("carol.crt"), "utf8"), "CAROL CERT\n");
            assert.ok(
                !fs.existsSync(clientFile("carol.key")),
                "no key of carol's in the directory, not even an old one",
            );
        });

        it("runs curl with the key file given, which it never copies", () => {
            const keyFile = path.join(checkout, "carol-own.key");
            fs.writeFileSync(keyFile, "CAROL'S OWN KEY\n", { mode: 0o600 });
            const result = run("dev", "carol", "--key", keyFile);
            assert.strictEqual(result.status, 0, result.stderr);
            assert.match(result.stdout, new RegExp(`curl ran in .* with .*--cert carol.crt --key ${keyFile} `));
            assert.ok(!fs.existsSync(clientFile("carol.key")));
        });

        it("refuses --p12 without --key, saying whose key it needs, and --key for a client the stack made a key for", () => {
            const p12 = run("dev", "carol", "--p12", "--password-file", "/dev/null");
            assert.strictEqual(p12.status, 65, p12.stderr);
            assert.match(p12.stderr, /--p12 needs carol's key: add --key FILE, the key carol's CSR was made with/);
            assert.ok(!fs.existsSync(clientFile("carol.p12")));
            const generated = run("dev", "alice", "--key", "/dev/null");
            assert.strictEqual(generated.status, 64, generated.stderr);
            assert.match(generated.stderr, /--key is for a client that brought a CSR/);
        });
    });

    for (const [what, args] of [
        ["a client name with a path in it", ["dev", "../../escape"]],
        ["the client name ..", ["dev", ".."]],
        ["a stack name with a path in it", ["../x", "alice"]],
    ] as const) {
        it(`refuses ${what} before writing anything`, () => {
            const result = run(...args);
            assert.strictEqual(result.status, 64, result.stderr);
            assert.match(result.stderr, /must be 1-64 of A-Za-z0-9\._- \(and not \. or \.\.\)/);
            assert.ok(!fs.existsSync(path.join(checkout, "escape.key")), "nothing written outside");
            assert.ok(!fs.existsSync(path.join(checkout, ".mtls-nginx", "x")), "nothing written outside");
        });
    }
});
