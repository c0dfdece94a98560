import * as assert from "assert";
import * as fs from "fs";
import { promiseStackRecorder, skipSourceMapsForPromiseStacks } from "../../program/promiseStackTraces";

// Type-only lines, which the code ts-node runs does not have: below them, a line's number in this
// file and its number in the transpiled code differ, so a mapped stack and an unmapped one differ.
interface Padding {
    readonly a: string;
    readonly b: string;
    readonly c: string;
    readonly d: string;
    readonly e: string;
    readonly f: string;
    readonly g: string;
}
export type Unused = Padding;

function debuggablePromise(): string {
    return new Error().stack ?? ""; // PROBE-LINE
}

function ordinaryFailure(): string {
    return new Error("boom").stack ?? ""; // ERROR-LINE
}

/** The line number this file has for the line carrying `marker`. */
function sourceLineOf(marker: string): number {
    const lines = fs.readFileSync(__filename, "utf8").split("\n");
    return lines.findIndex((line) => line.includes(`// ${marker}`)) + 1;
}

/** The line number the stack's first frame names in this file. */
function firstFrameLine(stack: string): number {
    const match = /promiseStackTraces\.test\.ts:(\d+):\d+/.exec(stack.split("\n")[1] ?? "");
    assert.ok(match, `a first frame in this file:\n${stack}`);
    return Number(match[1]);
}

describe("skipSourceMapsForPromiseStacks", () => {
    before(() => {
        assert.ok(Error.prepareStackTrace, "ts-node's source-map-support is installed, as under `pulumi up`");
        skipSourceMapsForPromiseStacks();
        skipSourceMapsForPromiseStacks(); // twice: still one wrapper
    });

    it("still maps the stack of an error the program throws to its TypeScript line", () => {
        const stack = ordinaryFailure();
        assert.match(stack, /^Error: boom\n/);
        assert.strictEqual(firstFrameLine(stack), sourceLineOf("ERROR-LINE"));
    });

    it("leaves a promise-bookkeeping stack unmapped (the line ts-node's output has)", () => {
        const stack = debuggablePromise();
        assert.match(stack, /^Error\n {4}at debuggablePromise \(/);
        assert.notStrictEqual(firstFrameLine(stack), sourceLineOf("PROBE-LINE"));
    });

    it("targets the function @pulumi/pulumi really records a stack in for every promise", () => {
        const sdk = fs.readFileSync(require.resolve("@pulumi/pulumi/runtime/debuggable"), "utf8");
        const body = sdk.slice(sdk.indexOf(`function ${promiseStackRecorder}(`));
        assert.ok(body.length < sdk.length, `the SDK still has ${promiseStackRecorder}`);
        assert.match(body.slice(0, 800), /_debugStackTrace", \{[^}]*value: new Error\(\)\.stack/);
    });
});
