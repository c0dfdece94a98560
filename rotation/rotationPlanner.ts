import * as pulumi from "@pulumi/pulumi";
import {
    decideRotation,
    parseRotationState,
    RotationDecision,
    RotationRecord,
    RotationState,
    rotationTrigger,
} from "./rotationSchedule";

/**
 * How an item rotates. "rotate": re-issued when due. "freeze": never re-issued (a revoked
 * certificate stays what the CRL names). "report": a CA, listed as due but never re-issued in
 * place, since that would lock every client out: it is rolled over instead.
 */
export type RotationMode = "rotate" | "freeze" | "report";

/** Keeps the rotation decision and record of every item of one deployment. */
export class RotationPlanner {
    private readonly previous: pulumi.Output<RotationState>;
    private readonly decisions: Record<string, pulumi.Output<RotationDecision>> = {};
    private readonly records: Record<string, pulumi.Output<RotationRecord>> = {};

    constructor(
        previousState: pulumi.Input<Record<string, unknown> | undefined>,
        private readonly now: Date,
        /** Added to every renewal window: rotate what becomes due within this many hours. */
        private readonly lookaheadHours: number,
    ) {
        this.previous = pulumi.output(previousState).apply(parseRotationState);
    }

    /** Decides one item and returns its replacementTrigger value. */
    schedule(item: string, renewBeforeHours: number, mode: RotationMode = "rotate"): pulumi.Output<string> {
        this.decisions[item] = this.previous.apply((state): RotationDecision => {
            const decision = decideRotation(state[item], renewBeforeHours + this.lookaheadHours, this.now);
            if (mode === "rotate" || !state[item]) {
                return decision;
            }
            return {
                generation: state[item].generation,
                due: mode === "report" && decision.due,
                notAfter: state[item].notAfter,
            };
        });
        return this.decisions[item].apply((decision) => rotationTrigger(decision.generation));
    }

    /** The decision made for a scheduled item. */
    decision(item: string): pulumi.Output<RotationDecision> {
        return this.decisions[item];
    }

    /** Records what the next deployment decides from: the generation and the item's expiry. */
    record(item: string, notAfter: pulumi.Input<string>): void {
        this.records[item] = pulumi
            .all([this.decisions[item], notAfter])
            .apply(([decision, expiry]) => ({ generation: decision.generation, notAfter: expiry }));
    }

    /** Every record: the `rotationState` output. */
    get state(): pulumi.Output<Record<string, RotationRecord>> {
        return pulumi.all(this.records);
    }

    /** What this run rotates (or, for a CA, what needs a rollover), with the old expiry: the `rotationDue` output. */
    get due(): pulumi.Output<Record<string, string>> {
        return pulumi.all(this.decisions).apply((all) =>
            Object.fromEntries(
                Object.entries(all)
                    .filter(([, decision]) => decision.due)
                    .map(([item, decision]) => [item, decision.notAfter ?? "unknown"]),
            ),
        );
    }
}

/**
 * What `rotationDue` says, in one line for the engine's log: a program that exports nothing still
 * sees, in `pulumi preview`, which certificates are due and when each expires.
 */
export function describeDue(due: Readonly<Record<string, string>>): string | undefined {
    const items = Object.entries(due);
    if (items.length === 0) {
        return undefined;
    }
    return `due for rotation: ${items.map(([item, expiry]) => `${item} (expires ${expiry})`).join(", ")}`;
}
