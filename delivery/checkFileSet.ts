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
import { readFileSync } from "fs";

import { tmpfsOptions, writablePaths } from "../nginx/container";
import { containerConfigDirectory } from "../nginx/files";
import { archiveOf, generationOf, type DeliveredFile } from "./deliverFiles";
import { DockerEngine, type DockerEngineAddress } from "./dockerEngine";

export interface FileSetCheck {
    readonly engine: DockerEngineAddress;
    readonly image: string;
    readonly files: readonly DeliveredFile[];
    /** The service's own limits: the check container never has more. */
    readonly limits: CheckLimits;
}

export interface CheckLimits {
    /** The capabilities the service keeps; the check keeps those of them `nginx -t` uses. */
    readonly capabilities: readonly string[];
    readonly memoryLimitMb: number;
    readonly pidsLimit: number;
}

/** What `nginx -t` does as root: bind the listen port (443) and chown its temp directories to the worker user. */
export const nginxTestCapabilities = ["CHOWN", "NET_BIND_SERVICE"];

/** How long a check container lives at most: the engine removes it then, whatever became of this program. */
export const checkLifetimeSeconds = 120;

/** The file set's tmpfs: root's to write, nothing in it runs. */
const fileSetTmpfsOptions = "size=64m,mode=0755,nosuid,nodev,noexec";

/** The label of check containers (`docker ps --filter label=mtls-nginx.owner=file-set-check`). */
const checkLabel = { "mtls-nginx.owner": "file-set-check" };

/** The create request of a check container (`POST /containers/create`). Pure. */
export function checkContainerSpec(image: string, limits: CheckLimits) {
    const kept = limits.capabilities.map((name) => name.toUpperCase().replace(/^CAP_/, ""));
    return {
        Image: image,
        Entrypoint: ["sh", "-c"],
        // The container's whole life; `nginx -t` runs in it through exec meanwhile.
        Cmd: [`sleep ${checkLifetimeSeconds}`],
        Labels: checkLabel,
        HostConfig: {
            // Set at creation: the engine removes the container (and its anonymous volume) once it exits.
            AutoRemove: true,
            NetworkMode: "none",
            CapDrop: ["ALL"],
            CapAdd: nginxTestCapabilities.filter((name) => kept.includes(name)),
            SecurityOpt: ["no-new-privileges:true"],
            ReadonlyRootfs: true,
            Tmpfs: Object.fromEntries(writablePaths.map((writable) => [writable, tmpfsOptions])),
            // The file set's place: an anonymous volume on tmpfs, so the engine can write the archive into it
            // (it cannot into a tmpfs mount of a read-only container) and the key never reaches its disk.
            Mounts: [
                {
                    Type: "volume",
                    Target: containerConfigDirectory,
                    VolumeOptions: {
                        NoCopy: true,
                        DriverConfig: {
                            Name: "local",
                            Options: { type: "tmpfs", device: "tmpfs", o: fileSetTmpfsOptions },
                        },
                    },
                },
            ],
            Memory: limits.memoryLimitMb * 1024 * 1024,
            MemorySwap: limits.memoryLimitMb * 1024 * 1024,
            PidsLimit: limits.pidsLimit,
        },
    };
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

/** Containers older than this that never started (or, of older versions, exited) are abandoned checks. */
const abandonedAfterSeconds = 60;

interface ListedContainer {
    readonly Id: string;
    /** Seconds since the epoch. */
    readonly Created: number;
}

/**
 * Removes the check containers a killed run left behind: created but never started (so never
 * auto-removed; they hold no files), or exited ones of versions that did not auto-remove them.
 */
export async function removeAbandonedChecks(engine: DockerEngine, now = Date.now()): Promise<void> {
    const filters = JSON.stringify({
        label: Object.entries(checkLabel).map(([key, value]) => `${key}=${value}`),
        status: ["created", "exited", "dead"],
    });
    const listed = await engine.getJson<ListedContainer[]>(
        `/containers/json?${new URLSearchParams({ all: "true", filters })}`,
    );
    for (const container of listed.filter((entry) => entry.Created < now / 1000 - abandonedAfterSeconds)) {
        await engine.removeContainer(container.Id);
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
