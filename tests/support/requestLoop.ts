import * as https from "https";
import { probe, ProbeOptions } from "./mtlsProbe";

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
