import type { LocationConfig, SmokeProbe } from "../domain/endpoint";
import { clientNamesOf, requestsOf } from "../domain/clients";
import { ConfigProblems, StackConfigError } from "./problems";
import type { ConfigSettings } from "./types";

/** What the probe is chosen from. */
export interface SmokeProbeInputs {
    readonly clients: readonly string[];
    readonly revokedClients: readonly string[];
    /** Clients that brought a CSR: the stack holds no key to probe as them. */
    readonly keylessClients?: readonly string[];
    readonly locations: readonly LocationConfig[];
}

/**
 * The smoke test probes the first location that needs a certificate and answers itself (no
 * proxyPass), as the first client allowed there that is not revoked. Returns the probe, or why
 * there is none (a message for the key smokeTest).
 */
export function findSmokeProbe(inputs: SmokeProbeInputs): SmokeProbe | string {
    const location = inputs.locations.find((candidate) => candidate.requireClientCertificate && !candidate.proxyPass);
    if (!location) {
        return (
            "needs a location that requires a client certificate and has no proxyPass; " +
            "allowed: false, or true with such a location in mtls-nginx:locations"
        );
    }
    const usable = inputs.clients.filter(
        (clientName) =>
            !inputs.revokedClients.includes(clientName) &&
            !(inputs.keylessClients ?? []).includes(clientName) &&
            (!location.allowedClients || location.allowedClients.includes(clientName)),
    );
    if (usable.length === 0) {
        return (
            `has no client to probe ${location.path} with: every client allowed there is revoked or brought a ` +
            `CSR (the stack holds no key to probe as it); allowed: false, or true with a client allowed at ` +
            `${location.path} that is not in mtls-nginx:revokedClients and whose key the stack makes (a name, ` +
            "not {name, csr})"
        );
    }
    return { clientName: usable[0], path: location.path };
}

/** The probe for these inputs; throws a StackConfigError naming smokeTest when there is none. */
export function chooseSmokeProbe(inputs: SmokeProbeInputs): SmokeProbe {
    const found = findSmokeProbe(inputs);
    if (typeof found === "string") {
        throw new StackConfigError([{ key: "smokeTest", message: found }]);
    }
    return found;
}

/** Smoke test concern: the probe, when smokeTest is on and the keys it reads are valid. */
export function validateSmokeProbe(
    settings: Partial<ConfigSettings>,
    problems: ConfigProblems,
): SmokeProbe | undefined {
    const { smokeTest, clients, revokedClients, locations } = settings;
    if (smokeTest !== true || clients === undefined || revokedClients === undefined || locations === undefined) {
        return undefined;
    }
    if (problems.touches("locations") || problems.touches("clients") || problems.touches("revokedClients")) {
        return undefined;
    }
    const found = findSmokeProbe({
        clients: clientNamesOf(clients),
        revokedClients,
        locations,
        keylessClients: Object.keys(requestsOf(clients)),
    });
    if (typeof found === "string") {
        problems.add("smokeTest", found);
        return undefined;
    }
    return found;
}
