/**
 * The whole program on the mocks, for the resource-graph tests: validate a raw config, deploy it,
 * and wait until every registration upstream of the outputs a test names has reached the mocks.
 */
import * as pulumi from "@pulumi/pulumi";
import { RawStackConfig, validateStackConfig } from "../../config/stackConfig";
import type { MtlsEndpointOutputs } from "../../components/mtlsEndpoint";
import type { HeldResources } from "../../rotation/clientHold";
import { installMocks, promiseOf, resetRecordedResources, settled } from "./mocks";

installMocks();
// Imported after the mocks are installed, as the Pulumi docs require.
// eslint-disable-next-line @typescript-eslint/no-require-imports
export const { deployMtlsEndpoint } = require("../../stack") as typeof import("../../stack");

/** The config context of every unit test: the stack's name and project directory. */
export const context = { stack: "unit", projectDirectory: "/srv/mtls" };

/** The name of an output (every output is an Output). */
export type OutputName = keyof MtlsEndpointOutputs & string;

export interface DeployOptions {
    readonly now: Date;
    /** Default: none, a first up. */
    readonly previousRotationState?: Record<string, unknown>;
    /** Default: none, a first up. */
    readonly previousCertificateHistory?: Record<string, unknown>;
    /** Default: none, a full up (the clients-only up's held resources: rotation/clientHold.ts). */
    readonly heldResources?: HeldResources;
    /** The outputs to resolve: resolving an output waits for every registration upstream of it. */
    readonly awaiting: readonly OutputName[];
}

/** Clears the recorded resources, deploys `raw` and waits for the named outputs and every registration. */
export async function deployOnMocks(raw: RawStackConfig, options: DeployOptions): Promise<MtlsEndpointOutputs> {
    resetRecordedResources();
    const outputs = deployMtlsEndpoint(validateStackConfig(raw, context), {
        previousRotationState: options.previousRotationState ?? {},
        previousCertificateHistory: options.previousCertificateHistory,
        now: options.now,
        heldResources: options.heldResources,
    });
    await Promise.all(options.awaiting.map((name) => promiseOf(outputs[name] as pulumi.Output<unknown>)));
    await settled();
    return outputs;
}
