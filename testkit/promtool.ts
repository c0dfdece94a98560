/**
 * promtool for the tests (scripts/setup-promtool.sh puts it in the project's cache; `npm run setup`
 * runs that). A test that needs it fails, never skips, when it is missing. And a reader of the
 * samples the status metrics print, for the tests to compare them.
 */
import * as assert from "assert";
import { spawnSync } from "child_process";
import * as path from "path";

const repoRoot = path.join(__dirname, "..");
let found: string | undefined;

/** The binary, where scripts/setup-promtool.sh --find says it is. */
export function promtoolBinary(): string {
    if (found === undefined) {
        const result = spawnSync("bash", [path.join(repoRoot, "scripts", "setup-promtool.sh"), "--find"], {
            encoding: "utf8",
        });
        if (result.status !== 0) {
            throw new Error(
                `promtool is missing: run npm run setup (or bash scripts/setup-promtool.sh)\n${result.stderr}`,
            );
        }
        found = result.stdout.trim();
    }
    return found;
}

/** `promtool ARGS...`, with INPUT on stdin; stdout and stderr together (promtool splits its findings). */
export function promtool(args: readonly string[], options: { input?: string; cwd?: string } = {}) {
    const result = spawnSync(promtoolBinary(), args, {
        input: options.input ?? "",
        cwd: options.cwd ?? repoRoot,
        encoding: "utf8",
        timeout: 60000,
    });
    if (result.error) throw result.error;
    return { code: result.status, output: `${result.stdout}${result.stderr}` };
}

/** The samples of a text exposition as {name, labels, value} (NaN as null); every sample line has no timestamp. */
export function parseExposition(text: string) {
    return text
        .split("\n")
        .filter((line) => line !== "" && !line.startsWith("#"))
        .map((line) => {
            const match = /^(\w+)(?:\{(.*)\})? (\S+)$/.exec(line);
            assert.ok(match, `a sample line without a timestamp: ${line}`);
            const labels = Object.fromEntries(
                [...(match[2] ?? "").matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)].map(([, name, value]) => [
                    name,
                    value.replace(/\\(.)/g, (_, escaped: string) => (escaped === "n" ? "\n" : escaped)),
                ]),
            );
            return { name: match[1], labels, value: match[3] === "NaN" ? null : Number(match[3]) };
        });
}
