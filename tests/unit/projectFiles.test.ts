import * as assert from "assert";
import * as fs from "fs";
import * as yaml from "js-yaml";
import * as path from "path";
import { configDefaults, configKeys, validateStackConfig } from "../../config/stackConfig";

const root = path.join(__dirname, "..", "..");
const readYaml = (file: string) => yaml.load(fs.readFileSync(path.join(root, file), "utf8")) as Record<string, unknown>;

describe("project files", () => {
    const project = readYaml("Pulumi.yaml") as { name: string; config: Record<string, { default?: unknown }> };

    it("declares every Pulumi.yaml config key in the validator", () => {
        for (const key of Object.keys(project.config)) {
            assert.ok(configKeys.includes(key), `Pulumi.yaml declares ${key}, which the validator does not know`);
        }
    });

    it("keeps Pulumi.yaml defaults equal to the validator's", () => {
        const defaults = configDefaults as Record<string, unknown>;
        for (const [key, declaration] of Object.entries(project.config)) {
            if (key in defaults) {
                assert.deepStrictEqual(declaration.default, defaults[key], `default of ${key}`);
            }
        }
        for (const key of Object.keys(defaults)) {
            assert.ok(key in project.config, `the validator's default for ${key} is not declared in Pulumi.yaml`);
        }
    });

    for (const stackFile of fs.readdirSync(root).filter((file) => /^Pulumi\.[^.]+\.yaml$/.test(file))) {
        it(`${stackFile} passes validation`, () => {
            const stack = readYaml(stackFile) as { config: Record<string, unknown> };
            const raw = Object.fromEntries(
                Object.entries(stack.config).map(([key, value]) => [key.replace(/^mtls-nginx:/, ""), value]),
            );
            const config = validateStackConfig(raw, { stack: stackFile.split(".")[1], projectDirectory: root });
            assert.ok(config.clients.length > 0);
        });
    }
});
