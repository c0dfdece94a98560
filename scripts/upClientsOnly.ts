/**
 * The clients-only `up` (`npm run up -- STACK --clients-only`; docs/operations.md, "Adding or revoking
 * clients at scale"): new clients are issued and the endpoint is updated, and every client certificate
 * already in state stays as it is.
 *
 * Why: a full `up` registers every client's resources, and the engine checks each with its provider,
 * one call at a time, even when nothing about it changed. At 1,000 generated clients that is 3,000
 * registrations and 3,000 calls, most of an `up` that adds one client. A resource excluded from the
 * update (`--exclude`) and not registered is kept from state as it was.
 * So this `up` excludes every client key, CSR and certificate in state, by URN, and hands the program
 * the same URNs (MTLS_HOLD_CLIENTS, rotation/clientHold.ts): it registers none of them, takes their
 * certificates and keys from the last deployment, and records their generations as they were.
 *
 * What it refuses, before anything runs: a stack without a successful last update, and stack config
 * that differs from the last update's in anything but the clients keys. A held certificate must still
 * be what the rest of the config says: a new active CA, key algorithm or lifetime needs a full `up`,
 * which re-issues them. Rotations that fall due are left for the next full `up` (or `npm run renew`).
 */
import type { ConfigMap, Stack } from "@pulumi/pulumi/automation";
import { LocalWorkspace, PulumiCommand } from "@pulumi/pulumi/automation";
import { spawn } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { typeChainOf } from "../components/shared/urns";
import { holdClientsVariable } from "../rotation/clientHold";
import { fileBackendCheckpoint } from "./stateCopies";

/** The config keys a clients-only `up` may see changed (mtls-nginx:KEY). */
export const clientsKeys: readonly string[] = ["clients", "clientsFile", "revokedClients"];

/**
 * The engine takes the held URNs as `--exclude` arguments, and Linux caps a command line with its
 * environment at 2 MiB (ARG_MAX): about 10,000 held resources (3,300 generated clients) fit in this.
 */
const maximumExcludeBytes = 1.5 * 1024 * 1024;

/** Why a clients-only `up` did not run; nothing was changed. */
export class ClientsOnlyRefused extends Error {}

/** A resource of the stack's state, as `pulumi stack export` gives it. */
interface StateResource {
    readonly urn: string;
    readonly type: string;
}

/**
 * The URNs of every client's key, CSR and certificate in `deployment` (`pulumi stack export`'s
 * `deployment`): the tls:index resources whose parent is a ClientCertificates component.
 */
export function clientResourceUrns(deployment: { resources?: readonly StateResource[] }): string[] {
    return (deployment.resources ?? [])
        .filter((resource) => {
            const types = typeChainOf(resource.urn);
            return (
                resource.type.startsWith("tls:index/") &&
                types.length >= 2 &&
                types[types.length - 2] === "mtls:pki:ClientCertificates"
            );
        })
        .map((resource) => resource.urn);
}

/**
 * The config keys whose values differ between the last update's config and the current one, other
 * than the clients keys: `KEY` of `NAMESPACE:KEY`, sorted. Secret or not, only the value counts.
 */
export function configChangesBesideClients(last: ConfigMap, current: ConfigMap, namespace = "mtls-nginx"): string[] {
    const allowed = new Set(clientsKeys.map((key) => `${namespace}:${key}`));
    const keys = new Set([...Object.keys(last), ...Object.keys(current)]);
    return [...keys].filter((key) => !allowed.has(key) && last[key]?.value !== current[key]?.value).sort();
}

/** What a clients-only `up` did: how many URNs it held. */
export interface ClientsOnlyResult {
    readonly heldResources: number;
}

/** How a clients-only `up` runs. */
export interface ClientsOnlyOptions {
    /** The stack file the update runs with (`npm run up`'s runtime copy); default: the workspace's. */
    readonly configFile?: string;
    /** Receives the CLI's output as it comes (stdout and stderr). */
    readonly onOutput?: (text: string) => void;
}

/**
 * The clients-only `up` of `stack` (see above): the reads and the refusals, then one `pulumi up
 * --yes --skip-preview` with the held URNs excluded. The CLI runs as the workspace runs it (its
 * binary, directory and environment), but directly: the Automation API's `up` reads every output
 * (with the keys decrypted) and the history again afterwards, 4 s at 1,000 clients that this does not
 * need. A failed update throws, with the CLI's last lines.
 */
export async function upClientsOnly(stack: Stack, options: ClientsOnlyOptions = {}): Promise<ClientsOnlyResult> {
    // Three reads of the state and its history, at once.
    const [[last], config, resources] = await Promise.all([
        stack.history(1, 1, true),
        currentConfig(stack, options.configFile),
        stateResources(stack),
    ]);
    if (last === undefined || last.kind !== "update" || last.result !== "succeeded") {
        throw new ClientsOnlyRefused(
            `the last update of ${stack.name} ${last ? `was a ${last.kind} that ${last.result}` : "does not exist"}; ` +
                "a clients-only up runs only after a successful update: run a full up",
        );
    }
    const changed = configChangesBesideClients(last.config ?? {}, config);
    if (changed.length > 0) {
        throw new ClientsOnlyRefused(
            `stack config changed since the last update beyond the clients: ${changed.join(", ")}; ` +
                `a clients-only up allows changes to ${clientsKeys.join(", ")} only: run a full up`,
        );
    }
    const held = clientResourceUrns({ resources });
    const commandLineBytes = held.reduce((sum, urn) => sum + urn.length + "--exclude".length + 2, 0);
    if (commandLineBytes > maximumExcludeBytes) {
        throw new ClientsOnlyRefused(
            `holding ${held.length} client resources takes ${commandLineBytes} bytes of --exclude arguments, more ` +
                `than the ${maximumExcludeBytes} a command line may hold here: run a full up`,
        );
    }
    // The program is told the same URNs, in a file of this process's (URNs only: nothing secret).
    const directory = fs.mkdtempSync(path.join(os.tmpdir(), "mtls-held-"));
    try {
        const heldFile = path.join(directory, "held-urns.json");
        fs.writeFileSync(heldFile, JSON.stringify(held), { mode: 0o600 });
        const configArguments = options.configFile ? ["--config-file", options.configFile] : [];
        await runCli(
            stack,
            [
                "up",
                "--yes",
                "--skip-preview",
                "--non-interactive",
                "--stack",
                stack.name,
                ...configArguments,
                ...held.flatMap((urn) => ["--exclude", urn]),
            ],
            { [holdClientsVariable]: heldFile },
            options.onOutput,
        );
        return { heldResources: held.length };
    } finally {
        fs.rmSync(directory, { recursive: true, force: true });
    }
}

/**
 * The resources in the stack's state (URNs and types only). On a file backend they are read from the
 * checkpoint file itself: `pulumi stack export` loads the whole state, encodes it again and prints it,
 * 4 to 6 s at 1,000 generated clients, and this `up` took 2.2 s less without it (bench/README). Elsewhere,
 * and when the file does not hold a checkpoint as expected, from the export (secrets stay ciphertext).
 */
async function stateResources(stack: Stack): Promise<StateResource[]> {
    const workspace = stack.workspace as LocalWorkspace;
    const backendUrl = workspace.envVars.PULUMI_BACKEND_URL ?? process.env.PULUMI_BACKEND_URL ?? "";
    const checkpoint = fileBackendCheckpoint(backendUrl, (await workspace.projectSettings()).name, stack.name);
    if (checkpoint !== undefined) {
        const file = JSON.parse(await fs.promises.readFile(checkpoint, "utf8")) as {
            checkpoint?: { latest?: { resources?: StateResource[] } };
        };
        if (file.checkpoint?.latest !== undefined) {
            return file.checkpoint.latest.resources ?? [];
        }
    }
    const exported = JSON.parse(await runCli(stack, ["stack", "export", "--stack", stack.name])) as {
        deployment?: { resources?: StateResource[] };
    };
    return exported.deployment?.resources ?? [];
}

/** The stack's config as the update will read it: from `configFile` when one is given. */
async function currentConfig(stack: Stack, configFile: string | undefined): Promise<ConfigMap> {
    if (configFile === undefined) {
        return stack.getAllConfig();
    }
    const stdout = await runCli(stack, [
        "config",
        "--json",
        "--show-secrets",
        "--stack",
        stack.name,
        "--config-file",
        configFile,
    ]);
    return JSON.parse(stdout) as ConfigMap;
}

/**
 * Runs the workspace's CLI with `args` in its directory and environment (plus `environment`), and
 * returns its stdout; `onOutput` gets stdout and stderr as they come. Throws, with the end of the
 * output, when it fails.
 */
function runCli(
    stack: Stack,
    args: readonly string[],
    environment: Record<string, string> = {},
    onOutput?: (text: string) => void,
): Promise<string> {
    const workspace = stack.workspace as LocalWorkspace;
    return new Promise((resolve, reject) => {
        const child = spawn(workspace.pulumiCommand.command, args, {
            cwd: workspace.workDir,
            env: { ...process.env, ...workspace.envVars, ...environment },
            stdio: ["ignore", "pipe", "pipe"],
        });
        const stdout: Buffer[] = [];
        let tail = "";
        const keepTail = (text: string) => {
            tail = (tail + text).slice(-4000);
            onOutput?.(text);
        };
        child.stdout.on("data", (chunk: Buffer) => {
            stdout.push(chunk);
            if (onOutput) keepTail(chunk.toString());
        });
        child.stderr.on("data", (chunk: Buffer) => keepTail(chunk.toString()));
        child.on("error", reject);
        child.on("close", (code, signal) => {
            const output = Buffer.concat(stdout).toString();
            if (code === 0) {
                resolve(output);
            } else {
                const end = onOutput ? tail : `${output.slice(-2000)}${tail}`;
                reject(new Error(`pulumi ${args[0]} ${args[1] ?? ""} failed (${signal ?? `exit ${code}`}):\n${end}`));
            }
        });
    });
}

/** `node scripts/upClientsOnly.ts STACK STACK_FILE`, for scripts/up.sh: the clients-only `up`, its output streamed. */
async function main(argv: readonly string[]): Promise<number> {
    const [stackName, stackFile] = argv;
    if (!stackName || !stackFile || argv.length !== 2) {
        console.error("usage: node scripts/upClientsOnly.ts STACK STACK_FILE (npm run up -- STACK --clients-only)");
        return 64;
    }
    const repoRoot = path.join(__dirname, "..");
    const pulumiCommand = await PulumiCommand.get({
        root: path.join(repoRoot, ".pulumi-home"),
        skipVersionCheck: true,
    });
    const stack = await LocalWorkspace.selectStack({ stackName, workDir: repoRoot }, { pulumiCommand });
    try {
        const result = await upClientsOnly(stack, {
            configFile: stackFile,
            onOutput: (text) => process.stdout.write(text),
        });
        console.log(`[up] clients-only: held ${result.heldResources} client resources as they were`);
        return 0;
    } catch (error) {
        if (error instanceof ClientsOnlyRefused) {
            console.error(`[up] clients-only up refused, nothing changed: ${error.message}`);
            return 3;
        }
        throw error;
    }
}

if (require.main === module) {
    main(process.argv.slice(2)).then(
        (code) => process.exit(code),
        (error: unknown) => {
            console.error(error instanceof Error ? error.message : error);
            process.exit(1);
        },
    );
}
