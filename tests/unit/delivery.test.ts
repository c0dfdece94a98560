import * as assert from "assert";
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";

import { connectAddress } from "../../domain/clientAccess";
import { describeFailure, keyOf, specKey, unplaceable } from "../../delivery/awaitRollout";
import {
    archiveOf,
    differingFiles,
    generationOf,
    renderOwnershipCheck,
    renderReloadScript,
    renderSwitchScript,
    type DeliveredFile,
} from "../../delivery/deliverFiles";
import { readTarFiles } from "../../delivery/tarArchive";
import { claimVerdict } from "../../delivery/claimVolume";
import { checkContainerSpec } from "../../delivery/fileSetContainer";
import { demultiplex } from "../../delivery/dockerApi";

const files: DeliveredFile[] = [
    { name: "nginx.conf", content: "events {}\n", mode: 0o644 },
    { name: "server-key.pem", content: "-----BEGIN PRIVATE KEY-----\nx\n-----END PRIVATE KEY-----\n", mode: 0o600 },
];

describe("file delivery", () => {
    it("names a file set by its content: same files, same set; any change, a new one", () => {
        assert.match(generationOf(files), /^gen-[0-9a-f]{16}$/);
        assert.strictEqual(generationOf([...files].reverse()), generationOf(files));
        const changed = [{ ...files[0], content: "events { }\n" }, files[1]];
        assert.notStrictEqual(generationOf(changed), generationOf(files));
        const loosened = [files[0], { ...files[1], mode: 0o644 }];
        assert.notStrictEqual(generationOf(loosened), generationOf(files), "a mode is part of the set");
    });

    it("packs the set as a tar that GNU tar unpacks with the same names, contents and modes, owned by root", () => {
        const directory = fs.mkdtempSync(path.join(os.tmpdir(), "mtls-tar-"));
        try {
            const archive = path.join(directory, "set.tar");
            fs.writeFileSync(archive, archiveOf("gen-test", files));
            const listing = spawnSync("tar", ["-tvf", archive], { encoding: "utf8" });
            assert.strictEqual(listing.status, 0, listing.stderr);
            assert.match(listing.stdout, /^drwxr-xr-x root\/root .* gen-test\/$/m);
            assert.match(listing.stdout, /^-rw------- root\/root .* gen-test\/server-key\.pem$/m);
            assert.match(listing.stdout, /^-rw-r--r-- root\/root .* gen-test\/nginx\.conf$/m);
            const unpacked = spawnSync("tar", ["-xf", archive, "-C", directory], { encoding: "utf8" });
            assert.strictEqual(unpacked.status, 0, unpacked.stderr);
            for (const file of files) {
                assert.strictEqual(fs.readFileSync(path.join(directory, "gen-test", file.name), "utf8"), file.content);
            }
        } finally {
            fs.rmSync(directory, { recursive: true, force: true });
        }
    });

    it("reads back what it packs, and tells a live set changed by hand from the one in state", () => {
        const live = readTarFiles(archiveOf("gen-x", files)).map((entry) => ({
            ...entry,
            path: entry.path.replace(/^gen-x\//, ""),
        }));
        assert.deepStrictEqual(
            live.map((entry) => [entry.path, entry.mode]),
            [
                ["nginx.conf", 0o644],
                ["server-key.pem", 0o600],
            ],
        );
        assert.deepStrictEqual(differingFiles(files, live), []);
        const tampered = [{ ...live[0], content: "events { }\n# edited by hand\n" }, live[1]];
        assert.deepStrictEqual(differingFiles(files, tampered), ["nginx.conf"]);
        assert.deepStrictEqual(differingFiles(files, [live[0]]), ["server-key.pem"], "a removed file");
        assert.deepStrictEqual(differingFiles(files, [...live, { path: "evil.conf", content: "", mode: 0o644 }]), [
            "evil.conf",
        ]);
        assert.deepStrictEqual(
            differingFiles(files, [live[0], { ...live[1], mode: 0o644 }]),
            ["server-key.pem"],
            "a loosened mode",
        );
    });

    it("refuses tar paths that could escape the target directory", () => {
        assert.throws(() => archiveOf("../etc", files), /must be relative, without "\.\."/);
        assert.throws(() => archiveOf("/abs", files), /must be relative/);
    });

    it("switches only after nginx -t accepts the set, in one rename, and keeps the set before it", () => {
        const script = renderSwitchScript("/etc/nginx/mtls", "gen-abc");
        const lines = script.split("\n");
        const check = lines.findIndex((line) => line.includes('nginx -t -q -c "$PWD/$new/nginx.conf"'));
        const rename = lines.findIndex((line) => line === "mv -Tf live.next live");
        assert.ok(check >= 0 && rename > check, script);
        // The reload is the serving container's, after the writer switched (its mount is read-only).
        assert.doesNotMatch(script, /-s reload/);
        assert.match(
            renderReloadScript("/etc/nginx/mtls", "/run/nginx.pid"),
            /nginx -c '\/etc\/nginx\/mtls\/live\/nginx.conf' -s reload/,
        );
        assert.match(script, /rm -rf "\$new"/, "a rejected set is removed");
        assert.match(script, /\[ "\$set" = "\$previous" \]/, "the previous set is kept");
    });

    it("runs the switch script for real: a rejected set leaves live alone, an accepted one becomes live", () => {
        const directory = fs.mkdtempSync(path.join(os.tmpdir(), "mtls-switch-"));
        const bin = path.join(directory, "bin");
        try {
            // A stand-in nginx: -t fails for a config that says "broken"; -s is recorded.
            fs.mkdirSync(bin);
            fs.writeFileSync(
                path.join(bin, "nginx"),
                '#!/bin/sh\nfor a; do last="$a"; done\ncase " $* " in *" -t "*) ! grep -q broken "$4";; *) echo "$*" >> "$SIGNALS";; esac\n',
                { mode: 0o755 },
            );
            const sets = path.join(directory, "mtls");
            const run = (generation: string, config: string) => {
                fs.mkdirSync(path.join(sets, generation), { recursive: true });
                fs.writeFileSync(path.join(sets, generation, "nginx.conf"), config);
                return spawnSync("sh", ["-c", renderSwitchScript(sets, generation)], {
                    encoding: "utf8",
                    env: {
                        ...process.env,
                        PATH: `${bin}:${process.env.PATH}`,
                        SIGNALS: path.join(directory, "signals"),
                    },
                });
            };
            const [gen1, gen2, gen3, gen4] = [1, 2, 3, 4].map((n) => `gen-${String(n).padStart(16, "0")}`);
            assert.strictEqual(run(gen1, "good").status, 0);
            assert.strictEqual(fs.readlinkSync(path.join(sets, "live")), gen1);
            const rejected = run(gen2, "broken");
            assert.strictEqual(rejected.status, 1);
            assert.match(
                rejected.stderr,
                new RegExp(`rejected the new file set; the live set \\(${gen1}\\) is unchanged`),
            );
            assert.strictEqual(fs.readlinkSync(path.join(sets, "live")), gen1);
            assert.strictEqual(fs.existsSync(path.join(sets, gen2)), false, "the rejected set is gone");
            // Someone else's directory that merely starts with "gen-" is never removed.
            fs.mkdirSync(path.join(sets, "gen-backup-1"));
            assert.strictEqual(run(gen3, "good").status, 0);
            assert.strictEqual(run(gen4, "good").status, 0);
            assert.deepStrictEqual(
                fs.readdirSync(sets).sort(),
                ["gen-backup-1", gen3, gen4, "live"].sort(),
                "live and the one before, and nothing that is not a set of ours",
            );
            const reload = () =>
                spawnSync("sh", ["-c", renderReloadScript(sets, path.join(directory, "pid"))], {
                    encoding: "utf8",
                    env: {
                        ...process.env,
                        PATH: `${bin}:${process.env.PATH}`,
                        SIGNALS: path.join(directory, "signals"),
                    },
                });
            assert.strictEqual(reload().status, 0);
            assert.strictEqual(fs.existsSync(path.join(directory, "signals")), false, "no reload without a master");
            fs.writeFileSync(path.join(directory, "pid"), `${process.pid}\n`);
            assert.strictEqual(reload().status, 0);
            assert.match(fs.readFileSync(path.join(directory, "signals"), "utf8"), /-s reload/, "a reload with one");
        } finally {
            fs.rmSync(directory, { recursive: true, force: true });
        }
    });

    it("writes only into a files directory it owns: empty, or holding only its own file sets and live link", () => {
        const directory = fs.mkdtempSync(path.join(os.tmpdir(), "mtls-owned-"));
        const check = () => spawnSync("sh", ["-c", renderOwnershipCheck(directory)], { encoding: "utf8" });
        try {
            assert.strictEqual(check().status, 0, "an empty directory is fine");
            fs.mkdirSync(path.join(directory, "gen-0123456789abcdef"));
            fs.symlinkSync("gen-0123456789abcdef", path.join(directory, "live"));
            assert.strictEqual(check().status, 0, "its own sets and link are fine");
            // Anything else, whatever its name: a dot name, a two-dot name, a look-alike of a set or the link.
            for (const [name, make, why] of [
                [".someone-elses", "file", "which this stack did not write"],
                ["..data", "directory", "which this stack did not write"],
                ["gen-backup-1", "directory", "which this stack did not write"],
                ["gen-0123456789abcdee", "file", "which is not a file set directory"],
                ["live.next", "directory", "which is not a link this stack made"],
            ] as const) {
                const foreign = path.join(directory, name);
                if (make === "file") fs.writeFileSync(foreign, "data");
                else fs.mkdirSync(foreign);
                const refused = check();
                assert.strictEqual(refused.status, 1, `${name} was accepted`);
                assert.ok(refused.stderr.includes(`it holds ${name}, ${why}`), refused.stderr);
                fs.rmSync(foreign, { recursive: true });
            }
            assert.strictEqual(check().status, 0, "its own again once the others are gone");
        } finally {
            fs.rmSync(directory, { recursive: true, force: true });
        }
    });

    it("splits Docker's multiplexed stream into stdout and stderr", () => {
        const frame = (type: number, text: string) => {
            const payload = Buffer.from(text);
            const header = Buffer.alloc(8);
            header[0] = type;
            header.writeUInt32BE(payload.length, 4);
            return Buffer.concat([header, payload]);
        };
        const stream = Buffer.concat([frame(1, "out 1\n"), frame(2, "err\n"), frame(1, "out 2\n")]);
        assert.deepStrictEqual(demultiplex(stream), { stdout: "out 1\nout 2\n", stderr: "err\n" });
    });
});

describe("the writer container (container platform)", () => {
    it("writes into the files volume, shares the serving container's network, and is no stronger than it", () => {
        const limits = {
            capabilities: ["CHOWN", "NET_BIND_SERVICE", "SETGID", "SETUID"],
            memoryLimitMb: 128,
            pidsLimit: 64,
        };
        const writer = { filesVolume: "mtls-nginx-dev-files", servingContainer: "mtls-nginx-dev" };
        const host = checkContainerSpec("sha256:abc", limits, writer).HostConfig;
        assert.deepStrictEqual(host.Mounts, [
            { Type: "volume", Source: "mtls-nginx-dev-files", Target: "/etc/nginx/mtls" },
        ]);
        // nginx -t resolves upstream names at load, as the serving Nginx does.
        assert.strictEqual(host.NetworkMode, "container:mtls-nginx-dev");
        assert.deepStrictEqual([host.AutoRemove, host.ReadonlyRootfs, host.CapDrop], [true, true, ["ALL"]]);
        assert.deepStrictEqual(host.CapAdd, ["CHOWN", "NET_BIND_SERVICE"]);
        assert.deepStrictEqual([host.Memory, host.PidsLimit], [128 * 1024 * 1024, 64]);
        assert.strictEqual(checkContainerSpec("sha256:abc", limits).HostConfig.NetworkMode, "none", "a check: none");
    });
});

describe("claiming the files volume", () => {
    const claim = { volume: "mtls-nginx-dev-files", label: "mtls-nginx.owner", owner: "mtls-nginx-dev" };

    it("takes a volume that does not exist, or one that carries this stack's label", () => {
        assert.match(claimVerdict(claim, undefined), /is free/);
        assert.match(claimVerdict(claim, { Labels: { "mtls-nginx.owner": "mtls-nginx-dev", x: "y" } }), /this stack's/);
    });

    it("refuses one someone else made, whatever its labels, naming the volume and what to do", () => {
        for (const [labels, found] of [
            [null, "no mtls-nginx.owner label"],
            [{}, "no mtls-nginx.owner label"],
            [{ "mtls-nginx.owner": "mtls-nginx-prod" }, "mtls-nginx.owner=mtls-nginx-prod"],
        ] as const) {
            assert.throws(
                () => claimVerdict(claim, { Labels: labels }),
                new RegExp(
                    `volume mtls-nginx-dev-files already exists on the engine and is not this stack's \\(${found};.*` +
                        "refusing to take it over, since destroy would delete it with its data",
                ),
            );
        }
    });
});

describe("connectAddress", () => {
    const base = { serverName: "localhost", publishPort: 8443 };
    it("uses the published address, or loopback for a wildcard on the local engine", () => {
        assert.strictEqual(connectAddress({ ...base, publishAddress: "127.0.0.5" }), "127.0.0.5");
        assert.strictEqual(connectAddress({ ...base, publishAddress: "0.0.0.0" }), "127.0.0.1");
        assert.strictEqual(connectAddress({ ...base, publishAddress: "::", dockerHost: "" }), "::1");
    });

    it("uses the remote engine's host for a wildcard, since the engine publishes on its own interfaces", () => {
        const remote = { ...base, publishAddress: "0.0.0.0" };
        assert.strictEqual(connectAddress({ ...remote, dockerHost: "tcp://127.0.0.22:2376" }), "127.0.0.22");
        assert.strictEqual(connectAddress({ ...remote, dockerHost: "ssh://deploy@edge-1.example" }), "edge-1.example");
        assert.strictEqual(connectAddress({ ...remote, dockerHost: "unix:///var/run/docker.sock" }), "127.0.0.1");
    });
});

describe("Swarm rollout verdicts", () => {
    const spec = {
        Image: "nginx:1.30@sha256:abc",
        Configs: [{ ConfigName: "svc-nginx-conf-2" }, { ConfigName: "svc-client-ca-pem-1" }],
        Secrets: [{ SecretName: "svc-server-key-9" }],
        CapabilityAdd: ["CAP_CHOWN", "CAP_SETUID"],
        CapabilityDrop: ["ALL"],
        ReadOnly: true,
    };
    const expected = {
        image: "nginx:1.30",
        configs: ["svc-client-ca-pem-1", "svc-nginx-conf-2"],
        secrets: ["svc-server-key-9"],
        capabilityAdd: ["SETUID", "CHOWN"],
        capabilityDrop: ["ALL"],
        readOnly: true,
    };

    it("knows the applied version whatever the engine pinned or prefixed", () => {
        assert.strictEqual(specKey(spec), keyOf(expected));
        assert.notStrictEqual(
            specKey({ ...spec, CapabilityAdd: ["CAP_CHOWN"] }),
            keyOf(expected),
            "a rolled-back spec",
        );
        assert.notStrictEqual(specKey({ ...spec, Configs: [{ ConfigName: "svc-nginx-conf-1" }] }), keyOf(expected));
    });

    it("quotes the tasks' errors, Nginx's complaints and the lost nodes", () => {
        const nodes = [
            { ID: "n1", Description: { Hostname: "node-1" }, Status: { State: "ready" } },
            { ID: "n3", Description: { Hostname: "node-3" }, Status: { State: "down", Message: "heartbeat failure" } },
        ];
        const task = (state: string, err: string, at: string) => ({
            NodeID: "n1",
            DesiredState: "shutdown",
            Spec: { ContainerSpec: spec },
            Status: { State: state, Err: err, Timestamp: at },
        });
        const message = describeFailure(
            "rolled back",
            [
                task("failed", "task: non-zero exit (1)", "2026-01-01T00:00:02Z"),
                task("running", "", "2026-01-01T00:00:01Z"),
            ],
            nodes,
            "x\n2026/01/01 [emerg] 8#8: setgid(65534) failed (1: Operation not permitted)\ny",
        );
        assert.match(message, /^rolled back$/m);
        assert.match(message, /task errors: node-1: failed: task: non-zero exit \(1\)/);
        assert.match(message, /nginx: .*\[emerg\] 8#8: setgid\(65534\) failed/);
        assert.match(message, /lost nodes: node-3 is down \(heartbeat failure\)/);
        const pending = {
            ...task("pending", "no suitable node (max replicas per node limit exceed)", ""),
            DesiredState: "running",
        };
        assert.match(unplaceable([pending]) ?? "", /no suitable node/);
        assert.strictEqual(unplaceable([task("running", "", "")]), undefined);
    });
});
