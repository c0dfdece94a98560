/**
 * Checks a complete Nginx file set with `nginx -t` in a throwaway container of the image that will
 * serve it, on the engine that will run it, before a Swarm service is switched to it. The set
 * travels through the Docker API (keys included: stdin in, an archive out, never a file here), and
 * the container is removed whatever the outcome. Run with a JSON `FileSetCheck` on stdin.
 */
import { randomBytes } from "crypto";
import { readFileSync } from "fs";

import { archiveOf, generationOf, type DeliveredFile } from "./deliverFiles";
import { DockerEngine, type DockerEngineAddress } from "./dockerEngine";

export interface FileSetCheck {
    readonly engine: DockerEngineAddress;
    readonly image: string;
    readonly files: readonly DeliveredFile[];
}

export async function checkFileSet(check: FileSetCheck): Promise<string> {
    const engine = new DockerEngine(check.engine);
    const generation = generationOf(check.files);
    const container = await engine.startIdleContainer(
        check.image,
        `mtls-nginx-check-${randomBytes(4).toString("hex")}`,
    );
    try {
        await engine.putArchive(container, "/tmp", archiveOf(generation, check.files));
        const result = await engine.exec(container, ["nginx", "-t", "-q", "-c", `/tmp/${generation}/nginx.conf`]);
        if (result.exitCode !== 0) {
            throw new Error(`nginx -t rejected the new file set: ${(result.stderr || result.stdout).trim()}`);
        }
        return `nginx -t accepted ${generation} in ${check.image}`;
    } finally {
        await engine.removeContainer(container);
    }
}

if (require.main === module) {
    const check = JSON.parse(readFileSync(0, "utf8")) as FileSetCheck;
    checkFileSet(check).then(
        (report) => console.log(report),
        (error: Error) => {
            console.error(error.message);
            process.exit(1);
        },
    );
}
