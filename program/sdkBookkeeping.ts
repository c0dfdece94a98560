/**
 * Turns off, or bounds, three kinds of bookkeeping that @pulumi/pulumi does for every resource. They
 * serve the SDK's own diagnostics, and at 1,000 clients (3,000 resources) they took about a quarter
 * of a no-op preview (bench/README.md, "Scale in two phases"):
 *
 * - the leak detector: `debuggablePromise` wraps every promise the SDK makes in two more, and
 *   records a stack for each, so that it can list the promises still pending at exit. At 1,000
 *   clients, 1.8 million promises were alive mid-run, and garbage collection took a quarter of the
 *   program's CPU;
 * - debug-level log messages: three per resource ("Registering resource", "RPC prepared",
 *   "RPC finished", the last with the whole response as text), each its own RPC to the engine,
 *   which shows them only under `--debug` or `-v`;
 * - the stack a resource was declared from: the SDK takes every frame of it (with ts-node, each one
 *   mapped back to its source), and the engine stores it in state. Here it takes the declaration and
 *   the few callers above it (`recordedFrames`): the resource's source position is the same.
 *
 * `MTLS_SDK_DIAGNOSTICS=1` keeps all three, for a hung program (its pending promises) or `--debug`.
 * Only the project's own program turns them off: a program of one's own that uses the component
 * decides for itself (the function is exported from the npm package for that).
 */

import { pathToFileURL } from "url";

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
    restores.push(boundStackTraces());
    return () => restores.forEach((restore) => restore());
}

/** How many frames of a resource's stack are recorded: where it was declared, and its callers. */
export const recordedFrames = 6;

/** The SDK's Resource class, as far as its stack traces go. */
interface ResourceStacks {
    stackTrace(skip: number): Array<{ uri: string; line: number; column: number } | undefined>;
    framePositionRegExp?: RegExp;
}

/**
 * Replaces `Resource.stackTrace(skip)` (which the SDK's Resource constructor calls, and which takes
 * the whole stack) with one that takes only `skip` + recordedFrames frames, and gives the same
 * frames in the same form: `{uri, line, column}`, or undefined for a frame without a position.
 */
function boundStackTraces(): () => void {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const { Resource } = require("@pulumi/pulumi/resource") as { Resource: ResourceStacks };
    const framePosition = Resource.framePositionRegExp;
    const original = Resource.stackTrace;
    if (typeof original !== "function" || !(framePosition instanceof RegExp)) {
        return () => undefined; // An SDK without them: nothing to bound (a unit test says so loudly).
    }
    Resource.stackTrace = (skip: number) => {
        const limit = Error.stackTraceLimit;
        let stack: string | undefined;
        try {
            // This function is the first frame, where the SDK's has one more (its callsites()).
            Error.stackTraceLimit = skip + recordedFrames;
            stack = new Error().stack;
        } finally {
            Error.stackTraceLimit = limit;
        }
        const frames = (stack ?? "").split("\n").slice(1 + skip);
        return frames.map((frame) => {
            const { file, line, column } = framePosition.exec(frame)?.groups ?? {};
            const position = { line: Number(line), column: Number(column) };
            return !file || file.startsWith("node:") || !(position.line >= 0 && position.column >= 0)
                ? undefined
                : { uri: pathToFileURL(file).toString(), ...position };
        });
    };
    return () => {
        Resource.stackTrace = original;
    };
}
