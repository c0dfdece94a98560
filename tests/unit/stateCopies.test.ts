import * as assert from "assert";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import {
    fileBackendCheckpoint,
    fileBackendDirectory,
    pruneStateCopies,
    stateCopiesKeep,
    stateCopiesOf,
    stateCopiesToRemove,
} from "../../scripts/stateCopies";

/** The file backend's retention of state copies (scripts/stateCopies.ts), on names and on a real directory. */
describe("state copies on the file backend (scripts/stateCopies.ts)", () => {
    describe("MTLS_STATE_COPIES_KEEP", () => {
        it("is 10 when unset or empty, a whole number, or all", () => {
            assert.strictEqual(stateCopiesKeep({}), 10);
            assert.strictEqual(stateCopiesKeep({ MTLS_STATE_COPIES_KEEP: " " }), 10);
            assert.strictEqual(stateCopiesKeep({ MTLS_STATE_COPIES_KEEP: "3" }), 3);
            assert.strictEqual(stateCopiesKeep({ MTLS_STATE_COPIES_KEEP: "all" }), "all");
        });

        for (const value of ["0", "-1", "ten", "1.5", "07", "1e3", "ALL"]) {
            it(`refuses ${JSON.stringify(value)}, naming the variable and what is allowed`, () => {
                assert.throws(
                    () => stateCopiesKeep({ MTLS_STATE_COPIES_KEEP: value }),
                    (error: Error) =>
                        error.message.startsWith(`MTLS_STATE_COPIES_KEEP=${JSON.stringify(value)} is not allowed`) &&
                        /allowed: a whole number from 1 .* or "all"/.test(error.message),
                );
            });
        }
    });

    it("finds the directory of a file backend only, as Pulumi reads its URL", () => {
        assert.strictEqual(fileBackendDirectory("file:///srv/state?metadata=skip"), "/srv/state");
        assert.strictEqual(fileBackendDirectory("file:///srv/with%20space"), "/srv/with space");
        assert.strictEqual(fileBackendDirectory("file://~"), os.homedir());
        assert.strictEqual(fileBackendDirectory("file://~/state"), path.join(os.homedir(), "state"));
        assert.strictEqual(fileBackendDirectory("file://relative"), path.resolve("relative"));
        assert.strictEqual(fileBackendDirectory("postgres://db/state"), undefined);
        assert.strictEqual(fileBackendDirectory("s3://bucket"), undefined);
        assert.strictEqual(fileBackendDirectory(""), undefined);
    });

    it("tells a stack's backups and checkpoints from its history entries and other stacks' files", () => {
        const copies = stateCopiesOf("dev", [
            "dev.1796668715185691123.json",
            "dev.1796668715185691124.json.gz",
            "dev-1796668715185691125.checkpoint.json",
            "dev-1796668715185691126.checkpoint.json.zst",
            "dev-1796668715185691125.history.json",
            "dev2.1796668715185691127.json",
            "dev-2-1796668715185691128.checkpoint.json",
            "dev.json.bak",
            "dev.json",
        ]);
        assert.deepStrictEqual(
            copies.map(({ file, kind }) => [file, kind]),
            [
                ["dev.1796668715185691123.json", "backup"],
                ["dev.1796668715185691124.json.gz", "backup"],
                ["dev-1796668715185691125.checkpoint.json", "checkpoint"],
                ["dev-1796668715185691126.checkpoint.json.zst", "checkpoint"],
            ],
        );
        // A stack name is matched as written, not as a pattern.
        assert.deepStrictEqual(
            stateCopiesOf("a.b", ["aXb.1.json", "a.b.1.json"]).map((copy) => copy.file),
            ["a.b.1.json"],
        );
    });

    it("removes all but the newest copies of each kind, by time and not by text", () => {
        const copies = stateCopiesOf("s", [
            "s.999.json",
            "s.1000.json",
            "s.998.json",
            "s-5.checkpoint.json",
            "s-40.checkpoint.json",
        ]);
        assert.deepStrictEqual(stateCopiesToRemove(copies, 1).sort(), [
            "s-5.checkpoint.json",
            "s.998.json",
            "s.999.json",
        ]);
        assert.deepStrictEqual(stateCopiesToRemove(copies, 2).sort(), ["s.998.json"]);
        assert.deepStrictEqual(stateCopiesToRemove(copies, 3), []);
        assert.deepStrictEqual(stateCopiesToRemove(copies, "all"), []);
    });

    describe("on a backend directory", () => {
        let root: string;
        const write = (relative: string, bytes: number) => {
            const file = path.join(root, relative);
            fs.mkdirSync(path.dirname(file), { recursive: true });
            fs.writeFileSync(file, "x".repeat(bytes));
        };
        const list = (relative: string) => fs.readdirSync(path.join(root, relative)).sort();

        beforeEach(() => {
            root = fs.mkdtempSync(path.join(os.tmpdir(), "mtls-state-copies-"));
            write(".pulumi/stacks/mtls-nginx/dev.json", 50);
            write(".pulumi/stacks/mtls-nginx/dev.json.bak", 50);
            for (const time of [100, 200, 300]) {
                write(`.pulumi/backups/mtls-nginx/dev/dev.${time}.json`, 10);
                write(`.pulumi/history/mtls-nginx/dev/dev-${time + 1}.checkpoint.json`, 20);
                write(`.pulumi/history/mtls-nginx/dev/dev-${time + 1}.history.json`, 1);
            }
            write(".pulumi/backups/mtls-nginx/staging/staging.100.json", 10);
        });
        afterEach(() => fs.rmSync(root, { recursive: true, force: true }));

        it("keeps the newest copies, every history entry, the state, and other stacks' files", () => {
            const result = pruneStateCopies(`file://${root}?metadata=skip`, "mtls-nginx", "dev", 1);
            assert.deepStrictEqual(result, { removed: 4, bytes: 2 * 10 + 2 * 20 });
            assert.deepStrictEqual(list(".pulumi/backups/mtls-nginx/dev"), ["dev.300.json"]);
            assert.deepStrictEqual(list(".pulumi/history/mtls-nginx/dev"), [
                "dev-101.history.json",
                "dev-201.history.json",
                "dev-301.checkpoint.json",
                "dev-301.history.json",
            ]);
            assert.deepStrictEqual(list(".pulumi/stacks/mtls-nginx"), ["dev.json", "dev.json.bak"]);
            assert.deepStrictEqual(list(".pulumi/backups/mtls-nginx/staging"), ["staging.100.json"]);
        });

        it("takes the project from an ORG/PROJECT/STACK reference, and knows the legacy layout", () => {
            write(".pulumi/backups/other/dev/dev.5.json", 10);
            write(".pulumi/backups/other/dev/dev.6.json", 10);
            write(".pulumi/history/legacy/legacy-7.checkpoint.json", 20);
            write(".pulumi/history/legacy/legacy-8.checkpoint.json", 20);
            assert.strictEqual(
                pruneStateCopies(`file://${root}`, "mtls-nginx", "organization/other/dev", 1).removed,
                1,
            );
            assert.deepStrictEqual(list(".pulumi/backups/other/dev"), ["dev.6.json"]);
            assert.strictEqual(pruneStateCopies(`file://${root}`, "mtls-nginx", "legacy", 1).removed, 1);
            assert.deepStrictEqual(list(".pulumi/history/legacy"), ["legacy-8.checkpoint.json"]);
        });

        it("finds a stack's checkpoint in the layout meta.yaml says, and none beside a compressed one", () => {
            const url = `file://${root}`;
            write(".pulumi/stacks/legacy.json", 10);
            // No meta.yaml: the legacy layout, .pulumi/stacks/STACK.json.
            assert.strictEqual(
                fileBackendCheckpoint(url, "mtls-nginx", "legacy"),
                path.join(root, ".pulumi/stacks/legacy.json"),
            );
            assert.strictEqual(fileBackendCheckpoint(url, "mtls-nginx", "dev"), undefined);
            fs.writeFileSync(path.join(root, ".pulumi/meta.yaml"), "version: 1\n");
            const dev = path.join(root, ".pulumi/stacks/mtls-nginx/dev.json");
            assert.strictEqual(fileBackendCheckpoint(url, "mtls-nginx", "dev"), dev);
            assert.strictEqual(fileBackendCheckpoint(url, "other", "organization/mtls-nginx/dev"), dev);
            assert.strictEqual(fileBackendCheckpoint(url, "mtls-nginx", "legacy"), undefined);
            assert.strictEqual(fileBackendCheckpoint("postgres://db/state", "mtls-nginx", "dev"), undefined);
            // The engine reads whichever variant was written last: the plain file alone is not to be trusted.
            write(".pulumi/stacks/mtls-nginx/dev.json.gz", 10);
            assert.strictEqual(fileBackendCheckpoint(url, "mtls-nginx", "dev"), undefined);
        });

        it("changes nothing with all, on another backend, or for a stack without copies", () => {
            const before = list(".pulumi/history/mtls-nginx/dev");
            assert.deepStrictEqual(pruneStateCopies(`file://${root}`, "mtls-nginx", "dev", "all"), {
                removed: 0,
                bytes: 0,
                skipped: "MTLS_STATE_COPIES_KEEP=all",
            });
            assert.deepStrictEqual(pruneStateCopies("postgres://db/state", "mtls-nginx", "dev", 1), {
                removed: 0,
                bytes: 0,
                skipped: "postgres:// is not a file backend",
            });
            assert.deepStrictEqual(pruneStateCopies(`file://${root}`, "mtls-nginx", "nothing", 1), {
                removed: 0,
                bytes: 0,
            });
            assert.deepStrictEqual(list(".pulumi/history/mtls-nginx/dev"), before);
        });
    });
});
