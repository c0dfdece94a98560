import * as pulumi from "@pulumi/pulumi";

import { ConfigProblem, StackConfigError } from "../config/problems";
import { validateStackConfig, type StackConfig } from "../config/stackConfig";
import { stackEndpointName } from "../config/types";
import { projectDirectory } from "../delivery/commands";
import type { CertificateHistory } from "../rotation/certificateHistory";
import { heldClientResources, heldLeafOutputNames, heldResources } from "../rotation/clientHold";
import { currentTime } from "../rotation/clock";
import { readPreviousResources, recordsOf } from "../rotation/previousOutputs";
import { describeDue } from "../rotation/rotationPlanner";
import type { RotationRecord } from "../rotation/rotationSchedule";
import { deployMtlsEndpoint } from "../stack";
import { componentScope } from "../steps/scope";
import type { MtlsEndpointArgs } from "./mtlsEndpointArgs";

export type { MtlsEndpointArgs } from "./mtlsEndpointArgs";
export type { LocationArgs } from "./locationArgs";
export type { ClientCsrArgs, ClientEntryArgs } from "./clientArgs";
export { stackEndpointName };

/** The component's type token: package `mtls-nginx`, module `index` (what a component package requires). */
export const mtlsEndpointType = "mtls-nginx:index:MtlsEndpoint";

/**
 * A mutual-TLS Nginx endpoint: a private CA (or one of yours), a server certificate and one
 * certificate per client, a hardened Nginx in a container or a Swarm service with those files, and a
 * smoke test proving that a client with a certificate gets in and one without is refused. Certificates
 * rotate when due, at the `up` that finds them due (`pulumi preview` names them); the records that
 * decide it are this component's own outputs, so it rotates whatever the program exports.
 */
export class MtlsEndpoint extends pulumi.ComponentResource {
    // The outputs, declared once: the component provider's schema reads these fields and their
    // comments, the constructor fills them from one object, and the stack exports that object.

    /** The https URL (works from the deploying machine with the CA; with a non-DNS name use the --resolve from curlCommands). */
    public readonly endpointUrl!: pulumi.Output<string>;
    /** The name the server certificate carries. */
    public readonly serverName!: pulumi.Output<string>;
    /** The trust bundle clients need (intermediate and root when there is an intermediate). */
    public readonly caCertificatePem!: pulumi.Output<string>;
    /** Map client name to certificate PEM. */
    public readonly clientCertificatePems!: pulumi.Output<Record<string, string>>;
    /** Map client name to private key PEM (secret). */
    public readonly clientPrivateKeyPems!: pulumi.Output<Record<string, string>>;
    /** Map client name to a ready curl line (files named ca.pem, NAME.crt, NAME.key). */
    public readonly curlCommands!: pulumi.Output<Record<string, string>>;
    /** The Nginx container's ID (unchanged by rotations and config changes); with platform swarm, the service ID. */
    public readonly containerId!: pulumi.Output<string>;
    /** Where the endpoint's files live: the Docker volume <containerName>-files, or the service's Swarm configs and secret; nothing is on the deploying machine. */
    public readonly hostDirectory!: pulumi.Output<string>;
    /** Map item (CA, server, client, CRL) to expiry (RFC 3339), from the rotation records. */
    public readonly certificateExpiries!: pulumi.Output<Record<string, string>>;
    /** Map item to {generation, notAfter}: the rotation records the next preview decides from (read back from this component's last outputs). */
    public readonly rotationState!: pulumi.Output<Record<string, RotationRecord>>;
    /** Map item to expiry, for what this update rotated (or, in preview, would rotate). */
    public readonly rotationDue!: pulumi.Output<Record<string, string>>;
    /** The smoke test's verdict. */
    public readonly smokeTest!: pulumi.Output<string>;
    /** External-root mode: the CSR the root must sign (the slot waiting for it, else the active one's); empty otherwise. */
    public readonly intermediateCsrPem!: pulumi.Output<string>;
    /** Map CA slot to its mode, and what it waits for. */
    public readonly caStatus!: pulumi.Output<Record<string, string>>;
    /** The server certificate the endpoint serves (public). */
    public readonly serverCertificatePem!: pulumi.Output<string>;
    /** The clients whose certificates are revoked. */
    public readonly revokedClients!: pulumi.Output<string[]>;
    /** The CRLs Nginx enforces (public; empty while nobody is revoked). */
    public readonly certificateRevocationListPem!: pulumi.Output<string>;
    /** Map client name to [{serial, notAfter}]: every unexpired certificate the name has held (rotated-away and other-CA ones too); revoking it lists them all. */
    public readonly clientCertificateSerials!: pulumi.Output<CertificateHistory>;

    constructor(name: string, args: MtlsEndpointArgs, opts?: pulumi.ComponentResourceOptions) {
        // Before super(): bad args register nothing, not even this component.
        const config = validateEndpointArgs(name, args);
        const heldUrns = heldClientResources();
        // Asked for at once: the reply is the whole last state, and every certificate waits for it.
        const lastDeployment = readPreviousResources();
        super(mtlsEndpointType, name, {}, opts);
        const movedFromRoot = name === stackEndpointName;
        // From a promise, not from this.urn: an Output of this.urn depends on this component, and a
        // child that depends on its own ancestor waits for itself to register (a deadlock).
        const ownUrn = new Promise<string>((resolve) => this.urn.apply(resolve));
        const previous = pulumi.output(
            Promise.all([lastDeployment, ownUrn]).then(([resources, urn]) => recordsOf(resources, urn, movedFromRoot)),
        );
        const outputs = deployMtlsEndpoint(
            config,
            {
                previousRotationState: previous.rotationState,
                previousCertificateHistory: previous.clientCertificateSerials,
                now: currentTime(),
                heldResources:
                    heldUrns &&
                    heldResources(
                        heldUrns,
                        lastDeployment.then((resources) =>
                            resources.select((urn) => heldUrns.has(urn), heldLeafOutputNames),
                        ),
                    ),
            },
            componentScope(this, name, movedFromRoot),
        );
        outputs.rotationDue.apply((due) => {
            const message = describeDue(due);
            if (message !== undefined) {
                void pulumi.log.info(message, this);
            }
        });
        Object.assign(this, outputs);
        endpointOutputs.set(this, outputs);
        this.registerOutputs(outputs);
    }
}

/** Every output of an MtlsEndpoint, by name: what the stack exports. */
export type MtlsEndpointOutputs = Pick<MtlsEndpoint, Exclude<keyof MtlsEndpoint, keyof pulumi.ComponentResource>>;

const endpointOutputs = new WeakMap<MtlsEndpoint, MtlsEndpointOutputs>();

/** The outputs of an endpoint as one object (a program exports it to make them its stack outputs). */
export function outputsOf(endpoint: MtlsEndpoint): MtlsEndpointOutputs {
    return endpointOutputs.get(endpoint)!;
}

/** Where each endpoint of this program publishes, and its container: two may not share either. */
const claims = new Map<string, string>();

/**
 * Validates args exactly as the stack config is validated (every problem at once), naming each arg,
 * then checks what two endpoints of one program may not share. Throws a RunError: no stack trace.
 */
export function validateEndpointArgs(name: string, args: MtlsEndpointArgs): StackConfig {
    const where = `MtlsEndpoint "${name}"`;
    if (!/^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/.test(name)) {
        throw new pulumi.RunError(
            `${where}: the name is not allowed; allowed: 1-63 of A-Za-z0-9._- starting with a letter or digit ` +
                `(it names the container, the volume and every resource)`,
        );
    }
    if (typeof args !== "object" || args === null || Array.isArray(args)) {
        throw new pulumi.RunError(`${where}: args must be an object of settings`);
    }
    let config: StackConfig;
    try {
        config = validateStackConfig(
            // Own properties only, into a fresh object: a `__proto__` arg stays an (unknown) arg.
            Object.fromEntries(Object.entries(args).filter(([, value]) => value !== undefined)),
            { stack: pulumi.getStack(), projectDirectory, endpointName: name },
        );
    } catch (error) {
        if (error instanceof StackConfigError) {
            throw new pulumi.RunError(invalidArgsMessage(where, error.errors));
        }
        throw error;
    }
    claim(`the container name ${config.containerName}`, name);
    const engine = config.dockerHost === "" ? "the local engine" : config.dockerHost;
    const address = config.platform === "swarm" ? "*" : config.publishAddress;
    claim(`port ${address}:${config.publishPort} on ${engine}`, name);
    return config;
}

/** Forgets every claim: for a test that builds several programs in one process. */
export function forgetEndpointClaims(): void {
    claims.clear();
}

function claim(what: string, endpointName: string): void {
    const holder = claims.get(what);
    if (holder !== undefined && holder !== endpointName) {
        throw new pulumi.RunError(
            `MtlsEndpoint "${endpointName}": ${what} is already taken by MtlsEndpoint "${holder}" in this program; ` +
                `allowed: a different publishPort (or publishAddress) and containerName per endpoint`,
        );
    }
    claims.set(what, endpointName);
}

function invalidArgsMessage(where: string, problems: readonly ConfigProblem[]): string {
    const lines = problems.map((problem) => `"${problem.key}": ${problem.message}`);
    return problems.length === 1
        ? `Invalid args of ${where}: ${lines[0]}`
        : [`Invalid args of ${where} (${problems.length} problems):`, ...lines.map((line) => `  ${line}`)].join("\n");
}
