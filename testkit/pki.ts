/**
 * Test PKI for the tests and the bench: issues keys, CAs, leaves and CRLs with the `openssl` CLI,
 * following the same X.509 profiles (domain/certificateProfiles.ts) the Pulumi components
 * hand to @pulumi/tls, so the certificates Nginx sees here have the flags and usages it sees in
 * a real stack.
 */
import { execFileSync, spawnSync } from "child_process";
import * as crypto from "crypto";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";

import {
    certificateProfiles,
    leafAllowedUses,
    privateKeyArgs,
    type CertificateProfile,
    type LeafProfileName,
} from "../domain/certificateProfiles";
import type { KeyAlgorithm } from "../domain/pki";

interface OpensslUsage {
    readonly extension: "keyUsage" | "extendedKeyUsage";
    readonly name: string;
}

/** @pulumi/tls usage names and their OpenSSL extension names. */
const opensslUsages: Readonly<Record<string, OpensslUsage>> = {
    cert_signing: { extension: "keyUsage", name: "keyCertSign" },
    crl_signing: { extension: "keyUsage", name: "cRLSign" },
    digital_signature: { extension: "keyUsage", name: "digitalSignature" },
    key_encipherment: { extension: "keyUsage", name: "keyEncipherment" },
    server_auth: { extension: "extendedKeyUsage", name: "serverAuth" },
    client_auth: { extension: "extendedKeyUsage", name: "clientAuth" },
};

/** A certificate with its private key, as files and as PEM text. */
export interface IssuedCertificate {
    readonly name: string;
    /** OpenSSL `-subj` form, e.g. "/O=mtls-nginx/CN=client-1". */
    readonly subject: string;
    /** RFC 2253 form, as Nginx reports it in $ssl_client_s_dn, e.g. "CN=client-1,O=mtls-nginx". */
    readonly subjectDn: string;
    readonly keyPath: string;
    readonly certificatePath: string;
    readonly keyPem: string;
    readonly certificatePem: string;
    /** The certificate followed by its issuing CAs below the root: what a peer sends. */
    readonly chainPem: string;
}

export interface CertificateAuthority extends IssuedCertificate {
    readonly issuer?: CertificateAuthority;
    /** Directory holding this CA's `openssl ca` database (for expired certificates and CRLs). */
    readonly stateDirectory: string;
}

export interface LeafOptions {
    readonly name: string;
    readonly profile: LeafProfileName;
    readonly issuer: CertificateAuthority;
    readonly algorithm: KeyAlgorithm;
    readonly dnsNames?: readonly string[];
    readonly ipAddresses?: readonly string[];
    /** Validity window; default: from now for two days. A window in the past gives an expired certificate. */
    readonly notBefore?: Date;
    readonly notAfter?: Date;
}

/** Runs openssl; on failure the error carries the command line and openssl's stderr. */
export function openssl(args: readonly string[], options: { input?: string } = {}): string {
    try {
        return execFileSync("openssl", args, {
            input: options.input,
            encoding: "utf8",
            stdio: ["pipe", "pipe", "pipe"],
        });
    } catch (error) {
        const failure = error as { stderr?: string; message: string };
        throw new Error(`openssl ${args.join(" ")} failed: ${failure.stderr?.trim() || failure.message}`);
    }
}

/** The OpenSSL extension section for a profile (basic constraints, key usage, EKU, SANs). */
export function renderExtensions(
    profile: CertificateProfile,
    allowedUses: readonly string[],
    options: { selfSigned?: boolean; dnsNames?: readonly string[]; ipAddresses?: readonly string[] } = {},
): string {
    const keyUsage: string[] = [];
    const extendedKeyUsage: string[] = [];
    for (const use of allowedUses) {
        const mapped = opensslUsages[use];
        if (!mapped) {
            throw new Error(`no OpenSSL mapping for @pulumi/tls usage "${use}"`);
        }
        (mapped.extension === "keyUsage" ? keyUsage : extendedKeyUsage).push(mapped.name);
    }
    const sans = [
        ...(options.dnsNames ?? []).map((name) => `DNS:${name}`),
        ...(options.ipAddresses ?? []).map((address) => `IP:${address}`),
    ];
    return [
        "[ext]",
        `basicConstraints = critical, CA:${profile.isCaCertificate ? "TRUE" : "FALSE"}`,
        ...(keyUsage.length > 0 ? [`keyUsage = critical, ${keyUsage.join(", ")}`] : []),
        ...(extendedKeyUsage.length > 0 ? [`extendedKeyUsage = ${extendedKeyUsage.join(", ")}`] : []),
        "subjectKeyIdentifier = hash",
        ...(options.selfSigned ? [] : ["authorityKeyIdentifier = keyid:always"]),
        ...(sans.length > 0 ? [`subjectAltName = ${sans.join(", ")}`] : []),
        "",
    ].join("\n");
}

/** `openssl genpkey` arguments for a config key algorithm, via the components' privateKeyArgs. */
function genpkeyArgs(algorithm: KeyAlgorithm): string[] {
    const args = privateKeyArgs(algorithm);
    if (args.algorithm === "RSA") {
        return ["-algorithm", "RSA", "-pkeyopt", `rsa_keygen_bits:${args.rsaBits ?? 2048}`];
    }
    const curve = (args.ecdsaCurve ?? "P256").replace(/^P/, "P-");
    return ["-algorithm", "EC", "-pkeyopt", `ec_paramgen_curve:${curve}`];
}

/** 16 random bytes, positive: the serial number a CA would pick. */
function randomSerial(): string {
    const bytes = crypto.randomBytes(16);
    bytes[0] = bytes[0] & 0x7f;
    return `0x${bytes.toString("hex")}`;
}

/** OpenSSL `ca` date format (GeneralizedTime, UTC). */
function opensslDate(date: Date): string {
    return date
        .toISOString()
        .replace(/[-:T]/g, "")
        .replace(/\.\d+Z$/, "Z");
}

/** Issues the certificates of one test: every file lives under `directory`. */
export class TestPki {
    private readonly requestConfig: string;

    constructor(
        readonly directory: string,
        readonly organization = "mtls-nginx",
    ) {
        fs.mkdirSync(directory, { recursive: true });
        // A config of our own: no default extensions from the system openssl.cnf leak in.
        this.requestConfig = this.write("req.cnf", "[req]\ndistinguished_name = dn\n[dn]\n");
    }

    createRootCa(name: string, algorithm: KeyAlgorithm, options: { subject?: string } = {}): CertificateAuthority {
        const profile = certificateProfiles.rootCa;
        const subject = options.subject ?? this.subjectFor(name);
        const base = this.base(name);
        const keyPath = this.generateKey(base, algorithm);
        const csrPath = this.request(base, keyPath, subject);
        const extPath = this.write(`${base}.ext`, renderExtensions(profile, profile.allowedUses, { selfSigned: true }));
        const certificatePath = `${this.directory}/${base}.pem`;
        // prettier-ignore
        openssl([
            "x509", "-req", "-in", csrPath, "-signkey", keyPath, "-days", "30", "-sha256",
            "-set_serial", randomSerial(), "-extfile", extPath, "-extensions", "ext", "-out", certificatePath,
        ]);
        return this.authority(name, subject, keyPath, certificatePath, undefined);
    }

    createIntermediateCa(name: string, issuer: CertificateAuthority, algorithm: KeyAlgorithm): CertificateAuthority {
        const profile = certificateProfiles.intermediateCa;
        const subject = this.subjectFor(name);
        const base = this.base(name);
        const keyPath = this.generateKey(base, algorithm);
        const csrPath = this.request(base, keyPath, subject);
        const certificatePath = this.sign(base, csrPath, issuer, renderExtensions(profile, profile.allowedUses), 20);
        return this.authority(name, subject, keyPath, certificatePath, issuer);
    }

    /** A server or client certificate, with the profile's usages for its key type. */
    issueLeaf(options: LeafOptions): IssuedCertificate {
        const profile = certificateProfiles[options.profile];
        const allowedUses = leafAllowedUses(profile, options.algorithm);
        const subject = this.subjectFor(options.name);
        const base = this.base(options.name);
        const keyPath = this.generateKey(base, options.algorithm);
        const csrPath = this.request(base, keyPath, subject);
        const extensions = renderExtensions(profile, allowedUses, {
            dnsNames: options.dnsNames,
            ipAddresses: options.ipAddresses,
        });
        const certificatePath =
            options.notBefore || options.notAfter
                ? this.signWithDates(base, csrPath, options.issuer, extensions, options.notBefore, options.notAfter)
                : this.sign(base, csrPath, options.issuer, extensions, 2);
        return this.issued(options.name, subject, keyPath, certificatePath, options.issuer);
    }

    /** A test endpoint's usual server certificate: one DNS name, which is also its CN. */
    issueServer(
        dnsName: string,
        issuer: CertificateAuthority,
        algorithm: KeyAlgorithm = "ECDSA-P256",
    ): IssuedCertificate {
        return this.issueLeaf({ name: dnsName, profile: "server", issuer, algorithm, dnsNames: [dnsName] });
    }

    /** A self-signed leaf carrying a legitimate client's name: nothing vouches for it. */
    selfSignedClient(name: string, algorithm: KeyAlgorithm): IssuedCertificate {
        const profile = certificateProfiles.client;
        const subject = this.subjectFor(name);
        const base = this.base(`${name}-self-signed`);
        const keyPath = this.generateKey(base, algorithm);
        const csrPath = this.request(base, keyPath, subject);
        const extensions = renderExtensions(profile, leafAllowedUses(profile, algorithm), { selfSigned: true });
        const extPath = this.write(`${base}.ext`, extensions);
        const certificatePath = `${this.directory}/${base}.pem`;
        // prettier-ignore
        openssl([
            "x509", "-req", "-in", csrPath, "-signkey", keyPath, "-days", "2", "-sha256",
            "-set_serial", randomSerial(), "-extfile", extPath, "-extensions", "ext", "-out", certificatePath,
        ]);
        return this.issued(name, subject, keyPath, certificatePath, undefined);
    }

    /** Records a certificate as revoked in its issuer's database (see crl()). */
    revoke(certificate: IssuedCertificate, issuer: CertificateAuthority): void {
        openssl(["ca", "-batch", "-config", this.caConfig(issuer), "-revoke", certificate.certificatePath]);
    }

    /** A CRL from the CA's database, valid for two days. */
    crl(authority: CertificateAuthority): string {
        const out = `${authority.stateDirectory}/crl.pem`;
        openssl(["ca", "-batch", "-config", this.caConfig(authority), "-gencrl", "-crldays", "2", "-out", out]);
        return fs.readFileSync(out, "utf8");
    }

    private subjectFor(name: string): string {
        return `/O=${this.organization}/CN=${name}`;
    }

    private base(name: string): string {
        let candidate = name.replace(/[^A-Za-z0-9._-]/g, "_");
        for (let n = 2; fs.existsSync(`${this.directory}/${candidate}.key`); n++) {
            candidate = `${name.replace(/[^A-Za-z0-9._-]/g, "_")}-${n}`;
        }
        return candidate;
    }

    private write(name: string, text: string): string {
        const file = path.join(this.directory, name);
        fs.writeFileSync(file, text);
        return file;
    }

    private generateKey(base: string, algorithm: KeyAlgorithm): string {
        const keyPath = `${this.directory}/${base}.key`;
        openssl(["genpkey", ...genpkeyArgs(algorithm), "-out", keyPath]);
        fs.chmodSync(keyPath, 0o600);
        return keyPath;
    }

    private request(base: string, keyPath: string, subject: string): string {
        const csrPath = `${this.directory}/${base}.csr`;
        openssl(["req", "-new", "-config", this.requestConfig, "-key", keyPath, "-subj", subject, "-out", csrPath]);
        return csrPath;
    }

    private sign(
        base: string,
        csrPath: string,
        issuer: CertificateAuthority,
        extensions: string,
        days: number,
    ): string {
        const extPath = this.write(`${base}.ext`, extensions);
        const certificatePath = `${this.directory}/${base}.pem`;
        // prettier-ignore
        openssl([
            "x509", "-req", "-in", csrPath, "-CA", issuer.certificatePath, "-CAkey", issuer.keyPath,
            "-set_serial", randomSerial(), "-days", String(days), "-sha256",
            "-extfile", extPath, "-extensions", "ext", "-out", certificatePath,
        ]);
        return certificatePath;
    }

    /** `openssl x509` before 3.4 cannot set dates in the past; `openssl ca` can. */
    private signWithDates(
        base: string,
        csrPath: string,
        issuer: CertificateAuthority,
        extensions: string,
        notBefore = new Date(),
        notAfter = new Date(Date.now() + 2 * 24 * 3600 * 1000),
    ): string {
        const extPath = this.write(`${base}.ext`, extensions);
        const certificatePath = `${this.directory}/${base}.pem`;
        // prettier-ignore
        openssl([
            "ca", "-batch", "-config", this.caConfig(issuer), "-in", csrPath, "-out", certificatePath,
            "-startdate", opensslDate(notBefore), "-enddate", opensslDate(notAfter),
            "-extfile", extPath, "-extensions", "ext", "-notext", "-preserveDN",
        ]);
        return certificatePath;
    }

    /** Writes (once) the `openssl ca` config and database for a CA; returns the config path. */
    private caConfig(authority: CertificateAuthority): string {
        const dir = authority.stateDirectory;
        const configPath = `${dir}/ca.cnf`;
        if (!fs.existsSync(configPath)) {
            fs.mkdirSync(`${dir}/issued`, { recursive: true });
            fs.writeFileSync(`${dir}/index.txt`, "");
            fs.writeFileSync(`${dir}/index.txt.attr`, "unique_subject = no\n");
            fs.writeFileSync(
                configPath,
                [
                    "[ca]",
                    "default_ca = ca_default",
                    "[ca_default]",
                    `dir = ${dir}`,
                    "database = $dir/index.txt",
                    "new_certs_dir = $dir/issued",
                    `certificate = ${authority.certificatePath}`,
                    `private_key = ${authority.keyPath}`,
                    "rand_serial = yes",
                    "unique_subject = no",
                    "default_md = sha256",
                    "default_crl_days = 2",
                    "copy_extensions = none",
                    "email_in_dn = no",
                    "policy = policy_any",
                    "[policy_any]",
                    "organizationName = optional",
                    "commonName = supplied",
                    "",
                ].join("\n"),
            );
        }
        return configPath;
    }

    private issued(
        name: string,
        subject: string,
        keyPath: string,
        certificatePath: string,
        issuer: CertificateAuthority | undefined,
    ): IssuedCertificate {
        const certificatePem = fs.readFileSync(certificatePath, "utf8");
        // The chain a peer sends: its certificate and the intermediates, never the root.
        const intermediates: string[] = [];
        for (let ca = issuer; ca?.issuer; ca = ca.issuer) {
            intermediates.push(ca.certificatePem);
        }
        return {
            name,
            subject,
            subjectDn: subject.split("/").filter(Boolean).reverse().join(","),
            keyPath,
            certificatePath,
            keyPem: fs.readFileSync(keyPath, "utf8"),
            certificatePem,
            chainPem: [certificatePem, ...intermediates].join(""),
        };
    }

    private authority(
        name: string,
        subject: string,
        keyPath: string,
        certificatePath: string,
        issuer: CertificateAuthority | undefined,
    ): CertificateAuthority {
        const stateDirectory = `${certificatePath.replace(/\.pem$/, "")}-ca-state`;
        return { ...this.issued(name, subject, keyPath, certificatePath, issuer), issuer, stateDirectory };
    }
}

/** A fresh P-256 private key (PKCS#8 PEM), made in memory. */
export function newP256KeyPem(): string {
    return crypto.generateKeyPairSync("ec", {
        namedCurve: "P-256",
        privateKeyEncoding: { type: "pkcs8", format: "pem" },
        publicKeyEncoding: { type: "spki", format: "pem" },
    }).privateKey;
}

/**
 * Runs openssl in dir; "/dev/stdin" in args is the key, through a pipe (`<(cat)`: Node's stdin
 * for a child is a socket, which openssl cannot open by path). Keys never touch the disk.
 */
export function opensslKeyOnPipe(dir: string, args: readonly string[], key?: string): string {
    const quoted = args.map((arg) => (arg === "/dev/stdin" ? "<(cat)" : `'${arg.replace(/'/g, "'\\''")}'`));
    const result = spawnSync("bash", ["-c", `openssl ${quoted.join(" ")}`], {
        cwd: dir,
        input: key,
        encoding: "utf8",
        maxBuffer: 64 * 1024 * 1024,
    });
    if (result.status !== 0) {
        throw new Error(`openssl ${args.join(" ")} failed:\n${result.stderr}`);
    }
    return result.stdout;
}

/** A client's own key and CSR, as a partner would make them with `openssl req`. */
export interface ClientRequestFiles {
    /** The private key file (mode 0600): it stays with the client. */
    readonly keyPath: string;
    readonly csrPath: string;
    readonly csrPem: string;
}

export interface ClientRequestOptions {
    /** The subject CN (default: the file name). */
    readonly commonName?: string;
    /** `openssl genpkey` arguments (default: EC P-256). */
    readonly keyArgs?: readonly string[];
    /** `openssl req -addext` values, e.g. "basicConstraints=critical,CA:TRUE". */
    readonly extensions?: readonly string[];
}

/** RSA and EC `openssl genpkey` arguments for the request tests. */
export const requestKeyArgs = {
    rsa: (bits: number) => ["-algorithm", "RSA", "-pkeyopt", `rsa_keygen_bits:${bits}`],
    ec: (curve: string) => ["-algorithm", "EC", "-pkeyopt", `ec_paramgen_curve:${curve}`],
} as const;

/**
 * A temp directory for partners' keys that a test file makes when mocha loads it (a stack fixture's
 * config needs the CSRs then). It goes when the process exits, too: a run that skips the suite
 * (`--grep`) never reaches its `after`, and must not leave a key behind.
 */
export function partnerKeyDirectory(prefix: string): string {
    const directory = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
    process.once("exit", () => fs.rmSync(directory, { recursive: true, force: true }));
    return directory;
}

/** Makes `<name>.key` (0600) and `<name>.csr` in `directory` with openssl, as a client would. */
export function makeClientRequest(
    directory: string,
    name: string,
    options: ClientRequestOptions = {},
): ClientRequestFiles {
    const keyPath = path.join(directory, `${name}.key`);
    const csrPath = path.join(directory, `${name}.csr`);
    const config = path.join(directory, "client-req.cnf");
    // A config of our own: no default extensions from the system openssl.cnf leak into the request.
    fs.writeFileSync(config, "[req]\ndistinguished_name = dn\n[dn]\n");
    openssl(["genpkey", ...(options.keyArgs ?? requestKeyArgs.ec("P-256")), "-out", keyPath]);
    fs.chmodSync(keyPath, 0o600);
    const extensions = (options.extensions ?? []).flatMap((extension) => ["-addext", extension]);
    const subject = `/CN=${options.commonName ?? name}/O=partner`;
    openssl(["req", "-new", "-config", config, "-key", keyPath, "-subj", subject, ...extensions, "-out", csrPath]);
    return { keyPath, csrPath, csrPem: fs.readFileSync(csrPath, "utf8") };
}
