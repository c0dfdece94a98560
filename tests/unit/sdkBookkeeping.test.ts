import * as assert from "assert";
import * as fs from "fs";
import * as path from "path";
import {
    recordedFrames,
    sdkBookkeepingFunctions,
    sdkDiagnosticsVariable,
    trimSdkBookkeeping,
} from "../../program/sdkBookkeeping";

// eslint-disable-next-line @typescript-eslint/no-require-imports
const debuggable = require("@pulumi/pulumi/runtime/debuggable") as {
    debuggablePromise: <T>(promise: Promise<T>, context: string) => Promise<T>;
    leakedPromises: () => [Set<Promise<unknown>>, string];
};
// eslint-disable-next-line @typescript-eslint/no-require-imports
const log = require("@pulumi/pulumi/log") as { debug: (message: string) => Promise<void>; info: unknown };

// eslint-disable-next-line @typescript-eslint/no-require-imports
const { Resource } = require("@pulumi/pulumi/resource") as {
    Resource: { stackTrace(skip: number): unknown[]; framePositionRegExp: unknown };
};
/** A declaration's stack as the SDK records it: the frames from `declare` on (skip 1: the stackTrace frame's own). */
const declare = (): unknown[] => Resource.stackTrace(1);
const declareFromHere = (): unknown[] => declare();

describe("trimSdkBookkeeping", () => {
    it("hands a promise back as it is, so nothing is wrapped, recorded or kept for the leak report", async () => {
        const restore = trimSdkBookkeeping({});
        try {
            const pending = new Promise<number>(() => undefined);
            assert.strictEqual(debuggable.debuggablePromise(pending, "probe"), pending);
            assert.ok(!debuggable.leakedPromises()[0].has(pending), "the never-settling promise is not tracked");
            await log.debug("a message that goes nowhere");
        } finally {
            restore();
        }
        const pending = new Promise<number>(() => undefined);
        assert.notStrictEqual(debuggable.debuggablePromise(pending, "probe"), pending, "restored: wrapped again");
        debuggable.leakedPromises(); // clears the candidates this probe left
    });

    it("keeps the SDK's bookkeeping with MTLS_SDK_DIAGNOSTICS=1", () => {
        const before = [debuggable.debuggablePromise, log.debug, log.info];
        trimSdkBookkeeping({ [sdkDiagnosticsVariable]: "1" })();
        const restore = trimSdkBookkeeping({ [sdkDiagnosticsVariable]: "1" });
        assert.deepStrictEqual([debuggable.debuggablePromise, log.debug, log.info], before);
        restore();
    });

    it("records a resource's declaration and a few callers, not its whole stack: the same source position", () => {
        const whole = declareFromHere();
        const restore = trimSdkBookkeeping({});
        let bounded: unknown[];
        try {
            bounded = declareFromHere();
        } finally {
            restore();
        }
        assert.strictEqual(bounded.length, recordedFrames);
        assert.ok(whole.length > bounded.length, `the SDK's own takes every frame (${whole.length})`);
        // declare, declareFromHere and this test: the same frames, in the SDK's form.
        assert.deepStrictEqual(bounded.slice(0, 2), whole.slice(0, 2));
        assert.match(
            JSON.stringify(bounded[0]),
            /"uri":"file:\/\/\/.*sdkBookkeeping\.test\.ts","line":\d+,"column":\d+/,
        );
        assert.strictEqual(declareFromHere().length, whole.length, "restored: the whole stack again");
    });

    it("replaces only the debug level: info, warnings and errors still reach the engine", () => {
        const info = log.info;
        const restore = trimSdkBookkeeping({});
        try {
            assert.strictEqual(log.info, info);
            assert.notStrictEqual(log.debug.name, "debug");
        } finally {
            restore();
        }
        assert.strictEqual(log.debug.name, "debug");
    });

    it("targets functions the SDK's runtime calls through their modules' exports, at each call", () => {
        const runtime = path.dirname(require.resolve("@pulumi/pulumi/runtime/resource"));
        const resourceSource = fs.readFileSync(path.join(runtime, "resource.js"), "utf8");
        for (const [moduleName, functionName] of Object.entries(sdkBookkeepingFunctions)) {
            // eslint-disable-next-line @typescript-eslint/no-require-imports
            assert.strictEqual(typeof (require(moduleName) as Record<string, unknown>)[functionName], "function");
        }
        // Called as `debuggable_1.debuggablePromise(...)` and `log.debug(...)`: a property read per call.
        assert.match(resourceSource, /debuggable_1\.debuggablePromise\)?\(/);
        assert.match(resourceSource, /\blog\.debug\(`Registering resource/);
        assert.match(resourceSource, /const log = __importStar\(require\("\.\.\/log"\)\)/);
        // The Resource constructor asks Resource.stackTrace for its stack, through the class.
        const resourceClassSource = fs.readFileSync(require.resolve("@pulumi/pulumi/resource"), "utf8");
        assert.match(resourceClassSource, /const stackTrace = Resource\.stackTrace\(4\);/);
        assert.ok(Resource.framePositionRegExp instanceof RegExp);
    });
});
