import * as pulumi from "@pulumi/pulumi";

/** The records an endpoint decides rotation and revocation from, as its last deployment left them. */
export interface PreviousRecords {
    /** Its `rotationState` output. */
    readonly rotationState?: Record<string, unknown>;
    /** Its `clientCertificateSerials` output. */
    readonly clientCertificateSerials?: Record<string, unknown>;
}

/**
 * Reads the outputs an MtlsEndpoint registered at this stack's last deployment, by the component's
 * URN, while the engine deploys the next one. The records live in the component itself, so any
 * program holding it rotates and revokes correctly, whatever that program exports, and each of
 * several endpoints in one stack reads its own.
 *
 * `movedFromStackOutputs`: the project's own endpoint, whose records were stack outputs before the
 * component existed; those are read while the component has none yet (the first `up` after the move).
 *
 * Why an invoke, retried: with the file backend the engine rewrites the checkpoint's `.attrs`
 * sidecar in place (truncate, then write) after every step, so a concurrent read can find it empty
 * and fail with "failed to load checkpoint: EOF". A failed invoke is a rejected promise we can retry.
 */
export async function readPreviousRecords(
    componentUrn: string,
    movedFromStackOutputs: boolean,
    options: PreviousOutputReadOptions = {},
): Promise<PreviousRecords> {
    return recordsOf(await readPreviousResources(options), componentUrn, movedFromStackOutputs);
}

/**
 * Every resource's outputs at this stack's last deployment. Start it early: the reply is the whole
 * state (about 1.8 MB at 100 clients), and every certificate waits for it.
 */
export function readPreviousResources(
    options: PreviousOutputReadOptions = {},
): Promise<Record<string, DeployedResourceOutputs>> {
    return withRetries(
        () => (options.invoke ?? invokeReadStackResourceOutputs)(thisStackName()),
        "reading the resources of the previous deployment",
        options,
    );
}

/** The records of the component `componentUrn` among the resources of the last deployment. */
export function recordsOf(
    resources: Readonly<Record<string, DeployedResourceOutputs>>,
    componentUrn: string,
    movedFromStackOutputs: boolean,
): PreviousRecords {
    const own = resources[componentUrn]?.outputs;
    const former = movedFromStackOutputs
        ? Object.values(resources).find((resource) => resource.type === "pulumi:pulumi:Stack")?.outputs
        : undefined;
    const records = own ?? former ?? {};
    return {
        rotationState: asRecord(records.rotationState),
        clientCertificateSerials: asRecord(records.clientCertificateSerials),
    };
}

/** One resource of a stack's last deployment, as the builtin provider answers for it. */
export interface DeployedResourceOutputs {
    readonly type: string;
    readonly outputs: Record<string, unknown>;
}

export interface PreviousOutputReadOptions {
    /** Reads every resource's outputs of a stack by its fully qualified name (default: the builtin provider). */
    readonly invoke?: (stackName: string) => Promise<Record<string, DeployedResourceOutputs>>;
    /** How many reads before giving up (default 6, about 3 s of waiting in all). */
    readonly attempts?: number;
    /** The wait after the first failed read; it doubles after each further one (default 100 ms). */
    readonly firstDelayMs?: number;
}

/** The token the engine's builtin provider serves for a stack's resource outputs (StackReference's). */
export const readStackResourceOutputsToken = "pulumi:pulumi:readStackResourceOutputs";

function thisStackName(): string {
    return `${pulumi.getOrganization()}/${pulumi.getProject()}/${pulumi.getStack()}`;
}

async function invokeReadStackResourceOutputs(stackName: string): Promise<Record<string, DeployedResourceOutputs>> {
    const result = (await pulumi.runtime.invoke(readStackResourceOutputsToken, { stackName })) as {
        outputs?: Record<string, DeployedResourceOutputs>;
    };
    return result.outputs ?? {};
}

async function withRetries<T>(read: () => Promise<T>, what: string, options: PreviousOutputReadOptions): Promise<T> {
    const attempts = options.attempts ?? 6;
    const firstDelayMs = options.firstDelayMs ?? 100;
    let lastError: unknown;
    for (let attempt = 1; attempt <= attempts; attempt++) {
        try {
            return await read();
        } catch (error) {
            lastError = error;
            if (attempt < attempts) {
                await sleep(firstDelayMs * 2 ** (attempt - 1));
            }
        }
    }
    throw new Error(
        `${what} of stack ${thisStackName()} failed ${attempts} times; ` +
            `last error: ${lastError instanceof Error ? lastError.message : String(lastError)}`,
    );
}

function asRecord(value: unknown): Record<string, unknown> | undefined {
    return typeof value === "object" && value !== null && !Array.isArray(value)
        ? (value as Record<string, unknown>)
        : undefined;
}

function sleep(ms: number): Promise<void> {
    return new Promise((resolve) => setTimeout(resolve, ms));
}
