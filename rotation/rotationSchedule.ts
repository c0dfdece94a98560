/**
 * Deterministic rotation: each rotatable item (a certificate, a CRL) carries a generation number.
 * The program reads the previous deployment's record of every item (from its own stack's
 * outputs) and bumps the generation when the item is inside its renewal window. The generation
 * feeds `replacementTrigger`, so `pulumi preview` shows the replacement (and everything that must
 * follow it) as soon as an item is due, and a second preview after the update shows nothing.
 */

/** What a deployment records about one item. */
export interface RotationRecord {
    /** Bumped once per rotation. */
    readonly generation: number;
    /** When the item stops being valid (RFC 3339). */
    readonly notAfter: string;
}

/** Records by item name, as exported in the `rotationState` stack output. */
export type RotationState = Record<string, RotationRecord>;

export interface RotationDecision {
    readonly generation: number;
    /** True when the item is inside its renewal window now and is being re-issued. */
    readonly due: boolean;
    /** Expiry of the current item, when known. */
    readonly notAfter?: string;
}

const hour = 3600 * 1000;

/** Decides the generation of one item: the previous one, or the next when the item is due. */
export function decideRotation(
    previous: RotationRecord | undefined,
    renewBeforeHours: number,
    now: Date,
): RotationDecision {
    if (!previous || !Number.isInteger(previous.generation)) {
        return { generation: 0, due: false };
    }
    const notAfter = Date.parse(previous.notAfter);
    if (Number.isNaN(notAfter)) {
        return { generation: previous.generation, due: false };
    }
    const due = now.getTime() >= notAfter - renewBeforeHours * hour;
    return { generation: due ? previous.generation + 1 : previous.generation, due, notAfter: previous.notAfter };
}

/** The replacementTrigger value for a generation. */
export function rotationTrigger(generation: number): string {
    return `generation-${generation}`;
}

/** Reads a rotationState output defensively: anything malformed counts as "no record". */
export function parseRotationState(value: unknown): RotationState {
    if (typeof value !== "object" || value === null) {
        return {};
    }
    const state: Record<string, RotationRecord> = {};
    for (const [name, record] of Object.entries(value as Record<string, unknown>)) {
        if (typeof record === "object" && record !== null) {
            const { generation, notAfter } = record as Record<string, unknown>;
            if (typeof generation === "number" && typeof notAfter === "string") {
                state[name] = { generation, notAfter };
            }
        }
    }
    return state;
}

/** The expiry a new item of this lifetime gets when issued now (for items that do not report one). */
export function expiryFromNow(validityHours: number, now: Date): string {
    return new Date(now.getTime() + validityHours * hour).toISOString();
}
