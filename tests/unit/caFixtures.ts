/**
 * Real CA material for the unit tier's CA-mode tests, made with the `openssl` CLI in a temp
 * directory: a root held "elsewhere", an intermediate it signs for a given key, CRLs, and an
 * importable CA with and without a chain.
 */
import { execFileSync } from "child_process";
import * as crypto from "crypto";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";

export interface CaMaterial {
    readonly keyPem: string;
    readonly certificatePem: string;
}

const caExtensions = [
    "basicConstraints = critical, CA:TRUE",
    "keyUsage = critical, keyCertSign, cRLSign, digitalSignature",
    "subjectKeyIdentifier = hash",
].join("\n");

export class CaFixtures {
    readonly directory = fs.mkdtempSync(path.join(os.tmpdir(), "mtls-unit-ca-"));
    private count = 0;

    /** A self-signed CA: a root, or (importable) a CA with its key. */
    root(commonName: string): CaMaterial {
        const base = this.next();
        const key = this.key(base);
        const config = this.file(
            `${base}.cnf`,
            `[req]\ndistinguished_name = dn\nx509_extensions = ext\n[dn]\n[ext]\n${caExtensions}\n`,
        );
        // prettier-ignore
        this.openssl([
            "req", "-x509", "-new", "-key", key, "-subj", `/O=unit/CN=${commonName}`, "-days", "30",
            "-config", config, "-out", `${base}.pem`,
        ]);
        return { keyPem: this.read(key), certificatePem: this.read(`${base}.pem`) };
    }

    /** A CA certificate signed by `issuer` for the given private key (PEM), or a new one. */
    intermediate(
        issuer: CaMaterial,
        commonName: string,
        options: { keyPem?: string; skipKeyIdentifier?: boolean; notCa?: boolean } = {},
    ): CaMaterial {
        const base = this.next();
        const key = options.keyPem ? this.file(`${base}.key`, options.keyPem) : this.key(base);
        const config = this.file(`${base}.cnf`, "[req]\ndistinguished_name = dn\n[dn]\n");
        // prettier-ignore
        this.openssl([
            "req", "-new", "-key", key, "-subj", `/O=unit/CN=${commonName}`, "-config", config, "-out", `${base}.csr`,
        ]);
        const extensions = options.notCa
            ? "basicConstraints = critical, CA:FALSE\n"
            : options.skipKeyIdentifier
              ? "basicConstraints = critical, CA:TRUE\nsubjectKeyIdentifier = none\nauthorityKeyIdentifier = none\n"
              : `${caExtensions}\nauthorityKeyIdentifier = keyid:always\n`;
        this.file(`${base}.ext`, extensions);
        // prettier-ignore
        this.openssl([
            "x509", "-req", "-in", `${base}.csr`, "-CA", this.file(`${base}-ca.pem`, issuer.certificatePem),
            "-CAkey", this.file(`${base}-ca.key`, issuer.keyPem), "-set_serial", `0x${crypto.randomBytes(8).toString("hex")}`,
            "-days", "20", "-extfile", `${base}.ext`, "-out", `${base}.pem`,
        ]);
        return { keyPem: this.read(key), certificatePem: this.read(`${base}.pem`) };
    }

    /** A CRL signed by `issuer`, valid for `hours` (negative: already expired). */
    crl(issuer: CaMaterial, hours = 240): string {
        const base = this.next();
        const database = this.file(`${base}.index`, "");
        const config = this.file(
            `${base}.cnf`,
            [
                "[ca]",
                "default_ca = issuer",
                "[issuer]",
                `database = ${database}`,
                `crlnumber = ${this.file(`${base}.crlnumber`, "01\n")}`,
                "default_md = sha256",
                "",
            ].join("\n"),
        );
        if (hours <= 0) {
            // openssl cannot sign a CRL whose next update has passed; fake the clock instead.
            const past = new Date(Date.now() - 48 * 3600 * 1000);
            const stamp = (date: Date) =>
                date
                    .toISOString()
                    .replace(/[-:T]/g, "")
                    .replace(/\.\d+Z$/, "Z");
            // prettier-ignore
            this.openssl([
                "ca", "-batch", "-gencrl", "-config", config, "-cert", this.file(`${base}-ca.pem`, issuer.certificatePem),
                "-keyfile", this.file(`${base}-ca.key`, issuer.keyPem), "-crlhours", "1", "-out", `${base}.crl`,
                "-crl_lastupdate", stamp(past), "-crl_nextupdate", stamp(new Date(past.getTime() + 3600 * 1000)),
            ]);
        } else {
            // prettier-ignore
            this.openssl([
                "ca", "-batch", "-gencrl", "-config", config, "-cert", this.file(`${base}-ca.pem`, issuer.certificatePem),
                "-keyfile", this.file(`${base}-ca.key`, issuer.keyPem), "-crlhours", String(hours), "-out", `${base}.crl`,
            ]);
        }
        return this.read(`${base}.crl`);
    }

    /** A key pair as @pulumi/tls reports it (privateKeyPem, publicKeyPem), for a mock's state. */
    static keyPair(): { privateKeyPem: string; publicKeyPem: string } {
        const { privateKey, publicKey } = crypto.generateKeyPairSync("ec", { namedCurve: "P-256" });
        return {
            privateKeyPem: privateKey.export({ type: "pkcs8", format: "pem" }).toString(),
            publicKeyPem: publicKey.export({ type: "spki", format: "pem" }).toString(),
        };
    }

    dispose(): void {
        fs.rmSync(this.directory, { recursive: true, force: true });
    }

    private next(): string {
        this.count += 1;
        return `m${this.count}`;
    }

    private key(base: string): string {
        // prettier-ignore
        this.openssl(["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", `${base}.key`]);
        return `${base}.key`;
    }

    private file(name: string, text: string): string {
        fs.writeFileSync(path.join(this.directory, name), text);
        return name;
    }

    private read(name: string): string {
        return fs.readFileSync(path.join(this.directory, name), "utf8");
    }

    private openssl(args: string[]): void {
        execFileSync("openssl", args, { cwd: this.directory, stdio: ["ignore", "pipe", "pipe"] });
    }
}
