import * as assert from "assert";
import type { OutputMap } from "@pulumi/pulumi/automation";
import {
    formerProgram,
    outputValue,
    programBeforeComponent,
    type RecordedStep,
    stepRecorder,
    ThrowawayStack,
    useThrowawayStack,
} from "../../testkit/stack";

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
 * Rewrites a deployment of the program before MtlsEndpoint into the shape stacks had before `ClientCertificates`: each client's key,
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

/** The certificates, keys and container a deployment serves: none of them may change in a move. */
interface Served {
    certificates: Record<string, string>;
    keys: Record<string, string>;
    server: string;
    ca: string;
    containerId: string;
}

function servedBy(outputs: OutputMap): Served {
    return {
        certificates: outputValue<Record<string, string>>(outputs, "clientCertificatePems"),
        keys: outputValue<Record<string, string>>(outputs, "clientPrivateKeyPems"),
        server: outputValue<string>(outputs, "serverCertificatePem"),
        ca: outputValue<string>(outputs, "caCertificatePem"),
        containerId: outputValue<string>(outputs, "containerId"),
    };
}

/**
 * A move may create and delete components (they hold nothing), and update a command only in its
 * working directory: the former program ran from another checkout here, a user's runs from the
 * same one. That re-delivery changes the smoke test's triggers, so the probe (which holds nothing)
 * runs again. Nothing else changes.
 */
function assertOnlyComponentsMove(steps: readonly RecordedStep[]): void {
    const isComponent = (step: RecordedStep) => /^mtls(-nginx)?:/.test(step.type);
    const isProbe = (step: RecordedStep) =>
        step.type === "command:local:Command" && /smoke-test-probe$/.test(step.name);
    const custom = steps.filter((step) => step.op !== "same" && !isComponent(step) && !isProbe(step));
    const unexpected = custom.filter(
        (step) => !(step.op === "update" && step.type === "command:local:Command" && sameItems(step.diffs, ["dir"])),
    );
    assert.deepStrictEqual(
        unexpected,
        [],
        "no key, certificate, CRL, volume or container is created, replaced or deleted",
    );
    const moved = steps.filter((step) => step.op !== "same" && isComponent(step));
    assert.ok(
        moved.every((step) => step.op === "create" || step.op === "delete"),
        `components are only created or deleted: ${JSON.stringify(moved)}`,
    );
}

function sameItems(found: readonly string[], allowed: readonly string[]): boolean {
    return found.length > 0 && found.every((item) => allowed.includes(item));
}

/**
 * Runs the program of before MtlsEndpoint, optionally rewrites what it deployed (`reshape`), then
 * the current program: its preview moves only components, its up serves the same certificates, keys
 * and container, and a second preview changes nothing.
 */
function provesMove(
    label: string,
    config: Record<string, unknown>,
    reshape?: (exported: ExportedDeployment) => ExportedDeployment,
): void {
    const fixture = useThrowawayStack(label, config);
    const log = fixture.log;
    let deployment: ThrowawayStack;
    let servedBefore: Served;
    let rotationBefore: unknown;

    before(async () => {
        deployment = fixture.current;
        const former = await formerProgram(deployment, programBeforeComponent);
        try {
            const result = await former.stack.up({ onOutput: log });
            assert.match(outputValue<string>(result.outputs, "smokeTest"), /smoke test passed/);
            servedBefore = servedBy(result.outputs);
            rotationBefore = outputValue(result.outputs, "rotationState");
        } finally {
            former.dispose();
        }
        if (reshape) {
            const exported = (await deployment.stack.exportStack()) as unknown as ExportedDeployment;
            await deployment.stack.importStack(reshape(exported) as never);
        }
    });

    it("preview: only components are created or deleted; no key, certificate or container changes", async () => {
        const recorder = stepRecorder();
        await deployment.stack.preview({ onOutput: log, onEvent: recorder.onEvent });
        assertOnlyComponentsMove(recorder.steps);
        assert.ok(
            recorder.steps.some((step) => step.op === "create" && step.type === "mtls-nginx:index:MtlsEndpoint"),
            "the MtlsEndpoint is created",
        );
    });

    it("up: the same certificates, keys, CA and container, the same rotation records; then nothing to do", async () => {
        const result = await deployment.stack.up({ onOutput: log });
        assert.match(outputValue<string>(result.outputs, "smokeTest"), /smoke test passed/);
        assert.deepStrictEqual(servedBy(result.outputs), servedBefore);
        assert.deepStrictEqual(outputValue(result.outputs, "rotationState"), rotationBefore);
        const types = (
            (await deployment.stack.exportStack()) as unknown as ExportedDeployment
        ).deployment.resources.filter((resource) => resource.type === "tls:index/privateKey:PrivateKey");
        assert.ok(
            types.every((key) => key.parent?.includes("mtls-nginx:index:MtlsEndpoint")),
            `every key is inside the component now: ${types.map((key) => key.urn).join(", ")}`,
        );
        const recorder = stepRecorder();
        await deployment.stack.preview({ onOutput: log, onEvent: recorder.onEvent });
        assert.deepStrictEqual(
            recorder.steps.filter((step) => step.op !== "same"),
            [],
        );
    });
}

describe("upgrade: a stack deployed before MtlsEndpoint moves into the component", function () {
    // A revoked client: the CRL moves too.
    provesMove("upgrade", { clients: ["alice", "bob", "carol"], revokedClients: ["carol"] });
});

describe("upgrade: clients deployed under a component each (two versions back) move into the component", function () {
    provesMove("upgrade-old", { clients: ["alice", "bob"] }, (exported) =>
        withComponentPerClient(exported, ["alice", "bob"]),
    );
});
