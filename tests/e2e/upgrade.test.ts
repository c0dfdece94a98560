import * as assert from "assert";
import { outputValue, ThrowawayStack, stepRecorder, useThrowawayStack } from "../../testkit/stack";

/** A deployment as `pulumi stack export` gives it: only the parts this test rewrites. */
interface ExportedDeployment {
    deployment: { resources: ExportedResource[] };
}

interface ExportedResource {
    urn: string;
    type: string;
    custom?: boolean;
    parent?: string;
    [key: string]: unknown;
}

/**
 * Rewrites a deployment into the shape stacks had before `ClientCertificates`: each client's key,
 * CSR and certificate under a component of its own, `mtls:pki:IssuedCertificate::client-<name>`.
 * Every reference to a moved URN (parents, dependencies) follows it.
 */
function withComponentPerClient(exported: ExportedDeployment, clients: readonly string[]): ExportedDeployment {
    const resources = exported.deployment.resources;
    const group = resources.find((resource) => resource.type === "mtls:pki:ClientCertificates");
    assert.ok(group, "the new shape has a ClientCertificates component");
    const stackUrn = group.parent;
    assert.ok(stackUrn, "the component's parent is the stack");
    const prefix = stackUrn.slice(0, stackUrn.indexOf("::pulumi:pulumi:Stack::"));
    const formerParent = (client: string) => `${prefix}::mtls:pki:IssuedCertificate::client-${client}`;
    const moved = new Map<string, string>();
    for (const resource of resources) {
        const name = resource.urn.slice(resource.urn.lastIndexOf("::") + 2);
        const client = clients.find((candidate) => name.startsWith(`client-${candidate}-`));
        if (resource.parent === group.urn && client) {
            const typeAndName = resource.urn.slice(resource.urn.lastIndexOf("$") + 1);
            moved.set(resource.urn, `${prefix}::mtls:pki:IssuedCertificate$${typeAndName}`);
            resource.parent = formerParent(client);
        }
    }
    assert.strictEqual(moved.size, clients.length * 3, "a key, a CSR and a certificate per client moved");
    const components: ExportedResource[] = clients.map((client) => ({
        urn: formerParent(client),
        custom: false,
        type: "mtls:pki:IssuedCertificate",
        parent: stackUrn,
    }));
    const kept = resources.filter((resource) => resource !== group);
    const stackIndex = kept.findIndex((resource) => resource.urn === stackUrn);
    // A parent comes before its children in a deployment.
    kept.splice(stackIndex + 1, 0, ...components);
    let text = JSON.stringify({ ...exported, deployment: { ...exported.deployment, resources: kept } });
    for (const [from, to] of moved) {
        text = text.split(JSON.stringify(from)).join(JSON.stringify(to));
    }
    return JSON.parse(text) as ExportedDeployment;
}

/**
 * A stack deployed with one component per client (before ClientCertificates) keeps every client's
 * key and certificate when the current program runs on it: the aliases carry them over.
 */
describe("upgrade: clients deployed under a component each keep their keys and certificates", function () {
    const clients = ["alice", "bob"];
    const fixture = useThrowawayStack("upgrade", { clients });
    const log = fixture.log;
    let deployment: ThrowawayStack;
    let certificatesBefore: Record<string, string>;

    before(async () => {
        deployment = fixture.current;
        const result = await deployment.stack.up({ onOutput: log });
        certificatesBefore = outputValue<Record<string, string>>(result.outputs, "clientCertificatePems");
        const exported = (await deployment.stack.exportStack()) as unknown as ExportedDeployment;
        const former = withComponentPerClient(exported, clients);
        await deployment.stack.importStack(former as never);
    });

    it("the state now has the former shape: one IssuedCertificate per client, no ClientCertificates", async () => {
        const types = (
            (await deployment.stack.exportStack()) as unknown as ExportedDeployment
        ).deployment.resources.map(
            (resource) => resource.urn.slice(resource.urn.lastIndexOf("::") + 2) + " " + resource.type,
        );
        assert.ok(types.includes("client-alice mtls:pki:IssuedCertificate"), types.join("\n"));
        assert.ok(!types.some((entry) => entry.endsWith("mtls:pki:ClientCertificates")), types.join("\n"));
    });

    it("preview: creates the new component, deletes the old ones, and changes no key, CSR or certificate", async () => {
        const recorder = stepRecorder();
        await deployment.stack.preview({ onOutput: log, onEvent: recorder.onEvent });
        const changes = recorder.steps.filter((step) => step.op !== "same");
        assert.deepStrictEqual(
            changes.map((step) => `${step.op} ${step.type} ${step.name}`).sort(),
            [
                "create mtls:pki:ClientCertificates clients",
                "delete mtls:pki:IssuedCertificate client-alice",
                "delete mtls:pki:IssuedCertificate client-bob",
            ],
            JSON.stringify(changes),
        );
    });

    it("up: the same certificates afterwards, and a second preview changes nothing", async () => {
        const result = await deployment.stack.up({ onOutput: log });
        assert.deepStrictEqual(
            outputValue<Record<string, string>>(result.outputs, "clientCertificatePems"),
            certificatesBefore,
        );
        const recorder = stepRecorder();
        await deployment.stack.preview({ onOutput: log, onEvent: recorder.onEvent });
        assert.deepStrictEqual(
            recorder.steps.filter((step) => step.op !== "same"),
            [],
        );
    });
});
