/**
 * The npm package's package.json, made from the project's: the same name, license, engines and the
 * exact versions of the runtime dependencies the project pins, so the package cannot drift from what
 * the project is tested with. `scripts/build-package.sh` writes it into dist/package/:
 *
 *   node -r ts-node/register/transpile-only package/manifest.ts OUTPUT_FILE
 */
import * as fs from "fs";
import * as path from "path";

/** The package's version (semver): raise it with every published change to the component's args or outputs. */
export const packageVersion = "0.2.0";

/** What the package holds besides package.json and README.md: the compiled folders and the entry point. */
export const packageFolders = ["components", "config", "delivery", "domain", "nginx", "rotation", "steps"] as const;

/**
 * Single modules from outside those folders that the product code imports, without extension: the
 * policy pack's key rules, which the validation of a client's CSR shares (config/clientEntries.ts), and
 * the switch for the SDK's bookkeeping that the entry point exports.
 */
export const packageModules = ["policy/pki", "program/sdkBookkeeping"] as const;

/** The entry point, compiled from package/index.ts. */
const entry = "./package/index";

/** The parts of the project's package.json the package's is made from. */
export interface ProjectManifest {
    readonly name: string;
    readonly license: string;
    readonly engines: Record<string, string>;
    readonly dependencies: Record<string, string>;
}

export function packageManifest(project: ProjectManifest): Record<string, unknown> {
    return {
        name: project.name,
        version: packageVersion,
        description:
            "Pulumi component: a mutual-TLS Nginx endpoint (private CA, per-client certificates, rotation, smoke test)",
        license: project.license,
        keywords: ["pulumi", "mtls", "nginx", "tls", "docker"],
        main: `${entry}.js`,
        types: `${entry}.d.ts`,
        exports: {
            ".": { types: `${entry}.d.ts`, default: `${entry}.js` },
            "./package.json": "./package.json",
        },
        files: [
            "package/",
            ...packageFolders.map((folder) => `${folder}/`),
            ...packageModules.flatMap((module) => [`${module}.js`, `${module}.d.ts`]),
            "stack.js",
            "stack.d.ts",
            "README.md",
        ],
        engines: project.engines,
        // The exact versions the project pins and tests: the component's resources are those providers'.
        dependencies: project.dependencies,
    };
}

if (require.main === module) {
    const [output] = process.argv.slice(2);
    if (!output) {
        console.error("usage: manifest.ts OUTPUT_FILE");
        process.exit(2);
    }
    const project = JSON.parse(fs.readFileSync(path.join(__dirname, "..", "package.json"), "utf8")) as ProjectManifest;
    fs.writeFileSync(output, `${JSON.stringify(packageManifest(project), null, 4)}\n`);
}
