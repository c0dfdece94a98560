/**
 * Section "levers" (opt-in: `npm run bench -- --levers`): variants of the project's rendered
 * config, each made by post-processing the renderer's text (the renderer itself is untouched),
 * measured side by side with the unmodified config on the same pinned core. Every variant keeps
 * session tickets off and the trust-named session cache, so none weakens revocation.
 */
import * as fs from "fs";
import * as os from "os";
import * as path from "path";

import { assertDockerReady } from "../testkit/docker";
import { onCleanup } from "./cleanup";
import {
    projectDefaults,
    projectKeys,
    renderProjectConfig,
    summarize,
    describeSample,
    type ModeSummary,
} from "./dataPlane";
import { issueKeySet, type KeySet, type KeyTypes } from "./keys";
import { measureWindow, type Mode, type Sample } from "./measure";
import { probe } from "./opensslClient";
import { removeOrphanedContainers, startServer, type RunningServer } from "./servers";
import type { BenchSettings } from "./settings";
import { ratio } from "./stats";

export interface Lever {
    readonly name: string;
    /** What changes, in Nginx terms. */
    readonly change: string;
    readonly keys?: KeyTypes;
    readonly edit?: (config: string) => string;
    /** Keep-alive too (levers that act on the record layer or on every request). */
    readonly keepalive?: boolean;
}

/** Replaces `name ...;` (the first one, anywhere) with `name value;`. */
function setDirective(name: string, value: string): (config: string) => string {
    return (config) => {
        const pattern = new RegExp(`^([ \\t]*)${name}\\s[^;]*;`, "m");
        if (!pattern.test(config)) {
            throw new Error(`no "${name}" directive in the rendered config`);
        }
        return config.replace(pattern, `$1${name} ${value};`);
    };
}

/** Adds lines to the http block, right after `ssl_session_tickets off;`. */
function addToHttp(...lines: string[]): (config: string) => string {
    return (config) => {
        const anchor = /^([ \t]*)ssl_session_tickets off;$/m;
        const match = anchor.exec(config);
        if (!match) {
            throw new Error('no "ssl_session_tickets off;" in the rendered config');
        }
        return config.replace(anchor, [match[0], ...lines.map((line) => `${match[1]}${line}`)].join("\n"));
    };
}

function both(...edits: Array<(config: string) => string>): (config: string) => string {
    return (config) => edits.reduce((text, edit) => edit(text), config);
}

export const levers: readonly Lever[] = [
    {
        name: "workers 1",
        change: "worker_processes 1 (auto starts one per CPU the machine has: 2 on one pinned core)",
        edit: setDirective("worker_processes", "1"),
        keepalive: true,
    },
    {
        name: "workers 1 + affinity",
        change: "worker_processes 1; worker_cpu_affinity auto",
        edit: both(setDirective("worker_processes", "1"), (config) =>
            config.replace(/^(worker_processes 1;)$/m, "$1\nworker_cpu_affinity auto;"),
        ),
    },
    { name: "curve X25519 only", change: "ssl_ecdh_curve X25519", edit: setDirective("ssl_ecdh_curve", "X25519") },
    {
        name: "curve P-256 first",
        change: "ssl_ecdh_curve prime256v1:X25519:secp384r1",
        edit: setDirective("ssl_ecdh_curve", "prime256v1:X25519:secp384r1"),
    },
    {
        name: "curve X25519MLKEM768 first",
        change: "ssl_ecdh_curve X25519MLKEM768:X25519:prime256v1:secp384r1 (post-quantum hybrid, as OpenSSL 3.5's default)",
        edit: setDirective("ssl_ecdh_curve", "X25519MLKEM768:X25519:prime256v1:secp384r1"),
    },
    {
        name: "NumTickets 1",
        change: "ssl_conf_command NumTickets 1 (one TLS 1.3 session per handshake in the cache, not two)",
        edit: addToHttp("ssl_conf_command NumTickets 1;"),
    },
    {
        name: "SignatureAlgorithms",
        change: "ssl_conf_command SignatureAlgorithms ECDSA+SHA256:ed25519 (a short list for ECDSA/Ed25519 keys)",
        edit: addToHttp("ssl_conf_command SignatureAlgorithms ECDSA+SHA256:ed25519;"),
    },
    {
        name: "session cache builtin+shared",
        change: "ssl_session_cache builtin:4000 shared:<same zone>:10m (OpenSSL's per-worker cache first; gone on every reload)",
        edit: (config) => config.replace(/^([ \t]*ssl_session_cache )(shared:[^;]+;)/m, "$1builtin:4000 $2"),
    },
    {
        name: "ssl_buffer_size 4k",
        change: "ssl_buffer_size 4k (default 16k)",
        edit: addToHttp("ssl_buffer_size 4k;"),
        keepalive: true,
    },
    {
        name: "session cache off",
        change: "ssl_session_cache off (what storing sessions costs; NOT an option: no resumption)",
        edit: setDirective("ssl_session_cache", "off"),
    },
    {
        name: "access_log off",
        change: "access_log off (what the access log costs; NOT an option: who called is logged)",
        edit: setDirective("access_log", "off"),
        keepalive: true,
    },
    {
        name: "keys Ed25519",
        change: "Ed25519 CA, server and client keys",
        keys: { ca: "Ed25519", server: "Ed25519", client: "Ed25519" },
    },
    {
        name: "keys P-384",
        change: "ECDSA P-384 CA, server and client keys",
        keys: { ca: "ECDSA-P384", server: "ECDSA-P384", client: "ECDSA-P384" },
    },
];

export interface LeverResult {
    readonly name: string;
    readonly change: string;
    readonly keys: KeyTypes;
    readonly tls13Group: string;
    readonly workers: number;
    readonly modes: Partial<Record<Mode, ModeSummary>>;
    /** Server CPU per request relative to the unmodified config (below 1: cheaper). */
    readonly cpuVsBaseline: Partial<Record<Mode, number>>;
    readonly error?: string;
}

export interface LeversReport {
    readonly status: "ok";
    readonly seconds: number;
    readonly rounds: number;
    readonly baseline: LeverResult;
    readonly levers: readonly LeverResult[];
    readonly samples: readonly Sample[];
}

export async function runLevers(settings: BenchSettings, progress: (line: string) => void): Promise<LeversReport> {
    assertDockerReady();
    removeOrphanedContainers();
    const chosen = settings.levers ? levers.filter((lever) => settings.levers!.includes(lever.name)) : levers;
    if (settings.levers && chosen.length !== settings.levers.length) {
        const known = levers.map((lever) => lever.name);
        throw new Error(
            `BENCH_LEVERS: unknown lever(s) ${settings.levers.filter((name) => !known.includes(name)).join(", ")}; known: ${known.join(", ")}`,
        );
    }
    const tempRoot = fs.mkdtempSync(path.join(os.tmpdir(), "mtls-bench-levers-"));
    const removeTemp = onCleanup(`remove ${tempRoot}`, () => fs.rmSync(tempRoot, { recursive: true, force: true }));
    const stops: Array<() => void> = [];
    try {
        const defaults = projectDefaults();
        const keyCache = new Map<string, KeySet>();
        const keysFor = (types: KeyTypes): KeySet => {
            const id = `${types.ca}-${types.server}-${types.client}`;
            if (!keyCache.has(id)) {
                keyCache.set(
                    id,
                    issueKeySet(path.join(tempRoot, `keys-${id}`), types, defaults.serverName, defaults.organization),
                );
            }
            return keyCache.get(id)!;
        };
        const baselineLever: Lever = { name: "project (unmodified)", change: "the renderer's output", keepalive: true };
        const all = [baselineLever, ...chosen];
        const servers: Array<{ lever: Lever; server: RunningServer; group: string }> = [];
        for (const lever of all) {
            const keys = keysFor(lever.keys ?? projectKeys());
            const rendered = renderProjectConfig(keys);
            const config = lever.edit ? lever.edit(rendered) : rendered;
            const server = await startServer(
                {
                    label: `lever ${lever.name}`,
                    kind: "nginx",
                    keys,
                    nginxConfig: config,
                    serverName: defaults.serverName,
                    requestPath: "/",
                },
                settings.serverCpu,
                tempRoot,
            );
            stops.push(server.stop);
            const group = probe(server.address, defaults.serverName, keys, settings.clientCpu, "/").tls13Group;
            servers.push({ lever, server, group });
            progress(
                `levers: ${lever.name} up at ${server.address} (${server.workers} worker(s), TLS 1.3 group ${group})`,
            );
        }
        const window = {
            seconds: settings.seconds,
            concurrency: settings.concurrency,
            clientCpu: settings.clientCpu,
            workDirectory: tempRoot,
        };
        for (const { server } of servers) {
            measureWindow(server, "full", 0, { ...window, seconds: 1 });
        }
        const samples: Sample[] = [];
        for (let round = 1; round <= settings.rounds; round++) {
            for (const mode of ["full", "resumed13", "keepalive"] as const) {
                for (const { lever, server } of servers) {
                    if (mode === "keepalive" && !lever.keepalive) {
                        continue;
                    }
                    const sample = { ...measureWindow(server, mode, round, window), server: lever.name };
                    samples.push(sample);
                    progress(`levers: ${describeSample(sample)}`);
                }
            }
        }
        const resultFor = (lever: Lever, server: RunningServer, group: string): Omit<LeverResult, "cpuVsBaseline"> => {
            const modes: Partial<Record<Mode, ModeSummary>> = {};
            for (const mode of ["full", "resumed13", "keepalive"] as const) {
                const records = samples.filter((s) => s.server === lever.name && s.mode === mode);
                if (records.length > 0) {
                    modes[mode] = summarize(records);
                }
            }
            return {
                name: lever.name,
                change: lever.change,
                keys: server.spec.keys.types,
                tls13Group: group,
                workers: server.workers,
                modes,
            };
        };
        const [baselineEntry, ...leverEntries] = servers;
        const baseline = {
            ...resultFor(baselineEntry.lever, baselineEntry.server, baselineEntry.group),
            cpuVsBaseline: {},
        };
        return {
            status: "ok",
            seconds: settings.seconds,
            rounds: settings.rounds,
            baseline,
            levers: leverEntries.map(({ lever, server, group }) => {
                const result = resultFor(lever, server, group);
                const cpuVsBaseline: Partial<Record<Mode, number>> = {};
                for (const mode of Object.keys(result.modes) as Mode[]) {
                    cpuVsBaseline[mode] = ratio(
                        result.modes[mode]!.serverCpuUs,
                        baseline.modes[mode]?.serverCpuUs ?? Number.NaN,
                    );
                }
                return { ...result, cpuVsBaseline };
            }),
            samples,
        };
    } finally {
        for (const stop of stops.reverse()) {
            stop();
        }
        removeTemp();
    }
}
