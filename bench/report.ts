/** Plain-text tables for the bench sections, and the target figures shown next to the results. */
import type { DataPlaneReport, ModeSummary } from "./dataPlane";
import type { DeployReport, DeployRun } from "./deploy";
import { describeKeys } from "./keys";
import type { LeversReport } from "./levers";
import { ratio } from "./stats";

/** A target shown next to a figure: information, not an assertion (the bench never fails on it). */
export interface TargetFigure {
    readonly target: string;
    readonly figure: string;
    /** undefined when the figure could not be measured in this run. */
    readonly met?: boolean;
}

/** Column 0 (and any in `leftColumns`) is left-aligned, the others right-aligned. */
export function table(
    rows: readonly (readonly string[])[],
    leftColumns: readonly number[] = [],
    indent = "  ",
): string {
    const widths = rows[0].map((_, column) => Math.max(...rows.map((row) => (row[column] ?? "").length)));
    const left = new Set([0, ...leftColumns]);
    return rows
        .map((row, index) => {
            const line = row
                .map((cell, column) =>
                    left.has(column) || index === 0 ? cell.padEnd(widths[column]) : cell.padStart(widths[column]),
                )
                .join("  ")
                .trimEnd();
            return index === 0 ? `${indent}${line}\n${indent}${"-".repeat(line.length)}` : `${indent}${line}`;
        })
        .join("\n");
}

export function count(value: number | undefined): string {
    return value === undefined || !Number.isFinite(value)
        ? "-"
        : value.toLocaleString("en-US", { maximumFractionDigits: 0 });
}

export function fixed(value: number | undefined, digits = 2): string {
    return value === undefined || !Number.isFinite(value) ? "-" : value.toFixed(digits);
}

export function times(value: number | undefined): string {
    return value === undefined || !Number.isFinite(value) ? "-" : `${value.toFixed(2)}x`;
}

export function percent(value: number | undefined): string {
    return value === undefined || !Number.isFinite(value) ? "-" : `${(value * 100).toFixed(1)}%`;
}

export function mebibytes(bytes: number | undefined): string {
    return bytes === undefined || !Number.isFinite(bytes) ? "-" : `${(bytes / 2 ** 20).toFixed(0)} MiB`;
}

export function kibibytes(bytes: number | undefined): string {
    return bytes === undefined || !Number.isFinite(bytes) ? "-" : `${(bytes / 1024).toFixed(1)} KiB`;
}

function us(value: number | undefined): string {
    return value === undefined || !Number.isFinite(value) ? "-" : value.toFixed(0);
}

function at80(figures: DataPlaneReport["configs"]["guide"]["at80Percent"]): string {
    return figures ? `${fixed(figures.p50Ms, 1)} / ${fixed(figures.p99Ms, 1)} @ ${count(figures.offeredRate)}/s` : "-";
}

function latency(summary: ModeSummary | undefined): string {
    return summary?.p99Ms === undefined ? "-" : `${fixed(summary.p50Ms, 1)} / ${fixed(summary.p99Ms, 1)}`;
}

export function renderDataPlane(report: DataPlaneReport): string {
    const { guide, project } = report.configs;
    const g = guide.nginx.modes;
    const p = project.nginx.modes;
    const gs = guide.sServer.modes;
    const ps = project.sServer.modes;
    const rows: string[][] = [["metric", "guide", "project", "project/guide"]];
    const add = (
        label: string,
        a: number | undefined,
        b: number | undefined,
        format: (v?: number) => string,
        compare = true,
    ): void => {
        rows.push([label, format(a), format(b), compare ? times(ratio(b ?? Number.NaN, a ?? Number.NaN)) : ""]);
    };
    add("full handshakes per server core (1e6 / CPU)", g.full?.perServerCore, p.full?.perServerCore, count);
    add("  Nginx CPU per full handshake, us", g.full?.serverCpuUs, p.full?.serverCpuUs, us);
    add("  full handshakes/s measured (client-bound)", g.full?.throughput, p.full?.throughput, count);
    add("  server core busy", g.full?.serverBusy, p.full?.serverBusy, percent, false);
    rows.push(["  latency p50 / p99 ms at that rate", latency(g.full), latency(p.full), ""]);
    rows.push(["  latency p50 / p99 ms at 80 % of that rate", at80(guide.at80Percent), at80(project.at80Percent), ""]);
    add("resumed TLS 1.3 (PSK), Nginx CPU us", g.resumed13?.serverCpuUs, p.resumed13?.serverCpuUs, us);
    add("  per server core", g.resumed13?.perServerCore, p.resumed13?.perServerCore, count);
    add("  measured/s", g.resumed13?.throughput, p.resumed13?.throughput, count);
    add(
        "  resumed / full (per core)",
        ratio(g.full?.serverCpuUs ?? NaN, g.resumed13?.serverCpuUs ?? NaN),
        ratio(p.full?.serverCpuUs ?? NaN, p.resumed13?.serverCpuUs ?? NaN),
        times,
        false,
    );
    rows.push([
        "  sessions resumed",
        g.resumed13?.reuseRatio === undefined
            ? guide.nginx.probe.tls13Resumes
                ? "yes (probe)"
                : "NO (probe)"
            : percent(g.resumed13.reuseRatio),
        p.resumed13?.reuseRatio === undefined
            ? project.nginx.probe.tls13Resumes
                ? "yes (probe)"
                : "NO (probe)"
            : percent(p.resumed13.reuseRatio),
        "",
    ]);
    add("TLS 1.2 full (s_time -new), Nginx CPU us", g.full12?.serverCpuUs, p.full12?.serverCpuUs, us);
    add("resumed TLS 1.2 (session ID), Nginx CPU us", g.resumed12?.serverCpuUs, p.resumed12?.serverCpuUs, us);
    add("  per server core", g.resumed12?.perServerCore, p.resumed12?.perServerCore, count);
    add(
        "  resumed / full TLS 1.2 (per core)",
        ratio(g.full12?.serverCpuUs ?? NaN, g.resumed12?.serverCpuUs ?? NaN),
        ratio(p.full12?.serverCpuUs ?? NaN, p.resumed12?.serverCpuUs ?? NaN),
        times,
        false,
    );
    add("  sessions resumed", g.resumed12?.reuseRatio, p.resumed12?.reuseRatio, percent, false);
    add("keep-alive requests/s measured (client-bound)", g.keepalive?.throughput, p.keepalive?.throughput, count);
    add("  Nginx CPU per request, us", g.keepalive?.serverCpuUs, p.keepalive?.serverCpuUs, (v) => fixed(v, 1));
    add("  per server core", g.keepalive?.perServerCore, p.keepalive?.perServerCore, count);
    add("published 127.0.0.1 port (docker-proxy): full/s", g.published?.throughput, p.published?.throughput, count);
    add("  Nginx CPU per full handshake, us", g.published?.serverCpuUs, p.published?.serverCpuUs, us);
    add("  docker-proxy CPU per handshake, us", g.published?.dockerProxyUs, p.published?.dockerProxyUs, us);
    rows.push(["  latency p50 / p99 ms", latency(g.published), latency(p.published), ""]);

    const refRows: string[][] = [
        [
            "config (keys; TLS 1.3 group)",
            "Nginx us",
            "s_server us",
            "public-key sum us",
            "Nginx / sum",
            "Nginx / s_server",
        ],
    ];
    for (const config of [guide, project]) {
        const nginxUs = config.nginx.modes.full?.serverCpuUs;
        const sServerUs = config.sServer.modes.full?.serverCpuUs;
        refRows.push([
            `${config.label} (${describeKeys(config.nginx.keys)}; ${config.nginx.probe.tls13Group})`,
            us(nginxUs),
            us(sServerUs),
            us(config.publicKeySum?.totalUs),
            times(ratio(nginxUs ?? NaN, config.publicKeySum?.totalUs ?? NaN)),
            times(ratio(nginxUs ?? NaN, sServerUs ?? NaN)),
        ]);
    }
    const sRows: string[][] = [["s_server, CPU us per connection", "guide keys", "project keys"]];
    for (const [mode, label] of [
        ["full", "full TLS 1.3 (vegeta)"],
        ["resumed13", "resumed TLS 1.3 (vegeta)"],
        ["full12", "full TLS 1.2 (s_time -new)"],
        ["resumed12", "resumed TLS 1.2 session ID (s_time -reuse)"],
    ] as const) {
        sRows.push([label, us(gs[mode]?.serverCpuUs), us(ps[mode]?.serverCpuUs)]);
    }
    const formulas = [guide, project]
        .filter((config) => config.publicKeySum)
        .map((config) => {
            const sum = config.publicKeySum!;
            return `  ${config.label}: ${sum.formula} = ${us(sum.signUs)} + ${us(sum.clientVerifyUs)} + ${us(sum.caVerifyUs)} + ${us(sum.keyExchangeUs)} = ${us(sum.totalUs)} us`;
        });
    const speedRows: string[][] = [["openssl speed (server core)", "sign/s", "verify/s", "ECDH or KEM encaps/s"]];
    for (const [name, figures] of Object.entries(report.speeds?.speeds ?? {})) {
        speedRows.push([
            name,
            count(figures.signPerSecond),
            count(figures.verifyPerSecond),
            count(figures.opsPerSecond),
        ]);
    }
    return [
        `1. Data plane: medians of ${report.rounds} round(s) x ${report.seconds} s per metric; servers pinned to core ${report.serverCpu} ` +
            `(docker run --cpuset-cpus), load pinned to core ${report.clientCpu} (taskset), ${report.concurrency} connections in flight; ` +
            "bridge addresses (no docker-proxy) unless the row says published. Server CPU from the container's cgroup.",
        ...[guide, project].map(
            (config) =>
                `  ${config.label}: ${config.nginx.description}; ${describeKeys(config.nginx.keys)}; ${config.nginx.workers} worker(s); ` +
                `TLS 1.3 group with Go's offer: ${config.nginx.probe.tls13Group}`,
        ),
        "",
        table(rows),
        "",
        "  References for a full handshake (TLS 1.3, vegeta): s_server on the same keys and OpenSSL, and the sum of the public-key operations",
        table(refRows),
        ...formulas,
        report.speedsError ? `  openssl speed: ${report.speedsError}` : "",
        "",
        table(sRows),
        "",
        table(speedRows),
    ]
        .filter((line, index, all) => line !== "" || all[index - 1] !== "")
        .join("\n");
}

export function renderLevers(report: LeversReport): string {
    const rows: string[][] = [
        [
            "variant of the project config",
            "group",
            "full us",
            "vs base",
            "resumed13 us",
            "vs base",
            "keep-alive us",
            "vs base",
            "full/s",
        ],
    ];
    for (const lever of [report.baseline, ...report.levers]) {
        rows.push([
            lever.name,
            lever.tls13Group,
            us(lever.modes.full?.serverCpuUs),
            times(lever.cpuVsBaseline.full),
            us(lever.modes.resumed13?.serverCpuUs),
            times(lever.cpuVsBaseline.resumed13),
            fixed(lever.modes.keepalive?.serverCpuUs, 1),
            times(lever.cpuVsBaseline.keepalive),
            count(lever.modes.full?.throughput),
        ]);
    }
    return [
        `2. Levers: Nginx CPU per request (cgroup), medians of ${report.rounds} round(s) x ${report.seconds} s, each variant side by side with the unmodified config`,
        ...report.levers.map((lever) => `  ${lever.name}: ${lever.change}`),
        "",
        table(rows),
    ].join("\n");
}

export function renderDeploy(report: DeployReport): string {
    if (report.status === "skipped") {
        return `3. deploy: skipped — ${report.reason}`;
    }
    const rows: string[][] = [
        ["clients / operation", "status", "wall s", "engine peak RSS", "tree peak RSS", "detail"],
    ];
    for (const run of report.runs) {
        rows.push([
            `${run.clients} client(s), ${run.program ?? "component"}`,
            run.status,
            "",
            "",
            "",
            `state ${kibibytes(run.stateBytesAfterUp)} after up, ${kibibytes(run.stateBytesAfterRotation)} after rotation` +
                (run.error ? "; see the failed step (full text in the JSON)" : ""),
        ]);
        for (const operation of run.operations) {
            rows.push([
                `  ${operation.name}`,
                operation.status,
                fixed(operation.seconds, 1),
                mebibytes(operation.enginePeakRssBytes),
                mebibytes(operation.treePeakRssBytes),
                (operation.detail ?? "").slice(0, 100),
            ]);
        }
    }
    return [
        "3. Deploy timings (real engine, e2e harness, smoke test on; wall time of each Automation API call)",
        `  Rotation: ${report.rotationMethod}.`,
        "",
        table(rows, [5]),
    ].join("\n");
}

export function computeTargets(
    dataPlane: DataPlaneReport | undefined,
    deploy: DeployReport | undefined,
): TargetFigure[] {
    const targets: TargetFigure[] = [];
    if (dataPlane) {
        const { guide, project } = dataPlane.configs;
        const fullRatio = ratio(
            project.nginx.modes.full?.perServerCore ?? NaN,
            guide.nginx.modes.full?.perServerCore ?? NaN,
        );
        targets.push({
            target: "full handshakes per server core: project >= 2x guide",
            figure: `${times(fullRatio)} (${count(project.nginx.modes.full?.perServerCore)} vs ${count(guide.nginx.modes.full?.perServerCore)})`,
            met: Number.isFinite(fullRatio) ? fullRatio >= 2 : undefined,
        });
        const p = project.nginx.modes;
        for (const [label, full, resumed] of [
            ["TLS 1.3 PSK", p.full, p.resumed13],
            ["TLS 1.2 session ID", p.full12, p.resumed12],
        ] as const) {
            const value = ratio(full?.serverCpuUs ?? NaN, resumed?.serverCpuUs ?? NaN);
            targets.push({
                target: `resumed >= 4x full per core, project (${label})`,
                figure: `${times(value)} (${us(full?.serverCpuUs)} / ${us(resumed?.serverCpuUs)} us)`,
                met: Number.isFinite(value) ? value >= 4 : undefined,
            });
        }
        for (const config of [project, guide]) {
            const value = ratio(config.nginx.modes.full?.serverCpuUs ?? NaN, config.publicKeySum?.totalUs ?? NaN);
            targets.push({
                target: `Nginx CPU per full handshake <= 3x public-key sum (${config.label})`,
                figure: `${times(value)} (${us(config.nginx.modes.full?.serverCpuUs)} / ${us(config.publicKeySum?.totalUs)} us)`,
                met: Number.isFinite(value) ? value <= 3 : undefined,
            });
        }
        for (const config of [project, guide]) {
            const at80 = config.at80Percent;
            targets.push({
                target: `p99 latency at 80 % of peak full-handshake rate (${config.label})`,
                figure: at80 ? `${fixed(at80.p99Ms, 1)} ms at ${count(at80.offeredRate)}/s` : "-",
            });
        }
    }
    const runs = deploy?.runs ?? [];
    const secondsOf = (run: DeployRun, name: string): number | undefined =>
        run.operations.find((operation) => operation.name === name && operation.status === "ok")?.seconds;
    for (const before of runs.filter((run) => run.program === "before the component")) {
        const now = runs.find((run) => run.clients === before.clients && run.program !== "before the component");
        for (const name of ["no-op preview", "up from empty"]) {
            const [was, is] = [secondsOf(before, name), now ? secondsOf(now, name) : undefined];
            const cost = was === undefined || is === undefined ? undefined : is / was;
            targets.push({
                target: `component costs <= 10 % more: ${name} (${before.clients} client(s))`,
                figure:
                    cost === undefined
                        ? "-"
                        : `${is!.toFixed(1)} s vs ${was!.toFixed(1)} s (${cost >= 1 ? "+" : ""}${((cost - 1) * 100).toFixed(0)} %)`,
                met: cost === undefined ? undefined : cost <= 1.1,
            });
        }
    }
    for (const run of runs.filter((candidate) => candidate.program !== "before the component")) {
        const seconds = (name: string): number | undefined => secondsOf(run, name);
        const limit = run.clients >= 100 ? 60 : 30;
        const up = seconds("up from empty");
        targets.push({
            target: `up from empty <= ${limit} s (${run.clients} client(s))`,
            figure: up === undefined ? "-" : `${up.toFixed(1)} s`,
            met: up === undefined ? undefined : up <= limit,
        });
        const preview = seconds("no-op preview");
        targets.push({
            target: `no-op preview <= 5 s (${run.clients} client(s))`,
            figure: preview === undefined ? "-" : `${preview.toFixed(1)} s`,
            met: preview === undefined ? undefined : preview <= 5,
        });
    }
    return targets;
}

export function renderTargets(targets: readonly TargetFigure[]): string {
    const rows: string[][] = [["target (figures, not assertions)", "figure", "met"]];
    for (const target of targets) {
        rows.push([target.target, target.figure, target.met === undefined ? "n/a" : target.met ? "yes" : "NO"]);
    }
    return ["Targets", table(rows)].join("\n");
}
