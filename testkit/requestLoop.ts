import * as https from "https";
import { probe, ProbeOptions } from "./tls";

/** Tally of a request loop: every request is a new mutual-TLS connection unless an agent keeps it alive. */
export interface LoopReport {
    readonly requests: number;
    readonly failures: number;
    /**
     * Requests sent again because the server closed an idle kept-alive connection just as they went out
     * (as a graceful reload does): HTTP clients retry those, since the server never saw them (RFC 9110 9.3.1).
     */
    readonly retried: number;
    /** The first few failures, for the test's message. */
    readonly failureSamples: string[];
}

/**
 * Sends requests back to back until stopped (bounded by maxRequests and maxSeconds), counting
 * anything but a 200 as a failure. Used to show that a rotation applied by reload drops nothing.
 */
export function startRequestLoop(
    options: ProbeOptions,
    limits: { maxRequests: number; maxSeconds: number; keepAlive?: boolean },
): { stop: () => Promise<LoopReport> } {
    let stopped = false;
    let requests = 0;
    let failures = 0;
    let retried = 0;
    const failureSamples: string[] = [];
    const deadline = Date.now() + limits.maxSeconds * 1000;
    const agent = limits.keepAlive ? new https.Agent({ keepAlive: true, maxSockets: 1 }) : undefined;
    const running = (async () => {
        while (!stopped && requests < limits.maxRequests && Date.now() < deadline) {
            let result = await probe({ ...options, agent });
            if (result.status === undefined && result.reusedConnection) {
                retried += 1;
                result = await probe({ ...options, agent });
            }
            requests += 1;
            if (result.status !== 200) {
                failures += 1;
                if (failureSamples.length < 5) {
                    failureSamples.push(
                        `${result.status ?? "no answer"}: ${result.error ?? result.body.slice(0, 120)}`,
                    );
                }
            }
        }
        agent?.destroy();
    })();
    return {
        async stop() {
            stopped = true;
            await running;
            return { requests, failures, retried, failureSamples };
        },
    };
}

/** Tally of a loop over several nodes: how often a client moved to another node, and what each node did. */
export interface FailoverReport extends LoopReport {
    /** Requests that found their node refusing (no HTTP answer) and went to the next node. */
    readonly moved: number;
    /** The fewest nodes that answered 200 in any one sampling round (every node is sampled each round). */
    readonly fewestServing: number;
    readonly samplingRounds: number;
}

/**
 * A client of several nodes, as a load balancer or a retrying client is: each request goes to the
 * current node, and a node that gives no HTTP answer (refused, reset) sends it to the next one.
 * A request fails only when no node answers, or a node answers anything but 200. Alongside, every
 * node is sampled in rounds to find the fewest that served at once. Bounded like startRequestLoop.
 */
export function startFailoverLoop(
    nodes: readonly ProbeOptions[],
    limits: { maxRequests: number; maxSeconds: number },
): { stop: () => Promise<FailoverReport> } {
    let stopped = false;
    let requests = 0;
    let failures = 0;
    let moved = 0;
    let fewestServing = nodes.length;
    let samplingRounds = 0;
    const failureSamples: string[] = [];
    const deadline = Date.now() + limits.maxSeconds * 1000;
    const going = () => !stopped && requests < limits.maxRequests && Date.now() < deadline;
    let current = 0;
    const client = (async () => {
        while (going()) {
            let result = await probe(nodes[current]);
            for (let tries = 1; result.status === undefined && tries < nodes.length; tries++) {
                moved += 1;
                current = (current + 1) % nodes.length;
                result = await probe(nodes[current]);
            }
            requests += 1;
            if (result.status !== 200) {
                failures += 1;
                if (failureSamples.length < 5) {
                    failureSamples.push(
                        `${result.status ?? "no node answered"}: ${result.error ?? result.body.slice(0, 120)}`,
                    );
                }
            }
        }
    })();
    const sampler = (async () => {
        while (going()) {
            const answers = await Promise.all(nodes.map((node) => probe({ ...node, timeoutMs: 2000 })));
            fewestServing = Math.min(fewestServing, answers.filter((answer) => answer.status === 200).length);
            samplingRounds += 1;
            await new Promise((resolve) => setTimeout(resolve, 100));
        }
    })();
    return {
        async stop() {
            stopped = true;
            await Promise.all([client, sampler]);
            return { requests, failures, retried: 0, failureSamples, moved, fewestServing, samplingRounds };
        },
    };
}
