/** The smoke test step: the endpoint probed as a client would, with and without a certificate. */
import * as pulumi from "@pulumi/pulumi";

import { endpointUrl, resolveArgument } from "../domain/clientAccess";
import { SmokeTest } from "../components/smokeTest";
import type { StackConfig } from "../config/stackConfig";
import { greetingFor } from "../nginx/renderNginxConfig";
import type { DeployedEndpoint } from "./endpoint";
import type { Leaves } from "./leaves";
import type { ResourceScope } from "./scope";

/** The smoke test step: every address clients use, with and without a certificate; re-run on any change. */
export function runSmokeTest(
    config: StackConfig,
    trustBundlePem: pulumi.Output<string>,
    leaves: Leaves,
    endpoint: DeployedEndpoint,
    scope: ResourceScope,
): pulumi.Output<string> {
    // Validation chose the probe (config/smokeProbe.ts); it is present exactly when smokeTest is true.
    const probe = config.smokeProbe;
    if (!probe) {
        return pulumi.output("disabled (mtls-nginx:smokeTest is false)");
    }
    const addresses = endpoint.addresses;
    const probeClient = leaves.clients.get(probe.clientName)!;
    return new SmokeTest(
        scope.name("smoke-test"),
        {
            urls: addresses.apply((list) => list.map((address) => endpointUrl(address, probe.path))),
            resolves: addresses.apply((list) => list.map(resolveArgument)),
            caCertificatePem: trustBundlePem,
            clientName: probe.clientName,
            clientCertificatePem: probeClient.certificatePem,
            // The probe is never a client that brought a CSR (config/smokeProbe.ts): the stack holds its key.
            clientPrivateKeyPem: probeClient.privateKeyPem!,
            expectedBody: greetingFor(probe.clientName),
            triggers: [endpoint.id, endpoint.reloadId, probeClient.certificatePem],
        },
        { ...scope.options("smoke-test"), dependsOn: [endpoint.resource] },
    ).report;
}
