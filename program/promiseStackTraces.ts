/**
 * Keeps ts-node's source-map lookups for the stack traces people read, and skips them for the
 * ones nobody reads: @pulumi/pulumi's `debuggablePromise` records `new Error().stack` on every
 * promise it makes (for a leak report at exit), and with ts-node's source-map-support installed
 * each of those stacks is mapped frame by frame. At 100 clients that mapping was about a sixth of
 * a no-op preview (bench/README.md, "Deploy profile").
 *
 * Errors the program throws, and the source positions of resources, are still mapped.
 */
export function skipSourceMapsForPromiseStacks(): void {
    const mapped = Error.prepareStackTrace;
    if (mapped === undefined || (mapped as MarkedFormatter)[installedMark]) {
        return;
    }
    const formatter: MarkedFormatter = (error, frames) =>
        frames[0]?.getFunctionName() === promiseStackRecorder ? unmappedStack(error, frames) : mapped(error, frames);
    formatter[installedMark] = true;
    Error.prepareStackTrace = formatter;
}

/** The SDK function whose stacks are skipped (a unit test checks it still records them). */
export const promiseStackRecorder = "debuggablePromise";

const installedMark = Symbol("skipSourceMapsForPromiseStacks");

type MarkedFormatter = ((error: Error, frames: NodeJS.CallSite[]) => unknown) & { [installedMark]?: boolean };

/**
 * What V8 prints without a formatter (the error, then one "at" line per frame), cut to the first
 * frames: enough to tell where a leaked promise came from, and formatting every frame of every
 * promise's stack was itself 5 % of a no-op preview.
 */
function unmappedStack(error: Error, frames: NodeJS.CallSite[]): string {
    const shown = frames.slice(0, unmappedFrames).map((frame) => `    at ${frame.toString()}`);
    return [String(error), ...shown].join("\n");
}

const unmappedFrames = 4;
