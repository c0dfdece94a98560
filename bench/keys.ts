/**
 * Key sets for the bench: a root CA, a server certificate and a client certificate, issued with
 * the `openssl` CLI and the project's X.509 profiles (as testkit/pki.ts does), for any
 * key type OpenSSL has, Ed25519 included (which the stack config does not offer yet).
 */
import * as crypto from "crypto";
import * as fs from "fs";
import * as path from "path";

import { certificateProfiles, leafAllowedUses } from "../domain/certificateProfiles";
import type { KeyAlgorithm } from "../domain/pki";
import { openssl, renderExtensions } from "../testkit/pki";

/** The stack config's key algorithms, and Ed25519. */
export type BenchKeyType = KeyAlgorithm | "Ed25519";

export interface KeyTypes {
    readonly ca: BenchKeyType;
    readonly server: BenchKeyType;
    readonly client: BenchKeyType;
}

/** Files of one key set, all in `directory`. */
export interface KeySet {
    readonly types: KeyTypes;
    readonly directory: string;
    readonly caPath: string;
    readonly serverCertificatePath: string;
    readonly serverKeyPath: string;
    readonly clientCertificatePath: string;
    readonly clientKeyPath: string;
}

export function describeKeys(types: KeyTypes): string {
    return types.ca === types.server && types.server === types.client
        ? types.ca
        : `${types.ca} CA, ${types.server} server, ${types.client} client`;
}

function genpkeyArgs(type: BenchKeyType): string[] {
    if (type.startsWith("RSA-")) {
        return ["-algorithm", "RSA", "-pkeyopt", `rsa_keygen_bits:${type.slice(4)}`];
    }
    if (type === "Ed25519") {
        return ["-algorithm", "ED25519"];
    }
    return ["-algorithm", "EC", "-pkeyopt", `ec_paramgen_curve:${type.replace("ECDSA-", "").replace("P", "P-")}`];
}

/** Ed25519 signs the message itself: no digest option. */
function digestArgs(signer: BenchKeyType): string[] {
    return signer === "Ed25519" ? [] : ["-sha256"];
}

function serial(): string {
    const bytes = crypto.randomBytes(16);
    bytes[0] &= 0x7f;
    return `0x${bytes.toString("hex")}`;
}

/** Issues a key set (CA, server certificate for `serverName`, client certificate) into `directory`. */
export function issueKeySet(
    directory: string,
    types: KeyTypes,
    serverName: string,
    organization = "mtls-nginx",
): KeySet {
    fs.mkdirSync(directory, { recursive: true });
    const file = (name: string): string => path.join(directory, name);
    const requestConfig = file("req.cnf");
    fs.writeFileSync(requestConfig, "[req]\ndistinguished_name = dn\n[dn]\n");
    const key = (name: string, type: BenchKeyType): string => {
        openssl(["genpkey", ...genpkeyArgs(type), "-out", file(`${name}.key`)]);
        fs.chmodSync(file(`${name}.key`), 0o600);
        return file(`${name}.key`);
    };
    const request = (name: string, subject: string): string => {
        // prettier-ignore
        openssl(["req", "-new", "-config", requestConfig, "-key", file(`${name}.key`), "-subj", subject, "-out", file(`${name}.csr`)]);
        return file(`${name}.csr`);
    };

    const rootProfile = certificateProfiles.rootCa;
    key("ca", types.ca);
    fs.writeFileSync(file("ca.ext"), renderExtensions(rootProfile, rootProfile.allowedUses, { selfSigned: true }));
    // prettier-ignore
    openssl([
        "x509", "-req", "-in", request("ca", `/O=${organization}/CN=bench root CA`), "-signkey", file("ca.key"),
        "-days", "30", ...digestArgs(types.ca), "-set_serial", serial(),
        "-extfile", file("ca.ext"), "-extensions", "ext", "-out", file("ca.pem"),
    ]);

    const leaf = (name: string, profileName: "server" | "client", type: BenchKeyType, subject: string): void => {
        const profile = certificateProfiles[profileName];
        key(name, type);
        const usesFor = type.startsWith("RSA-") ? "RSA-2048" : "ECDSA-P256";
        const extensions = renderExtensions(profile, leafAllowedUses(profile, usesFor), {
            dnsNames: profileName === "server" ? [serverName] : undefined,
            ipAddresses: profileName === "server" ? ["127.0.0.1"] : undefined,
        });
        fs.writeFileSync(file(`${name}.ext`), extensions);
        // prettier-ignore
        openssl([
            "x509", "-req", "-in", request(name, subject), "-CA", file("ca.pem"), "-CAkey", file("ca.key"),
            "-days", "2", ...digestArgs(types.ca), "-set_serial", serial(),
            "-extfile", file(`${name}.ext`), "-extensions", "ext", "-out", file(`${name}.pem`),
        ]);
    };
    leaf("server", "server", types.server, `/O=${organization}/CN=${serverName}`);
    leaf("client", "client", types.client, `/O=${organization}/CN=bench-client`);
    return {
        types,
        directory,
        caPath: file("ca.pem"),
        serverCertificatePath: file("server.pem"),
        serverKeyPath: file("server.key"),
        clientCertificatePath: file("client.pem"),
        clientKeyPath: file("client.key"),
    };
}
