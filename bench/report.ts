/** Plain-text tables for the bench sections, and the target figures shown next to the results. */
import type { CryptoReport } from "./cryptoBound";
import type { DataPlaneReport } from "./dataPlane";
import type { DeployReport } from "./deploy";
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

const modeLabels = {
    full: "full mTLS handshakes/s",
    resumed: "resumed handshakes/s",
    keepalive: "keep-alive requests/s",
} as const;

export function renderDataPlane(report: DataPlaneReport): string {
    const { guide, project } = report.summary;
    const rows: string[][] = [["metric", "guide", "project", "project/guide"]];
    for (const mode of ["full", "resumed", "keepalive"] as const) {
        rows.push([
            modeLabels[mode],
            count(guide[mode].rate),
            count(project[mode].rate),
            times(report.ratios[mode].rate),
        ]);
        rows.push([
            "  latency p50 ms",
            fixed(guide[mode].p50Ms),
            fixed(project[mode].p50Ms),
            times(report.ratios[mode].p50Ms),
        ]);
        rows.push([
            "  latency p99 ms",
            fixed(guide[mode].p99Ms),
            fixed(project[mode].p99Ms),
            times(report.ratios[mode].p99Ms),
        ]);
        if (mode === "resumed") {
            rows.push([
                "  session reuse ratio",
                percent(guide.resumed.reuseRatio),
                percent(project.resumed.reuseRatio),
                "",
            ]);
            rows.push([
                "  resumed / full",
                times(ratio(guide.resumed.rate, guide.full.rate)),
                times(ratio(project.resumed.rate, project.full.rate)),
                "",
            ]);
        }
        if (guide[mode].errors + project[mode].errors > 0) {
            rows.push(["  errors (all rounds)", count(guide[mode].errors), count(project[mode].errors), ""]);
        }
    }

    const cpuRows: string[][] = [
        ["CPU us per request (median)", "nginx", "load gen", "docker-proxy", "docker daemons", "host"],
    ];
    for (const mode of ["full", "resumed", "keepalive"] as const) {
        for (const label of ["guide", "project"] as const) {
            const cpu = report.summary[label][mode].cpuMicrosecondsPerRequest;
            cpuRows.push([
                `${mode} / ${label}`,
                fixed(cpu.nginx, 0),
                fixed(cpu.loadGenerator, 0),
                fixed(cpu.dockerProxy, 0),
                fixed(cpu.dockerDaemons, 0),
                fixed(cpu.host, 0),
            ]);
        }
    }
    const busy = report.measurements.map((entry) => entry.hostBusyShare).filter(Number.isFinite);
    const endpoints = report.endpoints
        .map(
            (endpoint) =>
                `  ${endpoint.label}: ${endpoint.description}; keys CA ${endpoint.keyAlgorithms.ca}, ` +
                `server ${endpoint.keyAlgorithms.server}, client ${endpoint.keyAlgorithms.client}; ` +
                `worker_processes ${endpoint.workerProcessesSetting} -> ${endpoint.nginxWorkers} worker(s)`,
        )
        .join("\n");
    return [
        `1. Data plane: medians of ${report.rounds} round(s) x ${report.seconds} s per metric, guide and project alternating`,
        endpoints,
        `  Load: ${report.workers} Node worker processes, ${report.concurrency} requests in flight, client certificate ` +
            `on every connection; ${report.network === "published" ? "ports published on 127.0.0.1 (docker-proxy)" : "host network"}.`,
        `  NOTE: ${report.sharedCoresNote}: the figures measure the pair, not Nginx alone.`,
        "",
        table(rows),
        "",
        table(cpuRows),
        `  Host CPU busy during measurements: ${percent(Math.min(...busy))} to ${percent(Math.max(...busy))}.`,
    ].join("\n");
}

export function renderCrypto(report: CryptoReport): string {
    if (report.status !== "ok") {
        return `2. Crypto bound: failed (${report.error}); command: ${report.command}`;
    }
    const speedRows: string[][] = [["openssl speed (1 core)", "sign/s", "verify/s"]];
    for (const [name, figures] of Object.entries(report.speeds)) {
        speedRows.push([name, count(figures.signPerSecond), count(figures.verifyPerSecond)]);
    }
    const boundRows: string[][] = [
        [
            "config (keys CA/server/client)",
            "server us/hs",
            "client us/hs",
            "server bound/core",
            "measured full/s",
            "of server bound",
            `machine bound (${report.cores} cores)`,
            "of machine bound",
        ],
    ];
    for (const config of report.configs) {
        const keys = config.keyAlgorithms;
        boundRows.push([
            `${config.label} (${keys.ca}/${keys.server}/${keys.client})`,
            fixed(config.serverCostMicroseconds, 0),
            fixed(config.clientCostMicroseconds, 0),
            count(config.serverBoundPerCore),
            count(config.measuredFullHandshakes),
            percent(config.fractionOfServerBound),
            count(config.machineBound),
            percent(config.fractionOfMachineBound),
        ]);
    }
    return [
        `2. Crypto bound: ${report.command}`,
        "",
        table(speedRows),
        "",
        ...report.formula.map((line) => `  ${line}`),
        "",
        table(boundRows),
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
            `${run.clients} client(s)`,
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
        const fullRatio = dataPlane.ratios.full.rate;
        targets.push({
            target: "full handshakes: project >= 2x guide",
            figure: times(fullRatio),
            met: Number.isFinite(fullRatio) ? fullRatio >= 2 : undefined,
        });
        for (const label of ["project", "guide"] as const) {
            const summary = dataPlane.summary[label];
            const value = ratio(summary.resumed.rate, summary.full.rate);
            targets.push({
                target: `resumed >= 5x full (${label})`,
                figure: times(value),
                met: Number.isFinite(value) ? value >= 5 : undefined,
            });
        }
    }
    for (const run of deploy?.runs ?? []) {
        const seconds = (name: string): number | undefined =>
            run.operations.find((operation) => operation.name === name && operation.status === "ok")?.seconds;
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
