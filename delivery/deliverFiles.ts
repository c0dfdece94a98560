/**
 * Hands a complete Nginx file set to a running container through the Docker API, then switches
 * to it only once Nginx has accepted it. The serving container mounts its files volume read-only,
 * so the writing happens in a short-lived writer container of the same image on the same volume
 * (fileSetContainer.ts: no network, no capabilities but what `nginx -t` uses, removed by the engine):
 *
 *   1. refuse a volume holding anything this program did not write;
 *   2. upload `gen-<id>/` (nginx.conf, chain, key 0600, CA bundle, CRL) into the files volume;
 *   3. `nginx -t` on that directory's own nginx.conf (it names its files relative to itself);
 *   4. point the `live` symlink at it in one rename, drop older sets;
 *   5. reload Nginx in the serving container if it runs.
 *
 * A set Nginx rejects is removed and `live` keeps pointing at the last good one, so the running
 * process and a restarted container both serve the old files. Run by the endpoint's command
 * resource with a JSON `DeliveryRequest` on stdin (it holds keys, so never argv or environment).
 */
import { createHash, randomBytes } from "crypto";

import { DockerEngine, type DockerEngineAddress } from "./dockerApi";
import { checkContainerSpec, removeAbandonedChecks, type CheckLimits } from "./fileSetContainer";
import { readTarFiles, tarArchive, type TarEntry } from "./tarArchive";
import { runWithStdin } from "./commands";

/** One file of the set: its name inside the set's directory, content and mode. */
export interface DeliveredFile {
    readonly name: string;
    readonly content: string;
    readonly mode: number;
}

export interface DeliveryRequest {
    readonly engine: DockerEngineAddress;
    /** Container name or ID. */
    readonly container: string;
    /** The directory the files volume is mounted at in the container. */
    readonly directory: string;
    readonly files: readonly DeliveredFile[];
    /** The Nginx pid file: a reload is sent only when a master runs. */
    readonly pidFile: string;
    /** The container's process limit (the Docker provider cannot set it, the API can). */
    readonly pidsLimit?: number;
    /** The serving container's own limits: the writer container never has more. */
    readonly limits: CheckLimits;
}

/**
 * A set's directory name as a shell `case` pattern: "gen-" and exactly 16 hex digits. Only names of
 * this form are file sets of ours; "gen-backup-1" is someone else's, never checked for or removed.
 */
export const generationPattern = `gen-${"[0-9a-f]".repeat(16)}`;

/** The set's directory name: a digest of every file, so the same set always lands in the same place. */
export function generationOf(files: readonly DeliveredFile[]): string {
    const digest = createHash("sha256");
    for (const file of [...files].sort((a, b) => a.name.localeCompare(b.name))) {
        digest.update(`${file.name}\0${file.mode}\0${file.content}\0`);
    }
    return `gen-${digest.digest("hex").slice(0, 16)}`;
}

/** The archive for one set: the directory, then its files. */
export function archiveOf(generation: string, files: readonly DeliveredFile[]): Buffer {
    const entries: TarEntry[] = [
        { path: generation, mode: 0o755 },
        ...files.map((file) => ({ path: `${generation}/${file.name}`, content: file.content, mode: file.mode })),
    ];
    return tarArchive(entries);
}

/**
 * POSIX sh run in the writer container after the upload: check the new set, switch `live` to it in
 * one rename, and keep only the live set and the one before it (for a quick look back).
 */
export function renderSwitchScript(directory: string, generation: string): string {
    return [
        "set -eu",
        `cd '${directory}'`,
        `new='${generation}'`,
        'previous="$(readlink live 2>/dev/null || true)"',
        'if ! nginx -t -q -c "$PWD/$new/nginx.conf"; then',
        '  [ "$new" = "$previous" ] || rm -rf "$new"',
        '  echo "nginx -t rejected the new file set; the live set ($previous) is unchanged" >&2',
        "  exit 1",
        "fi",
        'ln -sfn "$new" live.next',
        "mv -Tf live.next live",
        `for set in ${generationPattern}; do`,
        '  [ -d "$set" ] && [ ! -L "$set" ] || continue',
        '  [ "$set" = "$new" ] || [ "$set" = "$previous" ] || rm -rf "$set"',
        "done",
        'echo "serving $new"',
    ].join("\n");
}

/** POSIX sh run in the serving container after a switch: reload Nginx if its master runs (else it starts on `live`). */
export function renderReloadScript(directory: string, pidFile: string): string {
    return [
        "set -eu",
        `if [ -s '${pidFile}' ] && kill -0 "$(cat '${pidFile}')" 2>/dev/null; then`,
        `  nginx -c '${directory}/live/nginx.conf' -s reload`,
        "fi",
    ].join("\n");
}

/**
 * POSIX sh that refuses a files directory holding anything this program did not write (file set
 * directories, the `live` link and its staging name, each of its own kind): a volume that is someone
 * else's is never written into. The three globs together match every name, dot names included.
 */
export function renderOwnershipCheck(directory: string): string {
    const refuse = (why: string) =>
        `echo "refusing to write into ${directory}: it holds $entry, ${why} (a volume of someone else's?)" >&2; exit 1`;
    return [
        "set -eu",
        `cd '${directory}'`,
        "for entry in * .[!.]* ..?*; do",
        '  [ -e "$entry" ] || [ -L "$entry" ] || continue',
        '  case "$entry" in',
        `    ${generationPattern}) [ -d "$entry" ] && [ ! -L "$entry" ] || { ${refuse("which is not a file set directory")}; } ;;`,
        `    live|live.next) [ -L "$entry" ] || { ${refuse("which is not a link this stack made")}; } ;;`,
        `    *) ${refuse("which this stack did not write")} ;;`,
        "  esac",
        "done",
    ].join("\n");
}

/** What the delivery reads of the serving container (GET /containers/{id}/json). */
interface ServingContainer {
    /** The image ID it runs: the writer runs the same one. */
    readonly Image: string;
    readonly Mounts: ReadonlyArray<{ readonly Type: string; readonly Name?: string; readonly Destination: string }>;
}

export async function deliver(request: DeliveryRequest): Promise<string> {
    const engine = new DockerEngine(request.engine);
    const generation = generationOf(request.files);
    if (request.pidsLimit !== undefined) {
        // Before the first set lands: the container starts Nginx only once a set is live (and the limit is on).
        await engine.updateContainer(request.container, { PidsLimit: request.pidsLimit });
    }
    const serving = await engine.getJson<ServingContainer>(`/containers/${encodeURIComponent(request.container)}/json`);
    const volume = serving.Mounts.find((mount) => mount.Destination === request.directory && mount.Type === "volume");
    if (volume?.Name === undefined) {
        throw new Error(`${request.container} mounts no volume at ${request.directory}`);
    }
    const switched = await inWriter(engine, request, serving.Image, volume.Name, async (writer) => {
        // The volume must be this stack's own before anything is written into it.
        await run(engine, writer, renderOwnershipCheck(request.directory));
        await engine.putArchive(writer, request.directory, archiveOf(generation, request.files));
        return run(engine, writer, renderSwitchScript(request.directory, generation));
    });
    await run(engine, request.container, renderReloadScript(request.directory, request.pidFile));
    return switched;
}

/** Runs `write` with a writer container on the files volume, removed afterwards whatever happened. */
async function inWriter<T>(
    engine: DockerEngine,
    request: DeliveryRequest,
    image: string,
    volume: string,
    write: (writer: string) => Promise<T>,
): Promise<T> {
    await removeAbandonedChecks(engine);
    const writer = await engine.startContainer(
        `${request.container}-writer-${randomBytes(4).toString("hex")}`,
        checkContainerSpec(image, request.limits, { filesVolume: volume, servingContainer: request.container }),
    );
    try {
        return await write(writer);
    } finally {
        await engine.removeContainer(writer);
    }
}

/** Runs a POSIX sh script in a container; its stdout, or an error quoting what it said. */
async function run(engine: DockerEngine, container: string, script: string): Promise<string> {
    const result = await engine.exec(container, ["sh", "-c", script]);
    if (result.exitCode !== 0) {
        throw new Error(`${result.stderr.trim() || result.stdout.trim()} (exit ${result.exitCode})`);
    }
    return result.stdout.trim();
}

/** The files of the live set that differ from the request's (changed, missing or extra), by name. */
export function differingFiles(expected: readonly DeliveredFile[], live: readonly TarEntry[]): string[] {
    const names = new Set([...expected.map((file) => file.name), ...live.map((file) => file.path)]);
    return [...names].filter((name) => {
        const want = expected.find((file) => file.name === name);
        const have = live.find((file) => file.path === name);
        return !want || !have || want.content !== have.content || want.mode !== (have.mode & 0o7777);
    });
}

/**
 * Drift repair, run at each `up` after the delivery: when the live set is not the one in state (a file
 * changed or removed by hand in the volume), the set is delivered again, checked and reloaded.
 */
export async function restoreIfChanged(request: DeliveryRequest): Promise<string> {
    const engine = new DockerEngine(request.engine);
    const live = readTarFiles(await engine.getArchive(request.container, `${request.directory}/live/.`));
    const changed = differingFiles(request.files, live);
    if (changed.length === 0) {
        return "intact";
    }
    return `restored ${changed.join(", ")}: ${await deliver(request)}`;
}

if (require.main === module) {
    runWithStdin<DeliveryRequest>(
        process.argv.includes("--restore-if-changed") ? restoreIfChanged : deliver,
        (request) => `delivering the Nginx files to ${request.container} failed: `,
    );
}
