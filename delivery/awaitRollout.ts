/**
 * Waits until a Swarm service runs its current spec on every replica, through the Docker API of a
 * manager. Swarm itself rolls an update one task at a time, gated by the health check, and rolls
 * back on failure; this says how it ended. A rollback, a paused update or a timeout fails `up`
 * with the tasks' own errors and any node that is down, quoted. Run with a JSON `RolloutWatch` on
 * stdin (it may hold the engine's TLS key).
 */
import { readFileSync } from "fs";

import { DockerEngine, type DockerEngineAddress } from "./dockerEngine";

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
}

interface ServiceState {
    readonly ID: string;
    readonly Spec: {
        readonly Mode: { readonly Replicated?: { readonly Replicas: number } };
        readonly TaskTemplate: { readonly ContainerSpec: ContainerSpec };
    };
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
    readonly Spec: { readonly ContainerSpec: ContainerSpec };
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
export function specKey(spec: ContainerSpec): string {
    return keyOf({
        image: spec.Image,
        configs: (spec.Configs ?? []).map((config) => config.ConfigName),
        secrets: (spec.Secrets ?? []).map((secret) => secret.SecretName),
        capabilityAdd: spec.CapabilityAdd ?? [],
        capabilityDrop: spec.CapabilityDrop ?? [],
        readOnly: spec.ReadOnly ?? false,
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
    ]);
}

/** Running tasks of a version. */
export function runningOf(key: string, tasks: readonly TaskState[]): number {
    return tasks.filter(
        (task) =>
            task.DesiredState === "running" &&
            task.Status.State === "running" &&
            specKey(task.Spec.ContainerSpec) === key,
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
                (tried !== undefined && specKey(task.Spec.ContainerSpec) === tried && task.Status.State !== "running"),
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

export async function awaitRollout(watch: RolloutWatch): Promise<string> {
    const engine = new DockerEngine(watch.engine);
    const deadline = Date.now() + watch.timeoutSeconds * 1000;
    const taskFilter = encodeURIComponent(JSON.stringify({ service: { [watch.service]: true } }));
    let stuckSince: number | undefined;
    for (;;) {
        const service = await engine.getJson<ServiceState>(`/services/${encodeURIComponent(watch.service)}`);
        const tasks = await engine.getJson<TaskState[]>(`/tasks?filters=${taskFilter}`);
        const replicas = service.Spec.Mode.Replicated?.Replicas ?? 0;
        const state = service.UpdateStatus?.State;
        const expected = keyOf(watch.expected);
        const applied = specKey(service.Spec.TaskTemplate.ContainerSpec) === expected;
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
    const watch = JSON.parse(readFileSync(0, "utf8")) as RolloutWatch;
    awaitRollout(watch).then(
        (report) => console.log(report),
        (error: Error) => {
            console.error(`service ${watch.service}: ${error.message}`);
            process.exit(1);
        },
    );
}
