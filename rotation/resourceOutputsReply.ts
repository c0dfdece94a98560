import { createRequire } from "module";
import type * as jspb from "google-protobuf";
import type * as structProtos from "google-protobuf/google/protobuf/struct_pb";
import * as pulumi from "@pulumi/pulumi";
import { deserializeProperty, unwrapRpcSecret } from "@pulumi/pulumi/runtime/rpc";

/**
 * The builtin `readStackResourceOutputs` invoke, with its reply kept as bytes and decoded one
 * resource at a time. The reply holds every resource's outputs (about 18 MB at 1,000 clients), and
 * an endpoint needs one resource's. The SDK's invoke decodes all of it with google-protobuf's
 * JavaScript, on the thread that constructs the resources: at 1,000 clients that was about 5 s of a
 * no-op preview (bench/README.md, "The second cuts"). Here the bytes are scanned,
 * each resource's entry is skipped by its length, and only the entries a caller keeps are decoded.
 */

/** One resource of a stack's last deployment, as the builtin provider answers for it. */
export interface DeployedResourceOutputs {
    readonly type: string;
    readonly outputs: Record<string, unknown>;
}

/** The token the engine's builtin provider serves for a stack's resource outputs (StackReference's). */
export const readStackResourceOutputsToken = "pulumi:pulumi:readStackResourceOutputs";

/** The monitor's Invoke method (proto/resource.proto's ResourceMonitor service). */
const invokeMethodPath = "/pulumirpc.ResourceMonitor/Invoke";

/** Field numbers of the messages in the reply: provider.proto's InvokeResponse and CheckFailure, struct.proto's. */
const fields = {
    invokeResponse: { return: 1, failures: 2 },
    checkFailure: { property: 1, reason: 2 },
    struct: { entry: 1 },
    structEntry: { key: 1, value: 2 },
    value: { struct: 5 },
} as const;

// The SDK's own google-protobuf, whatever the consumer's node_modules layout: its messages are made with it.
const sdkRequire = createRequire(require.resolve("@pulumi/pulumi"));
const { BinaryReader } = sdkRequire("google-protobuf") as typeof jspb;
const { Struct, Value } = sdkRequire("google-protobuf/google/protobuf/struct_pb") as typeof structProtos;

/** The monitor client's generic unary call (a grpc-js Client's), which takes our own (de)serializers. */
interface UnaryCaller {
    makeUnaryRequest(
        method: string,
        serialize: (request: jspb.Message) => Buffer,
        deserialize: (bytes: Buffer) => Buffer,
        request: jspb.Message,
        callback: (error: { details?: string; message: string } | null, reply?: Buffer) => void,
    ): unknown;
}

/**
 * Asks the engine for a stack's resource outputs and returns the reply undecoded, or undefined when
 * the program has no real engine to ask (the unit tests' mocks answer through the SDK's invoke).
 */
export function readRawStackResourceOutputs(stackName: string): Promise<Buffer> | undefined {
    const monitor = pulumi.runtime.hasMonitor() ? (pulumi.runtime.getMonitor() as unknown) : undefined;
    if (typeof (monitor as Partial<UnaryCaller> | undefined)?.makeUnaryRequest !== "function") {
        return undefined;
    }
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const { ResourceInvokeRequest } = require("@pulumi/pulumi/proto/resource_pb") as {
        ResourceInvokeRequest: new () => jspb.Message & {
            setTok(token: string): void;
            setArgs(args: structProtos.Struct): void;
            setAcceptresources(accept: boolean): void;
        };
    };
    const request = new ResourceInvokeRequest();
    request.setTok(readStackResourceOutputsToken);
    request.setArgs(Struct.fromJavaScript({ stackName }));
    request.setAcceptresources(true); // as the SDK's own invoke asks
    return new Promise((resolve, reject) => {
        (monitor as UnaryCaller).makeUnaryRequest(
            invokeMethodPath,
            (message) => Buffer.from(message.serializeBinary()),
            (bytes) => bytes,
            request,
            (error, reply) => (error ? reject(new Error(error.details || error.message)) : resolve(reply!)),
        );
    });
}

/**
 * The resources whose URN `keep` accepts, decoded from an InvokeResponse of `readStackResourceOutputs`
 * (its return value is `{name, outputs: {<urn>: {type, outputs}}}`), as the SDK's invoke would give
 * them. A failure the engine reports is thrown, with the SDK's wording.
 */
export function selectResourceOutputs(
    reply: Uint8Array,
    keep: (urn: string) => boolean,
    outputNames?: ReadonlySet<string>,
): Record<string, DeployedResourceOutputs> {
    const selected: Record<string, DeployedResourceOutputs> = {};
    const failures: string[] = [];
    eachField(reply, (field, reader) => {
        if (field === fields.invokeResponse.return) {
            eachStructEntry(reader.readBytes(), (key, value) => {
                if (key === "outputs") {
                    eachStructEntry(structOf(value), (urn, resource) => {
                        if (keep(urn)) {
                            selected[urn] = outputNames
                                ? namedOutputsOf(resource, outputNames)
                                : (decodeValue(resource) as DeployedResourceOutputs);
                        }
                    });
                }
            });
        } else if (field === fields.invokeResponse.failures) {
            failures.push(failureText(reader.readBytes()));
        } else {
            reader.skipField();
        }
    });
    if (failures.length > 0) {
        throw new Error(`Invoke of '${readStackResourceOutputsToken}' failed: ${failures.join("; ")}`);
    }
    return selected;
}

/**
 * A Value's bytes decoded as the SDK decodes each value of a map: a secret inside is unwrapped (it
 * marks the whole resource secret, and its parent map takes the value).
 */
function decodeValue(value: Uint8Array): unknown {
    return unwrapRpcSecret(deserializeProperty(Value.deserializeBinary(value).toJavaScript()));
}

/**
 * One resource's type and only the outputs named: the others are skipped undecoded. (Decoding every
 * output of 3,000 resources took seconds; the clients-only `up` needs two or three of each.)
 */
function namedOutputsOf(resource: Uint8Array, outputNames: ReadonlySet<string>): DeployedResourceOutputs {
    let type = "";
    const outputs: Record<string, unknown> = {};
    eachStructEntry(structOf(resource), (key, value) => {
        if (key === "type") {
            type = String(decodeValue(value));
        } else if (key === "outputs") {
            eachStructEntry(structOf(value), (name, output) => {
                if (outputNames.has(name)) {
                    outputs[name] = decodeValue(output);
                }
            });
        }
    });
    return { type, outputs };
}

/** Calls `visit` for each field of a message; `visit` must read or skip the field's value. */
function eachField(message: Uint8Array, visit: (field: number, reader: jspb.BinaryReader) => void): void {
    const reader = new BinaryReader(message);
    while (reader.nextField() && !reader.isEndGroup()) {
        visit(reader.getFieldNumber(), reader);
    }
}

/** Calls `visit` with each key of a Struct and its Value's bytes, undecoded. */
function eachStructEntry(struct: Uint8Array, visit: (key: string, value: Uint8Array) => void): void {
    eachField(struct, (field, reader) => {
        if (field !== fields.struct.entry) {
            reader.skipField();
            return;
        }
        let key = "";
        let value: Uint8Array = new Uint8Array(0);
        eachField(reader.readBytes(), (entryField, entry) => {
            if (entryField === fields.structEntry.key) {
                key = entry.readString();
            } else if (entryField === fields.structEntry.value) {
                value = entry.readBytes();
            } else {
                entry.skipField();
            }
        });
        visit(key, value);
    });
}

/** The Struct a Value holds (empty when it holds something else). */
function structOf(value: Uint8Array): Uint8Array {
    let struct: Uint8Array = new Uint8Array(0);
    eachField(value, (field, reader) => {
        if (field === fields.value.struct) {
            struct = reader.readBytes();
        } else {
            reader.skipField();
        }
    });
    return struct;
}

/** A CheckFailure as the SDK words it: `<reason> (<property>)`. */
function failureText(failure: Uint8Array): string {
    let property = "";
    let reason = "";
    eachField(failure, (field, reader) => {
        if (field === fields.checkFailure.property) {
            property = reader.readString();
        } else if (field === fields.checkFailure.reason) {
            reason = reader.readString();
        } else {
            reader.skipField();
        }
    });
    return `${reason} (${property})`;
}
