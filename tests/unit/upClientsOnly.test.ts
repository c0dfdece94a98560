import * as assert from "assert";

import * as fs from "fs";
import * as os from "os";
import * as path from "path";

import { heldClientResources, heldResourceKey, heldResources, holdClientsVariable } from "../../rotation/clientHold";
import { clientResourceUrns, configChangesBesideClients } from "../../scripts/upClientsOnly";
import { promiseOf } from "./mocks";

const stackPrefix = "urn:pulumi:dev::mtls-nginx::";
const endpoint = "mtls-nginx:index:MtlsEndpoint";
const clients = `${endpoint}$mtls:pki:ClientCertificates`;

/** A state resource of `type` under the parents' types `parents` (`A$B`), named `name`. */
function resource(parents: string, type: string, name: string) {
    return { urn: `${stackPrefix}${parents ? `${parents}$` : ""}${type}::${name}`, type };
}

describe("the clients-only up (scripts/upClientsOnly.ts)", () => {
    it("holds every client's key, CSR and certificate, and nothing else", () => {
        const held = [
            resource(clients, "tls:index/privateKey:PrivateKey", "mtls-nginx-client-alice-key"),
            resource(clients, "tls:index/certRequest:CertRequest", "mtls-nginx-client-alice-csr"),
            resource(clients, "tls:index/locallySignedCert:LocallySignedCert", "mtls-nginx-client-alice-cert"),
            // A CSR client: its certificate only. And a consumer's endpoint inside a component of its own.
            resource(
                `acme:index:Edge$${clients}`,
                "tls:index/locallySignedCert:LocallySignedCert",
                "partners-client-bob-cert",
            ),
        ];
        const kept = [
            resource("", "pulumi:pulumi:Stack", "mtls-nginx-dev"),
            resource("", "pulumi:providers:tls", "default_5_5_1"),
            resource(endpoint, "mtls:pki:ClientCertificates", "mtls-nginx-clients"),
            resource(`${endpoint}$mtls:pki:CertificateAuthority`, "tls:index/privateKey:PrivateKey", "ca-root-key"),
            resource(
                `${endpoint}$mtls:pki:IssuedCertificate`,
                "tls:index/locallySignedCert:LocallySignedCert",
                "mtls-nginx-server-cert",
            ),
            resource(`${endpoint}$mtls:nginx:NginxEndpoint`, "docker:index/container:Container", "container"),
        ];
        assert.deepStrictEqual(
            clientResourceUrns({ resources: [...kept, ...held] }),
            held.map((r) => r.urn),
        );
        assert.deepStrictEqual(clientResourceUrns({}), []);
    });

    it("names every config key that changed beside the clients keys, secret or not", () => {
        const last = {
            "mtls-nginx:clients": { value: '["alice"]', secret: false },
            "mtls-nginx:activeCa": { value: "a", secret: false },
            "mtls-nginx:image": { value: "nginx:1", secret: false },
            "mtls-nginx:token": { value: "old", secret: true },
        };
        const onlyClients = {
            ...last,
            "mtls-nginx:clients": { value: '["alice","bob"]', secret: false },
            "mtls-nginx:revokedClients": { value: '["alice"]', secret: false },
            "mtls-nginx:clientsFile": { value: "clients.yaml", secret: false },
        };
        assert.deepStrictEqual(configChangesBesideClients(last, onlyClients), []);
        const more = {
            ...onlyClients,
            "mtls-nginx:activeCa": { value: "b", secret: false },
            "mtls-nginx:token": { value: "new", secret: true },
            "mtls-nginx:keyAlgorithm": { value: "RSA-2048", secret: false },
        };
        assert.deepStrictEqual(configChangesBesideClients(last, more), [
            "mtls-nginx:activeCa",
            "mtls-nginx:keyAlgorithm",
            "mtls-nginx:token",
        ]);
        // A key removed counts as changed too.
        const withoutImage: Record<string, { value: string; secret: boolean }> = { ...last };
        delete withoutImage["mtls-nginx:image"];
        assert.deepStrictEqual(configChangesBesideClients(last, withoutImage), ["mtls-nginx:image"]);
    });

    it("MTLS_HOLD_CLIENTS names a file of URNs; unset or empty is a full up; anything else is refused by name", () => {
        const directory = fs.mkdtempSync(path.join(os.tmpdir(), "mtls-held-test-"));
        try {
            const file = path.join(directory, "held.json");
            const urn = `${stackPrefix}${clients}$tls:index/privateKey:PrivateKey::mtls-nginx-client-alice-key`;
            fs.writeFileSync(file, JSON.stringify([urn]));
            assert.deepStrictEqual([...heldClientResources({ [holdClientsVariable]: file })!], [urn]);
            assert.strictEqual(heldClientResources({}), undefined);
            assert.strictEqual(heldClientResources({ [holdClientsVariable]: " " }), undefined);
            fs.writeFileSync(file, JSON.stringify(["alice"]));
            assert.throws(
                () => heldClientResources({ [holdClientsVariable]: file }),
                /MTLS_HOLD_CLIENTS=".*" does not hold a list of URNs; allowed: the path of a JSON list of URNs/,
            );
            assert.throws(
                () => heldClientResources({ [holdClientsVariable]: path.join(directory, "missing.json") }),
                /cannot be read as JSON/,
            );
        } finally {
            fs.rmSync(directory, { recursive: true, force: true });
        }
    });

    it("finds a held resource by its own type and name, and fails a run whose last deployment lacks it", async () => {
        const urn = `${stackPrefix}acme:index:Edge$${clients}$tls:index/privateKey:PrivateKey::partners-client-bob-key`;
        assert.strictEqual(heldResourceKey(urn), "tls:index/privateKey:PrivateKey::partners-client-bob-key");
        const held = heldResources(new Set([urn]), Promise.resolve({ [urn]: { outputs: { privateKeyPem: "K" } } }));
        assert.strictEqual(held.urnOf("tls:index/privateKey:PrivateKey", "partners-client-bob-key"), urn);
        assert.strictEqual(held.urnOf("tls:index/privateKey:PrivateKey", "partners-client-carol-key"), undefined);
        assert.deepStrictEqual(await promiseOf(held.outputsOf(urn)), { privateKeyPem: "K" });
        const empty = heldResources(new Set([urn]), Promise.resolve({}));
        // The Output's own promise (internal to the SDK): a failed Output never calls apply.
        const failed = empty.outputsOf(urn) as unknown as { promise(): Promise<unknown> };
        await assert.rejects(failed.promise(), /held by the clients-only up.*no outputs for it/);
    });
});
