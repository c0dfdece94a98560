import * as assert from "assert";
import * as fs from "fs";
import * as path from "path";
import { sdkBookkeepingFunctions, sdkDiagnosticsVariable, trimSdkBookkeeping } from "../../program/sdkBookkeeping";

// eslint-disable-next-line @typescript-eslint/no-require-imports
const debuggable = require("@pulumi/pulumi/runtime/debuggable") as {
    debuggablePromise: <T>(promise: Promise<T>, context: string) => Promise<T>;
    leakedPromises: () => [Set<Promise<unknown>>, string];
};
// eslint-disable-next-line @typescript-eslint/no-require-imports
const log = require("@pulumi/pulumi/log") as { debug: (message: string) => Promise<void>; info: unknown };

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
    });
});
