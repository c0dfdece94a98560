/**
 * An `up` in two phases, for the project's own commands (scripts/up.sh has the same in bash,
 * scripts/up-phases.sh) and for the bench and the tests that time or break them:
 *
 * 1. only the pure TLS resources (`tls:index/*` keys, CSRs, certificates, and the components that
 *    parent them), with PULUMI_SKIP_CHECKPOINTS: they exist only in state, so the engine writes the
 *    state once, at the end, instead of after every step. A crash loses those steps, and the next
 *    `up` makes them again; nothing outside state was touched.
 * 2. a normal `up`, every step checkpointed: what is left is the endpoint's few resources (files,
 *    container, CRL, smoke test), the ones with an effect outside state.
 *
 * The targets are URN globs (`**` any characters, `*` any but `:`), kept in pureResourceTargets.json
 * so that bash and TypeScript read the same list. docs/operations.md has the recipe for programs of
 * one's own.
 */
import * as fs from "fs";
import * as path from "path";

import type {
    DestroyOptions,
    DestroyResult,
    LocalWorkspace,
    Stack,
    UpOptions,
    UpResult,
} from "@pulumi/pulumi/automation";

/** The URN globs of phase 1: every tls:index resource and the components that parent them. */
export const pureResourceTargets: readonly string[] = JSON.parse(
    fs.readFileSync(path.join(__dirname, "pureResourceTargets.json"), "utf8"),
) as string[];

/** The engine's setting that writes the state once, at the end of an update. */
export const skipCheckpointsVariable = "PULUMI_SKIP_CHECKPOINTS";

/**
 * The engine's settings for phase 1 (scripts/up-phases.sh sets the same): one save at the end, and no
 * provider Diff call for a resource whose inputs are unchanged. Only pure TLS resources are in phase 1,
 * and they exist only in state: nothing can drift, so unchanged inputs mean unchanged. Phase 2 runs
 * with the environment as it is: scripts/env.sh skips the same Diff calls for every command (a refresh
 * gives the state the inputs the providers read back, so drift is a changed input there).
 */
export const pureResourcePhaseEnvironment: Readonly<Record<string, string>> = {
    [skipCheckpointsVariable]: "true",
    PULUMI_ENABLE_LEGACY_DIFF: "true",
};

/** What each phase of an `up` in two phases did. */
export interface PhasedUpResult {
    /** The pure TLS resources, without checkpoints. */
    readonly tls: UpResult;
    /** Everything, checkpointed after every step: the endpoint's resources are what is left. */
    readonly endpoint: UpResult;
}

/**
 * Phase 1 of an `up` in two phases: `options.replace` applies here only (the certificates it
 * names are all in this phase), and `options.target` is refused (the phases set their own).
 * `parentTargets`: URN globs of a consumer's own components that hold the endpoint (a new resource's
 * parent must be targeted with it, or the engine refuses to save phase 1's state).
 */
export async function upPureResources(
    stack: Stack,
    options: UpOptions = {},
    parentTargets: readonly string[] = [],
): Promise<UpResult> {
    if (options.target) throw new Error("upPureResources: the phases set their own targets");
    return withEnvironment(stack, pureResourcePhaseEnvironment, () =>
        stack.up({ ...options, target: [...pureResourceTargets, ...parentTargets] }),
    );
}

/** Both phases, one after the other; phase 2 runs only when phase 1 succeeded. */
export async function upInTwoPhases(stack: Stack, options: UpOptions = {}): Promise<PhasedUpResult> {
    const tls = await upPureResources(stack, options);
    const endpoint = await stack.up({ ...options, replace: undefined });
    return { tls, endpoint };
}

/** Kept by phase 1 of a destroy besides the pure resources: the stack and the providers, deleted in phase 2. */
const keptByEndpointDestroy = ["**pulumi:pulumi:Stack::*", "**pulumi:providers:**"];

/**
 * `destroy` in two phases (scripts/up-phases.sh has the same for scripts/down.sh): everything but the
 * pure TLS resources, every step saved; then what is left, state only, with PULUMI_SKIP_CHECKPOINTS.
 */
export async function destroyInTwoPhases(
    stack: Stack,
    options: DestroyOptions = {},
): Promise<{ endpoint: DestroyResult; tls: DestroyResult }> {
    const endpoint = await stack.destroy({ ...options, exclude: [...pureResourceTargets, ...keptByEndpointDestroy] });
    const tls = await withEnvironment(stack, { [skipCheckpointsVariable]: "true" }, () => stack.destroy(options));
    return { endpoint, tls };
}

/** Runs `run` with extra environment variables for the stack's CLI, restored afterwards. */
async function withEnvironment<T>(
    stack: Stack,
    environment: Record<string, string>,
    run: () => Promise<T>,
): Promise<T> {
    const envVars = (stack.workspace as LocalWorkspace).envVars;
    const before = Object.fromEntries(Object.keys(environment).map((key) => [key, envVars[key]]));
    Object.assign(envVars, environment);
    try {
        return await run();
    } finally {
        for (const [key, value] of Object.entries(before)) {
            if (value === undefined) delete envVars[key];
            else envVars[key] = value;
        }
    }
}

/**
 * From how many tls:index steps an `up` in two phases pays for its second program run (measured in
 * bench/README.md, "Scale"): below it, one checkpointed `up` is as fast.
 */
export const twoPhaseMinimumTlsSteps = Number(process.env.MTLS_TWO_PHASE_MIN_TLS_STEPS ?? 50);

/** Whether an `up` that changes `tlsSteps` tls:index resources runs in two phases. */
export function worthTwoPhases(tlsSteps: number): boolean {
    return tlsSteps >= twoPhaseMinimumTlsSteps;
}

/**
 * Whether a URN matches one of the engine's target globs, by the engine's own rule (pulumi
 * pkg/resource/deploy: `**` is any characters, `*` any but `:`). The unit tests check the globs with it.
 */
export function matchesTargetGlob(glob: string, urn: string): boolean {
    const quote = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
    const pattern = glob
        .split("**")
        .map((segment) => segment.split("*").map(quote).join("[^:]*"))
        .join(".*");
    return new RegExp(`^${pattern}$`).test(urn);
}
