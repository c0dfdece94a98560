/**
 * The leaves step: the server certificate and every client's, issued by the active CA, and the
 * record of every certificate each client name has held (what revoking the name must refuse).
 */
import * as pulumi from "@pulumi/pulumi";

import type { CaHierarchy } from "../components/certificateAuthority";
import {
    ClientCertificates,
    IssuedCertificate,
    IssuedCertificateArgs,
    IssuedLeaf,
    resourceNameOf,
} from "../components/issuedCertificate";
import type { StackConfig } from "../config/stackConfig";
import { parseCertificateRequest } from "../domain/csr";
import { CertificateHistory, issuedSerialsOf, nextCertificateHistory } from "../rotation/certificateHistory";
import type { HeldResources } from "../rotation/clientHold";
import type { RotationPlanner } from "../rotation/rotationPlanner";
import type { ResourceScope } from "./scope";

/** Each certificate's one item name: rotation records, `rotationDue` and `certificateExpiries` all use it. */
export const itemName = {
    server: "server",
    // The same as the name of the client's resources: both are in deployed state, so neither may change.
    client: resourceNameOf,
    crl: "crl",
} as const;

/** The server certificate and one certificate per client, issued by the active CA. */
export interface Leaves {
    readonly server: IssuedCertificate;
    readonly clients: ReadonlyMap<string, IssuedLeaf>;
}

/**
 * The leaves step: what is due rotates (a new key too); a revoked client's certificate is frozen, and
 * so is every existing client's in the clients-only `up` (`held`: rotation/clientHold.ts).
 */
export function issueLeaves(
    config: StackConfig,
    ca: CaHierarchy,
    rotation: RotationPlanner,
    scope: ResourceScope,
    held?: HeldResources,
): Leaves {
    const issuer = { issuerCertificatePem: ca.issuerCertificatePem, issuerPrivateKeyPem: ca.issuerPrivateKeyPem };
    const server = new IssuedCertificate(
        scope.name("server"),
        {
            profile: "server",
            commonName: config.serverName,
            organization: config.organization,
            dnsNames: config.serverDnsNames,
            ipAddresses: config.serverIpAddresses,
            keyAlgorithm: config.keyAlgorithm,
            ...issuer,
            lifetime: config.lifetimes.server,
            rotationTrigger: rotation.schedule(itemName.server, config.lifetimes.server.renewBeforeHours),
        },
        scope.options("server"),
    );
    rotation.record(itemName.server, server.validityEndTime);

    const clientArgs = new Map(
        config.clients.map((clientName) => {
            const revoked = config.revokedClients.includes(clientName);
            const item = itemName.client(clientName);
            const args: IssuedCertificateArgs = {
                profile: "client",
                commonName: clientName,
                organization: config.organization,
                keyAlgorithm: config.keyAlgorithm,
                ...issuer,
                lifetime: config.lifetimes.client,
                rotationTrigger: rotation.schedule(
                    item,
                    config.lifetimes.client.renewBeforeHours,
                    revoked || held ? "freeze" : "rotate",
                ),
                frozen: revoked,
                ...requestOf(config, clientName),
            };
            return [clientName, args];
        }),
    );
    const clients = new ClientCertificates(
        scope.name("clients"),
        {
            certificates: clientArgs,
            resourceNamePrefix: scope.name(""),
            formerParent: scope.formerRootUrn("clients", "mtls:pki:ClientCertificates"),
            held,
        },
        scope.options("clients"),
    ).certificates;
    for (const [clientName, certificate] of clients) {
        rotation.record(itemName.client(clientName), certificate.validityEndTime);
    }
    return { server, clients };
}

/**
 * The history step: every unexpired certificate each client name has held, this deployment's
 * included. A rotation or a rollover replaces a certificate without ending it: revocation must
 * still name the one replaced, so its serial is carried until it expires.
 */
export function recordIssuedCertificates(
    leaves: Leaves,
    previous: pulumi.Output<CertificateHistory>,
    now: Date,
): pulumi.Output<CertificateHistory> {
    const current = pulumi
        .all(Object.fromEntries([...leaves.clients].map(([clientName, leaf]) => [clientName, leaf.certificatePem])))
        .apply((pems) =>
            Object.fromEntries(Object.entries(pems).map(([clientName, pem]) => [clientName, issuedSerialsOf(pem)])),
        );
    return pulumi.all([previous, current]).apply(([recorded, issued]) => nextCertificateHistory(recorded, issued, now));
}

/** The CSR a client brought, if any, with its key's algorithm (validated already: it parses). */
function requestOf(config: StackConfig, clientName: string): Pick<IssuedCertificateArgs, "certificateRequest"> {
    const pem = config.clientCsrs[clientName];
    return pem === undefined
        ? {}
        : { certificateRequest: { pem, keyAlgorithm: parseCertificateRequest(pem).key.algorithm } };
}
