import * as assert from "assert";
import * as fs from "fs";
import * as yaml from "js-yaml";
import * as path from "path";
import { ConfigKey, configTable, hasComputedDefault } from "../../config/configTable";
import { ConfigProblems } from "../../config/problems";
import { mixedItems } from "../../config/types";
import { computedDefaultKeys, configDefaults, configKeys, validateStackConfig } from "../../config/stackConfig";

const root = path.join(__dirname, "..", "..");
const readText = (file: string) => fs.readFileSync(path.join(root, file), "utf8");
const readYaml = (file: string) => yaml.load(readText(file)) as Record<string, unknown>;

interface Declaration {
    type?: string;
    items?: { type?: string };
    description?: string;
    default?: unknown;
}

/** A key with a computed default is documented in Pulumi.yaml as a comment line at its place. */
interface DocumentedKey {
    type: string;
    items?: string;
    description: string;
}

const table = new Map(Object.entries(configTable) as Array<[string, ConfigKey<unknown>]>);

describe("project files", () => {
    const project = readYaml("Pulumi.yaml") as { name: string; config: Record<string, Declaration> };
    const declared = new Map(Object.entries(project.config));
    const documented = new Map<string, DocumentedKey>(
        [
            ...readText("Pulumi.yaml").matchAll(
                /^ {4}# (\w+) \((\w+)(?: of (\w+(?: or \w+)?))?, computed default\): (.+)$/gm,
            ),
        ].map(([, name, type, items, description]) => [name, { type, items, description }]),
    );

    it("knows which keys have computed defaults", () => {
        assert.deepStrictEqual([...computedDefaultKeys].sort(), [
            "clients",
            "containerName",
            "keyExchangeGroups",
            "trustedCas",
            "verifyDepth",
        ]);
    });

    it("declares in Pulumi.yaml every table key with a static default, and nothing else", () => {
        for (const name of configKeys) {
            if (!computedDefaultKeys.includes(name)) {
                assert.ok(declared.has(name), `the table's ${name} is not declared in Pulumi.yaml`);
            }
        }
        for (const name of declared.keys()) {
            assert.ok(table.has(name), `Pulumi.yaml declares ${name}, which the table does not know`);
            assert.ok(
                !computedDefaultKeys.includes(name),
                `${name} has a computed default: document it, not declare it`,
            );
        }
    });

    it("documents every key with a computed default where it would be declared, and nothing else", () => {
        assert.deepStrictEqual([...documented.keys()].sort(), [...computedDefaultKeys].sort());
    });

    for (const [name, entry] of table) {
        it(`keeps ${name} in Pulumi.yaml equal to the table: type, items, description, default`, () => {
            if (hasComputedDefault(entry)) {
                const comment = documented.get(name);
                assert.ok(comment, `Pulumi.yaml has no "# ${name} (..., computed default): ..." line`);
                assert.deepStrictEqual(comment, {
                    type: entry.type,
                    items: entry.items,
                    description: entry.description,
                });
                return;
            }
            const declaration = declared.get(name);
            assert.ok(declaration, `Pulumi.yaml does not declare ${name}`);
            // A list of strings or objects cannot be typed in Pulumi.yaml: it is declared without a type.
            const typed = entry.items !== mixedItems;
            assert.deepStrictEqual(Object.keys(declaration).sort(), [
                "default",
                "description",
                ...(typed && entry.items ? ["items"] : []),
                ...(typed ? ["type"] : []),
            ]);
            assert.strictEqual(declaration.type, typed ? entry.type : undefined, `type of ${name}`);
            assert.deepStrictEqual(
                declaration.items,
                typed && entry.items ? { type: entry.items } : undefined,
                `items of ${name}`,
            );
            assert.strictEqual(declaration.description, entry.description, `description of ${name}`);
            assert.deepStrictEqual(declaration.default, entry.default, `default of ${name}`);
        });
    }

    it("declares no key without a default (Pulumi would make it mandatory in every stack)", () => {
        for (const [name, declaration] of declared) {
            assert.ok(Object.hasOwn(declaration, "default"), `${name} has no default`);
        }
    });

    it("keeps configDefaults equal to the table's static defaults", () => {
        const staticKeys = configKeys.filter((name) => !computedDefaultKeys.includes(name));
        assert.deepStrictEqual(Object.keys(configDefaults).sort(), [...staticKeys].sort());
    });

    it("has table defaults that pass their own parser unchanged", () => {
        for (const [name, entry] of table) {
            if (!hasComputedDefault(entry)) {
                const problems = new ConfigProblems();
                assert.deepStrictEqual(entry.parse(entry.default, name, problems), entry.default, name);
                assert.deepStrictEqual(problems.list, [], name);
            }
        }
    });

    it("declares the Pulumi types the parsers read", () => {
        for (const [name, entry] of table) {
            assert.ok(["string", "integer", "boolean", "array", "object"].includes(entry.type), name);
            assert.strictEqual(entry.type === "array", entry.items !== undefined, `items of ${name}`);
        }
    });

    // The committed environments (e2e runs leave throwaway Pulumi.e2e-*.yaml files, git-ignored, while they run).
    const environments = fs
        .readdirSync(root)
        .filter((file) => /^Pulumi\.[^.]+\.yaml$/.test(file) && !file.startsWith("Pulumi.e2e-"));
    for (const stackFile of environments) {
        it(`${stackFile} passes validation`, () => {
            const stack = readYaml(stackFile) as { config: Record<string, unknown> };
            const raw = Object.fromEntries(
                Object.entries(stack.config).map(([key, value]) => [key.replace(/^mtls-nginx:/, ""), value]),
            );
            const config = validateStackConfig(raw, {
                stack: stackFile.split(".")[1],
                projectDirectory: root,
                readFile: (file) => fs.readFileSync(file, "utf8"),
            });
            assert.ok(config.clients.length > 0);
        });
    }
});
