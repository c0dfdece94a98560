import * as assert from "assert";
import { execFileSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { RawStackConfig } from "../../config/stackConfig";
import { installMocks, recordedResources, stateTransforms, RecordedResource } from "./mocks";
import { deployOnMocks } from "./deploy";

installMocks();

/**
 * Scale limits: 1,000 clients and 1,000 revoked clients. Linux refuses to start a process when one
 * argv or environment string is longer than 128 KiB (MAX_ARG_STRLEN) or all of them together pass
 * about 2 MiB, so nothing that grows with the number of clients may reach a process that way: it
 * goes on stdin (or into files the delivery hands to the container). The mocks answer with
 * certificates and keys of realistic size, so the sizes below are what a real deployment passes.
 */

const kib = 1024;
const maxArgStrlen = 128 * kib;
/** Our own budget for a command's environment (the kernel's is ~2 MiB, argv and the parent's env included). */
const environmentBudget = 1024 * kib;

const now = new Date("2026-11-28T12:00:00Z");

/** A PEM body of the given size, unique to name (a P-256 certificate with a few SANs is ~700 bytes). */
function fakePem(label: string, name: string, bytes: number): string {
    const filler = Buffer.from(`${name}:`.repeat(Math.ceil(bytes / (name.length + 1))))
        .toString("base64")
        .slice(0, bytes);
    const lines = filler.match(/.{1,64}/g) ?? [];
    return `-----BEGIN ${label}-----\n${lines.join("\n")}\n-----END ${label}-----\n`;
}

/**
 * A real certificate (the program reads each client certificate's serial and expiry): one P-256
 * certificate with a few SANs, about 700 bytes, the same for every name.
 */
function realCertificatePem(): string {
    const directory = fs.mkdtempSync(path.join(os.tmpdir(), "mtls-scale-"));
    try {
        // prettier-ignore
        return execFileSync("openssl", [
            "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-days", "365",
            "-subj", "/O=mtls-nginx/CN=scale-client", "-addext", "subjectAltName=DNS:a.scale.test,DNS:b.scale.test",
            "-keyout", path.join(directory, "key.pem"),
        ], { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
    } finally {
        fs.rmSync(directory, { recursive: true, force: true });
    }
}

/** While installed, the mocks' certificates and keys have the size real ones have. */
function realisticSizes(): { restore(): void } {
    const certificatePem = realCertificatePem();
    const transform = (name: string, faked: Record<string, unknown>): Record<string, unknown> => {
        const state = { ...faked };
        if (typeof state.certPem === "string") state.certPem = certificatePem;
        if (typeof state.privateKeyPem === "string") state.privateKeyPem = fakePem("PRIVATE KEY", name, 240);
        if (typeof state.certRequestPem === "string") {
            state.certRequestPem = fakePem("CERTIFICATE REQUEST", name, 450);
        }
        return state;
    };
    stateTransforms.push(transform);
    return {
        restore() {
            stateTransforms.splice(stateTransforms.indexOf(transform), 1);
        },
    };
}

async function deploy(raw: RawStackConfig): Promise<RecordedResource[]> {
    await deployOnMocks(raw, {
        now,
        awaiting: ["caCertificatePem", "clientCertificatePems", "containerId", "smokeTest"],
    });
    return [...recordedResources];
}

/** n client names, padded with "x" to `width` characters. */
function clientNames(prefix: string, n: number, width = 0): string[] {
    return Array.from({ length: n }, (_, i) => `${prefix}-${String(i).padStart(4, "0")}`.padEnd(width, "x"));
}

/** What a resource hands to a process as argv or environment (by input name, at any depth). */
const processInputNames = new Set([
    "args",
    "command",
    "commands",
    "create",
    "delete",
    "entrypoints",
    "env",
    "envs",
    "environment",
    "interpreter",
    "tests",
    "update",
]);

function processInputs(value: unknown, found: string[] = []): string[] {
    if (Array.isArray(value)) {
        value.forEach((item) => processInputs(item, found));
    } else if (typeof value === "object" && value !== null) {
        for (const [key, inner] of Object.entries(value)) {
            if (processInputNames.has(key)) {
                found.push(`${key}=${JSON.stringify(inner)}`);
            } else {
                processInputs(inner, found);
            }
        }
    }
    return found;
}

const bytes = (text: string) => Buffer.byteLength(text, "utf8");

describe("scale: 1,000 clients and 1,000 revoked clients", function () {
    this.timeout(300_000);

    // 2,000 clients, half of them revoked; the smoke test probes one that is not.
    const active = clientNames("client", 1000);
    const revoked = clientNames("revoked", 1000);
    const large: RawStackConfig = { clients: [...active, ...revoked], revokedClients: revoked };
    const small: RawStackConfig = { clients: [active[0], revoked[0]], revokedClients: [revoked[0]] };
    let largeResources: RecordedResource[] = [];
    let smallResources: RecordedResource[] = [];
    let sizes: { restore(): void };

    let stackTraceLimit: number;

    before(async () => {
        sizes = realisticSizes();
        // The SDK records a stack trace for every promise and resource, and ts-node source-maps each
        // one: at 2,000 clients that is minutes (measured: 206 s against 32 s without the traces).
        stackTraceLimit = Error.stackTraceLimit;
        Error.stackTraceLimit = 0;
        const started = Date.now();
        largeResources = await deploy(large);
        console.log(`      deployed 2,000 clients (1,000 revoked) under mocks in ${(Date.now() - started) / 1000} s`);
        smallResources = await deploy(small);
    });

    after(() => {
        Error.stackTraceLimit = stackTraceLimit;
        sizes?.restore();
    });

    const commands = (resources: RecordedResource[]) =>
        resources.filter((resource) => resource.type === "command:local:Command");

    it("deploys every client, and a CRL naming every revoked certificate on its stdin", () => {
        const certificates = largeResources.filter((r) => r.type === "tls:index/locallySignedCert:LocallySignedCert");
        assert.ok(certificates.length >= 2000, `${certificates.length} certificates`);
        const crl = commands(largeResources).find((command) => /crl/i.test(command.name));
        assert.ok(
            crl,
            `no CRL command among ${commands(largeResources)
                .map((c) => c.name)
                .join(", ")}`,
        );
        const stdin = String(crl.inputs.stdin);
        const revokedOnStdin = stdin.split("\n").filter((line) => line.startsWith("### revoked ")).length;
        // Every revoked client's certificate once per CA (by serial).
        assert.ok(revokedOnStdin >= 1000, `${revokedOnStdin} revoked certificates on the CRL command's stdin`);
        for (const command of commands(largeResources)) {
            console.log(
                `      ${command.name}: stdin ${(bytes(String(command.inputs.stdin ?? "")) / kib).toFixed(0)} KiB, ` +
                    `environment ${(bytes(JSON.stringify(command.inputs.environment ?? {})) / kib).toFixed(1)} KiB`,
            );
        }
    });

    it("keeps every command's environment value under 128 KiB and the whole environment under 1 MiB", () => {
        assert.ok(commands(largeResources).length > 0);
        for (const command of commands(largeResources)) {
            const environment = (command.inputs.environment ?? {}) as Record<string, string>;
            let total = 0;
            for (const [name, value] of Object.entries(environment)) {
                const entry = bytes(`${name}=${value}`) + 1;
                assert.ok(entry < maxArgStrlen, `${command.name}: ${name} is ${entry} bytes (limit ${maxArgStrlen})`);
                total += entry;
            }
            assert.ok(total < environmentBudget, `${command.name}: environment of ${total} bytes`);
        }
    });

    it("keeps every argv string of a command (interpreter and script) under 128 KiB", () => {
        for (const command of commands(largeResources)) {
            const argv = [
                ...((command.inputs.interpreter as string[] | undefined) ?? ["/bin/sh", "-c"]),
                ...["create", "update", "delete"].map((key) => command.inputs[key]).filter((v) => v !== undefined),
            ].map(String);
            for (const arg of argv) {
                assert.ok(bytes(arg) < maxArgStrlen, `${command.name}: an argument of ${bytes(arg)} bytes`);
            }
        }
    });

    it("passes nothing that grows with the clients as argv or environment, to any process", () => {
        // Same resources at 2 and at 2,000 clients: what reaches a process's argv or environment is the same.
        const byName = (resources: RecordedResource[]) =>
            new Map(resources.map((resource) => [`${resource.type}::${resource.name}`, resource]));
        const smallByName = byName(smallResources);
        let compared = 0;
        for (const [key, resource] of byName(largeResources)) {
            const before = smallByName.get(key);
            if (!before) continue; // a per-client resource: checked below, it is the same for each client
            const largeInputs = processInputs(resource.inputs);
            if (largeInputs.length === 0) continue;
            compared += 1;
            assert.deepStrictEqual(
                largeInputs.map(bytes),
                processInputs(before.inputs).map(bytes),
                `${key}: argv / environment inputs grow with the number of clients`,
            );
        }
        assert.ok(compared >= 3, `compared ${compared} resources that start processes`);
        // Per-client resources start no process.
        const perClient = largeResources.filter((resource) => resource.name.includes("revoked-0999"));
        assert.ok(perClient.length > 0);
        for (const resource of perClient) {
            assert.deepStrictEqual(processInputs(resource.inputs), [], `${resource.type}::${resource.name}`);
        }
    });

    it("fits the stack config into the Pulumi program's environment (PULUMI_CONFIG), with the names above", () => {
        // The language host hands the program its config as one environment variable (JSON, each
        // structured value a JSON string); the engine adds PULUMI_CONFIG_PROPERTY_MAP of similar size.
        const config = (names: RawStackConfig) =>
            `PULUMI_CONFIG=${JSON.stringify(
                Object.fromEntries(Object.entries(names).map(([k, v]) => [`mtls-nginx:${k}`, JSON.stringify(v)])),
            )}`;
        const used = bytes(config(large));
        const longest = clientNames("c", 2000, 64);
        const worst = bytes(config({ clients: longest, revokedClients: longest.slice(1000) }));
        console.log(
            `      PULUMI_CONFIG: ${(used / kib).toFixed(1)} KiB for these 2,000 names; ` +
                `${(worst / kib).toFixed(1)} KiB with 64-character names (limit ${maxArgStrlen / kib} KiB)`,
        );
        assert.ok(used < maxArgStrlen, `PULUMI_CONFIG of ${used} bytes`);
    });
});
