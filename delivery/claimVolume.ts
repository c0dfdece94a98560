/**
 * Claims the endpoint's files volume before it is created: Docker's volume create hands back an
 * existing volume of the same name, so without this the stack would take over someone else's volume
 * and, at `destroy`, delete it with its data. A volume that exists without this stack's owner label
 * stops `up` before anything is written or recorded. Run with a JSON `VolumeClaim` on stdin.
 */

import { DockerEngine, type DockerEngineAddress } from "./dockerApi";
import { runWithStdin } from "./commands";

export interface VolumeClaim {
    readonly engine: DockerEngineAddress;
    readonly volume: string;
    /** The label the stack gives its volume, and the value only its own volume carries. */
    readonly label: string;
    readonly owner: string;
}

/** What the engine says about an existing volume (GET /volumes/{name}). */
export interface VolumeInfo {
    readonly Labels?: Record<string, string> | null;
}

/** The verdict on a volume: free to create, already this stack's, or someone else's (why). Pure. */
export function claimVerdict(claim: Omit<VolumeClaim, "engine">, existing: VolumeInfo | undefined): string {
    if (existing === undefined) {
        return `volume ${claim.volume} is free`;
    }
    const labels = existing.Labels ?? {};
    if (labels[claim.label] === claim.owner) {
        return `volume ${claim.volume} is this stack's (${claim.label}=${claim.owner})`;
    }
    const found = claim.label in labels ? `${claim.label}=${labels[claim.label]}` : `no ${claim.label} label`;
    throw new Error(
        `volume ${claim.volume} already exists on the engine and is not this stack's (${found}; this stack's is ` +
            `${claim.label}=${claim.owner}): refusing to take it over, since destroy would delete it with its data. ` +
            "Remove or rename that volume, or set mtls-nginx:containerName to a name of your own",
    );
}

export async function claimVolume(claim: VolumeClaim): Promise<string> {
    const engine = new DockerEngine(claim.engine);
    return claimVerdict(claim, await engine.inspectVolume(claim.volume));
}

if (require.main === module) {
    runWithStdin(claimVolume);
}
