import * as assert from "assert";
import * as pulumi from "@pulumi/pulumi";
import { Struct } from "google-protobuf/google/protobuf/struct_pb";
import { CheckFailure, InvokeResponse } from "@pulumi/pulumi/proto/provider_pb";
import { deserializeProperty, unwrapRpcSecret } from "@pulumi/pulumi/runtime/rpc";
import { readRawStackResourceOutputs, selectResourceOutputs } from "../../rotation/resourceOutputsReply";
import { childUrnOf, rootUrnOf } from "../../components/shared/urns";
import { installMocks, promiseOf } from "./mocks";

installMocks();

const secret = (value: unknown) => ({
    "4dabf18193072939515e22adb298388d": "1b47061264138c4ac30d75fd1eb44270",
    value,
});
const endpointUrn = "urn:pulumi:unit::mtls-nginx::mtls-nginx:index:MtlsEndpoint::partners";
const keyUrn = "urn:pulumi:unit::mtls-nginx::mtls:pki:ClientCertificates$tls:index/privateKey:PrivateKey::client-a-key";

/** A JavaScript value as a protobuf Struct (what the engine sends). */
const structOf = (value: object) => Struct.fromJavaScript(value as Parameters<typeof Struct.fromJavaScript>[0]);

/** The engine's reply to readStackResourceOutputs, as bytes on the wire. */
function reply(returned: Record<string, unknown>, failures: Array<[string, string]> = []): Uint8Array {
    const response = new InvokeResponse();
    response.setReturn(structOf(returned));
    response.setFailuresList(
        failures.map(([property, reason]) => {
            const failure = new CheckFailure();
            failure.setProperty(property);
            failure.setReason(reason);
            return failure;
        }),
    );
    return response.serializeBinary();
}

describe("the previous deployment's reply, decoded in part (rotation/resourceOutputsReply.ts)", () => {
    const resources = {
        [keyUrn]: { type: "tls:index/privateKey:PrivateKey", outputs: { privateKeyPem: secret("KEY"), rsaBits: 2048 } },
        [endpointUrn]: {
            type: "mtls-nginx:index:MtlsEndpoint",
            outputs: {
                rotationState: { server: { generation: 3, notAfter: "2027-01-01T00:00:00Z" } },
                clientCertificateSerials: { alice: [{ serial: "12", notAfter: "2027-01-01T00:00:00Z" }] },
                clientPrivateKeyPems: secret({ alice: "KEY" }),
                revoked: [],
                ready: true,
            },
        },
    };
    const returned = { name: "organization/mtls-nginx/unit", outputs: resources };

    it("decodes only the resources kept, exactly as the SDK's invoke decodes them", () => {
        const asked: string[] = [];
        const selected = selectResourceOutputs(reply(returned), (urn) => {
            asked.push(urn);
            return urn === endpointUrn;
        });
        assert.deepStrictEqual(asked.sort(), [endpointUrn, keyUrn].sort(), "every resource is offered");
        assert.deepStrictEqual(Object.keys(selected), [endpointUrn]);
        // The SDK's invoke decodes each top-level value of the reply and unwraps its secrets.
        const bySdk = unwrapRpcSecret(deserializeProperty(structOf(returned).toJavaScript().outputs)) as Record<
            string,
            unknown
        >;
        assert.deepStrictEqual(selected[endpointUrn], bySdk[endpointUrn]);
        assert.deepStrictEqual(
            selected[endpointUrn].outputs.clientPrivateKeyPems,
            { alice: "KEY" },
            "secrets unwrapped",
        );
        assert.strictEqual(
            (selected[endpointUrn].outputs.rotationState as { server: { generation: number } }).server.generation,
            3,
        );
    });

    it("with output names, decodes only those outputs of each resource kept, secrets unwrapped", () => {
        const selected = selectResourceOutputs(reply(returned), () => true, new Set(["privateKeyPem", "ready"]));
        assert.deepStrictEqual(selected, {
            [keyUrn]: { type: "tls:index/privateKey:PrivateKey", outputs: { privateKeyPem: "KEY" } },
            [endpointUrn]: { type: "mtls-nginx:index:MtlsEndpoint", outputs: { ready: true } },
        });
    });

    it("finds nothing in a reply without resources, and throws the failures the engine reports", () => {
        assert.deepStrictEqual(
            selectResourceOutputs(reply({ name: "s", outputs: {} }), () => true),
            {},
        );
        assert.throws(
            () => selectResourceOutputs(reply(returned, [["stackName", "unknown stack"]]), () => true),
            /^Error: Invoke of 'pulumi:pulumi:readStackResourceOutputs' failed: unknown stack \(stackName\)$/,
        );
    });

    it("reads through the SDK's invoke where there is no engine (the mocks): no raw read", () => {
        assert.strictEqual(readRawStackResourceOutputs("organization/mtls-nginx/unit"), undefined);
    });
});

describe("URNs as strings (components/shared/urns.ts)", () => {
    it("are the URNs the SDK makes for the same name, type and parent", async () => {
        const parent = rootUrnOf("mtls:pki:IssuedCertificate", "client-alice");
        assert.strictEqual(parent, await promiseOf(pulumi.createUrn("client-alice", "mtls:pki:IssuedCertificate")));
        assert.strictEqual(
            childUrnOf(parent, "tls:index/privateKey:PrivateKey", "client-alice-key"),
            await promiseOf(pulumi.createUrn("client-alice-key", "tls:index/privateKey:PrivateKey", parent)),
        );
        const grandchild = childUrnOf(childUrnOf(parent, "a:b:C", "c"), "d:e:F", "f");
        assert.strictEqual(grandchild, "urn:pulumi:unit::mtls-nginx::mtls:pki:IssuedCertificate$a:b:C$d:e:F::f");
    });
});
