import * as assert from "assert";

import { crlNextUpdateFile } from "../../nginx/container";
import { containerConfigDirectory, liveFileSet } from "../../nginx/files";
import type { RemovedClient } from "../../rotation/certificateHistory";
import { metricNames } from "../../scripts/metrics";
import { docker } from "../../testkit/docker";
import { probe, type ProbeOptions } from "../../testkit/tls";
import {
    clientProbe,
    outputValue,
    runNpmScript,
    setConfig,
    ThrowawayStack,
    useThrowawayStack,
} from "../../testkit/stack";
import type { OutputMap } from "@pulumi/pulumi/automation";

const hour = 3600 * 1000;

/**
 * Revoking a client refuses every certificate ever issued to its name that has not expired: the one
 * a rotation replaced and the one the other CA slot issued before a rollover, not only the current
 * one. And the CRL's deadline, wherever the stack reports it, is the one in the CRL Nginx serves.
 */
describe("revocation of every certificate a client holds", function () {
    const fixture = useThrowawayStack("revoke-all", { clients: ["carol", "dave"] });
    const log = fixture.log;
    let deployment: ThrowawayStack;
    /** Carol's certificates as she got them, oldest first, each with the trust bundle of its day. */
    const carolHeld: ProbeOptions[] = [];
    const up = async (config: Record<string, unknown>, step: string): Promise<OutputMap> => {
        await setConfig(deployment.stack, config);
        const result = await deployment.stack.up({ onOutput: log });
        assert.strictEqual(result.summary.result, "succeeded", step);
        return result.outputs;
    };
    const status = async (client: ProbeOptions, caPem: string) => (await probe({ ...client, caPem })).status;

    before(async () => {
        deployment = fixture.current;
    });

    it("keeps carol's rotated-away and other-CA certificates valid while she is not revoked", async () => {
        carolHeld.push(clientProbe(deployment, await up({}, "up from empty"), "carol"));
        // A rotation: everything due within a year is due now.
        await up({ rotationLookaheadHours: "8760" }, "rotate");
        carolHeld.push(clientProbe(deployment, await up({ rotationLookaheadHours: "0" }, "settle"), "carol"));
        // A rollover to CA slot b, with slot a still trusted: b issues carol's next certificate.
        await up({ trustedCas: ["a", "b"] }, "introduce b");
        const rolled = await up({ activeCa: "b", trustedCas: ["a", "b"] }, "issue from b");
        carolHeld.push(clientProbe(deployment, rolled, "carol"));

        const serials = outputValue<Record<string, Array<{ serial: string; notAfter: string }>>>(
            rolled,
            "clientCertificateSerials",
        );
        assert.strictEqual(serials.carol.length, 3, `carol's history: ${JSON.stringify(serials.carol)}`);
        assert.strictEqual(new Set(carolHeld.map((held) => held.clientCertificatePem)).size, 3, "three certificates");
        const bundle = outputValue<string>(rolled, "caCertificatePem");
        for (const [index, held] of carolHeld.entries()) {
            assert.strictEqual(await status(held, bundle), 200, `carol's certificate ${index} before the revocation`);
        }
    });

    it("refuses all three once carol is revoked, keeps dave, and reads the CRL deadline from the CRL", async () => {
        const revoked = await up({ revokedClients: ["carol"] }, "revoke carol");
        const bundle = outputValue<string>(revoked, "caCertificatePem");
        const answers = await Promise.all(carolHeld.map((held) => status(held, bundle)));
        console.log(`      carol's current, rotated-away and slot-a certificates after the revocation: ${answers}`);
        assert.deepStrictEqual(answers, [400, 400, 400]);
        assert.strictEqual((await probe(clientProbe(deployment, revoked, "dave"))).status, 200, "dave still gets in");

        // A shorter CRL validity: every place that reports the deadline must move with the served CRL.
        const started = Date.now();
        const shortened = await up({ crlValidityHours: "3", crlRenewBeforeHours: "1" }, "shorter CRLs");
        const expiries = outputValue<Record<string, string>>(shortened, "certificateExpiries");
        const records = outputValue<Record<string, { notAfter: string }>>(shortened, "rotationState");
        const live = docker([
            "exec",
            deployment.containerName,
            "cat",
            `${containerConfigDirectory}/${liveFileSet}/${crlNextUpdateFile}`,
        ]);
        assert.strictEqual(live.status, 0, live.stderr);
        const deadlines = {
            "certificateExpiries.crl": Date.parse(expiries.crl),
            "rotationState.crl": Date.parse(records.crl.notAfter),
            [crlNextUpdateFile]: Number(live.stdout.trim()) * 1000,
        };
        for (const [where, deadline] of Object.entries(deadlines)) {
            const fromNow = (deadline - started) / hour;
            assert.ok(fromNow > 2.9 && fromNow < 3.1, `${where}: ${new Date(deadline).toISOString()} (${fromNow} h)`);
        }
        assert.deepStrictEqual(
            await Promise.all(carolHeld.map((held) => status(held, bundle))),
            [400, 400, 400],
            "still refused with the new CRLs",
        );
    });

    it("warns that dave, taken out of clients without a revocation, still gets in until his certificates expire", async () => {
        const before = await deployment.stack.outputs();
        const dave = clientProbe(deployment, before, "dave");
        // erin takes dave's place: the smoke test needs a client that is not revoked.
        await setConfig(deployment.stack, { clients: ["carol", "erin"] });
        let output = "";
        const result = await deployment.stack.up({
            onOutput: (text) => {
                output += text;
                log(text);
            },
        });
        assert.strictEqual(result.summary.result, "succeeded");
        // Each certificate dave was issued (the rotation and the rollover above gave him three) is still valid.
        const issued = outputValue<Record<string, Array<{ notAfter: string }>>>(
            before,
            "clientCertificateSerials",
        ).dave;
        const validUntil = issued
            .map((certificate) => certificate.notAfter)
            .sort()
            .pop()!;
        assert.match(
            output.replace(/\s+/g, " "),
            new RegExp(
                `client dave is no longer in clients, but ${issued.length} certificate\\(s\\) issued to it stay ` +
                    `valid until ${validUntil.replace(/[.+]/g, "\\$&")} and no CRL names them`,
            ),
        );
        // What the warning says: removing is not revoking.
        const bundle = outputValue<string>(result.outputs, "caCertificatePem");
        assert.strictEqual(await status(dave, bundle), 200, "dave's certificate still passes");

        // The expiry report and its metrics say the same, between deployments.
        const report = runNpmScript(deployment, "status", ["--json", "--skip-endpoint"]);
        assert.ok(report.stdout.trim().startsWith("{"), `status --json printed JSON; stderr:\n${report.stderr}`);
        const parsed = JSON.parse(report.stdout) as { removedClients: RemovedClient[] };
        assert.deepStrictEqual(parsed.removedClients, [{ name: "dave", certificates: issued.length, validUntil }]);
        const metrics = runNpmScript(deployment, "status", ["--format", "prometheus", "--skip-endpoint"]);
        assert.match(
            metrics.stdout,
            new RegExp(`^${metricNames.removedClientCertificates}\\{[^}]*item="client-dave"\\} ${issued.length}$`, "m"),
        );
    });
});
