import * as pulumi from "@pulumi/pulumi";

/** One resource the program registered, as the mocks saw it. */
export interface RecordedResource {
    readonly type: string;
    readonly name: string;
    /** Inputs with secret markers removed. */
    readonly inputs: Record<string, unknown>;
    /** Names of the inputs that arrived marked secret. */
    readonly secretInputs: string[];
}

// How the SDK marks a secret value on the wire (and so in what mocks receive).
const secretSignature = "4dabf18193072939515e22adb298388d";
const secretSignatureValue = "1b47061264138c4ac30d75fd1eb44270";

function isSecretWrapper(value: unknown): value is { value: unknown } {
    return (
        typeof value === "object" &&
        value !== null &&
        (value as Record<string, unknown>)[secretSignature] === secretSignatureValue
    );
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

/** Provider outputs a test sets for a resource by name (e.g. a real key pair), over the fake ones. */
export const stateOverrides = new Map<string, Record<string, unknown>>();

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
                const state = { ...fakeState(args.type, args.name, inputs), ...stateOverrides.get(args.name) };
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
                throw new Error(`unexpected provider call ${args.token}`);
            },
        },
        "mtls-nginx",
        "unit",
        false,
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
    // waitForRPCs is internal to the SDK, but it is exactly "the RPC queue drained".
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const settings = require("@pulumi/pulumi/runtime/settings") as { waitForRPCs: () => Promise<void> };
    await settings.waitForRPCs();
}

/** additionalSecretOutputs of each resource by name. */
export const additionalSecretOutputs = new Map<string, string[]>();

/** ignoreChanges of each resource by name. */
export const ignoredChanges = new Map<string, string[]>();

/** replacementTrigger of each resource by name, as the program passed it (mocks do not see options). */
export const replacementTriggers = new Map<string, unknown>();

/**
 * Records each resource's replacementTrigger. Mocks receive inputs only, so this wraps the mock
 * monitor's registerResource and reads the option from the request (SDK internals, tests only).
 */
function recordReplacementTriggers(): void {
    type Request = {
        getName(): string;
        getReplacementTrigger?(): { toJavaScript(): unknown } | undefined;
        getIgnorechangesList(): string[];
        getAdditionalsecretoutputsList(): string[];
    };
    type Monitor = { registerResource(request: Request, callback: unknown): unknown };
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const settings = require("@pulumi/pulumi/runtime/settings") as { getMonitor(): Monitor };
    const monitor = settings.getMonitor();
    const register = monitor.registerResource.bind(monitor);
    monitor.registerResource = (request, callback) => {
        const trigger = request.getReplacementTrigger?.();
        if (trigger) {
            replacementTriggers.set(request.getName(), unwrapSecrets(trigger.toJavaScript()));
        }
        ignoredChanges.set(request.getName(), request.getIgnorechangesList());
        additionalSecretOutputs.set(request.getName(), request.getAdditionalsecretoutputsList());
        return register(request, callback);
    };
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
