import * as assert from "assert";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import type { Stack } from "@pulumi/pulumi/automation";
import {
    clientListPlace,
    clientNames,
    clientsConfigBytes,
    setClientsOfKind,
    stackConfigClientsBudget,
    type BenchClientEntry,
} from "../../bench/deploy";
import { validateStackConfig, type RawStackConfig } from "../../config/stackConfig";

/** The config a fake stack holds: what setClientsOfKind sets and removes, by full key. */
function fakeStack(): { stack: Stack; config: Map<string, string> } {
    const config = new Map<string, string>();
    const stack = {
        // As Pulumi stores it, a list is one key: removing it removes every path below it.
        removeConfig: async (key: string) => {
            for (const held of [...config.keys()]) {
                if (held === key || held.startsWith(`${key}[`) || held.startsWith(`${key}.`)) config.delete(held);
            }
        },
        setConfig: async (key: string, value: { value: string }) => void config.set(key, value.value),
        setAllConfig: async (values: Record<string, { value: string }>, usePath?: boolean) => {
            assert.ok(usePath, "the list is set path by path");
            for (const [key, value] of Object.entries(values)) config.set(key, value.value);
        },
    };
    return { stack: stack as unknown as Stack, config };
}

/** The raw stack config the program would read from the fake stack's `mtls-nginx:*` keys. */
function rawConfig(config: ReadonlyMap<string, string>): RawStackConfig {
    const clients: Array<string | Record<string, string>> = [];
    const raw: RawStackConfig = {};
    for (const [key, value] of config) {
        const item = /^mtls-nginx:clients\[(\d+)\](?:\.(\w+))?$/.exec(key);
        if (item === null) {
            raw[key.replace(/^mtls-nginx:/, "")] = value;
        } else if (item[2] === undefined) {
            clients[Number(item[1])] = value;
        } else {
            clients[Number(item[1])] = { ...(clients[Number(item[1])] as Record<string, string>), [item[2]]: value };
        }
    }
    return clients.length > 0 ? { ...raw, clients } : raw;
}

/**
 * Where the bench puts a stack's clients (bench/deploy.ts): stack config while the list fits in
 * PULUMI_CONFIG (one environment string, at most 128 KiB), {name, csrFile} entries for CSR clients,
 * and a clients file beyond; what it sets validates as the program will read it.
 */
describe("the bench's clients lists (bench/deploy.ts)", function () {
    this.timeout(60_000);
    let directory: string;
    const context = () => ({
        stack: "bench",
        projectDirectory: directory,
        readFile: (file: string) => fs.readFileSync(file, "utf8"),
    });

    beforeEach(() => (directory = fs.mkdtempSync(path.join(os.tmpdir(), "mtls-bench-clients-test-"))));
    afterEach(() => {
        fs.rmSync(directory, { recursive: true, force: true });
        delete process.env.BENCH_CLIENTS_FILE;
    });

    it("keeps 1,000 CSR clients in stack config as {name, csrFile}, and puts 10,000 names in a file", () => {
        const tmp = "/tmp/mtls-bench-csr-AbCdEf";
        const csrClients: BenchClientEntry[] = [
            "smoke-probe",
            ...clientNames(1000).map((name) => ({ name, csrFile: `${tmp}/${name}.csr` })),
        ];
        assert.ok(clientsConfigBytes(csrClients) <= stackConfigClientsBudget, `${clientsConfigBytes(csrClients)}`);
        assert.strictEqual(clientListPlace(csrClients), "stack config");
        const names = Array.from({ length: 10_000 }, (_, index) => `bench-${String(index + 1).padStart(5, "0")}`);
        assert.ok(clientsConfigBytes(names) > 128 * 1024, "10,000 names do not fit in one environment string");
        assert.strictEqual(clientListPlace(names), "clients file");
        process.env.BENCH_CLIENTS_FILE = "always";
        assert.strictEqual(clientListPlace(["bench-001"]), "clients file");
        process.env.BENCH_CLIENTS_FILE = "sometimes";
        assert.throws(() => clientListPlace(["bench-001"]), /BENCH_CLIENTS_FILE=sometimes: expected auto or always/);
    });

    it("sets CSR clients as {name, csrFile} entries in stack config, which validate with their CSRs", async () => {
        const { stack, config } = fakeStack();
        config.set("mtls-nginx:clientsFile", "left over");
        await setClientsOfKind(stack, 3, "csr", directory);
        assert.ok(!config.has("mtls-nginx:clientsFile"));
        assert.strictEqual(config.get("mtls-nginx:clients[1].csrFile"), path.join(directory, "bench-001.csr"));
        const valid = validateStackConfig(rawConfig(config), context());
        assert.deepStrictEqual(valid.clients, ["smoke-probe", "bench-001", "bench-002", "bench-003"]);
        assert.deepStrictEqual(Object.keys(valid.clientCsrs), ["bench-001", "bench-002", "bench-003"]);
        assert.match(valid.clientCsrs["bench-002"], /^-----BEGIN CERTIFICATE REQUEST-----/);
    });

    it("sets a list that does not fit as a clients file that mtls-nginx:clientsFile names", async () => {
        const { stack, config } = fakeStack();
        config.set("mtls-nginx:clients[0]", "left over");
        process.env.BENCH_CLIENTS_FILE = "always";
        await setClientsOfKind(stack, 2, "csr", directory);
        assert.deepStrictEqual([...config.keys()], ["mtls-nginx:clientsFile"]);
        const valid = validateStackConfig(rawConfig(config), context());
        assert.deepStrictEqual(valid.clients, ["smoke-probe", "bench-001", "bench-002"]);
        await setClientsOfKind(stack, 3, "generated", directory);
        assert.deepStrictEqual(validateStackConfig(rawConfig(config), context()).clients, clientNames(3));
    });
});
