/**
 * `npm run renew -- [STACK] [--dry-run]`: the renewal a timer runs. It previews the stack (default:
 * dev) and runs `up` only when something is due: a certificate in its renewal window, or a CRL near
 * its next update (the `rotationDue` the program reports, and any certificate the plan replaces).
 * The update's smoke test must pass. One line at the end says what happened, for a pager:
 *
 *   0  nothing was due, or the renewal passed its smoke test (also: --dry-run, whatever was due)
 *   1  the preview failed: what is due is unknown, nothing changed
 *   2  `up` failed
 *   3  `up` renewed, but the smoke test failed or did not run (mtls-nginx:smokeTest false)
 *   4  the stack is locked by another update: nothing changed
 *   5  a person must act: a CA (or an externally signed CRL) is due for a rollover, which no
 *      renewal does; or the plan would also replace or delete the container, its volume, image
 *      or service (a change that is not a renewal: deploy it with `npm run up` first)
 *  64  bad arguments, or an MTLS_NOW that is not a time
 *
 * It runs the Pulumi CLI of `scripts/env.sh` (the caller's PULUMI_BACKEND_URL and passphrase
 * variables win) on the stack file `npm run up` uses, after the same checkpoint repair, and never runs
 * setup: the machine is set up already. MTLS_NOW (rotation/clock.ts) moves the clock of the rotation
 * decisions, for tests only.
 */
import {
    ConcurrentUpdateError,
    EngineEvent,
    LocalWorkspace,
    PulumiCommand,
    type Stack,
} from "@pulumi/pulumi/automation";
import { spawnSync } from "child_process";
import * as path from "path";
import { clockOverride, clockOverrideVariable } from "../rotation/clock";
import { classifyItem } from "./expiryReport";
import { pruneAfterUpdate, stateCopiesKeep } from "./stateCopies";
import { upInTwoPhases, worthTwoPhases } from "./upPhases";

const repoRoot = path.join(__dirname, "..");
const usageText = "usage: npm run renew -- [STACK] [--dry-run]";

export const renewExit = {
    ok: 0,
    previewFailed: 1,
    upFailed: 2,
    smokeTestFailed: 3,
    locked: 4,
    actionNeeded: 5,
    usage: 64,
} as const;

export class UsageError extends Error {}

export interface RenewArguments {
    readonly stack: string;
    readonly dryRun: boolean;
}

export function parseRenewArguments(argv: readonly string[]): RenewArguments {
    let stack: string | undefined;
    let dryRun = false;
    for (const argument of argv) {
        if (argument === "--dry-run") dryRun = true;
        else if (argument.startsWith("-") || stack !== undefined) {
            throw new UsageError(`unexpected argument ${argument}`);
        } else if (!/^[A-Za-z0-9][A-Za-z0-9_.-]*$/.test(argument)) {
            throw new UsageError(`${JSON.stringify(argument)} is not a stack name`);
        } else stack = argument;
    }
    return { stack: stack ?? "dev", dryRun };
}

// --- What the engine said --------------------------------------------------------------------

/** One step of a preview or update. */
export interface ObservedStep {
    readonly op: string;
    readonly type: string;
    readonly urn: string;
    /** The URN's name part. */
    readonly name: string;
}

/** What a preview or an update reported, from its engine events. */
export interface Observation {
    readonly steps: ObservedStep[];
    /** Resources whose operation failed (URNs). */
    readonly failed: string[];
    /** Error diagnostics, with the resource they are about when there is one. */
    readonly errors: Array<{ urn?: string; message: string }>;
    /** The endpoints' `due for rotation: ...` log lines. */
    readonly dueLines: string[];
    /** The stack's outputs, as far as the engine knows them (a preview: the known ones). */
    stackOutputs?: Record<string, unknown>;
    /** What each smoke test reported when it ran (its probe's stdout), by URN. */
    readonly smokeTests: Map<string, string | undefined>;
}

const stackType = "pulumi:pulumi:Stack";
const smokeTestProbe = /mtls:test:SmokeTest\$command:local:Command::/;
const replaceOps = new Set(["replace", "create-replacement", "delete-replaced", "discard-replaced"]);
/** What a renewal never does: these make the endpoint go away or change what it runs. */
const disruptiveTypes = new Set([
    "docker:index/container:Container",
    "docker:index/volume:Volume",
    "docker:index/remoteImage:RemoteImage",
    "docker:index/service:Service",
    "docker:index/network:Network",
]);

/** Collects an Observation from engine events (pass `onEvent` to preview or up). */
export function observer(): { onEvent: (event: EngineEvent) => void; observation: Observation } {
    const observation: Observation = { steps: [], failed: [], errors: [], dueLines: [], smokeTests: new Map() };
    return {
        observation,
        onEvent(event: EngineEvent) {
            const pre = event.resourcePreEvent?.metadata;
            // A preview's steps come with planning: true; an update's without.
            if (pre) {
                observation.steps.push({
                    op: pre.op,
                    type: pre.type,
                    urn: pre.urn,
                    name: pre.urn.split("::").pop() ?? pre.urn,
                });
            }
            const done = event.resOutputsEvent?.metadata;
            if (done?.type === stackType && done.new?.outputs) {
                observation.stackOutputs = done.new.outputs;
            }
            if (
                done &&
                smokeTestProbe.test(done.urn) &&
                ["create", "replace", "create-replacement"].includes(done.op)
            ) {
                const stdout = done.new?.outputs?.stdout;
                observation.smokeTests.set(done.urn, typeof stdout === "string" ? stdout : undefined);
            }
            const failed = event.resOpFailedEvent?.metadata;
            if (failed) {
                observation.failed.push(failed.urn);
            }
            const diagnostic = event.diagnosticEvent;
            if (diagnostic?.severity === "error") {
                observation.errors.push({ urn: diagnostic.urn, message: oneLine(diagnostic.message) });
            } else if (diagnostic && /due for rotation: /.test(diagnostic.message)) {
                observation.dueLines.push(oneLine(diagnostic.message));
            }
        },
    };
}

// --- What is due, and whether to run up --------------------------------------------------------

export interface DueItem {
    readonly item: string;
    /** The item's current expiry (a CRL: its next update), as recorded. */
    readonly expires: string;
}

export interface RenewalPlan {
    /** Due, and re-issued by `up`: the server, clients, the CRL. */
    readonly renewable: DueItem[];
    /** Due, and never re-issued by `up`: a CA (a rollover), a CRL signed elsewhere. */
    readonly needsPerson: DueItem[];
    /** Certificates and keys the plan replaces (resource names). */
    readonly replaced: string[];
    /** Steps no renewal makes ("replace mtls-nginx-container"): `up` must not run unattended. */
    readonly disruptive: string[];
    /** Every step that changes something ("update mtls-nginx-endpoint-delivery"). */
    readonly changes: string[];
    /** Whether the renewal runs `up`. */
    readonly runUp: boolean;
    /** How many steps of the plan change a tls:index resource (phase 1 of an up in two phases). */
    readonly tlsSteps: number;
}

/** The items of `due for rotation: server (expires X), crl (expires Y)` log lines. */
export function parseDueLines(lines: readonly string[]): DueItem[] {
    return lines.flatMap((line) =>
        [...line.matchAll(/([^\s,()]+) \(expires ([^)]*)\)/g)].map(([, item, expires]) => ({ item, expires })),
    );
}

/** What is due: the stack's `rotationDue` output, and the endpoints' log lines (a program may export nothing). */
export function dueItems(observation: Observation): DueItem[] {
    const items = new Map<string, DueItem>();
    const output = observation.stackOutputs?.rotationDue;
    if (typeof output === "object" && output !== null && !Array.isArray(output)) {
        for (const [item, expires] of Object.entries(output)) {
            items.set(item, { item, expires: String(expires) });
        }
    }
    for (const due of parseDueLines(observation.dueLines)) {
        if (!items.has(due.item)) items.set(due.item, due);
    }
    return [...items.values()];
}

/** Decides from a preview what is due and whether `up` may run. */
export function planRenewal(observation: Observation): RenewalPlan {
    const due = dueItems(observation);
    const renewable = due.filter((entry) => ["server", "client", "crl"].includes(classifyItem(entry.item).kind));
    const needsPerson = due.filter((entry) => !renewable.includes(entry));
    const changing = observation.steps.filter((step) => !["same", "read", "refresh"].includes(step.op));
    const replaced = [
        ...new Set(
            changing.filter((step) => replaceOps.has(step.op) && step.type.startsWith("tls:")).map((step) => step.name),
        ),
    ];
    const describe = (step: ObservedStep) => `${step.op === "create-replacement" ? "replace" : step.op} ${step.name}`;
    const disruptive = [
        ...new Set(
            changing
                .filter((step) => disruptiveTypes.has(step.type) && (replaceOps.has(step.op) || step.op === "delete"))
                .map(describe),
        ),
    ];
    const changes = [
        ...new Set(changing.filter((step) => !["delete-replaced", "discard-replaced"].includes(step.op)).map(describe)),
    ].sort();
    const somethingDue = renewable.length > 0 || replaced.length > 0;
    return {
        renewable,
        needsPerson,
        replaced,
        disruptive,
        changes,
        runUp: somethingDue && disruptive.length === 0,
        tlsSteps: changing.filter((step) => step.type.startsWith("tls:index/")).length,
    };
}

// --- Messages --------------------------------------------------------------------------------

/** Text as one line: no colour codes, whitespace collapsed, at most `limit` characters. */
export function oneLine(text: string, limit = 400): string {
    const plain = text.replace(/\u001b\[[0-9;]*[A-Za-z]/g, "").replace(/<\{%[^%]*%\}>/g, "");
    const line = plain.replace(/\s+/g, " ").trim();
    return line.length > limit ? `${line.slice(0, limit - 1)}…` : line;
}

/** An RFC 3339 time to the minute ("2027-03-06T20:59Z"), or the text as it is when it does not parse. */
export function shortTime(text: string): string {
    const time = Date.parse(text);
    return Number.isNaN(time) ? text : `${new Date(time).toISOString().slice(0, 16)}Z`;
}

/** "server (expires 2027-03-06T20:59Z), client-alice (...)"; the first five, then how many more. */
export function describeItems(items: readonly DueItem[], word = "expires"): string {
    const shown = items.slice(0, 5).map((entry) => `${entry.item} (${word} ${shortTime(entry.expires)})`);
    return items.length > 5 ? `${shown.join(", ")} and ${items.length - 5} more` : shown.join(", ");
}

/** The earliest of the expiries the stack reports, for a "nothing due" line. */
export function earliestExpiry(outputs: Record<string, unknown> | undefined, now: Date): string | undefined {
    const expiries = outputs?.certificateExpiries;
    if (typeof expiries !== "object" || expiries === null) return undefined;
    const dated = Object.entries(expiries as Record<string, unknown>)
        .map(([item, value]) => ({ item, time: Date.parse(String(value)) }))
        .filter((entry) => !Number.isNaN(entry.time))
        .sort((a, b) => a.time - b.time);
    if (dated.length === 0) return undefined;
    const [first] = dated;
    const days = Math.floor((first.time - now.getTime()) / 86_400_000);
    return `${first.item} on ${shortTime(new Date(first.time).toISOString())} (${days} days)`;
}

export interface Verdict {
    readonly code: number;
    /** The one line for a pager: "mtls-nginx renew dev: ...". */
    readonly line: string;
}

const say = (stack: string, text: string) => `mtls-nginx renew ${stack}: ${text}`;

function rolloverText(plan: RenewalPlan): string {
    return (
        `ACTION NEEDED: ${describeItems(plan.needsPerson)} due for a rollover, which no renewal does: ` +
        `see "Roll the CA over" in docs/rotation.md`
    );
}

/** The verdict after a preview, when no `up` runs (undefined: `up` runs). */
export function previewVerdict(
    stack: string,
    plan: RenewalPlan,
    options: { dryRun: boolean; now: Date; stackOutputs?: Record<string, unknown> },
): Verdict | undefined {
    const dueText = [
        describeItems(plan.renewable),
        plan.replaced.length > 0 && plan.renewable.length === 0 ? `replaces ${plan.replaced.join(", ")}` : "",
    ]
        .filter(Boolean)
        .join("; ");
    if (plan.disruptive.length > 0 && (plan.renewable.length > 0 || plan.replaced.length > 0)) {
        return {
            code: renewExit.actionNeeded,
            line: say(
                stack,
                `ACTION NEEDED: due: ${dueText}; not renewed, because the plan would also ${plan.disruptive.join(", ")} ` +
                    `(a change that is not a renewal): deploy it with npm run up -- ${stack}, by hand`,
            ),
        };
    }
    if (plan.needsPerson.length > 0 && !(plan.runUp && !options.dryRun)) {
        const also = plan.runUp ? `; also due: ${dueText} (dry run: nothing changed)` : "";
        return { code: renewExit.actionNeeded, line: say(stack, `${rolloverText(plan)}${also}`) };
    }
    if (!plan.runUp) {
        const earliest = earliestExpiry(options.stackOutputs, options.now);
        return {
            code: renewExit.ok,
            line: say(
                stack,
                `nothing due at ${shortTime(options.now.toISOString())}` +
                    (earliest ? `; next expiry: ${earliest}` : ""),
            ),
        };
    }
    if (options.dryRun) {
        return { code: renewExit.ok, line: say(stack, `due: ${dueText}; dry run, nothing changed`) };
    }
    return undefined;
}

/** The verdict after `up`: `error` is what `up` threw, if it did. */
export function upVerdict(stack: string, plan: RenewalPlan, update: Observation, error?: unknown): Verdict {
    const what = describeItems(plan.renewable) || `the certificates the plan replaces (${plan.replaced.join(", ")})`;
    const rollover = plan.needsPerson.length > 0 ? `; ${rolloverText(plan)}` : "";
    if (error !== undefined) {
        if (error instanceof ConcurrentUpdateError) {
            return { code: renewExit.locked, line: lockedLine(stack, error) };
        }
        const smokeTestFailed =
            update.failed.some((urn) => smokeTestProbe.test(urn)) ||
            update.errors.some((entry) => entry.urn !== undefined && smokeTestProbe.test(entry.urn));
        const reason = firstError(update, error);
        if (smokeTestFailed) {
            return {
                code: renewExit.smokeTestFailed,
                line: say(stack, `FAILED: the smoke test did not pass after renewing ${what}: ${reason}`),
            };
        }
        return {
            code: renewExit.upFailed,
            line: say(stack, `FAILED: up failed while renewing ${what}: ${reason}; run npm run up -- ${stack} by hand`),
        };
    }
    const changed = update.steps.filter((step) => !["same", "read", "refresh"].includes(step.op));
    if (changed.length === 0) {
        // Two renewals at once: the other one's update renewed it between this preview and this update.
        return {
            code: renewExit.ok,
            line: say(stack, `nothing left to renew: another update renewed ${what} meanwhile`),
        };
    }
    if (update.smokeTests.size === 0) {
        return {
            code: renewExit.smokeTestFailed,
            line: say(
                stack,
                `FAILED: renewed ${what}, but no smoke test ran (mtls-nginx:smokeTest false?): the renewal is not verified${rollover}`,
            ),
        };
    }
    // The probe's report, when the engine shows it (a secret shows as "[secret]": the step's success says enough).
    const reports = [...update.smokeTests.values()]
        .map((report) => oneLine(report ?? "", 160))
        .filter((report) => /smoke test passed/.test(report));
    const smoke = reports.length > 0 ? reports.join("; ") : "smoke test passed";
    const renewedItems = plan.renewable.map((entry) => {
        const now = newExpiry(update.stackOutputs, entry.item);
        return now ? `${entry.item} (${shortTime(entry.expires)} -> ${shortTime(now)})` : entry.item;
    });
    const renewed = renewedItems.length > 0 ? renewedItems.join(", ") : plan.replaced.join(", ");
    if (rollover) {
        return { code: renewExit.actionNeeded, line: say(stack, `renewed ${renewed}; ${smoke}${rollover}`) };
    }
    return { code: renewExit.ok, line: say(stack, `renewed ${renewed}; ${smoke}`) };
}

function newExpiry(outputs: Record<string, unknown> | undefined, item: string): string | undefined {
    const state = outputs?.rotationState as Record<string, { notAfter?: unknown }> | undefined;
    const expiries = outputs?.certificateExpiries as Record<string, unknown> | undefined;
    const value = state?.[item]?.notAfter ?? expiries?.[item];
    return typeof value === "string" ? value : undefined;
}

/** The most telling error: one about a resource, else the engine's, else the end of the CLI's stderr. */
export function firstError(observation: Observation, error: unknown): string {
    const about = observation.errors.find((entry) => entry.urn !== undefined && entry.message !== "");
    const any = observation.errors.find((entry) => !/^(update|preview) failed$/.test(entry.message));
    if (about ?? any) return oneLine((about ?? any)!.message, 300);
    const stderr = (error as { commandResult?: { stderr?: string } })?.commandResult?.stderr;
    const lines = (stderr ?? (error instanceof Error ? error.message : String(error)))
        .split("\n")
        .map((line) => oneLine(line))
        .filter((line) => line !== "");
    const telling = lines.filter((line) => /error/i.test(line));
    return oneLine((telling[0] ?? lines[lines.length - 1] ?? "no message").replace(/^error: /, ""), 300);
}

function lockedLine(stack: string, error: unknown): string {
    const stderr = (error as { commandResult?: { stderr?: string } })?.commandResult?.stderr ?? "";
    const holder = /created by (.+?) at (\S+)/.exec(stderr);
    const by = holder ? ` (${holder[1]} since ${holder[2]})` : "";
    return say(
        stack,
        `FAILED: the stack is locked by another update${by}; nothing changed. If no update runs, a killed CLI left ` +
            `the lock: pulumi cancel --yes --stack ${stack} (docs/operations.md)`,
    );
}

// --- Running it ------------------------------------------------------------------------------

/** The checkpoint repair and the runtime stack file of `npm run up` (scripts/stack-file.sh), for an existing stack. */
function prepareStack(stack: string): { stackFile: string } | { problem: string } {
    const script = [
        "set -euo pipefail",
        ". scripts/env.sh",
        ". scripts/stack-file.sh",
        // What scripts/up.sh does before `pulumi up`: a shared backend needs the passphrase from the environment.
        "mtls_require_passphrase",
        "mtls_repair_checkpoint_sidecars",
        'if ! problem="$(pulumi stack select "$1" 2>&1 >/dev/null)"; then',
        '    echo "cannot select the stack $1 on ${PULUMI_BACKEND_URL} (a new stack: npm run up -- $1): ${problem}" >&2',
        "    exit 3",
        "fi",
        'mtls_stack_file "$1"',
    ].join("\n");
    const result = spawnSync("bash", ["-c", script, "renew", stack], { cwd: repoRoot, encoding: "utf8" });
    if (result.status !== 0) {
        // The last line says why it stopped; the whole of it goes to the log.
        process.stderr.write(result.stderr);
        const lines = result.stderr.split("\n").filter((line) => line.trim() !== "");
        return { problem: oneLine(lines.pop() ?? `bash exited with ${result.status ?? result.signal}`, 300) };
    }
    process.stderr.write(result.stderr);
    return { stackFile: result.stdout.trim() };
}

const progress = (stack: string, text: string) => console.log(`[renew] ${stack}: ${text}`);

async function renew(args: RenewArguments, now: Date): Promise<Verdict> {
    const prepared = prepareStack(args.stack);
    if ("problem" in prepared) {
        return { code: renewExit.previewFailed, line: say(args.stack, `FAILED: ${prepared.problem}`) };
    }
    const pulumiCommand = await PulumiCommand.get({
        root: path.join(repoRoot, ".pulumi-home"),
        skipVersionCheck: true,
    });
    let stack: Stack;
    try {
        stack = await LocalWorkspace.selectStack({ stackName: args.stack, workDir: repoRoot }, { pulumiCommand });
    } catch (error) {
        return {
            code: renewExit.previewFailed,
            line: say(args.stack, `FAILED: cannot open the stack: ${firstError(emptyObservation(), error)}`),
        };
    }
    const operation = { configFile: prepared.stackFile, color: "never" as const };

    progress(args.stack, `preview at ${now.toISOString()} (${process.env.PULUMI_BACKEND_URL ?? "default backend"})`);
    const preview = observer();
    let previewOutput = "";
    try {
        await stack.preview({
            ...operation,
            onEvent: preview.onEvent,
            onOutput: (text) => {
                previewOutput += text;
            },
        });
    } catch (error) {
        if (error instanceof ConcurrentUpdateError) {
            return { code: renewExit.locked, line: lockedLine(args.stack, error) };
        }
        process.stderr.write(previewOutput);
        return {
            code: renewExit.previewFailed,
            line: say(
                args.stack,
                `FAILED: the preview failed, nothing changed: ${firstError(preview.observation, error)}`,
            ),
        };
    }
    const plan = planRenewal(preview.observation);
    if (plan.renewable.length > 0) progress(args.stack, `due: ${describeItems(plan.renewable)}`);
    if (plan.replaced.length > 0) progress(args.stack, `the plan replaces ${plan.replaced.join(", ")}`);
    if (plan.needsPerson.length > 0) progress(args.stack, `due for a rollover: ${describeItems(plan.needsPerson)}`);
    if (plan.runUp && plan.changes.length > 0) progress(args.stack, `plan: ${plan.changes.join(", ")}`);
    const early = previewVerdict(args.stack, plan, {
        dryRun: args.dryRun,
        now,
        stackOutputs: preview.observation.stackOutputs,
    });
    if (early) {
        return early;
    }

    const update = observer();
    const upOptions = {
        ...operation,
        message: `renew: ${describeItems(plan.renewable) || plan.replaced.join(", ")}`,
        onEvent: update.onEvent,
        onOutput: (text: string) => process.stdout.write(text),
        // A log, not a terminal: no progress dots, and no outputs (`pulumi stack output` has them).
        suppressProgress: true,
        suppressOutputs: true,
    };
    try {
        if (worthTwoPhases(plan.tlsSteps)) {
            progress(
                args.stack,
                `up in two phases (${plan.tlsSteps} certificate steps): the certificates, then the endpoint`,
            );
            await upInTwoPhases(stack, upOptions);
        } else {
            progress(args.stack, "up");
            await stack.up(upOptions);
        }
    } catch (error) {
        return upVerdict(args.stack, plan, update.observation, error);
    }
    return upVerdict(args.stack, plan, update.observation);
}

function emptyObservation(): Observation {
    return { steps: [], failed: [], errors: [], dueLines: [], smokeTests: new Map() };
}

async function main(argv: readonly string[]): Promise<number> {
    let args: RenewArguments;
    let override: Date | undefined;
    try {
        args = parseRenewArguments(argv);
        override = clockOverride();
        stateCopiesKeep();
    } catch (error) {
        const stack = argv.find((argument) => !argument.startsWith("-")) ?? "dev";
        console.error(usageText);
        console.error(say(stack, `FAILED: ${error instanceof Error ? error.message : String(error)}`));
        return renewExit.usage;
    }
    if (override) {
        progress(args.stack, `${clockOverrideVariable}=${override.toISOString()} overrides the clock (for tests only)`);
    }
    const verdict = await renew(args, override ?? new Date()).catch(
        (error: unknown): Verdict => ({
            code: renewExit.previewFailed,
            line: say(args.stack, `FAILED: ${firstError(emptyObservation(), error)}`),
        }),
    );
    if (verdict.code === renewExit.ok && !args.dryRun) {
        // Housekeeping, before the verdict (the last line, for a pager); a failure leaves the renewal as it is.
        try {
            console.log(pruneAfterUpdate(args.stack));
        } catch (error) {
            console.error(`[state] WARNING: the state copies were not pruned: ${(error as Error).message}`);
        }
    }
    (verdict.code === renewExit.ok ? console.log : console.error)(verdict.line);
    return verdict.code;
}

if (require.main === module) {
    void main(process.argv.slice(2)).then((code) => {
        process.exitCode = code;
    });
}
