import * as pulumi from "@pulumi/pulumi";

/**
 * Reads one output of this stack's last deployment, while the engine is deploying the next one.
 *
 * Why not a StackReference to itself: with the file backend, the engine rewrites the checkpoint's
 * `.attrs` sidecar in place (truncate, then write) after every step, so a concurrent read can find
 * it empty and the read fails with "failed to load checkpoint: EOF". A StackReference is a read
 * resource: one failed read fails the whole `up`. The builtin provider's `readStackOutputs` invoke
 * reads the same outputs, and a failed invoke is a rejected promise we can retry.
 */
export async function readPreviousStackOutput(key: string, options: PreviousOutputReadOptions = {}): Promise<unknown> {
    const invoke = options.invoke ?? invokeReadStackOutputs;
    const attempts = options.attempts ?? 6;
    const firstDelayMs = options.firstDelayMs ?? 100;
    const stackName = `${pulumi.getOrganization()}/${pulumi.getProject()}/${pulumi.getStack()}`;
    let lastError: unknown;
    for (let attempt = 1; attempt <= attempts; attempt++) {
        try {
            const outputs = await invoke(stackName);
            return outputs[key];
        } catch (error) {
            lastError = error;
            if (attempt < attempts) {
                await sleep(firstDelayMs * 2 ** (attempt - 1));
            }
        }
    }
    throw new Error(
        `reading output "${key}" of the previous deployment of stack ${stackName} failed ${attempts} times; ` +
            `last error: ${lastError instanceof Error ? lastError.message : String(lastError)}`,
    );
}

export interface PreviousOutputReadOptions {
    /** Reads a stack's outputs by its fully qualified name (default: the builtin provider's invoke). */
    readonly invoke?: (stackName: string) => Promise<Record<string, unknown>>;
    /** How many reads before giving up (default 6, about 3 s of waiting in all). */
    readonly attempts?: number;
    /** The wait after the first failed read; it doubles after each further one (default 100 ms). */
    readonly firstDelayMs?: number;
}

/** The token the engine's builtin provider serves for StackReference reads. */
export const readStackOutputsToken = "pulumi:pulumi:readStackOutputs";

async function invokeReadStackOutputs(stackName: string): Promise<Record<string, unknown>> {
    const result = (await pulumi.runtime.invoke(readStackOutputsToken, { name: stackName })) as {
        outputs?: Record<string, unknown>;
    };
    return result.outputs ?? {};
}

function sleep(ms: number): Promise<void> {
    return new Promise((resolve) => setTimeout(resolve, ms));
}
