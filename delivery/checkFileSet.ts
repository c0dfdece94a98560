/**
 * Checks a complete Nginx file set with `nginx -t` in a throwaway container of the image that will
 * serve it, on the engine that will run it, before a Swarm service is switched to it. The set
 * travels through the Docker API (keys included: stdin in, an archive out, never a file here). In
 * the container it lands on a tmpfs volume (memory, never the engine's disk), and the container is
 * the engine's to remove: it is auto-removed, with that volume, when its bounded sleep ends, so a
 * SIGKILL of this program leaves nothing behind once that time is up. It runs with no network, a
 * read-only root, no new privileges and only the capabilities `nginx -t` uses. Run with a JSON
 * `FileSetCheck` on stdin.
 */
import { randomBytes } from "crypto";

import { containerConfigDirectory } from "../nginx/files";
import { archiveOf, generationOf, type DeliveredFile } from "./deliverFiles";
import { DockerEngine, type DockerEngineAddress } from "./dockerApi";
import { checkContainerSpec, removeAbandonedChecks, type CheckLimits } from "./fileSetContainer";
import { runWithStdin } from "./commands";

export interface FileSetCheck {
    readonly engine: DockerEngineAddress;
    readonly image: string;
    readonly files: readonly DeliveredFile[];
    /** The service's own limits: the check container never has more. */
    readonly limits: CheckLimits;
}

export async function checkFileSet(check: FileSetCheck): Promise<string> {
    const engine = new DockerEngine(check.engine);
    await removeAbandonedChecks(engine);
    const generation = generationOf(check.files);
    const container = await engine.startContainer(
        `mtls-nginx-check-${randomBytes(4).toString("hex")}`,
        checkContainerSpec(check.image, check.limits),
    );
    try {
        await engine.putArchive(container, containerConfigDirectory, archiveOf(generation, check.files));
        const config = `${containerConfigDirectory}/${generation}/nginx.conf`;
        const result = await engine.exec(container, ["nginx", "-t", "-q", "-c", config]);
        if (result.exitCode !== 0) {
            throw new Error(`nginx -t rejected the new file set: ${(result.stderr || result.stdout).trim()}`);
        }
        return `nginx -t accepted ${generation} in ${check.image}`;
    } finally {
        await engine.removeContainer(container);
    }
}

if (require.main === module) {
    runWithStdin(checkFileSet);
}
