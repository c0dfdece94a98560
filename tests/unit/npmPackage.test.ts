import * as assert from "assert";
import * as fs from "fs";
import * as path from "path";

import { deliveryCommand } from "../../delivery/commands";
import * as entry from "../../package/index";
import {
    packageFolders,
    packageManifest,
    packageModules,
    packageVersion,
    type ProjectManifest,
} from "../../package/manifest";

const root = path.join(__dirname, "..", "..");
const readJson = (file: string) =>
    JSON.parse(fs.readFileSync(path.join(root, file), "utf8")) as Record<string, unknown>;

// The npm package (`npm run package`, scripts/build-package.sh) without building it: what it is made
// of. tests/e2e/npmPackage.test.ts builds it, installs it and deploys with it.
describe("npm package", () => {
    const project = readJson("package.json") as unknown as ProjectManifest & {
        devDependencies: Record<string, string>;
        version: string;
    };
    const manifest = packageManifest(project) as {
        name: string;
        version: string;
        main: string;
        types: string;
        exports: Record<string, unknown>;
        files: string[];
        engines: Record<string, string>;
        dependencies: Record<string, string>;
    };

    it("depends on exactly the versions the project pins, and on no dev tool (ts-node, typescript)", () => {
        assert.deepStrictEqual(manifest.dependencies, project.dependencies);
        for (const version of Object.values(manifest.dependencies)) {
            assert.match(version, /^\d+\.\d+\.\d+$/, "an exact version");
        }
        for (const tool of Object.keys(project.devDependencies)) {
            assert.ok(!(tool in manifest.dependencies), `${tool} is a dependency of the package`);
        }
        assert.deepStrictEqual(manifest.engines, project.engines);
    });

    it("is mtls-nginx with a semver version, its entry point in main, types and exports", () => {
        assert.strictEqual(manifest.name, "mtls-nginx");
        assert.match(packageVersion, /^\d+\.\d+\.\d+(-[0-9A-Za-z.-]+)?$/);
        // The component package (PulumiPlugin.yaml) takes its version from the project's package.json.
        assert.strictEqual(
            project.version,
            packageVersion,
            "the npm package and the component package are one version",
        );
        assert.strictEqual(manifest.version, packageVersion);
        assert.strictEqual(manifest.main, "./package/index.js");
        assert.strictEqual(manifest.types, "./package/index.d.ts");
        assert.deepStrictEqual(manifest.exports["."], { types: manifest.types, default: manifest.main });
    });

    it("names in its README the package's version and the SDK version it depends on", () => {
        const readme = fs.readFileSync(path.join(root, "package", "README.md"), "utf8");
        for (const [, version] of readme.matchAll(/mtls-nginx-(\S+?)\.tgz/g)) {
            assert.strictEqual(version, packageVersion, "the tarball the README installs");
        }
        for (const [, version] of readme.matchAll(/@pulumi\/pulumi@(\S+)/g)) {
            assert.strictEqual(version, project.dependencies["@pulumi/pulumi"], "the SDK the README installs");
        }
        assert.match(readme, /@pulumi\/pulumi@/);
    });

    it("packs every folder and module tsconfig.package.json compiles", () => {
        const includes = readJson("tsconfig.package.json").include as string[];
        const folders = includes
            .filter((pattern) => pattern.endsWith("/**/*.ts"))
            .map((pattern) => pattern.split("/")[0]);
        const modules = includes
            .filter((pattern) => !pattern.endsWith("/**/*.ts"))
            .map((file) => file.replace(/\.ts$/, ""));
        assert.deepStrictEqual(
            folders.sort(),
            [...packageFolders].sort(),
            "the folders compiled and the folders packed",
        );
        assert.deepStrictEqual(
            modules.sort(),
            ["package/index", "stack", ...packageModules].sort(),
            "the single modules compiled and packed",
        );
        for (const folder of ["package", ...packageFolders]) {
            assert.ok(manifest.files.includes(`${folder}/`), `${folder}/ is not in files`);
        }
        for (const module of ["stack", ...packageModules]) {
            assert.ok(manifest.files.includes(`${module}.js`) && manifest.files.includes(`${module}.d.ts`), module);
        }
    });

    it("imports nothing from the project that the package leaves out", () => {
        const packed = [
            "package/index.ts",
            "stack.ts",
            ...packageModules.map((module) => `${module}.ts`),
            ...packageFolders.flatMap((folder) => sourceFiles(folder)),
        ];
        const packedModules = new Set(packed.map((file) => file.replace(/\.ts$/, "")));
        for (const file of packed) {
            const source = fs.readFileSync(path.join(root, file), "utf8");
            for (const [, specifier] of source.matchAll(/(?:from |require\()"(\.{1,2}\/[^"]+)"/g)) {
                const target = path.posix.normalize(path.posix.join(path.posix.dirname(file), specifier));
                assert.ok(
                    packedModules.has(target) || packedModules.has(`${target}/index`),
                    `${file} imports ${specifier}, which the package does not hold`,
                );
            }
        }
    });

    it("exports the component, its type token, outputsOf (the args and outputs as types), trimSdkBookkeeping and startReadingPreviousResources", () => {
        assert.deepStrictEqual(Object.keys(entry).sort(), [
            "MtlsEndpoint",
            "mtlsEndpointType",
            "outputsOf",
            "startReadingPreviousResources",
            "trimSdkBookkeeping",
        ]);
        assert.strictEqual(entry.mtlsEndpointType, "mtls-nginx:index:MtlsEndpoint");
    });

    it("reads at run time only the assets the build copies (components/*.sh)", () => {
        const assets = packageFolders.flatMap((folder) =>
            sourceFiles(folder).flatMap((file) =>
                [
                    ...fs
                        .readFileSync(path.join(root, file), "utf8")
                        .matchAll(/readFileSync\(path\.join\(__dirname, "([^"]+)"\)/g),
                ].map(([, asset]) => path.posix.join(path.posix.dirname(file), asset)),
            ),
        );
        assert.ok(assets.length > 0, "no asset found: the pattern no longer matches the code");
        for (const asset of assets) {
            assert.match(asset, /^components\/[^/]+\.sh$/, `${asset} is not copied by scripts/build-package.sh`);
            assert.ok(fs.existsSync(path.join(root, asset)), asset);
        }
    });

    it("keeps this checkout's delivery commands as they were (ts-node): deployed stacks see no change", () => {
        assert.strictEqual(
            deliveryCommand("deliverFiles", "--restore-if-changed"),
            "node --require ts-node/register/transpile-only delivery/deliverFiles.ts --restore-if-changed",
        );
    });
});

function sourceFiles(folder: string): string[] {
    return fs.readdirSync(path.join(root, folder), { withFileTypes: true }).flatMap((entry) => {
        const relative = path.posix.join(folder, entry.name);
        if (entry.isDirectory()) {
            return sourceFiles(relative);
        }
        return entry.name.endsWith(".ts") ? [relative] : [];
    });
}
