/**
 * Turns off two kinds of bookkeeping that @pulumi/pulumi does for every resource. They serve the
 * SDK's own diagnostics, and at 1,000 clients (3,000 resources) they took about a quarter of a no-op
 * preview (bench/README.md, "Scale in two phases"):
 *
 * - the leak detector: `debuggablePromise` wraps every promise the SDK makes in two more, and
 *   records a stack for each, so that it can list the promises still pending at exit. At 1,000
 *   clients, 1.8 million promises were alive mid-run, and garbage collection took a quarter of the
 *   program's CPU;
 * - debug-level log messages: three per resource ("Registering resource", "RPC prepared",
 *   "RPC finished", the last with the whole response as text), each its own RPC to the engine,
 *   which shows them only under `--debug` or `-v`.
 *
 * `MTLS_SDK_DIAGNOSTICS=1` keeps both, for a hung program (its pending promises) or `--debug`.
 * Only the project's own program turns them off: a program of one's own that uses the component
 * decides for itself (the function is exported from the npm package for that).
 */

/** The environment variable that keeps the SDK's bookkeeping on. */
export const sdkDiagnosticsVariable = "MTLS_SDK_DIAGNOSTICS";

/** The SDK modules touched, and the functions replaced: a unit test checks the SDK still calls them so. */
export const sdkBookkeepingFunctions = {
    "@pulumi/pulumi/runtime/debuggable": "debuggablePromise",
    "@pulumi/pulumi/log": "debug",
} as const;

type Replaced = Record<string, unknown>;

const replacements: Record<keyof typeof sdkBookkeepingFunctions, unknown> = {
    // The promise itself: no wrappers, no stack, nothing kept for the leak report.
    "@pulumi/pulumi/runtime/debuggable": <T>(promise: Promise<T>): Promise<T> => promise,
    // A debug message goes nowhere (the SDK awaits nothing from it).
    "@pulumi/pulumi/log": (): Promise<void> => Promise.resolve(),
};

/**
 * Replaces the SDK's bookkeeping functions (unless `MTLS_SDK_DIAGNOSTICS=1`) and returns a function
 * that puts them back. The SDK calls them through their modules' exports at every call, so a
 * replacement takes effect for resources registered from then on.
 */
export function trimSdkBookkeeping(environment: NodeJS.ProcessEnv = process.env): () => void {
    if (environment[sdkDiagnosticsVariable] === "1") {
        return () => undefined;
    }
    const restores = Object.entries(sdkBookkeepingFunctions).map(([moduleName, functionName]) => {
        // eslint-disable-next-line @typescript-eslint/no-require-imports
        const exports = require(moduleName) as Replaced;
        const original = exports[functionName];
        if (typeof original !== "function") {
            return () => undefined; // An SDK without it: nothing to trim (a unit test says so loudly).
        }
        exports[functionName] = replacements[moduleName as keyof typeof sdkBookkeepingFunctions];
        return () => {
            exports[functionName] = original;
        };
    });
    return () => restores.forEach((restore) => restore());
}
