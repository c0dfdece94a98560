/**
 * Waits until a Swarm service runs its current spec on every replica, through the Docker API of a
 * manager. Swarm itself rolls an update one task at a time, gated by the health check, and rolls
 * back on failure; this says how it ended. A rollback, a paused update or a timeout fails `up`
 * with the tasks' own errors and any node that is down, quoted. The tasks' pids limit, which the
 * Docker provider cannot set, is set here through the API once the provider's version has rolled
 * out (a second rollout). Run with a JSON `RolloutWatch` on stdin (it may hold the engine's TLS key).
 */

import { DockerEngine, type DockerEngineAddress } from "./dockerApi";
import { runWithStdin } from "./commands";

export interface RolloutWatch {
    readonly engine: DockerEngineAddress;
    readonly service: string;
    readonly timeoutSeconds: number;
    /** The version Pulumi just applied: a rollback restores another one, and that is how it shows. */
    readonly expected: ExpectedSpec;
}

/** The parts of a task's version this project changes. */
export interface ExpectedSpec {
    readonly image: string;
    readonly configs: readonly string[];
    readonly secrets: readonly string[];
    readonly capabilityAdd: readonly string[];
    readonly capabilityDrop: readonly string[];
    readonly readOnly: boolean;
    /** The tasks' process limit (`TaskTemplate.Resources.Limits.Pids`); 0 or absent: none. */
    readonly pidsLimit?: number;
}

/** A service's spec as the engine holds it: read whole, and written back whole with one change. */
export interface ServiceSpec {
    readonly Mode: { readonly Replicated?: { readonly Replicas: number } };
    readonly TaskTemplate: TaskSpec;
    readonly [field: string]: unknown;
}

interface TaskSpec {
    readonly ContainerSpec: ContainerSpec;
    readonly Resources?: Resources;
    readonly [field: string]: unknown;
}

interface Resources {
    readonly Limits?: { readonly Pids?: number; readonly [limit: string]: unknown };
    readonly [field: string]: unknown;
}

interface ServiceState {
    readonly ID: string;
    readonly Version: { readonly Index: number };
    readonly Spec: ServiceSpec;
    readonly UpdateStatus?: { readonly State: string; readonly Message?: string };
}

interface ContainerSpec {
    readonly Image: string;
    readonly Configs?: ReadonlyArray<{ readonly ConfigName: string }>;
    readonly Secrets?: ReadonlyArray<{ readonly SecretName: string }>;
    readonly CapabilityAdd?: readonly string[];
    readonly CapabilityDrop?: readonly string[];
    readonly ReadOnly?: boolean;
}

export interface TaskState {
    readonly NodeID?: string;
    readonly DesiredState: string;
    readonly Spec: { readonly ContainerSpec: ContainerSpec; readonly Resources?: Resources };
    readonly Status: {
        readonly State: string;
        readonly Err?: string;
        readonly Message?: string;
        readonly Timestamp: string;
    };
}

export interface NodeState {
    readonly ID: string;
    readonly Description: { readonly Hostname: string };
    readonly Status: { readonly State: string; readonly Message?: string };
}

/** What identifies a version of the task, as the engine holds it (image without a pinned digest). */
export function specKey(spec: ContainerSpec, resources?: Resources): string {
    return keyOf({
        image: spec.Image,
        configs: (spec.Configs ?? []).map((config) => config.ConfigName),
        secrets: (spec.Secrets ?? []).map((secret) => secret.SecretName),
        capabilityAdd: spec.CapabilityAdd ?? [],
        capabilityDrop: spec.CapabilityDrop ?? [],
        readOnly: spec.ReadOnly ?? false,
        pidsLimit: resources?.Limits?.Pids ?? 0,
    });
}

/** The same key for the version Pulumi applied. */
export function keyOf(spec: ExpectedSpec): string {
    const capabilities = (names: readonly string[]) =>
        names.map((name) => name.toUpperCase().replace(/^CAP_/, "")).sort();
    return JSON.stringify([
        spec.image.split("@")[0],
        [...spec.configs].sort(),
        [...spec.secrets].sort(),
        capabilities(spec.capabilityAdd),
        capabilities(spec.capabilityDrop),
        spec.readOnly,
        spec.pidsLimit ?? 0,
    ]);
}

/** The tasks' pids limit a service spec sets (0: none). */
export function pidsLimitOf(spec: ServiceSpec): number {
    return spec.TaskTemplate.Resources?.Limits?.Pids ?? 0;
}

/** The same spec with the tasks' pids limit set, everything else as it was. */
export function withPidsLimit(spec: ServiceSpec, limit: number): ServiceSpec {
    const resources = spec.TaskTemplate.Resources ?? {};
    return {
        ...spec,
        TaskTemplate: {
            ...spec.TaskTemplate,
            Resources: { ...resources, Limits: { ...resources.Limits, Pids: limit } },
        },
    };
}

/** Running tasks of a version. */
export function runningOf(key: string, tasks: readonly TaskState[]): number {
    return tasks.filter(
        (task) =>
            task.DesiredState === "running" &&
            task.Status.State === "running" &&
            specKey(task.Spec.ContainerSpec, task.Spec.Resources) === key,
    ).length;
}

/** How long a task may wait for a node before the rollout counts as failed (a lost node, usually). */
const unplaceableGraceMs = 20_000;

/** The scheduler's complaint about a task meant to run that no node can take, if any. */
export function unplaceable(tasks: readonly TaskState[]): string | undefined {
    const pending = tasks.find(
        (task) =>
            task.DesiredState === "running" &&
            task.Status.State === "pending" &&
            /no suitable node/.test(task.Status.Err ?? ""),
    );
    return pending?.Status.Err;
}

/** Nginx's own complaints in the service log ("[emerg]", "[crit]", "[alert]"): the usual cause. */
export function nginxErrors(logs: string): string[] {
    const lines = logs.split("\n").filter((line) => /\[(emerg|alert|crit)\]/.test(line));
    return [...new Set(lines.map((line) => line.trim()))].slice(-3);
}

/** The story of a failed rollout, in one message: Swarm's verdict, the tasks' errors, the lost nodes. */
export function describeFailure(
    verdict: string,
    tasks: readonly TaskState[],
    nodes: readonly NodeState[],
    logs = "",
    tried?: string,
): string {
    const hostname = (id?: string) => nodes.find((node) => node.ID === id)?.Description.Hostname ?? id ?? "no node";
    // The tasks that failed, and every task of the version that was tried (a task stopped for being
    // unhealthy may carry no error of its own, only its state and message).
    const errors = [...tasks]
        .filter(
            (task) =>
                task.Status.Err ||
                ["failed", "rejected"].includes(task.Status.State) ||
                (tried !== undefined &&
                    specKey(task.Spec.ContainerSpec, task.Spec.Resources) === tried &&
                    task.Status.State !== "running"),
        )
        .sort((a, b) => b.Status.Timestamp.localeCompare(a.Status.Timestamp))
        .slice(0, 5)
        .map(
            (task) =>
                `${hostname(task.NodeID)}: ${task.Status.State}: ${task.Status.Err || task.Status.Message || "no message"}`,
        );
    const down = nodes
        .filter((node) => node.Status.State !== "ready")
        .map(
            (node) =>
                `${node.Description.Hostname} is ${node.Status.State}${node.Status.Message ? ` (${node.Status.Message})` : ""}`,
        );
    return [
        verdict,
        ...(errors.length > 0 ? [`task errors: ${[...new Set(errors)].join("; ")}`] : []),
        ...nginxErrors(logs).map((line) => `nginx: ${line}`),
        ...(down.length > 0 ? [`lost nodes: ${down.join("; ")}; the tasks on the other nodes keep serving`] : []),
    ].join("\n");
}

/**
 * The rollout of what Pulumi applied, then the pids limit. The Docker provider's service spec has no
 * pids limit, and each provider update writes the whole spec, so the limit is gone after every one:
 * the provider's version rolls out first (so that it, and not the one before it, is what Swarm rolls
 * back to if the limit breaks the tasks), then the limit is set through the API, a second rollout.
 */
export async function awaitRollout(watch: RolloutWatch): Promise<string> {
    const engine = new DockerEngine(watch.engine);
    const wanted = watch.expected.pidsLimit ?? 0;
    const applied = pidsLimitOf((await readService(engine, watch.service)).Spec);
    if (applied === wanted) {
        return converge(engine, watch);
    }
    await converge(engine, { ...watch, expected: { ...watch.expected, pidsLimit: applied } });
    try {
        await setPidsLimit(engine, watch.service, wanted);
        const report = await converge(engine, watch);
        return `${report}; pids limit ${wanted} set through the Docker API (a second rollout)`;
    } catch (error) {
        throw new Error(`setting the tasks' pids limit to ${wanted}: ${(error as Error).message}`);
    }
}

function readService(engine: DockerEngine, service: string): Promise<ServiceState> {
    return engine.getJson<ServiceState>(`/services/${encodeURIComponent(service)}`);
}

/**
 * Writes the service's spec back with the pids limit set, at the version it was read (read again if
 * Swarm wrote the service in between); an engine that drops the limit is an error.
 */
async function setPidsLimit(engine: DockerEngine, name: string, limit: number): Promise<void> {
    for (let attempt = 1; ; attempt++) {
        const service = await readService(engine, name);
        try {
            await engine.updateService(service.ID, service.Version.Index, withPidsLimit(service.Spec, limit));
            break;
        } catch (error) {
            if (attempt === 3 || !/out of sequence/.test((error as Error).message)) {
                throw error;
            }
        }
    }
    if (pidsLimitOf((await readService(engine, name)).Spec) !== limit) {
        throw new Error(
            "the engine did not keep TaskTemplate.Resources.Limits.Pids (Docker Engine API 1.41, Docker 20.10, or later)",
        );
    }
}

/** Polls until the tasks run the expected version on every replica, or the rollout failed. */
async function converge(engine: DockerEngine, watch: RolloutWatch): Promise<string> {
    const deadline = Date.now() + watch.timeoutSeconds * 1000;
    const taskFilter = encodeURIComponent(JSON.stringify({ service: { [watch.service]: true } }));
    let stuckSince: number | undefined;
    for (;;) {
        const service = await readService(engine, watch.service);
        const tasks = await engine.getJson<TaskState[]>(`/tasks?filters=${taskFilter}`);
        const replicas = service.Spec.Mode.Replicated?.Replicas ?? 0;
        const state = service.UpdateStatus?.State;
        const expected = keyOf(watch.expected);
        const template = service.Spec.TaskTemplate;
        const applied = specKey(template.ContainerSpec, template.Resources) === expected;
        const running = runningOf(expected, tasks);
        const settled = state === undefined || !["updating", "rollback_started"].includes(state);
        // The UpdateStatus of an earlier rollout stays until the next one: only the spec says what runs now.
        if (applied && settled && running === replicas) {
            const nodes = await engine.getJson<NodeState[]>("/nodes");
            const down = nodes.filter((node) => node.Status.State !== "ready").map((node) => node.Description.Hostname);
            return (
                `converged: ${running}/${replicas} tasks of the applied spec running` +
                (down.length > 0 ? `; nodes down: ${down.join(", ")}` : "")
            );
        }
        // A rollback in progress is waited for: `up` returns once the previous version is back everywhere.
        const failed =
            state === "paused" || (!applied && (state === "rollback_completed" || state === "rollback_paused"));
        const stuck = unplaceable(tasks);
        stuckSince = stuck ? (stuckSince ?? Date.now()) : undefined;
        const stuckTooLong = stuckSince !== undefined && Date.now() - stuckSince > unplaceableGraceMs;
        if (failed || stuckTooLong || Date.now() > deadline) {
            const nodes = await engine.getJson<NodeState[]>("/nodes");
            const logs = await engine
                .serviceLogs(watch.service, 500)
                .catch((error: Error) => `(no service logs: ${error.message})`);
            const verdict = failed
                ? `the update did not become healthy and Swarm ${state === "paused" ? "paused it" : "rolled it back"} ` +
                  `(${service.UpdateStatus?.Message ?? ""}); the previous version keeps serving. Fix the cause, then ` +
                  "run `pulumi up --refresh` (the refresh sees the rolled-back spec and applies the new one again)"
                : stuckTooLong
                  ? `a task cannot be placed on any node (${stuck}): ${running}/${replicas} tasks of the applied spec running`
                  : `the service did not converge within ${watch.timeoutSeconds} s: ${running}/${replicas} tasks of the applied spec running`;
            throw new Error(describeFailure(verdict, tasks, nodes, logs, expected));
        }
        await new Promise((resolve) => setTimeout(resolve, 1000));
    }
}

if (require.main === module) {
    runWithStdin<RolloutWatch>(awaitRollout, (watch) => `service ${watch.service}: `);
}
