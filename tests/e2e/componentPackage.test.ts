import * as assert from "assert";
import { execFileSync, spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";

import { endpointArgKeys } from "../../config/configTable";
import { mtlsEndpointType } from "../../components/mtlsEndpoint";
import {
    createProjectStack,
    freePort,
    outputValue,
    readStackConfigFile,
    repoRoot,
    toolchainEnvironment,
    useEngineLog,
} from "../../testkit/stack";

interface SchemaProperty {
    type?: string;
    $ref?: string;
    description?: string;
}

/**
 * This repository as a Pulumi component package (PulumiPlugin.yaml): the CLI reads its schema, and
 * a Pulumi YAML program adds it with `pulumi package add`, deploys an endpoint with the smoke test
 * passing, is told what is wrong with bad args, and destroys it.
 */
describe("the component package: schema, and a YAML program that uses it", function () {
    const environment = toolchainEnvironment();
    /** The CLI, as a user runs it in `cwd`: its stdout; fails the test with its output when it fails. */
    const pulumi = (args: string[], cwd: string, env: Record<string, string> = environment): string => {
        const result = spawnSync("pulumi", args, { cwd, env, encoding: "utf8", timeout: 300_000 });
        assert.strictEqual(result.status, 0, `pulumi ${args.join(" ")}:\n${result.stdout}\n${result.stderr}`);
        return result.stdout;
    };

    it("get-schema: MtlsEndpoint with every config key as an input and every output, each typed and described", () => {
        const schema = JSON.parse(pulumi(["package", "get-schema", repoRoot], os.tmpdir())) as {
            name: string;
            version: string;
            resources: Record<
                string,
                {
                    isComponent?: boolean;
                    inputProperties: Record<string, SchemaProperty>;
                    properties: Record<string, SchemaProperty>;
                }
            >;
        };
        assert.strictEqual(schema.name, "mtls-nginx");
        const packageVersion = (
            JSON.parse(fs.readFileSync(path.join(repoRoot, "package.json"), "utf8")) as {
                version: string;
            }
        ).version;
        assert.strictEqual(schema.version, packageVersion);
        const endpoint = schema.resources[mtlsEndpointType];
        assert.ok(endpoint?.isComponent, `the schema has the component: ${Object.keys(schema.resources).join(", ")}`);
        // Every config key but the stack-only ones (clientsFile): the args carry what a file would hold.
        assert.deepStrictEqual(Object.keys(endpoint.inputProperties).sort(), [...endpointArgKeys].sort());
        for (const [name, property] of [
            ...Object.entries(endpoint.inputProperties),
            ...Object.entries(endpoint.properties),
        ]) {
            assert.ok(property.type ?? property.$ref, `${name} has a type`);
            assert.ok((property.description ?? "").length > 10, `${name} has a description`);
        }
        assert.ok("smokeTest" in endpoint.properties && "clientPrivateKeyPems" in endpoint.properties);
    });

    describe("a YAML program", function () {
        let project: string;
        let consumer: Awaited<ReturnType<typeof createProjectStack>>;
        let containerName = "";
        let publishPort: number;
        const log = useEngineLog();
        const image = String(readStackConfigFile("Pulumi.dev.yaml").image);
        /** The program's Pulumi.yaml, with the endpoint's properties as YAML lines. */
        const writeProgram = (properties: string[]) => {
            const file = path.join(project, "Pulumi.yaml");
            const current = fs.existsSync(file) ? fs.readFileSync(file, "utf8") : "";
            const packages = current.slice(current.indexOf("packages:"));
            fs.writeFileSync(
                path.join(project, "Pulumi.yaml"),
                [
                    "name: yaml-consumer",
                    "runtime: yaml",
                    "resources:",
                    "  partners:",
                    `    type: ${mtlsEndpointType}`,
                    "    properties:",
                    ...properties.map((line) => `      ${line}`),
                    "outputs:",
                    "  smokeTest: ${partners.smokeTest}",
                    "  endpointUrl: ${partners.endpointUrl}",
                    packages.startsWith("packages:") ? packages : "",
                ].join("\n"),
            );
        };
        const goodProperties = () => ["clients: [alice]", `image: ${image}`, `publishPort: ${publishPort}`];

        before(async () => {
            project = fs.mkdtempSync(path.join(os.tmpdir(), "mtls-e2e-yaml-"));
            publishPort = await freePort();
            writeProgram(goodProperties());
            consumer = await createProjectStack("yaml", project);
            containerName = `mtls-nginx-${consumer.stackName}-partners`;
        });
        after(async () => {
            await consumer?.stack.destroy({ onOutput: log }).catch((error) => console.error(String(error)));
            await consumer?.dispose();
            if (containerName) {
                spawnSync("docker", ["rm", "-f", containerName], { stdio: "ignore" });
                spawnSync("docker", ["volume", "rm", "-f", `${containerName}-files`], { stdio: "ignore" });
            }
            fs.rmSync(project, { recursive: true, force: true });
        });

        it("pulumi package add writes the package into the program", () => {
            pulumi(["package", "add", repoRoot], project, consumer.environment);
            const written = fs.readFileSync(path.join(project, "Pulumi.yaml"), "utf8");
            assert.match(written, new RegExp(`packages:\\n\\s+mtls-nginx: ${repoRoot.replace(/[/.]/g, "\\$&")}`));
        });

        it("up: the endpoint is deployed and its smoke test passes", async () => {
            const result = await consumer.stack.up({ onOutput: log });
            assert.match(outputValue<string>(result.outputs, "smokeTest"), /^smoke test passed/);
            assert.strictEqual(outputValue<string>(result.outputs, "endpointUrl"), `https://localhost:${publishPort}/`);
            const running = execFileSync("docker", ["inspect", "--format", "{{.State.Running}}", containerName], {
                encoding: "utf8",
            });
            assert.strictEqual(running.trim(), "true");
        });

        it("bad args: YAML names a wrong type or an unknown property, the component a bad value; nothing changes", async () => {
            const attempts: Array<[string[], RegExp]> = [
                [
                    [...goodProperties(), "bogus: 1"],
                    /Cannot assign .*bogus: number.* to 'mtls-nginx:index:MtlsEndpoint'/,
                ],
                [[...goodProperties(), 'clientValidityHours: "soon"'], /Cannot assign .*clientValidityHours: string/],
                [
                    [...goodProperties(), "keyAlgorithm: DSA"],
                    /Invalid args of MtlsEndpoint "partners": "keyAlgorithm": "DSA" is not allowed; allowed: ECDSA-P256/,
                ],
            ];
            for (const [properties, message] of attempts) {
                writeProgram(properties);
                const failure = await consumer.stack.preview({ onOutput: log }).then(
                    () => "the preview passed",
                    (error: Error) => error.message,
                );
                assert.match(failure, message);
            }
            writeProgram(goodProperties());
            const preview = await consumer.stack.preview({ onOutput: log });
            assert.deepStrictEqual(
                Object.entries(preview.changeSummary).filter(([op, count]) => op !== "same" && count > 0),
                [],
                "the good program again: nothing to change",
            );
        });

        it("destroy: no container or volume is left", async () => {
            await consumer.stack.destroy({ onOutput: log });
            assert.notStrictEqual(spawnSync("docker", ["inspect", containerName]).status, 0, "the container is gone");
            const volumes = execFileSync("docker", ["volume", "ls", "-q"], { encoding: "utf8" }).split("\n");
            assert.ok(!volumes.includes(`${containerName}-files`), "the files volume is gone");
        });
    });
});
