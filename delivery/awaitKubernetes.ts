/**
 * Waits for a Kubernetes endpoint's two gates and says how each ended:
 * - `check`: the Job that runs `nginx -t` on a new file set. A failure fails `up` before the
 *   Deployment sees the set, quoting Nginx's own lines;
 * - `rollout`: the Deployment rolling to the applied pod template, new pods ready before old ones go
 *   (maxUnavailable 0), and the old ones gone (so every pod that answers serves the new set). A
 *   rollout that cannot become ready fails `up` with the new pods' events and Nginx's `[emerg]`
 *   lines, while the old pods keep serving;
 * - `teardown` (run when the endpoint is destroyed): once the Deployment is gone, its pods and the
 *   check pods are waited for, so `destroy` returns with nothing of the endpoint's left.
 * Run with a JSON `KubernetesWatch` on stdin (it may hold the kubeconfig).
 */
import { endpointLabel } from "../nginx/kubernetes";
import { runWithStdin } from "./commands";
import { clusterClient, type ClusterAddress, type KubernetesApi } from "./kubernetesApi";

export interface KubernetesWatch {
    readonly cluster: ClusterAddress;
    readonly namespace: string;
    readonly gate: "check" | "rollout" | "teardown";
    /** The Job's or the Deployment's name. */
    readonly name: string;
    readonly timeoutSeconds: number;
}

interface Condition {
    readonly type: string;
    readonly status: string;
    readonly reason?: string;
    readonly message?: string;
}

interface JobState {
    readonly status?: { readonly succeeded?: number; readonly failed?: number; readonly conditions?: Condition[] };
}

interface DeploymentState {
    readonly metadata: { readonly generation?: number; readonly deletionTimestamp?: string };
    readonly spec: { readonly replicas?: number; readonly selector: { readonly matchLabels: Record<string, string> } };
    readonly status?: {
        readonly observedGeneration?: number;
        readonly replicas?: number;
        readonly updatedReplicas?: number;
        readonly readyReplicas?: number;
        readonly availableReplicas?: number;
        readonly conditions?: Condition[];
    };
}

interface PodState {
    readonly metadata: {
        readonly name: string;
        readonly labels?: Record<string, string>;
        readonly deletionTimestamp?: string;
    };
    readonly status?: {
        readonly phase?: string;
        readonly containerStatuses?: ReadonlyArray<{
            readonly ready: boolean;
            readonly restartCount: number;
            readonly state?: Record<string, { reason?: string; message?: string } | undefined>;
        }>;
    };
}

interface EventList {
    readonly items: ReadonlyArray<{
        readonly involvedObject: { readonly name: string };
        readonly type: string;
        readonly reason: string;
        readonly message: string;
    }>;
}

export async function awaitKubernetes(watch: KubernetesWatch): Promise<string> {
    const api = clusterClient(watch.cluster);
    const gates = { check: awaitCheck, rollout: awaitRollout, teardown: awaitTeardown };
    return gates[watch.gate](api, watch);
}

const pollMs = 1000;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** The check Job: complete means `nginx -t` accepted the set. */
async function awaitCheck(api: KubernetesApi, watch: KubernetesWatch): Promise<string> {
    const deadline = Date.now() + watch.timeoutSeconds * 1000;
    const jobPath = `/apis/batch/v1/namespaces/${watch.namespace}/jobs/${watch.name}`;
    for (;;) {
        const job = await api.getJson<JobState>(jobPath);
        if (!job) {
            throw new Error(`the check Job ${watch.name} is gone from namespace ${watch.namespace}`);
        }
        const conditions = job.status?.conditions ?? [];
        const holds = (type: string) => conditions.some((c) => c.type === type && c.status === "True");
        if (holds("Complete") || (job.status?.succeeded ?? 0) > 0) {
            return `nginx -t accepted the file set (Job ${watch.name})`;
        }
        const failed = holds("Failed") || (job.status?.failed ?? 0) > 0;
        if (failed || Date.now() > deadline) {
            const pods = await podsOf(api, watch.namespace, `job-name=${watch.name}`);
            const verdict = failed
                ? "nginx -t refused the new file set; no serving pod has seen it, and the old pods keep serving"
                : `the check Job did not finish within ${watch.timeoutSeconds} s`;
            throw new Error(`${verdict}\n${await describePods(api, watch.namespace, pods, false)}`);
        }
        await sleep(pollMs);
    }
}

/** The Deployment: every replica of the applied template ready and available, and no old pod left. */
async function awaitRollout(api: KubernetesApi, watch: KubernetesWatch): Promise<string> {
    const deadline = Date.now() + watch.timeoutSeconds * 1000;
    const deploymentPath = `/apis/apps/v1/namespaces/${watch.namespace}/deployments/${watch.name}`;
    for (;;) {
        const deployment = await api.getJson<DeploymentState>(deploymentPath);
        if (!deployment) {
            throw new Error(`the Deployment ${watch.name} is gone from namespace ${watch.namespace}`);
        }
        const wanted = deployment.spec.replicas ?? 1;
        const status = deployment.status ?? {};
        const selector = selectorOf(deployment);
        const observed = (status.observedGeneration ?? 0) >= (deployment.metadata.generation ?? 1);
        const done =
            observed &&
            status.updatedReplicas === wanted &&
            status.readyReplicas === wanted &&
            status.availableReplicas === wanted &&
            status.replicas === wanted;
        // The old pods count until they are gone: while one terminates, it may still answer with the old set.
        if (done && (await podsOf(api, watch.namespace, selector)).length === wanted) {
            return `rolled out: ${wanted}/${wanted} pods of generation ${deployment.metadata.generation} ready, no old pod left`;
        }
        const stalled = (status.conditions ?? []).find(
            (c) => c.type === "Progressing" && c.status === "False" && c.reason === "ProgressDeadlineExceeded",
        );
        if ((observed && stalled) || Date.now() > deadline) {
            const pods = await podsOf(api, watch.namespace, selector);
            const verdict =
                `the rollout did not become ready (${status.updatedReplicas ?? 0}/${wanted} new pods, ` +
                `${status.availableReplicas ?? 0} available${stalled ? `: ${stalled.message ?? stalled.reason}` : ""}); ` +
                "the old pods keep serving. Fix the cause and run `pulumi up` again";
            throw new Error(`${verdict}\n${await describePods(api, watch.namespace, pods, true)}`);
        }
        await sleep(pollMs);
    }
}

function selectorOf(deployment: DeploymentState): string {
    return Object.entries(deployment.spec.selector.matchLabels)
        .map(([label, value]) => `${label}=${value}`)
        .join(",");
}

/**
 * After a destroy: the API deletes a Deployment's and a Job's pods in the background, after their
 * grace period; this waits until none of the endpoint's is left. While the Deployment still exists
 * (this watch is replaced, not the endpoint destroyed), nothing is going away and it returns at once.
 */
async function awaitTeardown(api: KubernetesApi, watch: KubernetesWatch): Promise<string> {
    const deadline = Date.now() + watch.timeoutSeconds * 1000;
    const deploymentPath = `/apis/apps/v1/namespaces/${watch.namespace}/deployments/${watch.name}`;
    const selector = `${endpointLabel}=${watch.name}`;
    for (;;) {
        const deployment = await api.getJson<DeploymentState>(deploymentPath);
        if (deployment && !deployment.metadata.deletionTimestamp) {
            return `the Deployment ${watch.name} stays: nothing to wait for`;
        }
        const pods = await podsOf(api, watch.namespace, selector);
        if (!deployment && pods.length === 0) {
            return `the Deployment ${watch.name} and its pods are gone`;
        }
        if (Date.now() > deadline) {
            const left = [
                deployment ? `deployment ${watch.name}` : "",
                ...pods.map((pod) => `pod ${pod.metadata.name}`),
            ];
            throw new Error(`still there after ${watch.timeoutSeconds} s: ${left.filter(Boolean).join(", ")}`);
        }
        await sleep(pollMs);
    }
}

async function podsOf(api: KubernetesApi, namespace: string, selector: string): Promise<PodState[]> {
    const list = await api.getJson<{ items: PodState[] }>(
        `/api/v1/namespaces/${namespace}/pods?labelSelector=${encodeURIComponent(selector)}`,
    );
    return list?.items ?? [];
}

/**
 * Each pod that is not ready (or every pod, for a Job): its state, its Warning events, and the
 * `[emerg]`, `[alert]`, `[crit]` and `[error]` lines of its log (Nginx's reasons).
 */
async function describePods(
    api: KubernetesApi,
    namespace: string,
    pods: readonly PodState[],
    unreadyOnly: boolean,
): Promise<string> {
    const events = (await api.getJson<EventList>(`/api/v1/namespaces/${namespace}/events`))?.items ?? [];
    const shown = pods.filter((pod) => !unreadyOnly || !(pod.status?.containerStatuses ?? []).every((c) => c.ready));
    const lines: string[] = [];
    for (const pod of shown.slice(0, 5)) {
        const name = pod.metadata.name;
        const container = pod.status?.containerStatuses?.[0];
        const state = Object.entries(container?.state ?? {})
            .map(([phase, detail]) => `${phase}${detail?.reason ? ` (${detail.reason})` : ""}`)
            .join(", ");
        lines.push(
            `pod ${name}: ${pod.status?.phase ?? "unknown"}, ${state || "no container yet"}, restarts ${container?.restartCount ?? 0}`,
        );
        for (const event of events.filter((e) => e.involvedObject.name === name && e.type === "Warning").slice(-5)) {
            lines.push(`  event ${event.reason}: ${event.message}`);
        }
        for (const line of await nginxErrors(api, namespace, name, (container?.restartCount ?? 0) > 0)) {
            lines.push(`  nginx: ${line}`);
        }
    }
    if (shown.length === 0) {
        lines.push("no pod of it was found");
    }
    return lines.join("\n");
}

/** Nginx's error lines from a pod's log (the previous container's, once it restarted). */
async function nginxErrors(api: KubernetesApi, namespace: string, pod: string, previous: boolean): Promise<string[]> {
    const logPath = `/api/v1/namespaces/${namespace}/pods/${pod}/log?tailLines=50${previous ? "&previous=true" : ""}`;
    const { status, body } = await api.get(logPath).catch((error: Error) => ({ status: 0, body: error.message }));
    if (status !== 200) {
        return [`(no log: ${body.split("\n")[0].slice(0, 200)})`];
    }
    return body
        .split("\n")
        .filter((line) => /\[(emerg|alert|crit|error)\]|test failed/.test(line))
        .slice(-5);
}

if (require.main === module) {
    runWithStdin<KubernetesWatch>(awaitKubernetes, (watch) => `${watch.gate} of ${watch.namespace}/${watch.name}: `);
}
