import * as pulumi from "@pulumi/pulumi";

/** One resource the program registered, as the mocks saw it. */
export interface RecordedResource {
    readonly type: string;
    readonly name: string;
    readonly inputs: Record<string, unknown>;
}

export const recordedResources: RecordedResource[] = [];

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

/** Installs the mocks; call before any program code registers resources. */
export function installMocks(): void {
    pulumi.runtime.setMocks(
        {
            newResource(args: pulumi.runtime.MockResourceArgs): { id: string; state: Record<string, unknown> } {
                recordedResources.push({ type: args.type, name: args.name, inputs: args.inputs });
                serial += 1;
                return { id: `${args.name}-id-${serial}`, state: fakeState(args.type, args.name, args.inputs) };
            },
            call(args: pulumi.runtime.MockCallArgs): Record<string, unknown> {
                throw new Error(`unexpected provider call ${args.token}`);
            },
        },
        "mtls-nginx",
        "unit",
        false,
    );
}

export function resetRecordedResources(): void {
    recordedResources.length = 0;
}

export function resourcesOfType(type: string): RecordedResource[] {
    return recordedResources.filter((resource) => resource.type === type);
}

/** Resolves an Output to its value (and whether it is secret), so tests can use async/await. */
export async function promiseOf<T>(output: pulumi.Output<T>): Promise<T> {
    return new Promise<T>((resolve) => output.apply((value) => resolve(value)));
}

export async function isSecretOutput(output: pulumi.Output<unknown>): Promise<boolean> {
    return pulumi.isSecret(output);
}
