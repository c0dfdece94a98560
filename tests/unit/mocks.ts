import * as pulumi from "@pulumi/pulumi";
import { isSecretWrapper, observeRegistrations, waitForRegistrations } from "./sdkShim";

/** One resource the program registered, as the mocks saw it. */
export interface RecordedResource {
    readonly type: string;
    readonly name: string;
    /** Inputs with secret markers removed. */
    readonly inputs: Record<string, unknown>;
    /** Names of the inputs that arrived marked secret. */
    readonly secretInputs: string[];
}

function unwrapSecrets(value: unknown): unknown {
    if (isSecretWrapper(value)) return unwrapSecrets(value.value);
    if (Array.isArray(value)) return value.map(unwrapSecrets);
    if (typeof value === "object" && value !== null) {
        return Object.fromEntries(Object.entries(value).map(([key, inner]) => [key, unwrapSecrets(inner)]));
    }
    return value;
}

export const recordedResources: RecordedResource[] = [];

/** Provider functions the program called (invokes), with their arguments. */
export const recordedCalls: Array<{ token: string; inputs: Record<string, unknown> }> = [];

/** Changes a test makes to every fake provider output (e.g. realistic sizes), in order. */
export const stateTransforms: Array<(name: string, state: Record<string, unknown>) => Record<string, unknown>> = [];

/** Provider outputs a test sets for a resource by name (e.g. a real key pair), over the fake ones. */
export const stateOverrides = new Map<string, Record<string, unknown>>();

/** What the builtin `readStackResourceOutputs` invoke answers for this stack's last deployment, by URN; tests set it. */
export const previousResourceOutputs: Record<string, { type: string; outputs: Record<string, unknown> }> = {};

let serial = 0;

/** Fake provider outputs that look enough like the real ones for the program to compose them. */
function fakeState(type: string, name: string, inputs: Record<string, unknown>): Record<string, unknown> {
    switch (type) {
        case "tls:index/privateKey:PrivateKey":
            return { ...inputs, privateKeyPem: `PRIVATE KEY OF ${name}`, publicKeyPem: `PUBLIC KEY OF ${name}` };
        case "tls:index/certRequest:CertRequest":
            return { ...inputs, certRequestPem: `CSR OF ${name}` };
        case "tls:index/selfSignedCert:SelfSignedCert":
        case "tls:index/locallySignedCert:LocallySignedCert":
            return {
                ...inputs,
                certPem: `CERT OF ${name}\n`,
                validityStartTime: "2026-11-28T00:00:00Z",
                validityEndTime: `2027-11-28T00:00:00Z`,
            };
        case "docker:index/remoteImage:RemoteImage":
            return { ...inputs, imageId: `sha256:image-of-${name}` };
        case "docker:index/container:Container":
            return { ...inputs };
        case "kubernetes:core/v1:Service": {
            // The API server's part: a cluster IP, and a node port for a NodePort Service that names none.
            const spec = inputs.spec as { type?: string; ports?: Array<Record<string, unknown>> };
            const ports = (spec.ports ?? []).map((port) =>
                spec.type === "NodePort" ? { nodePort: 31443, ...port } : port,
            );
            return { ...inputs, spec: { ...spec, clusterIP: "10.96.0.10", ports } };
        }
        case "command:local:Command":
            return { ...inputs, stdout: `stdout of ${name}`, stderr: "" };
        default:
            return { ...inputs };
    }
}

let installed = false;

/** Installs the mocks once per process (every test file calls it); before any program code runs. */
export function installMocks(): void {
    if (installed) {
        return;
    }
    installed = true;
    void pulumi.runtime.setMocks(
        {
            newResource(args: pulumi.runtime.MockResourceArgs): { id: string; state: Record<string, unknown> } {
                const inputs = unwrapSecrets(args.inputs) as Record<string, unknown>;
                const secretInputs = Object.keys(args.inputs).filter((key) => isSecretWrapper(args.inputs[key]));
                recordedResources.push({ type: args.type, name: args.name, inputs, secretInputs });
                serial += 1;
                const faked = { ...fakeState(args.type, args.name, inputs), ...stateOverrides.get(args.name) };
                const state = stateTransforms.reduce((current, transform) => transform(args.name, current), faked);
                return { id: `${args.name}-id-${serial}`, state };
            },
            call(args: pulumi.runtime.MockCallArgs): Record<string, unknown> {
                if (args.token === "command:local:run") {
                    // The endpoint's drift repair: nothing drifted in a mocked world.
                    recordedCalls.push({
                        token: args.token,
                        inputs: unwrapSecrets(args.inputs) as Record<string, unknown>,
                    });
                    return { ...args.inputs, stdout: "intact", stderr: "" };
                }
                if (args.token === "pulumi:pulumi:readStackResourceOutputs") {
                    // This stack's resources at its last deployment, as the engine's builtin provider serves them.
                    recordedCalls.push({ token: args.token, inputs: args.inputs as Record<string, unknown> });
                    return { name: args.inputs.stackName, outputs: previousResourceOutputs };
                }
                throw new Error(`unexpected provider call ${args.token}`);
            },
        },
        "mtls-nginx",
        "unit",
        false,
        "organization",
    );
    recordReplacementTriggers();
}

export function resetRecordedResources(): void {
    recordedResources.length = 0;
    recordedCalls.length = 0;
}

export function resourcesOfType(type: string): RecordedResource[] {
    return recordedResources.filter((resource) => resource.type === type);
}

/** Resolves an Output to its value (and whether it is secret), so tests can use async/await. */
export async function promiseOf<T>(output: pulumi.Output<T>): Promise<T> {
    return new Promise<T>((resolve) => output.apply((value) => resolve(value)));
}

/** Waits until every resource registration the program started has reached the mocks. */
export async function settled(): Promise<void> {
    await waitForRegistrations();
}

/** additionalSecretOutputs of each resource by name. */
export const additionalSecretOutputs = new Map<string, string[]>();

/** ignoreChanges of each resource by name. */
export const ignoredChanges = new Map<string, string[]>();

/** replacementTrigger of each resource by name, as the program passed it (mocks do not see options). */
export const replacementTriggers = new Map<string, unknown>();

/** The parent URN of each resource by name. */
export const parents = new Map<string, string>();
/** Each resource's aliases by name, as `name under <parent URN>` / `name at the root` (sdkShim.ts). */
export const aliasesOf = new Map<string, string[]>();

/** Records each resource's options, which mocks do not see (through the SDK shim). */
function recordReplacementTriggers(): void {
    observeRegistrations((options) => {
        if (options.replacementTrigger !== undefined) {
            replacementTriggers.set(options.name, unwrapSecrets(options.replacementTrigger));
        }
        ignoredChanges.set(options.name, options.ignoreChanges);
        additionalSecretOutputs.set(options.name, options.additionalSecretOutputs);
        parents.set(options.name, options.parent);
        aliasesOf.set(options.name, options.aliases);
    });
}

/** The file set the endpoint hands to its container, read from the delivery command's stdin. */
export function deliveredFiles(): Record<string, { content: string; mode: number }> {
    const delivery = resourcesOfType("command:local:Command").find((resource) => resource.name === "endpoint-delivery");
    if (!delivery) {
        throw new Error("no endpoint-delivery command was registered");
    }
    const request = JSON.parse(delivery.inputs.stdin as string) as {
        files: Array<{ name: string; content: string; mode: number }>;
    };
    return Object.fromEntries(request.files.map((file) => [file.name, { content: file.content, mode: file.mode }]));
}
