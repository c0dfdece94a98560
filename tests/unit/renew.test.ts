import * as assert from "assert";
import * as pulumi from "@pulumi/pulumi";
import { CommandError, ConcurrentUpdateError, type EngineEvent } from "@pulumi/pulumi/automation";
import { clockOverride, currentTime } from "../../rotation/clock";
import {
    earliestExpiry,
    firstError,
    observer,
    Observation,
    oneLine,
    parseDueLines,
    parseRenewArguments,
    planRenewal,
    previewVerdict,
    renewExit,
    RenewalPlan,
    upVerdict,
    UsageError,
} from "../../scripts/renew";
import { installMocks, previousResourceOutputs, promiseOf, resetRecordedResources, settled } from "./mocks";

installMocks();
// Imported after the mocks are installed, as the Pulumi docs require.
// eslint-disable-next-line @typescript-eslint/no-require-imports
const endpointModule = require("../../components/mtlsEndpoint") as typeof import("../../components/mtlsEndpoint");

const hour = 3600_000;
const stackUrn = "urn:pulumi:dev::mtls-nginx::pulumi:pulumi:Stack::mtls-nginx-dev";
const endpointUrn = "urn:pulumi:dev::mtls-nginx::mtls-nginx:index:MtlsEndpoint::mtls-nginx";
const probeUrn =
    "urn:pulumi:dev::mtls-nginx::mtls-nginx:index:MtlsEndpoint$mtls:test:SmokeTest$command:local:Command::mtls-nginx-smoke-test-probe";
const urnOf = (type: string, name: string) =>
    `urn:pulumi:dev::mtls-nginx::mtls-nginx:index:MtlsEndpoint$${type}::${name}`;

/** An engine event for one step: before it (resourcePreEvent) or after it (resOutputsEvent); a preview's are planning. */
function stepEvent(
    kind: "pre" | "outputs",
    op: string,
    type: string,
    urn: string,
    outputs: Record<string, unknown> = {},
    planning = false,
): EngineEvent {
    const metadata = {
        op,
        type,
        urn,
        provider: "",
        new: { type, urn, id: "", parent: "", inputs: {}, outputs, provider: "" },
    } as never;
    return kind === "pre"
        ? ({ sequence: 0, timestamp: 0, resourcePreEvent: { metadata, planning } } as EngineEvent)
        : ({ sequence: 0, timestamp: 0, resOutputsEvent: { metadata, planning } } as EngineEvent);
}

function diagnostic(severity: "info" | "warning" | "error", message: string, urn?: string): EngineEvent {
    return { sequence: 0, timestamp: 0, diagnosticEvent: { severity, message, color: "never", urn } };
}

/** What the engine reports in a preview: the steps (op type name), the stack's outputs, log lines. */
function observe(
    steps: Array<[op: string, type: string, name: string]>,
    options: { outputs?: Record<string, unknown>; logs?: EngineEvent[] } = {},
): Observation {
    const { onEvent, observation } = observer();
    for (const [op, type, name] of steps) {
        onEvent(stepEvent("pre", op, type, urnOf(type, name), {}, true));
    }
    for (const event of options.logs ?? []) onEvent(event);
    if (options.outputs) {
        onEvent(stepEvent("outputs", "same", "pulumi:pulumi:Stack", stackUrn, options.outputs, true));
    }
    return observation;
}

const serverRotation: Array<[string, string, string]> = [
    ["same", "tls:index/privateKey:PrivateKey", "mtls-nginx-ca-key"],
    ["replace", "tls:index/privateKey:PrivateKey", "mtls-nginx-server-key"],
    ["create-replacement", "tls:index/privateKey:PrivateKey", "mtls-nginx-server-key"],
    ["replace", "tls:index/locallySignedCert:LocallySignedCert", "mtls-nginx-server-cert"],
    ["same", "tls:index/locallySignedCert:LocallySignedCert", "mtls-nginx-client-alice-cert"],
    ["update", "command:local:Command", "mtls-nginx-endpoint-delivery"],
    ["replace", "command:local:Command", "mtls-nginx-smoke-test-probe"],
    ["same", "docker:index/container:Container", "mtls-nginx-container"],
];

describe("npm run renew: arguments and the test-only clock", () => {
    it("takes a stack (default dev) and --dry-run, and refuses anything else", () => {
        assert.deepStrictEqual(parseRenewArguments([]), { stack: "dev", dryRun: false });
        assert.deepStrictEqual(parseRenewArguments(["staging", "--dry-run"]), { stack: "staging", dryRun: true });
        assert.throws(() => parseRenewArguments(["--force"]), UsageError);
        assert.throws(() => parseRenewArguments(["dev", "staging"]), /unexpected argument staging/);
        assert.throws(() => parseRenewArguments(["../dev"]), /not a stack name/);
    });

    it("reads MTLS_NOW as an RFC 3339 time with its zone, and nothing else", () => {
        assert.strictEqual(clockOverride({}), undefined);
        assert.strictEqual(clockOverride({ MTLS_NOW: "" }), undefined);
        assert.strictEqual(
            clockOverride({ MTLS_NOW: "2027-03-01T12:00:00Z" })?.toISOString(),
            "2027-03-01T12:00:00.000Z",
        );
        assert.strictEqual(
            clockOverride({ MTLS_NOW: "2027-03-01T14:00:00.250+02:00" })?.toISOString(),
            "2027-03-01T12:00:00.250Z",
        );
        assert.strictEqual(clockOverride({ MTLS_NOW: "2027-03-01T12:00Z" })?.toISOString(), "2027-03-01T12:00:00.000Z");
        for (const bad of [
            "tomorrow",
            "2027-03-01",
            "2027-03-01T12:00:00",
            "1735689600",
            "2027-02-30T12:00:00Z",
            "2027-03-01T24:00:00Z",
        ]) {
            assert.throws(
                () => clockOverride({ MTLS_NOW: bad }),
                (error: Error) =>
                    error instanceof pulumi.RunError && /is not a time; allowed: an RFC 3339 time/.test(error.message),
                bad,
            );
        }
    });

    it("currentTime is now without MTLS_NOW, and MTLS_NOW with it", () => {
        const before = Date.now();
        const now = currentTime({}).getTime();
        assert.ok(now >= before && now <= Date.now());
        assert.strictEqual(currentTime({ MTLS_NOW: "2030-01-01T00:00:00Z" }).toISOString(), "2030-01-01T00:00:00.000Z");
    });
});

describe("npm run renew: what is due, and whether up runs", () => {
    it("runs no up when nothing is due, and names the earliest expiry", () => {
        const outputs = {
            rotationDue: {},
            certificateExpiries: { "ca-root": "2036-12-01T00:00:00Z", server: "2027-03-06T20:59:30.5Z" },
        };
        const plan = planRenewal(
            observe([["same", "tls:index/privateKey:PrivateKey", "mtls-nginx-server-key"]], { outputs }),
        );
        assert.strictEqual(plan.runUp, false);
        assert.deepStrictEqual(plan.changes, []);
        const verdict = previewVerdict("dev", plan, {
            dryRun: false,
            now: new Date("2026-12-06T21:00:00Z"),
            stackOutputs: outputs,
        });
        assert.deepStrictEqual(verdict, {
            code: 0,
            line: "mtls-nginx renew dev: nothing due at 2026-12-06T21:00Z; next expiry: server on 2027-03-06T20:59Z (89 days)",
        });
    });

    it("runs up for a due server certificate, from the rotationDue output, and lists the plan", () => {
        const plan = planRenewal(
            observe(serverRotation, { outputs: { rotationDue: { server: "2027-03-06T20:59:30Z" } } }),
        );
        assert.strictEqual(plan.runUp, true);
        assert.deepStrictEqual(plan.renewable, [{ item: "server", expires: "2027-03-06T20:59:30Z" }]);
        assert.deepStrictEqual(plan.needsPerson, []);
        assert.deepStrictEqual(plan.replaced, ["mtls-nginx-server-key", "mtls-nginx-server-cert"]);
        assert.deepStrictEqual(plan.changes, [
            "replace mtls-nginx-server-cert",
            "replace mtls-nginx-server-key",
            "replace mtls-nginx-smoke-test-probe",
            "update mtls-nginx-endpoint-delivery",
        ]);
        assert.strictEqual(previewVerdict("dev", plan, { dryRun: false, now: new Date() }), undefined, "up runs");
        assert.deepStrictEqual(previewVerdict("dev", plan, { dryRun: true, now: new Date() }), {
            code: 0,
            line: "mtls-nginx renew dev: due: server (expires 2027-03-06T20:59Z); dry run, nothing changed",
        });
    });

    it("reads what is due from the endpoints' log lines when the program exports nothing (a CRL near its next update)", () => {
        const line =
            "due for rotation: crl (expires 2026-12-10T00:00:00Z), client-alice (expires 2026-12-20T08:00:00Z)";
        assert.deepStrictEqual(parseDueLines([line]), [
            { item: "crl", expires: "2026-12-10T00:00:00Z" },
            { item: "client-alice", expires: "2026-12-20T08:00:00Z" },
        ]);
        const plan = planRenewal(
            observe([["replace", "command:local:Command", "mtls-nginx-crl-issue"]], {
                logs: [diagnostic("info", `${line}\n`, endpointUrn)],
            }),
        );
        assert.strictEqual(plan.runUp, true);
        assert.deepStrictEqual(
            plan.renewable.map((entry) => entry.item),
            ["crl", "client-alice"],
        );
    });

    it("runs up when the plan replaces a certificate, even with nothing in rotationDue", () => {
        const plan = planRenewal(observe(serverRotation, { outputs: { rotationDue: {} } }));
        assert.strictEqual(plan.runUp, true);
        assert.deepStrictEqual(plan.renewable, []);
    });

    it("pages for a CA due for a rollover and runs no up for it: no renewal re-issues a CA", () => {
        const plan = planRenewal(
            observe([["same", "tls:index/selfSignedCert:SelfSignedCert", "mtls-nginx-ca-cert"]], {
                outputs: { rotationDue: { "ca-root": "2027-01-01T00:00:00Z", "ca-root-crl": "2026-12-08T00:00:00Z" } },
            }),
        );
        assert.strictEqual(plan.runUp, false);
        assert.deepStrictEqual(
            plan.needsPerson.map((entry) => entry.item),
            ["ca-root", "ca-root-crl"],
        );
        const verdict = previewVerdict("dev", plan, { dryRun: false, now: new Date() })!;
        assert.strictEqual(verdict.code, renewExit.actionNeeded);
        assert.match(
            verdict.line,
            /^mtls-nginx renew dev: ACTION NEEDED: ca-root \(expires 2027-01-01T00:00Z\), ca-root-crl \(expires 2026-12-08T00:00Z\) due for a rollover, which no renewal does: see "Roll the CA over" in docs\/rotation.md$/,
        );
    });

    it("renews what it can when a CA is due too, and still pages for the CA after the update", () => {
        const plan = planRenewal(
            observe(serverRotation, {
                outputs: { rotationDue: { server: "2027-03-06T20:59:30Z", "ca-root": "2027-01-01T00:00:00Z" } },
            }),
        );
        assert.strictEqual(plan.runUp, true);
        assert.strictEqual(previewVerdict("dev", plan, { dryRun: false, now: new Date() }), undefined);
        const verdict = upVerdict("dev", plan, updateThatPassed());
        assert.strictEqual(verdict.code, renewExit.actionNeeded);
        assert.match(verdict.line, /renewed server .*; smoke test passed: .*; ACTION NEEDED: ca-root/);
    });

    it("refuses to run up unattended when the plan would also replace the container (a change that is not a renewal)", () => {
        const steps = serverRotation.map(([op, type, name]): [string, string, string] =>
            type.startsWith("docker:index/container") ? ["replace", type, name] : [op, type, name],
        );
        const plan = planRenewal(observe(steps, { outputs: { rotationDue: { server: "2027-03-06T20:59:30Z" } } }));
        assert.strictEqual(plan.runUp, false);
        assert.deepStrictEqual(plan.disruptive, ["replace mtls-nginx-container"]);
        const verdict = previewVerdict("dev", plan, { dryRun: false, now: new Date() })!;
        assert.strictEqual(verdict.code, renewExit.actionNeeded);
        assert.match(verdict.line, /not renewed, because the plan would also replace mtls-nginx-container/);
        assert.match(verdict.line, /deploy it with npm run up -- dev, by hand$/);
    });

    it("ignores a pending change that is not a renewal when nothing is due (it is not its job)", () => {
        const plan = planRenewal(
            observe([["replace", "docker:index/container:Container", "mtls-nginx-container"]], {
                outputs: { rotationDue: {} },
            }),
        );
        assert.strictEqual(plan.runUp, false);
        assert.strictEqual(previewVerdict("dev", plan, { dryRun: false, now: new Date() })!.code, 0);
    });
});

/** An update that renewed the server and whose smoke test ran and passed. */
function updateThatPassed(): Observation {
    const { onEvent, observation } = observer();
    for (const [op, type, name] of serverRotation) onEvent(stepEvent("pre", op, type, urnOf(type, name)));
    onEvent(
        stepEvent("outputs", "replace", "command:local:Command", probeUrn, {
            stdout: "smoke test passed: https://localhost:8443/ (at 127.0.0.1) with client 'alice' -> 200, without a certificate -> 400 (attempt 1)",
        }),
    );
    onEvent(
        stepEvent("outputs", "same", "pulumi:pulumi:Stack", stackUrn, {
            rotationState: { server: { generation: 1, notAfter: "2027-06-01T10:00:00Z" } },
        }),
    );
    return observation;
}

describe("npm run renew: the verdict after up", () => {
    const plan: RenewalPlan = planRenewal(
        observe(serverRotation, { outputs: { rotationDue: { server: "2027-03-06T20:59:30Z" } } }),
    );

    it("exits 0 when the renewal passed its smoke test, naming the old and new expiry", () => {
        assert.deepStrictEqual(upVerdict("dev", plan, updateThatPassed()), {
            code: 0,
            line:
                "mtls-nginx renew dev: renewed server (2027-03-06T20:59Z -> 2027-06-01T10:00Z); smoke test passed: " +
                "https://localhost:8443/ (at 127.0.0.1) with client 'alice' -> 200, without a certificate -> 400 (attempt 1)",
        });
    });

    it("exits 3 when the update ran no smoke test: the renewal is not verified", () => {
        const { onEvent, observation } = observer();
        for (const [op, type, name] of serverRotation.filter(([, , name]) => !name.includes("smoke"))) {
            onEvent(stepEvent("pre", op, type, urnOf(type, name)));
        }
        const verdict = upVerdict("dev", plan, observation);
        assert.strictEqual(verdict.code, renewExit.smokeTestFailed);
        assert.match(verdict.line, /^mtls-nginx renew dev: FAILED: renewed server .*no smoke test ran/);
    });

    it("exits 0 when the update found nothing to do: another renewal got there first", () => {
        const { onEvent, observation } = observer();
        for (const [, type, name] of serverRotation) onEvent(stepEvent("pre", "same", type, urnOf(type, name)));
        assert.deepStrictEqual(upVerdict("dev", plan, observation), {
            code: 0,
            line: "mtls-nginx renew dev: nothing left to renew: another update renewed server (expires 2027-03-06T20:59Z) meanwhile",
        });
    });

    it("shows the smoke test's report only when the engine shows it (not a masked secret)", () => {
        const update = updateThatPassed();
        update.smokeTests.set(probeUrn, "[secret]");
        assert.match(upVerdict("dev", plan, update).line, /; smoke test passed$/);
    });

    it("exits 3 when the smoke test failed the update, with its error", () => {
        const { onEvent, observation } = observer();
        onEvent({
            sequence: 0,
            timestamp: 0,
            resOpFailedEvent: { metadata: { urn: probeUrn } as never, status: 1, steps: 1 },
        });
        onEvent(diagnostic("error", "error: exit status 1: smoke test FAILED: with client 'alice' -> 000\n", probeUrn));
        onEvent(diagnostic("error", "update failed"));
        const verdict = upVerdict("dev", plan, observation, new Error("code: 255"));
        assert.deepStrictEqual(verdict, {
            code: renewExit.smokeTestFailed,
            line:
                "mtls-nginx renew dev: FAILED: the smoke test did not pass after renewing server (expires 2027-03-06T20:59Z): " +
                "error: exit status 1: smoke test FAILED: with client 'alice' -> 000",
        });
    });

    it("exits 2 when up failed elsewhere, with the resource's error on one line", () => {
        const { onEvent, observation } = observer();
        onEvent(diagnostic("error", "update failed"));
        onEvent(
            diagnostic(
                "error",
                "docker:index/container:Container resource 'mtls-nginx-container': \u001b[31mport is\n already allocated\u001b[0m",
                urnOf("docker:index/container:Container", "mtls-nginx-container"),
            ),
        );
        const verdict = upVerdict("dev", plan, observation, new Error("code: 255"));
        assert.strictEqual(verdict.code, renewExit.upFailed);
        assert.strictEqual(
            verdict.line,
            "mtls-nginx renew dev: FAILED: up failed while renewing server (expires 2027-03-06T20:59Z): " +
                "docker:index/container:Container resource 'mtls-nginx-container': port is already allocated; " +
                "run npm run up -- dev by hand",
        );
    });

    it("exits 4 when another update holds the lock, naming the holder and the way out of a stale lock", () => {
        const stderr =
            "error: the stack is currently locked by 1 lock(s). Either wait for the other process(es) to end or delete the lock file with `pulumi cancel`.\n" +
            "  file:///state/.pulumi/locks/organization/mtls-nginx/dev/x.json: created by ops@host (pid 42) at 2026-12-06T21:00:00Z\n";
        const result = { stdout: "", stderr, code: 255, toString: () => stderr };
        const locked = new (ConcurrentUpdateError as unknown as new (result: unknown) => Error)(result);
        const { observation } = observer();
        assert.deepStrictEqual(upVerdict("dev", plan, observation, locked), {
            code: renewExit.locked,
            line:
                "mtls-nginx renew dev: FAILED: the stack is locked by another update (ops@host (pid 42) since 2026-12-06T21:00:00Z); " +
                "nothing changed. If no update runs, a killed CLI left the lock: pulumi cancel --yes --stack dev (docs/operations.md)",
        });
    });

    it("falls back to the CLI's error line when the engine said nothing", () => {
        const stderr = "warning: something\nerror: could not load plugin docker: no such file\n";
        const error = new (CommandError as unknown as new (result: unknown) => Error)({
            stderr,
            toString: () => stderr,
        });
        assert.strictEqual(firstError(observer().observation, error), "could not load plugin docker: no such file");
    });
});

describe("npm run renew: message pieces", () => {
    it("puts any text on one bounded line", () => {
        assert.strictEqual(oneLine("a\n  b\tc"), "a b c");
        assert.strictEqual(oneLine("x".repeat(50), 10), `${"x".repeat(9)}…`);
        assert.strictEqual(oneLine("<{%fg 1%}>red<{%reset%}>"), "red");
    });

    it("names the earliest parsable expiry, skipping values a preview does not know yet", () => {
        const now = new Date("2027-01-01T00:00:00Z");
        assert.strictEqual(
            earliestExpiry(
                {
                    certificateExpiries: {
                        server: "04da6b54-80e4-46f7-96ec-b56ff0331ba9",
                        "client-bob": "2027-01-11T12:00:00Z",
                        "client-alice": "2027-02-01T00:00:00Z",
                    },
                },
                now,
            ),
            "client-bob on 2027-01-11T12:00Z (10 days)",
        );
        assert.strictEqual(earliestExpiry(undefined, now), undefined);
    });
});

describe("npm run renew: MTLS_NOW reaches the component's rotation decisions", () => {
    const urn = `urn:pulumi:unit::mtls-nginx::${endpointModule.mtlsEndpointType}::clocked`;
    /** The endpoint's rotationDue when its server certificate expires in 2000 h (its window: the last 720 h). */
    async function dueWith(now: string | undefined): Promise<Record<string, string>> {
        resetRecordedResources();
        endpointModule.forgetEndpointClaims();
        const notAfter = new Date(Date.now() + 2000 * hour).toISOString();
        previousResourceOutputs[urn] = {
            type: endpointModule.mtlsEndpointType,
            outputs: { rotationState: { server: { generation: 2, notAfter } } },
        };
        const saved = process.env.MTLS_NOW;
        if (now === undefined) delete process.env.MTLS_NOW;
        else process.env.MTLS_NOW = now;
        try {
            const endpoint = new endpointModule.MtlsEndpoint("clocked", { clients: ["alice"], publishPort: 9445 });
            const due = await promiseOf(endpoint.rotationDue);
            await settled();
            return due;
        } finally {
            if (saved === undefined) delete process.env.MTLS_NOW;
            else process.env.MTLS_NOW = saved;
            delete previousResourceOutputs[urn];
        }
    }

    it("is not due at the real time, and due at MTLS_NOW 1500 h ahead", async () => {
        assert.deepStrictEqual(await dueWith(undefined), {});
        assert.deepStrictEqual(Object.keys(await dueWith(new Date(Date.now() + 1500 * hour).toISOString())), [
            "server",
        ]);
    });

    it("refuses an MTLS_NOW that is not a time, saying what is allowed", async () => {
        await assert.rejects(dueWith("next tuesday"), /MTLS_NOW="next tuesday" is not a time/);
    });
});
