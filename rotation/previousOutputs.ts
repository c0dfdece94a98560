import * as pulumi from "@pulumi/pulumi";
import {
    type DeployedResourceOutputs,
    readRawStackResourceOutputs,
    readStackResourceOutputsToken,
    selectResourceOutputs,
} from "./resourceOutputsReply";

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

/** A read `startReadingPreviousResources` began, until the next `readPreviousResources()` takes it. */
let startedRead: Promise<PreviousResources> | undefined;

/**
 * Begins reading this stack's last deployment, for the next endpoint constructed to take, and resolves
 * once the request has left the process. A request leaves only when the event loop turns, and a
 * program builds its resources in one synchronous run: asked for from the component's constructor,
 * the read starts after they are all built (about 2 s at 1,000 clients), and every certificate waits
 * for its reply. A program calls this, and awaits it, before it constructs the endpoint.
 */
export async function startReadingPreviousResources(): Promise<void> {
    const read = readPreviousResources();
    startedRead = read;
    read.catch(() => undefined); // The endpoint that takes it reports a failure.
    // grpc-js sets the call up in callbacks and promises; the second turn finds the request written.
    for (let turn = 0; turn < 2; turn++) {
        await new Promise((resolve) => setImmediate(resolve));
    }
}

/**
 * This stack's last deployment, each resource decoded only when asked for. Start it early: every
 * certificate waits for it, and the engine's reply is the whole state (about 18 MB at 1,000 clients).
 * Without options, a read `startReadingPreviousResources` began is taken instead, once.
 */
export function readPreviousResources(options: PreviousOutputReadOptions = {}): Promise<PreviousResources> {
    if (startedRead !== undefined && Object.keys(options).length === 0) {
        const read = startedRead;
        startedRead = undefined;
        return read;
    }
    return withRetries(
        async () => {
            const stackName = thisStackName();
            if (options.invoke) {
                return decodedResources(await options.invoke(stackName));
            }
            const reply = readRawStackResourceOutputs(stackName);
            return reply
                ? replyResources(await reply)
                : decodedResources(await invokeReadStackResourceOutputs(stackName));
        },
        "reading the resources of the previous deployment",
        options,
    );
}

/** The resources of a stack's last deployment. */
export interface PreviousResources {
    /** The resources whose URN `keep` accepts, by URN; with `outputNames`, only those outputs of each. */
    select(keep: (urn: string) => boolean, outputNames?: ReadonlySet<string>): Record<string, DeployedResourceOutputs>;
}

/** The records of the component `componentUrn` among the resources of the last deployment. */
export function recordsOf(
    resources: PreviousResources,
    componentUrn: string,
    movedFromStackOutputs: boolean,
): PreviousRecords {
    const found = resources.select((urn) => urn === componentUrn || (movedFromStackOutputs && isStackUrn(urn)));
    const own = found[componentUrn]?.outputs;
    const former = movedFromStackOutputs
        ? Object.values(found).find((resource) => resource.type === stackType)?.outputs
        : undefined;
    const records = own ?? former ?? {};
    return {
        rotationState: asRecord(records.rotationState),
        clientCertificateSerials: asRecord(records.clientCertificateSerials),
    };
}

const stackType = "pulumi:pulumi:Stack";

/** Whether a URN is a stack's (`urn:pulumi:<stack>::<project>::pulumi:pulumi:Stack::<name>`). */
function isStackUrn(urn: string): boolean {
    return urn.split("::")[2] === stackType;
}

/** Resources already decoded (the SDK's invoke, or a test's reader). */
function decodedResources(resources: Record<string, DeployedResourceOutputs>): PreviousResources {
    return {
        select: (keep, outputNames) =>
            Object.fromEntries(
                Object.entries(resources)
                    .filter(([urn]) => keep(urn))
                    .map(([urn, resource]) => [
                        urn,
                        outputNames
                            ? {
                                  type: resource.type,
                                  outputs: Object.fromEntries(
                                      Object.entries(resource.outputs).filter(([name]) => outputNames.has(name)),
                                  ),
                              }
                            : resource,
                    ]),
            ),
    };
}

/** Resources still in the engine's reply: each selection decodes only what it keeps. */
function replyResources(reply: Uint8Array): PreviousResources {
    return { select: (keep, outputNames) => selectResourceOutputs(reply, keep, outputNames) };
}

export interface PreviousOutputReadOptions {
    /** Reads every resource's outputs of a stack by its fully qualified name (default: the builtin provider). */
    readonly invoke?: (stackName: string) => Promise<Record<string, DeployedResourceOutputs>>;
    /** How many reads before giving up (default 6, about 3 s of waiting in all). */
    readonly attempts?: number;
    /** The wait after the first failed read; it doubles after each further one (default 100 ms). */
    readonly firstDelayMs?: number;
}

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
