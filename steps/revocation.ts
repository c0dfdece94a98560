/** The revocation step: the CRLs Nginx enforces, signed by every trusted CA the stack holds a key of. */
import * as pulumi from "@pulumi/pulumi";

import { CertificateRevocationList } from "../components/certificateRevocationList";
import type { StackConfig } from "../config/stackConfig";
import { earliestNextUpdate } from "../domain/x509";
import { CertificateHistory, removedClientsStillValid, revokedSerials } from "../rotation/certificateHistory";
import type { RotationPlanner } from "../rotation/rotationPlanner";
import { expiryFromNow } from "../rotation/rotationSchedule";
import type { CaSlots } from "./authorities";
import type { ResourceScope } from "./scope";
import { itemName } from "./leaves";

/** The CRLs Nginx enforces, and when the first of them runs out; absent while nobody is revoked. */
export interface Revocation {
    readonly crlPem: pulumi.Output<string>;
    readonly nextUpdate: pulumi.Output<string>;
}

/**
 * The revocation step: a CRL per CA in the chain, only while someone is revoked (an expired CRL locks
 * everyone out, so none is better than a stale one).
 */
export function revoke(
    config: StackConfig,
    authorities: CaSlots,
    history: pulumi.Output<CertificateHistory>,
    rotation: RotationPlanner,
    now: Date,
    scope: ResourceScope,
): Revocation | undefined {
    if (config.revokedClients.length === 0) {
        return undefined;
    }
    const caCertificates = authorities.certificates;
    // Nginx checks a CRL for every CA of a chain, so every trusted CA gets one. Each names every
    // certificate a revoked client still holds: the current one, and those a rotation or a rollover
    // replaced, whichever CA issued them.
    const crl = new CertificateRevocationList(
        scope.name("crl"),
        {
            // A CA held elsewhere (an external root) signs its own CRL: it comes from config, below.
            authorities: caCertificates
                .filter((authority) => authority.privateKeyPem !== undefined)
                .map((authority) => ({
                    certificatePem: authority.certificatePem,
                    privateKeyPem: authority.privateKeyPem!,
                })),
            revoked: history.apply((recorded) => revokedSerials(recorded, config.revokedClients)),
            validityHours: config.lifetimes.crl.validityHours,
            rotationTrigger: rotation.schedule(itemName.crl, config.lifetimes.crl.renewBeforeHours),
        },
        scope.options("crl"),
    );
    const externalCrls = caCertificates.flatMap((authority) => authority.externalCrl ?? []);
    // One PEM block after another: the command's stdout comes without its final newline.
    const crlPem =
        externalCrls.length === 0
            ? crl.crlPem
            : crl.crlPem.apply((own) =>
                  [own, ...externalCrls.map((external) => external.pem)].map((pem) => `${pem.trim()}\n`).join(""),
              );
    // The deadline is read from the CRLs themselves: any re-issue (a new revocation, a changed
    // validity) moves it, and a computed date would drift from what Nginx enforces. Only text without
    // a CRL in it (the unit tests' mocks) falls back to the planned date.
    const plannedNextUpdate = rotation
        .decision(itemName.crl)
        .apply((decision) =>
            decision.due || !decision.notAfter
                ? expiryFromNow(config.lifetimes.crl.validityHours, now)
                : decision.notAfter,
        );
    const ownNextUpdate = pulumi
        .all([crl.crlPem, plannedNextUpdate])
        .apply(([pem, planned]) => earliestNextUpdate(pem) ?? planned);
    rotation.record(itemName.crl, ownNextUpdate);
    // The live CRLs expire with the first of them (the health check watches it).
    const nextUpdate = ownNextUpdate.apply((own) =>
        [own, ...externalCrls.map((external) => external.nextUpdate)].reduce((first, next) =>
            Date.parse(next) < Date.parse(first) ? next : first,
        ),
    );
    return { crlPem, nextUpdate };
}

/**
 * Warns of each client removed from the list whose certificates have not expired (`previous`: the
 * last deployment's history): removing a client is not revoking it, and at scale a partner taken out
 * of a clients file is easily taken for one locked out. Shown by every preview and up until the last
 * of them expires.
 */
export function warnOfRemovedClients(
    config: StackConfig,
    previous: pulumi.Output<CertificateHistory>,
    now: Date,
    scope: ResourceScope,
): void {
    // Shown against the endpoint's component (none at the root): a program may hold more than one.
    const endpoint = scope.options("clients").parent;
    previous.apply((history) => {
        for (const removed of removedClientsStillValid(history, config.clients, now)) {
            void pulumi.log.warn(
                `client ${removed.name} is no longer in clients, but ${removed.certificates} certificate(s) issued to ` +
                    `it stay valid until ${removed.validUntil} and no CRL names them: it still passes the endpoint's ` +
                    "certificate check. To refuse it now, list it in clients and in revokedClients until then " +
                    "(docs/rotation.md, Revoke)",
                endpoint,
            );
        }
    });
}
