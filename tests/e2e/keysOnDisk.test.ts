import * as assert from "assert";
import { spawn, spawnSync } from "child_process";
import * as crypto from "crypto";
import * as fs from "fs";
import * as net from "net";
import * as os from "os";
import * as path from "path";
import { newP256KeyPem, opensslKeyOnPipe } from "../../testkit/pki";
import { freePort } from "../../testkit/ports";
import { repoRoot } from "../../testkit/stack";
import type { DeliveryRequest } from "../../delivery/deliverFiles";
import { defaultHardening } from "../../nginx/container";

/**
 * No key outlives its use, even when a command is killed with SIGKILL (no trap runs, no cleanup):
 * the three commands that take keys (the smoke test, the CRL script, the delivery program) get
 * them on stdin and hand them on through pipes, never files, argv or the environment. Each is run
 * with real keys and killed, as a whole process group, at several moments; then no file written
 * since the test began holds a key: in the commands' own TMPDIR (any "PRIVATE KEY"), in the
 * checkout (any "PRIVATE KEY" outside source files), and anywhere in the system temp dir (our keys'
 * bytes: other tests running at the same time may write key files of their own there). While each
 * command runs, the environment and argv of every process of its group are read from /proc.
 */

interface KeyPair {
    readonly privateKeyPem: string;
}

function newKey(): KeyPair {
    return { privateKeyPem: newP256KeyPem() };
}

/** A process of a group, read from /proc (zombies are gone for our purpose). */
interface Member {
    readonly pid: number;
    readonly comm: string;
}

function groupMembers(pgid: number): Member[] {
    const members: Member[] = [];
    for (const entry of fs.readdirSync("/proc")) {
        if (!/^\d+$/.test(entry)) continue;
        let stat: string;
        try {
            stat = fs.readFileSync(`/proc/${entry}/stat`, "utf8");
        } catch {
            continue;
        }
        const close = stat.lastIndexOf(")");
        const fields = stat.slice(close + 2).split(" ");
        if (Number(fields[2]) === pgid && fields[0] !== "Z" && fields[0] !== "X") {
            members.push({ pid: Number(entry), comm: stat.slice(stat.indexOf("(") + 1, close) });
        }
    }
    return members;
}

/** What a command is run as, and with what. */
interface CommandSpec {
    readonly label: string;
    readonly argv: readonly string[];
    readonly cwd: string;
    readonly env: Record<string, string>;
    readonly stdin: string;
    /** Processes that show the command is mid-way (a child reading a key from a pipe). */
    readonly busyChild?: RegExp;
}

/** When to kill: after a delay, or as soon as a busy child runs. */
type KillMoment = { readonly afterMs: number } | { readonly whenChild: RegExp };

interface RunReport {
    readonly moment: string;
    readonly exitedBeforeKill: boolean;
    readonly processesSeen: string[];
    /** "comm (pid): environment|argv" for each process whose environment or argv held a key. */
    readonly leaks: string[];
    readonly durationMs: number;
    readonly exitCode: number | null;
    readonly stdout: string;
    readonly stderr: string;
}

class KeyWatch {
    /**
     * Substrings only our keys contain: their base64 lines but the last. (A PKCS#8 EC key ends with
     * its public key, which the certificate holds too, sometimes at the same base64 alignment.)
     */
    readonly needles: string[];

    constructor(keys: readonly KeyPair[]) {
        this.needles = keys.flatMap((key) =>
            key.privateKeyPem
                .split("\n")
                .filter((line) => line.length > 0 && !line.startsWith("-----"))
                .slice(0, -1),
        );
    }

    /** Any key at all in a file: "PRIVATE KEY", or one of ours. */
    holdsKey(text: string): boolean {
        return text.includes("PRIVATE KEY") || this.holdsOurKey(text);
    }

    /** A key in argv or the environment: a PEM key header, or one of ours (a script may name the words). */
    holdsPemKey(text: string): boolean {
        return /-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----/.test(text) || this.holdsOurKey(text);
    }

    holdsOurKey(text: string): boolean {
        return this.needles.some((needle) => text.includes(needle));
    }

    /** Reads environ and cmdline of every process of the group. */
    inspect(pgid: number, seen: Set<string>, leaks: string[]): void {
        for (const member of groupMembers(pgid)) {
            seen.add(member.comm);
            for (const what of ["environ", "cmdline"] as const) {
                let entries: string[];
                try {
                    entries = fs.readFileSync(`/proc/${member.pid}/${what}`).toString("utf8").split("\0");
                } catch {
                    continue; // exited meanwhile
                }
                entries.forEach((entry, index) => {
                    if (this.holdsPemKey(entry)) {
                        const where = what === "environ" ? `environment ${entry.split("=")[0]}` : `argv[${index}]`;
                        leaks.push(`${member.comm} (${member.pid}): ${where}`);
                    }
                });
            }
        }
    }
}

/** Runs a command in a process group of its own and SIGKILLs the group at the moment given. */
async function runAndKill(spec: CommandSpec, moment: KillMoment | "never", watch: KeyWatch): Promise<RunReport> {
    const started = Date.now();
    const child = spawn(spec.argv[0], spec.argv.slice(1), {
        cwd: spec.cwd,
        env: spec.env,
        detached: true, // its own process group (setsid), so the kill reaches every process of it
        stdio: ["pipe", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (chunk: Buffer) => (stdout += chunk.toString("utf8")));
    child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString("utf8")));
    child.stdin.on("error", () => undefined); // killed before it read everything
    child.stdin.end(spec.stdin);
    let exited = false;
    const exit = new Promise<number | null>((resolve) =>
        child.on("exit", (code) => {
            exited = true;
            resolve(code);
        }),
    );
    const pgid = child.pid!;
    const seen = new Set<string>();
    const leaks: string[] = [];
    const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

    let label = "no kill (full run)";
    if (moment !== "never") {
        if ("afterMs" in moment) {
            label = `SIGKILL after ${moment.afterMs} ms`;
            const deadline = started + moment.afterMs;
            // Watch the group meanwhile (every 20 ms), so short-lived children are inspected too.
            while (!exited && Date.now() < deadline) {
                watch.inspect(pgid, seen, leaks);
                await sleep(Math.min(20, Math.max(0, deadline - Date.now())));
            }
        } else {
            label = `SIGKILL while ${moment.whenChild} runs`;
            const deadline = started + 30_000;
            while (!exited && Date.now() < deadline) {
                const members = groupMembers(pgid);
                if (members.some((member) => moment.whenChild.test(member.comm))) break;
                await sleep(2);
            }
        }
    }
    const exitedBeforeKill = exited;
    if (moment !== "never" && !exited) {
        watch.inspect(pgid, seen, leaks);
        try {
            process.kill(-pgid, "SIGKILL");
        } catch {
            // the whole group exited meanwhile
        }
    } else if (moment === "never") {
        while (!exited) {
            watch.inspect(pgid, seen, leaks);
            await sleep(20);
        }
    }
    const exitCode = await exit;
    for (let waited = 0; groupMembers(pgid).length > 0 && waited < 5000; waited += 20) await sleep(20);
    assert.deepStrictEqual(groupMembers(pgid), [], `${spec.label}: the process group is gone after the kill`);
    return {
        moment: label,
        exitedBeforeKill,
        processesSeen: [...seen].sort(),
        leaks,
        durationMs: Date.now() - started,
        exitCode,
        stdout,
        stderr,
    };
}

/** Regular files under root modified after marker (node_modules and .git pruned). */
function filesNewerThan(root: string, marker: string): string[] {
    const result = spawnSync(
        "find",
        [root, "-xdev", "(", "-name", "node_modules", "-o", "-name", ".git", ")", "-prune", "-o"].concat([
            "-type",
            "f",
            "-newer",
            marker,
            "-print",
        ]),
        { encoding: "utf8", maxBuffer: 64 * 1024 * 1024 },
    );
    // Other processes remove their temp files while find walks: its complaints do not matter.
    return result.stdout.split("\n").filter(Boolean);
}

function readSmall(file: string): string | undefined {
    try {
        const stat = fs.statSync(file);
        return stat.size > 64 * 1024 * 1024 ? undefined : fs.readFileSync(file).toString("latin1");
    } catch {
        return undefined;
    }
}

describe("keys on disk: a command killed with SIGKILL at any moment leaves no key behind", function () {
    const image = spawnSync("docker", ["image", "ls", "mtls-nginx/nginx", "--format", "{{.Repository}}:{{.Tag}}"], {
        encoding: "utf8",
    })
        .stdout.split("\n")
        .filter(Boolean)[0];
    const id = crypto.randomBytes(3).toString("hex");
    const containerName = `mtls-keys-on-disk-${id}`;
    const volumeName = `${containerName}-files`;
    // Made in `before`, not while mocha loads the file: a suite that never starts leaves nothing in /tmp.
    let fixtures = "";
    /** The commands' TMPDIR: everything in it is checked, whatever its age. */
    let scratch = "";
    let marker = "";
    const ca = newKey();
    const client = newKey();
    const server = newKey();
    const watch = new KeyWatch([ca, client, server]);
    const pem: Record<string, string> = {};
    let silentServer: net.Server | undefined;
    const reports: Array<{ command: string } & RunReport> = [];

    before(async function () {
        this.timeout(120_000);
        fixtures = fs.mkdtempSync(path.join(os.tmpdir(), "mtls-keys-on-disk-"));
        scratch = path.join(fixtures, "tmp");
        marker = path.join(fixtures, "marker");
        fs.mkdirSync(scratch);
        fs.writeFileSync(marker, "");
        // Files written in the marker's own second would not be "newer": wait for the clock to move on.
        await new Promise((resolve) => setTimeout(resolve, 1100));
        opensslKeyOnPipe(
            fixtures,
            ["req", "-x509", "-new", "-key", "/dev/stdin", "-subj", "/CN=keys-on-disk CA", "-days", "2"].concat([
                "-out",
                "ca.pem",
            ]),
            ca.privateKeyPem,
        );
        for (const [name, key] of [
            ["client", client],
            ["server", server],
        ] as const) {
            opensslKeyOnPipe(
                fixtures,
                ["req", "-new", "-key", "/dev/stdin", "-subj", `/CN=${name}`, "-out", `${name}.csr`],
                key.privateKeyPem,
            );
            opensslKeyOnPipe(
                fixtures,
                ["x509", "-req", "-in", `${name}.csr`, "-CA", "ca.pem", "-CAkey", "/dev/stdin"].concat([
                    "-set_serial",
                    name === "client" ? "2" : "3",
                    "-days",
                    "1",
                    "-out",
                    `${name}.pem`,
                ]),
                ca.privateKeyPem,
            );
        }
        // Certificates to revoke, one openssl for all: enough that the CRL script has work to be killed in.
        fs.mkdirSync(path.join(fixtures, "issued"));
        fs.writeFileSync(path.join(fixtures, "index.txt"), "");
        fs.writeFileSync(path.join(fixtures, "serial"), "1000\n");
        fs.writeFileSync(
            path.join(fixtures, "ca.cnf"),
            ["[ca]", "default_ca = issuer", "[issuer]", "database = index.txt", "serial = serial"]
                .concat(["new_certs_dir = issued", "default_md = sha256", "default_days = 1", "policy = any"])
                .concat(["unique_subject = no", "[any]", "commonName = supplied", ""])
                .join("\n"),
        );
        opensslKeyOnPipe(
            fixtures,
            ["ca", "-batch", "-notext", "-config", "ca.cnf", "-cert", "ca.pem", "-keyfile", "/dev/stdin"].concat([
                "-out",
                "/dev/null",
                "-infiles",
                ...Array<string>(300).fill("client.csr"),
            ]),
            ca.privateKeyPem,
        );
        for (const name of ["ca", "client", "server"]) {
            pem[name] = fs.readFileSync(path.join(fixtures, `${name}.pem`), "utf8");
        }
        pem.revoked = fs
            .readdirSync(path.join(fixtures, "issued"))
            .map((file) => fs.readFileSync(path.join(fixtures, "issued", file), "utf8"))
            .join("");

        assert.ok(image, "no mtls-nginx/nginx image: run npm run setup");
        const run = spawnSync(
            "docker",
            ["run", "-d", "--name", containerName, "--mount"].concat([
                `type=volume,src=${volumeName},dst=/etc/nginx/mtls`,
                "--entrypoint",
                "sleep",
                image,
                "infinity",
            ]),
            {
                encoding: "utf8",
            },
        );
        assert.strictEqual(run.status, 0, run.stderr);
    });

    after(() => {
        silentServer?.close();
        spawnSync("docker", ["rm", "-f", containerName], { stdio: "ignore" });
        // A killed delivery's writer container holds the volume until the engine removes it (at most 120 s).
        const writers = spawnSync("docker", ["ps", "-aq", "--filter", `volume=${volumeName}`], { encoding: "utf8" });
        const ids = writers.stdout.split("\n").filter(Boolean);
        if (ids.length > 0) spawnSync("docker", ["rm", "-f", ...ids], { stdio: "ignore" });
        spawnSync("docker", ["volume", "rm", "-f", volumeName], { stdio: "ignore" });
        if (reports.length > 0) {
            console.log("      runs:");
            for (const report of reports) {
                const state =
                    report.exitedBeforeKill || report.moment.startsWith("no kill")
                        ? `exited ${report.exitCode}`
                        : "killed";
                console.log(
                    `        ${report.command}, ${report.moment}: ${state} after ${report.durationMs} ms; ` +
                        `processes seen: ${report.processesSeen.join(" ") || "-"}`,
                );
            }
        }
        if (fixtures) fs.rmSync(fixtures, { recursive: true, force: true });
    });

    /** The environment of every command: the test's own, with TMPDIR pointed at the scratch dir. */
    function environment(extra: Record<string, string> = {}): Record<string, string> {
        const env = Object.fromEntries(
            Object.entries(process.env).filter((entry): entry is [string, string] => entry[1] !== undefined),
        );
        return { ...env, TMPDIR: scratch, ...extra };
    }

    function smokeTest(port: number): CommandSpec {
        return {
            label: "smokeTest.sh",
            argv: ["bash", path.join(repoRoot, "components", "smokeTest.sh")],
            cwd: fixtures,
            env: environment({
                SMOKE_URLS: `https://mtls.test:${port}/`,
                SMOKE_RESOLVES: `mtls.test:${port}:127.0.0.1`,
                SMOKE_CLIENT: "client",
                SMOKE_EXPECTED_BODY: "hello client",
                SMOKE_CA: pem.ca,
                SMOKE_CLIENT_CERT: pem.client,
                SMOKE_ATTEMPTS: "3",
            }),
            stdin: client.privateKeyPem,
            busyChild: /^curl$/,
        };
    }

    function revocationList(): CommandSpec {
        // Two issuers, as with an intermediate: the same CA twice is enough for the script.
        const section = ["### issuer", pem.ca.trim(), ca.privateKeyPem.trim(), pem.revoked.trim()].join("\n");
        return {
            label: "revocationListScript.sh",
            argv: ["bash", path.join(repoRoot, "components", "revocationListScript.sh")],
            cwd: fixtures,
            env: environment({ CRL_HOURS: "24" }),
            stdin: `${section}\n${section}\n`,
            busyChild: /^openssl$/,
        };
    }

    function delivery(): CommandSpec {
        const request: DeliveryRequest = {
            engine: { host: "" },
            container: containerName,
            directory: "/etc/nginx/mtls",
            files: [
                {
                    name: "nginx.conf",
                    mode: 0o644,
                    content: [
                        // Logs where the rendered config puts them: the writer container's root is read-only.
                        "pid /tmp/keys-on-disk.pid;",
                        "error_log stderr;",
                        "events {}",
                        "http { access_log /dev/stdout; server { listen 8443 ssl; ssl_certificate server-chain.pem; ssl_certificate_key server-key.pem; } }",
                        "",
                    ].join("\n"),
                },
                { name: "server-chain.pem", mode: 0o644, content: pem.server + pem.ca },
                { name: "server-key.pem", mode: 0o600, content: server.privateKeyPem },
                { name: "client-ca.pem", mode: 0o644, content: pem.ca },
            ],
            pidFile: "/run/nginx.pid",
            // The writer container gets these (never more than the serving container).
            limits: {
                capabilities: defaultHardening.capabilities,
                memoryLimitMb: defaultHardening.memoryLimitMb,
                pidsLimit: defaultHardening.pidsLimit,
            },
        };
        return {
            label: "deliverFiles.ts",
            argv: ["node", "--require", "ts-node/register/transpile-only", "delivery/deliverFiles.ts"],
            cwd: repoRoot,
            env: environment(),
            stdin: JSON.stringify(request),
        };
    }

    /** Full run, then kills at fixed delays and mid-run; then the disk check. */
    async function exercise(spec: () => CommandSpec, expectFullRun: (report: RunReport) => void): Promise<void> {
        // Twice: the first run warms caches (ts-node, the page cache), the second times a typical run.
        let full: RunReport | undefined;
        for (let run = 0; run < 2; run++) {
            full = await runAndKill(spec(), "never", watch);
            reports.push({ command: spec().label, ...full });
            expectFullRun(full);
        }
        const fullRun = full!;
        const moments: KillMoment[] = [0, 50, 200, 500].map((afterMs) => ({ afterMs }));
        // Mid-run: at a quarter, half, three quarters and 90 % of a typical run.
        for (const share of [0.25, 0.5, 0.75, 0.9]) moments.push({ afterMs: Math.round(fullRun.durationMs * share) });
        const busy = spec().busyChild;
        if (busy) moments.push({ whenChild: busy }, { whenChild: busy });
        for (const moment of moments) {
            const report = await runAndKill(spec(), moment, watch);
            reports.push({ command: spec().label, ...report });
            assert.deepStrictEqual(report.leaks, [], `${spec().label}, ${report.moment}: a key in argv or environment`);
            if ("whenChild" in moment) {
                assert.ok(
                    report.processesSeen.some((comm) => moment.whenChild.test(comm)),
                    `${spec().label}, ${report.moment}: killed mid-run (saw ${report.processesSeen.join(", ")})`,
                );
                assert.ok(!report.exitedBeforeKill, `${spec().label}: it finished before the busy child was seen`);
            }
        }
        assert.deepStrictEqual(fullRun.leaks, [], `${spec().label}: a key in argv or environment`);
        assertNoKeyOnDisk(spec().label);
    }

    function assertNoKeyOnDisk(label: string): void {
        const found: string[] = [];
        // The commands' own TMPDIR: nothing with a key in it, whoever's.
        for (const file of spawnSync("find", [scratch, "-type", "f"], { encoding: "utf8" }).stdout.split("\n")) {
            const content = file && readSmall(file);
            if (content && watch.holdsKey(content)) found.push(file);
        }
        // The checkout: no new file with a key, except source files (tests and comments name keys).
        for (const file of filesNewerThan(repoRoot, marker)) {
            const content = readSmall(file);
            if (!content) continue;
            if (
                watch.holdsOurKey(content) ||
                (!/\.(ts|go|sh|md|json)$/.test(file) && content.includes("PRIVATE KEY"))
            ) {
                found.push(file);
            }
        }
        // The system temp dir: no new file with one of our keys.
        for (const file of filesNewerThan(os.tmpdir(), marker)) {
            const content = readSmall(file);
            if (content && watch.holdsOurKey(content)) found.push(file);
        }
        assert.deepStrictEqual(found, [], `${label}: files holding a key`);
        const leftovers = spawnSync("find", [scratch, "-mindepth", "1"], { encoding: "utf8" }).stdout.trim();
        if (leftovers) {
            console.log(
                `      ${label}: left in its TMPDIR (public material only): ${leftovers.split("\n").length} entries`,
            );
        }
    }

    it("smokeTest.sh, probing a closed port (it retries), killed at 0, 50, 200, 500 ms and mid-run", async function () {
        this.timeout(180_000);
        const closedPort = await freePort();
        await exercise(
            () => smokeTest(closedPort),
            (full) => {
                assert.strictEqual(full.exitCode, 1, full.stderr);
                assert.match(full.stderr, /smoke test failed after 3 attempts/);
            },
        );
    });

    it("smokeTest.sh, its curl stuck in a handshake with a silent server, killed mid-handshake", async function () {
        this.timeout(120_000);
        silentServer = net.createServer(() => undefined); // accepts, never answers
        await new Promise<void>((resolve) => silentServer!.listen(0, "127.0.0.1", resolve));
        const port = (silentServer.address() as net.AddressInfo).port;
        for (let i = 0; i < 3; i++) {
            const report = await runAndKill(smokeTest(port), { whenChild: /^curl$/ }, watch);
            reports.push({ command: "smokeTest.sh (silent server)", ...report });
            assert.ok(!report.exitedBeforeKill && report.processesSeen.includes("curl"), report.moment);
            assert.deepStrictEqual(report.leaks, []);
        }
        assertNoKeyOnDisk("smokeTest.sh (silent server)");
    });

    it("revocationListScript.sh with the CA key and 300 revoked certificates, killed at 0, 50, 200, 500 ms and mid-run", async function () {
        this.timeout(180_000);
        await exercise(revocationList, (full) => {
            assert.strictEqual(full.exitCode, 0, full.stderr);
            assert.strictEqual(full.stdout.split("-----BEGIN X509 CRL-----").length - 1, 2, "two CRLs");
        });
    });

    it("the delivery program (node, ts-node) with the server key, into a throwaway container, killed at 0, 50, 200, 500 ms and mid-run", async function () {
        this.timeout(300_000);
        await exercise(delivery, (full) => {
            assert.strictEqual(full.exitCode, 0, full.stderr);
            assert.match(full.stdout, /serving gen-/);
        });
    });
});
