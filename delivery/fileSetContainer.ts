/**
 * The short-lived container a file set is checked (and, on the container platform, written) in: the
 * image that serves it, on the engine that runs it, with no network, a read-only root, no new
 * privileges, only the capabilities `nginx -t` uses and the endpoint's own limits. The engine removes
 * it by itself (auto-remove, a bounded sleep), so a SIGKILL of the deploying program leaves nothing
 * running once that time is up. Pure but for `removeAbandonedChecks`.
 */
import { tmpfsOptions, writablePaths } from "../nginx/container";
import { containerConfigDirectory } from "../nginx/files";
import type { DockerEngine } from "./dockerApi";

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

/** The container platform's writer: the endpoint's files volume, and the container that serves it. */
export interface FileSetWriter {
    readonly filesVolume: string;
    readonly servingContainer: string;
}

/**
 * The create request of a check container (`POST /containers/create`). Pure. The file set goes on a
 * tmpfs volume of its own, or, for the container platform's writer, into the endpoint's files volume.
 */
export function checkContainerSpec(image: string, limits: CheckLimits, writer?: FileSetWriter) {
    const filesVolume = writer?.filesVolume;
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
            // The writer joins the serving container's network namespace: `nginx -t` resolves upstream
            // names as the serving Nginx does (it resolves them at load). A check has no network at all.
            NetworkMode: writer ? `container:${writer.servingContainer}` : "none",
            CapDrop: ["ALL"],
            CapAdd: nginxTestCapabilities.filter((name) => kept.includes(name)),
            SecurityOpt: ["no-new-privileges:true"],
            ReadonlyRootfs: true,
            Tmpfs: Object.fromEntries(writablePaths.map((writable) => [writable, tmpfsOptions])),
            // The file set's place: an anonymous volume on tmpfs, so the engine can write the archive into it
            // (it cannot into a tmpfs mount of a read-only container) and the key never reaches its disk.
            Mounts: [
                filesVolume === undefined
                    ? {
                          Type: "volume",
                          Target: containerConfigDirectory,
                          VolumeOptions: {
                              NoCopy: true,
                              DriverConfig: {
                                  Name: "local",
                                  Options: { type: "tmpfs", device: "tmpfs", o: fileSetTmpfsOptions },
                              },
                          },
                      }
                    : { Type: "volume", Source: filesVolume, Target: containerConfigDirectory },
            ],
            Memory: limits.memoryLimitMb * 1024 * 1024,
            MemorySwap: limits.memoryLimitMb * 1024 * 1024,
            PidsLimit: limits.pidsLimit,
        },
    };
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
