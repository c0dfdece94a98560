import * as assert from "assert";
import { spawn, spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";

import { vegetaBinary } from "../../testkit/vegeta";
import { outputValue, ThrowawayStack, useThrowawayStack } from "../../testkit/stack";

/** Bounded: 60 s of load, 100 workers on new connections and 100 on kept-alive ones. */
const loadSeconds = 60;
const workersPerKind = 100;

interface LoadReport {
    readonly requests: number;
    readonly success: number;
    readonly p50Ms: number;
    readonly p99Ms: number;
    readonly errors: readonly string[];
    readonly statusCodes: Record<string, number>;
}

/**
 * 200 concurrent mTLS clients for 60 s against a deployed stack (the dev config), half opening a new
 * connection per request and half keeping theirs alive: every request must get its 200. The latency
 * figures are printed here and measured properly, pinned to cores, by `npm run bench`.
 */
describe("200 concurrent mTLS clients for 60 s", function () {
    const fixture = useThrowawayStack("load");
    let deployment: ThrowawayStack;
    let scratch: string;

    before(async () => {
        deployment = fixture.current;
        await deployment.stack.up({ onOutput: fixture.log });
        scratch = fs.mkdtempSync(path.join(os.tmpdir(), "mtls-load-"));
    });

    after(() => fs.rmSync(scratch, { recursive: true, force: true }));

    /** One vegeta attack in the background; resolves with its report once it has stopped by itself. */
    const attack = (keepalive: boolean, files: { cert: string; key: string; ca: string }, url: string) =>
        new Promise<LoadReport>((resolve, reject) => {
            const results = path.join(scratch, `results-${keepalive ? "keepalive" : "new"}.bin`);
            const port = deployment.publishPort;
            // prettier-ignore
            const child = spawn(vegetaBinary(), [
                "attack", "-duration", `${loadSeconds}s`, "-timeout", "10s", "-rate", "0",
                "-workers", String(workersPerKind), "-max-workers", String(workersPerKind),
                `-keepalive=${keepalive}`, "-http2=false",
                "-cert", files.cert, "-key", files.key, "-root-certs", files.ca,
                "-connect-to", `localhost:${port}:127.0.0.1:${port}`, "-output", results,
            ]);
            child.stdin.end(`GET ${url}\n`);
            let stderr = "";
            child.stderr.on("data", (data: Buffer) => (stderr += data.toString()));
            const killer = setTimeout(() => child.kill("SIGKILL"), (loadSeconds + 60) * 1000);
            child.on("exit", (code) => {
                clearTimeout(killer);
                if (code !== 0) {
                    reject(new Error(`vegeta attack exited ${code}: ${stderr}`));
                    return;
                }
                const report = spawnSync(vegetaBinary(), ["report", "-type=json", results], { encoding: "utf8" });
                const parsed = JSON.parse(report.stdout) as {
                    requests: number;
                    success: number;
                    latencies: Record<string, number>;
                    errors: string[] | null;
                    status_codes: Record<string, number>;
                };
                resolve({
                    requests: parsed.requests,
                    success: parsed.success,
                    p50Ms: parsed.latencies["50th"] / 1e6,
                    p99Ms: parsed.latencies["99th"] / 1e6,
                    errors: parsed.errors ?? [],
                    statusCodes: parsed.status_codes,
                });
            });
        });

    it("answers every request with 200, on new and on kept-alive connections", async function () {
        this.timeout((loadSeconds + 120) * 1000);
        const outputs = await deployment.stack.outputs();
        const files = {
            cert: path.join(scratch, "alice.crt"),
            key: path.join(scratch, "alice.key"),
            ca: path.join(scratch, "ca.pem"),
        };
        fs.writeFileSync(files.ca, outputValue<string>(outputs, "caCertificatePem"));
        fs.writeFileSync(files.cert, outputValue<Record<string, string>>(outputs, "clientCertificatePems").alice);
        fs.writeFileSync(files.key, outputValue<Record<string, string>>(outputs, "clientPrivateKeyPems").alice, {
            mode: 0o600,
        });
        const url = outputValue<string>(outputs, "endpointUrl");
        const [fresh, kept] = await Promise.all([attack(false, files, url), attack(true, files, url)]);
        for (const [kind, report] of [
            ["new connections", fresh],
            ["keep-alive", kept],
        ] as const) {
            console.log(
                `      ${kind}: ${report.requests} requests, success ${(report.success * 100).toFixed(2)} %, ` +
                    `p50 ${report.p50Ms.toFixed(1)} ms, p99 ${report.p99Ms.toFixed(1)} ms, codes ${JSON.stringify(report.statusCodes)}`,
            );
            assert.ok(report.requests > 100, `${kind}: the load ran (${report.requests} requests)`);
            assert.deepStrictEqual(report.errors, [], `${kind}: no error`);
            assert.deepStrictEqual(Object.keys(report.statusCodes), ["200"], `${kind}: only 200s`);
        }
    });
});
