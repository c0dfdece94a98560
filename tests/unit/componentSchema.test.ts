import * as assert from "assert";
import * as path from "path";
import { Analyzer, type PropertyDefinition } from "@pulumi/pulumi/provider/experimental/analyzer";

import { configTableEntries, endpointArgKeys } from "../../config/configTable";
import { outputDeclarations } from "../../scripts/endpointArgs";

const repoRoot = path.join(__dirname, "..", "..");

/**
 * The component package's schema, as `pulumi package get-schema` makes it: @pulumi/pulumi's own
 * analyzer reads the TypeScript sources from package.json's `main`. Held against the config table
 * (inputs) and the class's output declarations (outputs), without the CLI.
 */
describe("the component package's schema (the analyzer @pulumi/pulumi hosts components with)", function () {
    this.timeout(60_000);
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const packageJson = require(path.join(repoRoot, "package.json")) as { name: string; main: string };
    let analyzed: ReturnType<Analyzer["analyze"]>;
    let endpoint: ReturnType<Analyzer["analyze"]>["components"][string];
    before(() => {
        // A few seconds: it builds a TypeScript program of the whole project.
        analyzed = new Analyzer(repoRoot, packageJson.name, packageJson, new Set(["MtlsEndpoint"])).analyze();
        endpoint = analyzed.components.MtlsEndpoint;
    });

    it("finds MtlsEndpoint from package.json's main (package/index.ts, not the stack's index.ts)", () => {
        assert.strictEqual(packageJson.main, "package/index.ts");
        assert.ok(endpoint, "the component is in the schema");
        assert.match(endpoint.description ?? "", /^A mutual-TLS Nginx endpoint/);
    });

    it("has one input per config key but the stack-only ones, of the key's type, plain, optional, with its description", () => {
        assert.deepStrictEqual(Object.keys(endpoint.inputs).sort(), [...endpointArgKeys].sort());
        const schemaType: Record<string, string> = {
            string: "string",
            integer: "number",
            boolean: "boolean",
            array: "array",
        };
        for (const name of endpointArgKeys) {
            const declaration = configTableEntries.get(name)!;
            const input = endpoint.inputs[name] as PropertyDefinition & { type?: string };
            assert.strictEqual(input.type, schemaType[declaration.type], `${name}: type`);
            assert.ok(input.plain && input.optional, `${name}: plain and optional (validated before any resource)`);
            assert.ok(input.description?.startsWith(declaration.description), `${name}: ${input.description}`);
        }
        const locations = endpoint.inputs.locations.items as { $ref?: string };
        assert.strictEqual(locations.$ref, "#/types/mtls-nginx:index:LocationArgs");
        assert.deepStrictEqual(Object.keys(analyzed.typeDefinitions.LocationArgs.properties ?? {}).sort(), [
            "allowedClients",
            "path",
            "proxyPass",
            "requireClientCertificate",
        ]);
    });

    it("has every output of the class, each typed and described as the class declares it", () => {
        const declared = outputDeclarations();
        assert.deepStrictEqual(Object.keys(endpoint.outputs).sort(), declared.map((output) => output.name).sort());
        for (const { name, description } of declared) {
            const output = endpoint.outputs[name] as PropertyDefinition & { type?: string; $ref?: string };
            assert.ok(output.type ?? output.$ref, `${name}: a type`);
            assert.strictEqual(output.description, description, `${name}: the class's doc comment`);
        }
    });
});
