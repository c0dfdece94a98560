import * as assert from "assert";
import { execFileSync } from "child_process";
import * as pulumi from "@pulumi/pulumi";

import { mtlsEndpointType, type MtlsEndpointArgs } from "../../components/mtlsEndpoint";
import { MtlsEndpoint, trimSdkBookkeeping } from "../../package/index";
import { destroyInTwoPhases, upPureResources } from "../../scripts/upPhases";
import { createInlineStack, freePort, readStackConfigFile, realChanges, useEngineLog } from "../../testkit/stack";

/** A consumer's own component that holds the endpoint: its URN is what phase 1 must also target. */
class Edge extends pulumi.ComponentResource {
    constructor(name: string, args: MtlsEndpointArgs, opts?: pulumi.ComponentResourceOptions) {
        super("acme:index:Edge", name, {}, opts);
        new MtlsEndpoint(`${name}-mtls`, args, { parent: this });
        this.registerOutputs({});
    }
}

/** The recipe of docs/operations.md ("In a program of your own"): the consumer's component added to phase 1. */
const edgeTarget = "**acme:index:Edge::*";

/**
 * docs/operations.md's two phases, run by a consumer's program (not this project's stack): the
 * endpoint inside a component of the consumer's, and the SDK's bookkeeping trimmed as the npm
 * package offers. Phase 1 without the consumer's component saves nothing; with it, phase 1 makes the
 * certificates only, and phase 2 the endpoint.
 */
describe("an up in two phases from a consumer's program (the endpoint inside its own component)", function () {
    const image = String(readStackConfigFile("Pulumi.dev.yaml").image);
    const args: MtlsEndpointArgs = { image, clients: ["alice", "bob"] };
    let restoreSdk: () => void = () => undefined;
    const program = async () => {
        restoreSdk = trimSdkBookkeeping();
        new Edge("edge", args);
    };
    let consumer: Awaited<ReturnType<typeof createInlineStack>>;
    const log = useEngineLog();
    const containerName = () => `mtls-nginx-${consumer.stackName}-edge-mtls`;
    const resources = async () =>
        (
            (await consumer.stack.exportStack()).deployment as {
                resources?: Array<{ urn: string; type: string; outputs?: Record<string, unknown> }>;
            }
        ).resources ?? [];
    const containerExists = () =>
        execFileSync("docker", ["ps", "-a", "--format", "{{.Names}}"], { encoding: "utf8" })
            .split("\n")
            .includes(containerName());

    before(async () => {
        args.publishPort = await freePort();
        consumer = await createInlineStack("consumer-phases", program);
    });
    after(async () => {
        restoreSdk();
        await consumer?.stack.destroy({ onOutput: log }).catch((error) => console.error(String(error)));
        if (consumer) {
            execFileSync("docker", ["rm", "-f", containerName()], { stdio: "ignore" });
            execFileSync("docker", ["volume", "rm", "-f", `${containerName()}-files`], { stdio: "ignore" });
        }
        await consumer?.dispose();
    });

    it("phase 1 without the consumer's component: the engine refuses it, and nothing of the endpoint is made", async () => {
        await assert.rejects(
            upPureResources(consumer.stack, { onOutput: log }),
            /acme:index:Edge::edge' which was was not specified in --target list/,
        );
        const types = (await resources()).map((resource) => resource.type);
        assert.deepStrictEqual(
            types.filter((type) => !type.startsWith("pulumi:")),
            [],
            "at most the stack and its builtin provider are recorded",
        );
        assert.ok(!containerExists(), "nothing was made on the engine");
    });

    it("phase 1 with it makes the certificates only; phase 2 the endpoint, whose smoke test passes", async () => {
        const phase1 = await upPureResources(consumer.stack, { onOutput: log }, [edgeTarget]);
        assert.strictEqual(phase1.summary.result, "succeeded");
        const afterPhase1 = await resources();
        const types = new Set(afterPhase1.map((resource) => resource.type));
        assert.ok(types.has("tls:index/locallySignedCert:LocallySignedCert"), [...types].join(", "));
        assert.ok(types.has("acme:index:Edge"), "the consumer's component is saved with its children");
        assert.ok(
            ![...types].some((type) => type.startsWith("docker:") || type.startsWith("command:")),
            `nothing but state in phase 1: ${[...types].join(", ")}`,
        );
        assert.ok(!containerExists(), "no container yet");

        const phase2 = await consumer.stack.up({ onOutput: log });
        assert.strictEqual(phase2.summary.result, "succeeded");
        const tlsChanged = (await resources()).filter(
            (resource) =>
                resource.type.startsWith("tls:index/") && !afterPhase1.some((before) => before.urn === resource.urn),
        );
        assert.deepStrictEqual(tlsChanged, [], "phase 2 makes no certificate");
        const endpoint = (await resources()).find((resource) => resource.type === mtlsEndpointType);
        assert.match(String(endpoint?.outputs?.smokeTest), /smoke test passed/);
        assert.ok(containerExists(), "the container serves");

        const preview = await consumer.stack.preview({ onOutput: log });
        assert.deepStrictEqual(realChanges(preview.changeSummary), [], "converged: a no-op preview");
    });

    it("destroys in two phases, leaving no container, volume or resource", async () => {
        await destroyInTwoPhases(consumer.stack, { onOutput: log });
        assert.deepStrictEqual(await resources(), []);
        assert.ok(!containerExists(), "the container is gone");
        const volumes = execFileSync("docker", ["volume", "ls", "-q"], { encoding: "utf8" });
        assert.ok(!volumes.split("\n").includes(`${containerName()}-files`), "the files volume is gone");
    });
});
