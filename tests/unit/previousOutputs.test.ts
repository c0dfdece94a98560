import * as assert from "assert";
import {
    readPreviousRecords,
    readPreviousResources,
    startReadingPreviousResources,
} from "../../rotation/previousOutputs";
import { type DeployedResourceOutputs, readStackResourceOutputsToken } from "../../rotation/resourceOutputsReply";
import { installMocks, previousResourceOutputs, recordedCalls } from "./mocks";

installMocks();

const endpointUrn = "urn:pulumi:unit::mtls-nginx::mtls-nginx:index:MtlsEndpoint::partners";
const stackUrn = "urn:pulumi:unit::mtls-nginx::pulumi:pulumi:Stack::mtls-nginx-unit";
const record = (generation: number) => ({ server: { generation, notAfter: "2027-01-01T00:00:00Z" } });

/** A reader that fails `failures` times (like a checkpoint read racing a write), then answers. */
function flakyReader(failures: number, resources: Record<string, DeployedResourceOutputs>) {
    const reads: string[] = [];
    const invoke = (stackName: string): Promise<Record<string, DeployedResourceOutputs>> => {
        reads.push(stackName);
        return reads.length <= failures
            ? Promise.reject(new Error("failed to load checkpoint: EOF"))
            : Promise.resolve(resources);
    };
    return { invoke, reads };
}

describe("readPreviousRecords", () => {
    it("asks the builtin provider for this stack's resources and returns the component's own records", async () => {
        previousResourceOutputs[endpointUrn] = {
            type: "mtls-nginx:index:MtlsEndpoint",
            outputs: { rotationState: record(2), clientCertificateSerials: { alice: [] }, endpointUrl: "x" },
        };
        try {
            const records = await readPreviousRecords(endpointUrn, false);
            assert.deepStrictEqual(records, { rotationState: record(2), clientCertificateSerials: { alice: [] } });
            const call = recordedCalls.filter((recorded) => recorded.token === readStackResourceOutputsToken).pop();
            assert.deepStrictEqual(call?.inputs, { stackName: "organization/mtls-nginx/unit" });
        } finally {
            delete previousResourceOutputs[endpointUrn];
        }
    });

    it("finds nothing for a component the last deployment did not have (first up)", async () => {
        assert.deepStrictEqual(await readPreviousRecords(endpointUrn, false), {
            rotationState: undefined,
            clientCertificateSerials: undefined,
        });
    });

    it("reads the stack's outputs for the stack's own endpoint before it had records of its own, and only then", async () => {
        const stack = { type: "pulumi:pulumi:Stack", outputs: { rotationState: record(1) } };
        const before = flakyReader(0, { [stackUrn]: stack });
        assert.deepStrictEqual((await readPreviousRecords(endpointUrn, true, before)).rotationState, record(1));
        const another = await readPreviousRecords(endpointUrn, false, before);
        assert.strictEqual(another.rotationState, undefined, "another endpoint never takes the stack's records");
        const after = flakyReader(0, {
            [stackUrn]: stack,
            [endpointUrn]: { type: "mtls-nginx:index:MtlsEndpoint", outputs: { rotationState: record(3) } },
        });
        assert.deepStrictEqual((await readPreviousRecords(endpointUrn, true, after)).rotationState, record(3));
    });

    it("retries a read that races the engine's checkpoint write, and then succeeds", async () => {
        const reader = flakyReader(3, {
            [endpointUrn]: { type: "mtls-nginx:index:MtlsEndpoint", outputs: { rotationState: record(0) } },
        });
        const records = await readPreviousRecords(endpointUrn, false, { invoke: reader.invoke, firstDelayMs: 1 });
        assert.deepStrictEqual(records.rotationState, record(0));
        assert.strictEqual(reader.reads.length, 4);
    });

    it("gives up after the last attempt, naming the stack and the last error", async () => {
        const reader = flakyReader(100, {});
        await assert.rejects(
            readPreviousRecords(endpointUrn, false, { invoke: reader.invoke, attempts: 3, firstDelayMs: 1 }),
            /reading the resources of the previous deployment of stack organization\/mtls-nginx\/unit failed 3 times; last error: failed to load checkpoint: EOF/,
        );
        assert.strictEqual(reader.reads.length, 3);
    });
});

describe("startReadingPreviousResources", () => {
    const readsSoFar = () =>
        recordedCalls.filter((recorded) => recorded.token === readStackResourceOutputsToken).length;

    it("sends the read before the program builds anything, and the next endpoint takes it, once", async () => {
        previousResourceOutputs[endpointUrn] = {
            type: "mtls-nginx:index:MtlsEndpoint",
            outputs: { rotationState: record(4) },
        };
        try {
            const before = readsSoFar();
            await startReadingPreviousResources();
            assert.strictEqual(readsSoFar(), before + 1, "asked for when the promise resolves");
            const taken = readPreviousResources();
            assert.strictEqual(readsSoFar(), before + 1, "the endpoint takes the read already made");
            const own = taken.then((resources) => resources.select((urn) => urn === endpointUrn));
            assert.deepStrictEqual((await own)[endpointUrn]?.outputs, { rotationState: record(4) });
            await readPreviousResources();
            assert.strictEqual(readsSoFar(), before + 2, "a second endpoint reads again");
        } finally {
            delete previousResourceOutputs[endpointUrn];
        }
    });

    it("is not taken by a read with options of its own (a test's reader)", async () => {
        await startReadingPreviousResources();
        const reader = flakyReader(0, {});
        await readPreviousRecords(endpointUrn, false, reader);
        assert.strictEqual(reader.reads.length, 1);
        const before = readsSoFar();
        await readPreviousResources(); // the started read, taken now: no new request
        assert.strictEqual(readsSoFar(), before);
    });
});
