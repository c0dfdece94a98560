/**
 * Retention of the file backend's state copies (docs/operations.md, "State copies on the file backend"),
 * and where that backend keeps a stack's checkpoint (read by the clients-only `up`, upClientsOnly.ts).
 *
 * Why: every update of a stack on a file backend leaves two copies of the whole state behind, for
 * good: one in `.pulumi/backups/PROJECT/STACK/` (the state before the update) and one in
 * `.pulumi/history/PROJECT/STACK/` (`*.checkpoint.json`, the state after it). Pulumi never removes
 * either while the stack lives (v3.274.1, backend/diy/state.go). At 1,000 clients the state is 17 MB
 * and `npm run up` is two updates: 70 MB of disk per run, about 2 GB a month for a team that onboards
 * partners daily. So the project's commands keep the newest MTLS_STATE_COPIES_KEEP copies of each
 * kind (default 10) after a successful update. The history entries themselves (`*.history.json`: who
 * ran what, with which config, and the result) are the audit trail and are never removed; nor is the
 * stack's own state or its `.bak`. Another backend (PostgreSQL, S3) keeps what its owner's rules keep.
 */
import * as fs from "fs";
import * as os from "os";
import * as path from "path";

/** The environment variable that says how many copies of each kind to keep. */
export const stateCopiesKeepVariable = "MTLS_STATE_COPIES_KEEP";
const defaultKeep = 10;

/** How many copies of each kind to keep, or "all" (no pruning: Pulumi's own behaviour). */
export type StateCopiesKeep = number | "all";

/** MTLS_STATE_COPIES_KEEP as a count (unset or empty: 10); anything else throws, naming the allowed values. */
export function stateCopiesKeep(environment: NodeJS.ProcessEnv = process.env): StateCopiesKeep {
    const value = environment[stateCopiesKeepVariable]?.trim() ?? "";
    if (value === "") {
        return defaultKeep;
    }
    if (value === "all") {
        return "all";
    }
    if (!/^[1-9][0-9]{0,5}$/.test(value)) {
        throw new Error(
            `${stateCopiesKeepVariable}=${JSON.stringify(value)} is not allowed; allowed: a whole number from 1 ` +
                `(the newest copies of the state kept per stack, default ${defaultKeep}), or "all" (keep every copy)`,
        );
    }
    return Number(value);
}

/** The file backend's directory of a backend URL (`file://PATH`, query dropped), or undefined for another backend. */
export function fileBackendDirectory(backendUrl: string): string | undefined {
    if (!backendUrl.startsWith("file://")) {
        return undefined;
    }
    const directory = decodeURIComponent(backendUrl.slice("file://".length).split("?")[0]);
    // As Pulumi reads it: ~ is the home directory, and a relative path is the working directory's.
    return path.resolve(
        directory === "~" || directory.startsWith("~/") ? os.homedir() + directory.slice(1) : directory,
    );
}

/** A state copy's kind and the time (in nanoseconds, as Pulumi names it) it was written. */
interface StateCopy {
    readonly file: string;
    readonly kind: "backup" | "checkpoint";
    readonly written: bigint;
}

/** What follows `STACK.` in a backup's name, and `STACK-` in a checkpoint's: the time, then the suffix. */
const backupSuffix = /^([0-9]+)\.json(?:\.gz|\.zst)?$/;
const checkpointSuffix = /^([0-9]+)\.checkpoint\.json(?:\.gz|\.zst)?$/;

/**
 * The copies among a stack's files (`names`, in its backups or history directory): the backups
 * `STACK.NANOS.json` and the checkpoints `STACK-NANOS.checkpoint.json`, either compressed. Anything
 * else (the history entries above all) is not a copy.
 */
export function stateCopiesOf(stack: string, names: readonly string[]): StateCopy[] {
    const after = (file: string, separator: string, suffix: RegExp) =>
        file.startsWith(`${stack}${separator}`) ? suffix.exec(file.slice(stack.length + 1)) : null;
    return names.flatMap((file): StateCopy[] => {
        const asBackup = after(file, ".", backupSuffix);
        if (asBackup) {
            return [{ file, kind: "backup", written: BigInt(asBackup[1]) }];
        }
        const asCheckpoint = after(file, "-", checkpointSuffix);
        return asCheckpoint ? [{ file, kind: "checkpoint", written: BigInt(asCheckpoint[1]) }] : [];
    });
}

/** The copies to remove so that the newest `keep` of each kind stay (none when `keep` is "all"). */
export function stateCopiesToRemove(copies: readonly StateCopy[], keep: StateCopiesKeep): string[] {
    if (keep === "all") {
        return [];
    }
    return (["backup", "checkpoint"] as const).flatMap((kind) =>
        copies
            .filter((copy) => copy.kind === kind)
            .sort((a, b) => (a.written === b.written ? 0 : a.written > b.written ? -1 : 1))
            .slice(keep)
            .map((copy) => copy.file),
    );
}

/** What pruning did: the files removed and their bytes, or why it did nothing. */
export interface PruneResult {
    readonly removed: number;
    readonly bytes: number;
    readonly skipped?: string;
}

/**
 * Keeps the newest `keep` copies of each kind of `stack`'s state on the file backend at `backendUrl`
 * (project-scoped layout: `.pulumi/{backups,history}/PROJECT/STACK`; the legacy layout:
 * `.pulumi/{backups,history}/STACK`). A stack reference `ORG/PROJECT/STACK` names its own project.
 */
export function pruneStateCopies(
    backendUrl: string,
    project: string,
    stackReference: string,
    keep: StateCopiesKeep,
): PruneResult {
    const root = fileBackendDirectory(backendUrl);
    if (root === undefined) {
        const backend = backendUrl === "" ? "the logged-in backend" : `${backendUrl.split("://")[0]}://`;
        return { removed: 0, bytes: 0, skipped: `${backend} is not a file backend` };
    }
    if (keep === "all") {
        return { removed: 0, bytes: 0, skipped: `${stateCopiesKeepVariable}=all` };
    }
    const { stack, stackProject } = parseStackReference(stackReference, project);
    let removed = 0;
    let bytes = 0;
    for (const kind of ["backups", "history"]) {
        for (const directory of [
            path.join(root, ".pulumi", kind, stackProject, stack),
            path.join(root, ".pulumi", kind, stack),
        ]) {
            const names = fs.existsSync(directory) ? fs.readdirSync(directory) : [];
            for (const file of stateCopiesToRemove(stateCopiesOf(stack, names), keep)) {
                const full = path.join(directory, file);
                bytes += fs.statSync(full).size;
                fs.rmSync(full, { force: true });
                removed += 1;
            }
        }
    }
    return { removed, bytes };
}

/** A stack reference `STACK` or `ORG/PROJECT/STACK`: the stack's name, and its project. */
function parseStackReference(stackReference: string, project: string): { stack: string; stackProject: string } {
    const parts = stackReference.split("/");
    return { stack: parts[parts.length - 1], stackProject: parts.length === 3 ? parts[1] : project };
}

/**
 * The file backend's checkpoint of a stack, the state every update reads and rewrites: `.pulumi/stacks/
 * PROJECT/STACK.json`, or `.pulumi/stacks/STACK.json` in the legacy layout (no `version: 1` in
 * `.pulumi/meta.yaml`). Undefined on another backend, when there is none, and when a compressed one
 * exists beside it: the engine reads whichever was written last, so the plain file could be an old state.
 */
export function fileBackendCheckpoint(backendUrl: string, project: string, stackReference: string): string | undefined {
    const root = fileBackendDirectory(backendUrl);
    if (root === undefined) {
        return undefined;
    }
    const { stack, stackProject } = parseStackReference(stackReference, project);
    const meta = path.join(root, ".pulumi", "meta.yaml");
    const projectScoped = fs.existsSync(meta) && /^version:\s*1\s*$/m.test(fs.readFileSync(meta, "utf8"));
    const base = path.join(root, ".pulumi", "stacks", ...(projectScoped ? [stackProject] : []), stack);
    const compressed = [".json.gz", ".json.zst"].some((extension) => fs.existsSync(base + extension));
    return !compressed && fs.existsSync(`${base}.json`) ? `${base}.json` : undefined;
}

/** The project's name, from Pulumi.yaml's `name:` line. */
function projectName(repoRoot: string): string {
    const found = /^name:\s*(\S+)\s*$/m.exec(fs.readFileSync(path.join(repoRoot, "Pulumi.yaml"), "utf8"));
    if (!found) {
        throw new Error(`Pulumi.yaml in ${repoRoot} has no name: line`);
    }
    return found[1];
}

/**
 * Prunes `stack`'s state copies on PULUMI_BACKEND_URL after a successful update, and says so in one
 * line; for the project's commands (up.sh, down.sh, renew.ts).
 */
export function pruneAfterUpdate(stack: string, environment: NodeJS.ProcessEnv = process.env): string {
    const repoRoot = path.join(__dirname, "..");
    const keep = stateCopiesKeep(environment);
    const result = pruneStateCopies(environment.PULUMI_BACKEND_URL ?? "", projectName(repoRoot), stack, keep);
    if (result.skipped !== undefined) {
        return `[state] ${stack}: state copies kept as they are (${result.skipped})`;
    }
    return (
        `[state] ${stack}: removed ${result.removed} old copies of the state (${(result.bytes / 1e6).toFixed(1)} MB); ` +
        `the newest ${keep} of each kind stay (${stateCopiesKeepVariable})`
    );
}

/** `node scripts/stateCopies.ts STACK` prunes after an update; `--check` only validates MTLS_STATE_COPIES_KEEP, before one. */
if (require.main === module) {
    const [stack, ...rest] = process.argv.slice(2);
    if (!stack || rest.length > 0) {
        console.error("usage: node scripts/stateCopies.ts STACK|--check");
        process.exit(64);
    }
    try {
        console.log(
            stack === "--check" ? `[state] ${stateCopiesKeepVariable}=${stateCopiesKeep()}` : pruneAfterUpdate(stack),
        );
    } catch (error) {
        console.error(`[state] ${error instanceof Error ? error.message : String(error)}`);
        process.exit(1);
    }
}
