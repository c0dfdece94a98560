import * as assert from "assert";
import { type Stack } from "@pulumi/pulumi/automation";
import { spawnSync, type SpawnSyncReturns } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";

import {
    containerId,
    createProjectStack,
    dockerLogs,
    freePort,
    outputValue,
    readStackConfigFile,
    repoRoot,
    toolchainEnvironment,
    useEngineLog,
} from "../../testkit/stack";

/** How long the package build (tsc, npm pack) and the consumer's `npm install` may take. */
const buildTimeoutMs = 180_000;
const installTimeoutMs = 300_000;

/** A resource of `pulumi stack export`: the parts this test reads. */
interface ExportedResource {
    urn: string;
    type: string;
    inputs?: Record<string, unknown>;
}

/**
 * The npm package as a consumer meets it (issue 19): `npm run package`'s tarball installed into a
 * throwaway TypeScript program of its own (its own project, its own node_modules without ts-node),
 * which deploys an MtlsEndpoint on this machine's engine with the smoke test passing, then destroys it.
 */
describe("npm package: a TypeScript program of its own installs the tarball and deploys an MtlsEndpoint", function () {
    // The component's default names for an endpoint "partners" of this stack (set once it exists).
    let containerName = "";
    let filesVolume = "";
    // Made in the before hook (mocha loads every file before it runs any): one directory for all of it.
    let workDirectory = "";
    let consumerDirectory = "";
    let environment: Record<string, string> = {};
    let tarball = "";
    let stack: Stack | undefined;
    let consumer: Awaited<ReturnType<typeof createProjectStack>> | undefined;
    let destroyed = false;
    const log = useEngineLog(() => (containerName ? `\n--- container log ---\n${dockerLogs(containerName)}` : ""));

    before(async function () {
        this.timeout(buildTimeoutMs + installTimeoutMs + 120_000);
        environment = toolchainEnvironment();
        workDirectory = fs.mkdtempSync(path.join(os.tmpdir(), "mtls-e2e-npm-package-"));
        const packageDirectory = path.join(workDirectory, "build", "package");
        consumerDirectory = path.join(workDirectory, "consumer");
        const build = run("bash", ["scripts/build-package.sh", packageDirectory], repoRoot, buildTimeoutMs);
        tarball = build.stdout.trim().split("\n").pop() ?? "";
        assert.ok(fs.existsSync(tarball), `the build printed no tarball:\n${build.stdout}`);

        fs.mkdirSync(consumerDirectory);
        writeConsumer(consumerDirectory, tarball, {
            image: String(readStackConfigFile("Pulumi.dev.yaml").image),
            publishPort: await freePort(),
        });
        run("npm", ["install", "--prefer-offline", "--no-audit", "--no-fund"], consumerDirectory, installTimeoutMs);

        consumer = await createProjectStack("npm-package", consumerDirectory);
        stack = consumer.stack;
        containerName = `mtls-nginx-${consumer.stackName}-partners`;
        filesVolume = `${containerName}-files`;
    });

    after(async function () {
        this.timeout(300_000);
        try {
            if (stack && !destroyed) {
                await stack.destroy({ onOutput: log }).catch((error) => console.error(String(error)));
            }
            await consumer?.dispose();
        } finally {
            // Only what this test made: its container and volume, and its directory (build, consumer).
            if (containerName) {
                spawnSync("docker", ["rm", "-f", containerName], { stdio: "ignore", timeout: 60_000 });
                spawnSync("docker", ["volume", "rm", "-f", filesVolume], { stdio: "ignore", timeout: 60_000 });
            }
            if (workDirectory !== "") {
                fs.rmSync(workDirectory, { recursive: true, force: true });
            }
        }
    });

    it("packs compiled JavaScript with declarations: no TypeScript source, no ts-node", () => {
        assert.match(path.basename(tarball), /^mtls-nginx-\d+\.\d+\.\d+\.tgz$/);
        const installed = path.join(consumerDirectory, "node_modules", "mtls-nginx");
        const files = listFiles(installed);
        const sources = files.filter((file) => file.endsWith(".ts") && !file.endsWith(".d.ts"));
        assert.deepStrictEqual(sources, [], "TypeScript sources in the installed package");
        for (const file of [
            "package/index.js",
            "package/index.d.ts",
            "delivery/deliverFiles.js",
            "components/smokeTest.sh",
        ]) {
            assert.ok(files.includes(file), `the installed package has no ${file}`);
        }
        const manifest = JSON.parse(fs.readFileSync(path.join(installed, "package.json"), "utf8")) as {
            dependencies?: Record<string, string>;
        };
        assert.ok(!("ts-node" in (manifest.dependencies ?? {})), "the package depends on ts-node");
        // Nothing in the consumer could run a .ts delivery program: the package must run without it.
        assert.ok(!fs.existsSync(path.join(consumerDirectory, "node_modules", "ts-node")), "ts-node is installed");
    });

    it("type-checks the program against the package's declarations (through its exports)", function () {
        this.timeout(120_000);
        run(
            path.join(consumerDirectory, "node_modules", ".bin", "tsc"),
            ["--noEmit", "-p", "."],
            consumerDirectory,
            120_000,
        );
    });

    it("deploys the endpoint with the smoke test passing, delivery programs run by plain node", async function () {
        this.timeout(480_000);
        const result = await stack!.up({ onOutput: log });
        assert.strictEqual(result.summary.result, "succeeded");
        const smokeTest = outputValue<string>(result.outputs, "smokeTest");
        assert.match(smokeTest, /^smoke test passed/, smokeTest);
        assert.strictEqual(outputValue<string>(result.outputs, "componentType"), "mtls-nginx:index:MtlsEndpoint");
        assert.strictEqual(containerId(containerName), outputValue<string>(result.outputs, "containerId"));

        const resources = ((await stack!.exportStack()).deployment as { resources: ExportedResource[] }).resources;
        assert.ok(
            resources.some(
                (resource) => resource.type === "mtls-nginx:index:MtlsEndpoint" && resource.urn.endsWith("::partners"),
            ),
            "no MtlsEndpoint partners in the state",
        );
        const commands = resources
            .filter(
                (resource) =>
                    resource.type === "command:local:Command" && /^node /.test(String(resource.inputs?.create)),
            )
            .map((resource) => ({ create: String(resource.inputs?.create), dir: String(resource.inputs?.dir) }));
        assert.ok(
            commands.some((command) => command.create === "node delivery/deliverFiles.js"),
            JSON.stringify(commands),
        );
        for (const command of commands) {
            assert.match(command.create, /^node delivery\/\w+\.js\b/, "a delivery program run by plain node");
            assert.strictEqual(
                fs.realpathSync(command.dir),
                fs.realpathSync(path.join(consumerDirectory, "node_modules", "mtls-nginx")),
            );
        }
    });

    it("destroys it: no container, no volume left", async function () {
        this.timeout(300_000);
        const result = await stack!.destroy({ onOutput: log });
        destroyed = true;
        assert.strictEqual(result.summary.result, "succeeded");
        assert.strictEqual(docker(["ps", "-a", "--filter", `name=^/${containerName}$`, "--format", "{{.Names}}"]), "");
        assert.strictEqual(docker(["volume", "ls", "--filter", `name=^${filesVolume}$`, "--format", "{{.Name}}"]), "");
    });

    /** Runs a command to completion (or its timeout), failing with its output when it fails. */
    function run(command: string, args: string[], cwd: string, timeout: number): SpawnSyncReturns<string> {
        const result = spawnSync(command, args, {
            cwd,
            env: environment,
            encoding: "utf8",
            timeout,
            maxBuffer: 1 << 26,
        });
        if (result.status !== 0) {
            const why = result.error ? String(result.error) : `exit status ${result.status}`;
            throw new Error(`${command} ${args.join(" ")} failed (${why}):\n${result.stdout}\n${result.stderr}`);
        }
        return result;
    }
});

/** A new TypeScript Pulumi program that uses the package as any consumer would: from its tarball. */
function writeConsumer(directory: string, tarball: string, endpoint: { image: string; publishPort: number }): void {
    const project = JSON.parse(fs.readFileSync(path.join(repoRoot, "package.json"), "utf8")) as {
        dependencies: Record<string, string>;
        devDependencies: Record<string, string>;
    };
    const files: Record<string, string> = {
        "Pulumi.yaml": ["name: mtls-nginx-consumer", "runtime: nodejs", "description: A program of its own"].join("\n"),
        "package.json": JSON.stringify(
            {
                name: "mtls-nginx-consumer",
                version: "0.0.0",
                private: true,
                dependencies: {
                    "mtls-nginx": `file:${tarball}`,
                    "@pulumi/pulumi": project.dependencies["@pulumi/pulumi"],
                },
                devDependencies: {
                    typescript: project.devDependencies.typescript,
                    "@types/node": project.devDependencies["@types/node"],
                },
            },
            null,
            4,
        ),
        // Module resolution node16: the package is found through its `exports`, as Node finds it.
        "tsconfig.json": JSON.stringify(
            {
                compilerOptions: {
                    strict: true,
                    target: "es2022",
                    module: "node16",
                    moduleResolution: "node16",
                    types: ["node"],
                },
                files: ["index.ts"],
            },
            null,
            4,
        ),
        "index.ts": `
import {
    MtlsEndpoint,
    mtlsEndpointType,
    outputsOf,
    type LocationArgs,
    type MtlsEndpointArgs,
    type MtlsEndpointOutputs,
} from "mtls-nginx";

const locations: LocationArgs[] = [{ path: "/" }];
const args: MtlsEndpointArgs = {
    clients: ["alice"],
    image: ${JSON.stringify(endpoint.image)},
    publishPort: ${endpoint.publishPort},
    locations,
};
// @ts-expect-error: not an arg (the declarations are types, not any)
const misspelled: MtlsEndpointArgs = { publishPrt: 1 };
void misspelled;

const partners = new MtlsEndpoint("partners", args);
const outputs: MtlsEndpointOutputs = outputsOf(partners);

export const smokeTest = partners.smokeTest;
export const containerId = outputs.containerId;
export const endpointUrl = partners.endpointUrl;
export const componentType = mtlsEndpointType;
`,
    };
    for (const [name, text] of Object.entries(files)) {
        fs.writeFileSync(path.join(directory, name), `${text.trim()}\n`);
    }
}

/** Every file below a directory, relative to it (posix separators). */
function listFiles(directory: string, prefix = ""): string[] {
    return fs.readdirSync(path.join(directory, prefix), { withFileTypes: true }).flatMap((entry) => {
        const relative = prefix === "" ? entry.name : `${prefix}/${entry.name}`;
        if (entry.name === "node_modules") {
            return [];
        }
        return entry.isDirectory() ? listFiles(directory, relative) : [relative];
    });
}

function docker(args: string[]): string {
    const result = spawnSync("docker", args, { encoding: "utf8", timeout: 60_000 });
    assert.strictEqual(result.status, 0, `docker ${args.join(" ")}: ${result.stderr}`);
    return result.stdout.trim();
}
