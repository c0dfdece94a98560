/**
 * The clients-only `up` (scripts/upClientsOnly.ts) asks the engine to leave every client key, CSR and
 * certificate already in state as it is (`--exclude`, one URN each), and hands the program the same
 * URNs in a file: MTLS_HOLD_CLIENTS=<path>. The program then does not register those resources at all
 * (an excluded resource the program does not register is kept from state, never deleted): it takes
 * their certificates, keys and expiries from the last deployment's outputs, and records their rotation
 * generations as they were (nothing is re-issued, nothing is reported as rotated). At 1,000 clients that
 * spares the program and the engine 3,000 registrations and 3,000 provider calls. New clients are
 * issued as always; the next full `up` rotates whatever became due meanwhile.
 *
 * Never set it by hand: a held resource that the engine is not told to exclude is not registered, so
 * the engine deletes it from state (a generated client's key is then lost).
 */
import * as fs from "fs";
import * as pulumi from "@pulumi/pulumi";
import { nameOf, typeChainOf } from "../components/shared/urns";

/** The environment variable the clients-only `up` sets for the program: the path of the held URNs. */
export const holdClientsVariable = "MTLS_HOLD_CLIENTS";

/**
 * The URNs the clients-only `up` holds (the JSON list in the file MTLS_HOLD_CLIENTS names), or
 * undefined when the variable is unset or empty: a full `up`. A file that cannot be read, or that is
 * not a list of URNs, throws a RunError that names the variable.
 */
export function heldClientResources(environment: NodeJS.ProcessEnv = process.env): ReadonlySet<string> | undefined {
    const file = environment[holdClientsVariable]?.trim() ?? "";
    if (file === "") {
        return undefined;
    }
    const refuse = (problem: string) =>
        new pulumi.RunError(
            `${holdClientsVariable}=${JSON.stringify(file)} ${problem}; allowed: the path of a JSON list of URNs, ` +
                `which only the clients-only up (npm run up -- STACK --clients-only) writes, or unset`,
        );
    let urns: unknown;
    try {
        urns = JSON.parse(fs.readFileSync(file, "utf8"));
    } catch (error) {
        throw refuse(`cannot be read as JSON (${error instanceof Error ? error.message : String(error)})`);
    }
    if (!Array.isArray(urns) || !urns.every((urn) => typeof urn === "string" && urn.startsWith("urn:pulumi:"))) {
        throw refuse("does not hold a list of URNs");
    }
    return new Set(urns as string[]);
}

/** The outputs of a held client's resources that the program reads (its certificate, expiry and key). */
export const heldLeafOutputNames: ReadonlySet<string> = new Set(["certPem", "validityEndTime", "privateKeyPem"]);

/** What a held resource is known by in a program: its own type and its name (a URN's last two parts). */
export function heldResourceKey(urn: string): string {
    return `${typeChainOf(urn).pop()}::${nameOf(urn)}`;
}

/**
 * The held resources of a deployment, for the components that would have registered them: each one's
 * URN by its type and name, and its outputs from the last deployment.
 */
export interface HeldResources {
    /** The URN of the held resource of `type` named `name`, or undefined when it is not held. */
    urnOf(type: string, name: string): string | undefined;
    /** A held resource's outputs in the last deployment (the run fails when there are none). */
    outputsOf(urn: string): pulumi.Output<Record<string, unknown>>;
}

/**
 * HeldResources over the held URNs and the last deployment's outputs of each (`outputs`: one read for
 * all of them, by URN).
 */
export function heldResources(
    urns: ReadonlySet<string>,
    outputs: Promise<Record<string, { outputs: Record<string, unknown> } | undefined>>,
): HeldResources {
    const byKey = new Map([...urns].map((urn) => [heldResourceKey(urn), urn]));
    return {
        urnOf: (type, name) => byKey.get(`${type}::${name}`),
        outputsOf: (urn) =>
            pulumi.output(
                outputs.then((all) => {
                    const found = all[urn]?.outputs;
                    if (found === undefined) {
                        throw new pulumi.RunError(
                            `${urn} is held by the clients-only up, but the last deployment has no outputs for it: ` +
                                "run a full up",
                        );
                    }
                    return found;
                }),
            ) as unknown as pulumi.Output<Record<string, unknown>>,
    };
}
