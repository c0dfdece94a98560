/**
 * Section 4: the Swarm platform with the real engine, on the test swarm (testkit/swarm.ts: 3 nodes,
 * engines over TLS on 127.0.0.21..23): `up` from empty with 3 replicas in host mode, then a rotation
 * of every certificate and the time it takes per replica (one task at a time, health-gated). The
 * stack is destroyed and the swarm removed afterwards, whatever happened.
 */
import { performance } from "perf_hooks";

import { setConfig, type ThrowawayStack } from "../testkit/stack";
import { createStackOnNode, startSwarm, stopSwarm } from "../testkit/swarm";

export interface SwarmReport {
    readonly status: "ok" | "failed";
    readonly replicas: number;
    readonly swarmUpSeconds?: number;
    readonly upFromEmptySeconds?: number;
    readonly rotationSeconds?: number;
    readonly rotationSecondsPerReplica?: number;
    readonly error?: string;
}

const replicas = 3;

const seconds = async (work: () => Promise<unknown>): Promise<number> => {
    const started = performance.now();
    await work();
    return (performance.now() - started) / 1000;
};

export async function runSwarm(progress: (line: string) => void): Promise<SwarmReport> {
    let deployment: ThrowawayStack | undefined;
    const figures: { swarmUpSeconds?: number; upFromEmptySeconds?: number; rotationSeconds?: number } = {};
    try {
        const started = performance.now();
        const swarm = await startSwarm();
        figures.swarmUpSeconds = (performance.now() - started) / 1000;
        progress(`swarm of ${swarm.nodes.length} nodes up in ${figures.swarmUpSeconds.toFixed(1)} s`);
        const manager = swarm.manager;
        deployment = await createStackOnNode("bench-swarm", manager, {
            platform: "swarm",
            replicas: String(replicas),
            publishMode: "host",
            publishPort: String(swarm.servicePort),
            endpointAddresses: swarm.nodes.map((node) => node.loopbackAddress),
        });
        const stack = deployment.stack;
        figures.upFromEmptySeconds = await seconds(() => stack.up());
        progress(`swarm up from empty: ${figures.upFromEmptySeconds.toFixed(1)} s`);
        await setConfig(stack, { rotationLookaheadHours: "8760" });
        figures.rotationSeconds = await seconds(() => stack.up());
        progress(`swarm rotation of every certificate: ${figures.rotationSeconds.toFixed(1)} s`);
        return {
            status: "ok",
            replicas,
            ...figures,
            rotationSecondsPerReplica: figures.rotationSeconds / replicas,
        };
    } catch (error) {
        return {
            status: "failed",
            replicas,
            ...figures,
            error: error instanceof Error ? error.message : String(error),
        };
    } finally {
        if (deployment) {
            await deployment.stack.destroy().catch(() => undefined);
            await deployment.dispose();
        }
        await stopSwarm();
    }
}

export function renderSwarm(report: SwarmReport): string {
    const figure = (value: number | undefined) => (value === undefined ? "-" : `${value.toFixed(1)} s`);
    return [
        `4. Swarm platform (${report.replicas} replicas, host mode, the test swarm of 3 nodes)${report.status === "failed" ? `: FAILED: ${report.error}` : ""}`,
        `   swarm of 3 nodes up:              ${figure(report.swarmUpSeconds)}`,
        `   pulumi up from empty:             ${figure(report.upFromEmptySeconds)}`,
        `   rotation of every certificate:    ${figure(report.rotationSeconds)}`,
        `   rotation per replica:             ${figure(report.rotationSecondsPerReplica)}`,
    ].join("\n");
}
