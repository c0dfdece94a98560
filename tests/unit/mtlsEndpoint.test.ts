import * as assert from "assert";
import * as fs from "fs";
import * as pulumi from "@pulumi/pulumi";
import { rotationTrigger } from "../../rotation/rotationSchedule";
import {
    endpointArgsFile,
    outputDeclarations,
    outputsDocFile,
    outputsDocWithTable,
    renderEndpointArgs,
} from "../../scripts/endpointArgs";
import { endpointArgKeys } from "../../config/configTable";
import {
    aliasesOf,
    installMocks,
    parents,
    previousResourceOutputs,
    promiseOf,
    recordedResources,
    replacementTriggers,
    resetRecordedResources,
    resourcesOfType,
    settled,
} from "./mocks";

installMocks();
// Imported after the mocks are installed, as the Pulumi docs require.
// eslint-disable-next-line @typescript-eslint/no-require-imports
const endpointModule = require("../../components/mtlsEndpoint") as typeof import("../../components/mtlsEndpoint");
const { forgetEndpointClaims, MtlsEndpoint, mtlsEndpointType, outputsOf, stackEndpointName } = endpointModule;
type Args = import("../../components/mtlsEndpoint").MtlsEndpointArgs;

const endpointUrn = (name: string) => `urn:pulumi:unit::mtls-nginx::${mtlsEndpointType}::${name}`;

/** A fresh program: nothing recorded, no endpoint claimed a port yet. */
function freshProgram(): void {
    resetRecordedResources();
    forgetEndpointClaims();
}

/** Builds endpoints and waits until everything they register has reached the mocks. */
async function deployEndpoints(endpoints: Record<string, Args>) {
    const built = Object.entries(endpoints).map(([name, args]) => new MtlsEndpoint(name, args));
    await Promise.all(built.map((endpoint) => promiseOf(endpoint.smokeTest)));
    await settled();
    return built;
}

/** The names of what one endpoint registered: everything named after it. */
const namesOf = (prefix: string) =>
    recordedResources.map((resource) => resource.name).filter((name) => name.startsWith(`${prefix}-`));

describe("MtlsEndpoint (the component)", () => {
    beforeEach(freshProgram);

    it("puts every resource under itself, named after it, and registers itself with the package's type", async () => {
        const [partners] = await deployEndpoints({ partners: { clients: ["alice"], publishPort: 9443 } });
        const component = resourcesOfType(mtlsEndpointType);
        assert.deepStrictEqual(
            component.map((resource) => resource.name),
            ["partners"],
        );
        const others = recordedResources.filter((resource) => resource.type !== mtlsEndpointType);
        assert.ok(others.length > 15, `a whole endpoint: ${others.map((resource) => resource.name).join(", ")}`);
        for (const resource of others) {
            assert.match(resource.name, /^partners-/, `${resource.type} ${resource.name}`);
        }
        const urn = await promiseOf(partners.urn);
        for (const direct of ["partners-ca", "partners-server", "partners-clients", "partners-endpoint"]) {
            assert.strictEqual(parents.get(direct), urn, `${direct} is a child of the endpoint`);
            assert.deepStrictEqual(aliasesOf.get(direct), [], `${direct} moved from nowhere`);
        }
        assert.strictEqual(
            resourcesOfType("docker:index/container:Container")[0].inputs.name,
            "mtls-nginx-unit-partners",
            "the container is named after the stack and the endpoint",
        );
    });

    it("lets two endpoints share a program: no resource name, container, volume or CRL in common", async () => {
        await deployEndpoints({
            partners: { clients: ["alice"], publishPort: 9443, revokedClients: [], serverName: "partners.test" },
            admin: { clients: ["alice", "root"], revokedClients: ["root"], publishPort: 9444 },
        });
        const names = recordedResources.map((resource) => `${resource.type} ${resource.name}`);
        assert.strictEqual(new Set(names).size, names.length, "every type and name is registered once");
        assert.ok(namesOf("partners").length > 15 && namesOf("admin").length > 15);
        const containers = resourcesOfType("docker:index/container:Container").map((resource) => resource.inputs.name);
        assert.deepStrictEqual(containers.sort(), ["mtls-nginx-unit-admin", "mtls-nginx-unit-partners"]);
        const volumes = resourcesOfType("docker:index/volume:Volume").map((resource) => resource.inputs.name);
        assert.deepStrictEqual(volumes.sort(), ["mtls-nginx-unit-admin-files", "mtls-nginx-unit-partners-files"]);
        const crls = resourcesOfType("command:local:Command").filter((resource) =>
            resource.name.endsWith("-crl-issue"),
        );
        assert.deepStrictEqual(
            crls.map((resource) => resource.name),
            ["admin-crl-issue"],
            "only the endpoint that revokes has a CRL",
        );
    });

    it("the stack's own endpoint takes over what the stack deployed at its root: each direct child is aliased there", async () => {
        await deployEndpoints({ [stackEndpointName]: { clients: ["alice"] } });
        assert.deepStrictEqual(aliasesOf.get("mtls-nginx-ca"), ["ca at the root"]);
        assert.deepStrictEqual(aliasesOf.get("mtls-nginx-endpoint"), ["endpoint at the root"]);
        assert.deepStrictEqual(aliasesOf.get("mtls-nginx-clients"), ["clients at the root"]);
        // A client's resources do not start with their parent's name, so they get their own aliases:
        // under the root ClientCertificates, and under the IssuedCertificate of before that.
        assert.deepStrictEqual(aliasesOf.get("mtls-nginx-client-alice-key")?.sort(), [
            "the URN urn:pulumi:unit::mtls-nginx::mtls:pki:ClientCertificates$tls:index/privateKey:PrivateKey::client-alice-key",
            "the URN urn:pulumi:unit::mtls-nginx::mtls:pki:IssuedCertificate$tls:index/privateKey:PrivateKey::client-alice-key",
        ]);
        assert.strictEqual(
            resourcesOfType("docker:index/container:Container")[0].inputs.name,
            "mtls-nginx-unit",
            "the stack's container keeps its name",
        );
    });

    it("rotates from its own records, read back by its URN: a certificate due now gets a new generation", async () => {
        const soon = new Date(Date.now() + 3600_000).toISOString();
        previousResourceOutputs[endpointUrn("partners")] = {
            type: mtlsEndpointType,
            outputs: { rotationState: { server: { generation: 4, notAfter: soon } } },
        };
        try {
            const [partners] = await deployEndpoints({
                partners: { clients: ["alice"] },
                admin: { clients: ["alice"], publishPort: 9444 },
            });
            assert.strictEqual(replacementTriggers.get("partners-server-key"), rotationTrigger(5));
            assert.deepStrictEqual(Object.keys(await promiseOf(partners.rotationDue)), ["server"]);
            assert.notStrictEqual(
                replacementTriggers.get("admin-server-key"),
                rotationTrigger(5),
                "another endpoint's records are its own",
            );
        } finally {
            delete previousResourceOutputs[endpointUrn("partners")];
        }
    });

    it("exposes and registers exactly the outputs its class declares", async () => {
        const [partners] = await deployEndpoints({ partners: {} });
        const outputs = outputsOf(partners);
        const declared = Object.keys(partners).filter((key) => pulumi.Output.isInstance((partners as never)[key]));
        const ownOutputs = declared.filter((key) => key !== "urn");
        assert.deepStrictEqual(Object.keys(outputs).sort(), ownOutputs.sort());
        assert.strictEqual(await pulumi.isSecret(outputs.clientPrivateKeyPems), true);
        assert.strictEqual(await promiseOf(outputs.intermediateCsrPem), "", "empty unless a slot is external-root");
        assert.deepStrictEqual(
            outputDeclarations()
                .map((output) => output.name)
                .sort(),
            ownOutputs.sort(),
            "every output has a doc comment the schema and docs/outputs.md read",
        );
    });

    it("refuses bad args before registering anything, naming every arg and what is allowed", () => {
        assert.throws(
            () =>
                new MtlsEndpoint("partners", {
                    clients: [],
                    publishPort: 0,
                    bogus: true,
                } as unknown as Args),
            (error: Error) => {
                assert.ok(error instanceof pulumi.RunError);
                assert.match(error.message, /^Invalid args of MtlsEndpoint "partners" \(3 problems\):/);
                assert.match(error.message, /"clients": must list at least one client/);
                assert.match(error.message, /"publishPort": 0 is out of range; allowed: an integer from 1 to 65535/);
                assert.match(error.message, /"bogus": /);
                return true;
            },
        );
        assert.deepStrictEqual(recordedResources, [], "not even the component is registered");
    });

    it("reads no file: refuses the stack-only clientsFile and a client's csrFile, saying what to pass instead", () => {
        assert.throws(
            () =>
                new MtlsEndpoint("partners", {
                    clientsFile: "clients.yaml",
                    clients: ["bob", { name: "alice", csrFile: "alice.csr" }],
                } as unknown as Args),
            (error: Error) => {
                assert.match(error.message, /^Invalid args of MtlsEndpoint "partners" \(2 problems\):/);
                assert.match(
                    error.message,
                    /"clientsFile": is a stack config key, not an MtlsEndpoint arg; allowed: clients, the list itself/,
                );
                assert.match(
                    error.message,
                    /"clients\[1\]\.csrFile": is read from stack config only \(an MtlsEndpoint reads no files\); allowed: csr, the PEM itself/,
                );
                return true;
            },
        );
        assert.deepStrictEqual(recordedResources, []);
    });

    it("refuses a second endpoint on a port or container name another one holds, naming both", () => {
        new MtlsEndpoint("partners", { publishPort: 9443 });
        assert.throws(
            () => new MtlsEndpoint("admin", { publishPort: 9443 }),
            /MtlsEndpoint "admin": port 127\.0\.0\.1:9443 on the local engine is already taken by MtlsEndpoint "partners"/,
        );
        assert.throws(
            () => new MtlsEndpoint("ops", { publishPort: 9445, containerName: "mtls-nginx-unit-partners" }),
            /MtlsEndpoint "ops": the container name mtls-nginx-unit-partners is already taken by MtlsEndpoint "partners"/,
        );
    });

    it("refuses a name that cannot name a container", () => {
        assert.throws(() => new MtlsEndpoint("my endpoint", {}), /MtlsEndpoint "my endpoint": the name is not allowed/);
    });

    it("its args interface is generated from the config table, one arg per key but the stack-only ones (scripts/endpointArgs.ts)", () => {
        assert.strictEqual(
            fs.readFileSync(endpointArgsFile, "utf8"),
            renderEndpointArgs(),
            "components/mtlsEndpointArgs.ts is stale: run scripts/endpointArgs.ts --write",
        );
        const declared = [...renderEndpointArgs().matchAll(/^ {4}(\w+)\?: /gm)].map((match) => match[1]);
        assert.deepStrictEqual(declared, endpointArgKeys);
    });

    it("docs/outputs.md's table is generated from the class's output declarations", () => {
        const current = fs.readFileSync(outputsDocFile, "utf8");
        assert.strictEqual(
            current,
            outputsDocWithTable(current),
            "docs/outputs.md is stale: run scripts/endpointArgs.ts --write",
        );
    });
});
