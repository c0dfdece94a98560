import * as assert from "assert";
import { readPreviousStackOutput, readStackOutputsToken } from "../../rotation/previousOutputs";
import { installMocks, previousStackOutputs, recordedCalls } from "./mocks";

installMocks();

/** A stack-output reader that fails `failures` times (like a checkpoint read racing a write), then answers. */
function flakyReader(failures: number, outputs: Record<string, unknown>) {
    const reads: string[] = [];
    const invoke = (stackName: string): Promise<Record<string, unknown>> => {
        reads.push(stackName);
        return reads.length <= failures
            ? Promise.reject(new Error("failed to load checkpoint: EOF"))
            : Promise.resolve(outputs);
    };
    return { invoke, reads };
}

describe("readPreviousStackOutput", () => {
    it("asks the builtin provider for this stack's own outputs and returns the one asked for", async () => {
        previousStackOutputs.rotationState = { server: { generation: 2, notAfter: "2027-01-01T00:00:00Z" } };
        try {
            const value = await readPreviousStackOutput("rotationState");
            assert.deepStrictEqual(value, { server: { generation: 2, notAfter: "2027-01-01T00:00:00Z" } });
            const call = recordedCalls.filter((recorded) => recorded.token === readStackOutputsToken).pop();
            assert.deepStrictEqual(call?.inputs, { name: "organization/mtls-nginx/unit" });
        } finally {
            delete previousStackOutputs.rotationState;
        }
    });

    it("returns undefined for an output the last deployment did not have (first up)", async () => {
        assert.strictEqual(await readPreviousStackOutput("rotationState"), undefined);
    });

    it("retries a read that races the engine's checkpoint write, and then succeeds", async () => {
        const reader = flakyReader(3, { rotationState: { ca: { generation: 0, notAfter: "x" } } });
        const value = await readPreviousStackOutput("rotationState", { invoke: reader.invoke, firstDelayMs: 1 });
        assert.deepStrictEqual(value, { ca: { generation: 0, notAfter: "x" } });
        assert.strictEqual(reader.reads.length, 4);
    });

    it("gives up after the last attempt, naming the output, the stack and the last error", async () => {
        const reader = flakyReader(100, {});
        await assert.rejects(
            readPreviousStackOutput("rotationState", { invoke: reader.invoke, attempts: 3, firstDelayMs: 1 }),
            /output "rotationState" of the previous deployment of stack organization\/mtls-nginx\/unit failed 3 times; last error: failed to load checkpoint: EOF/,
        );
        assert.strictEqual(reader.reads.length, 3);
    });
});
