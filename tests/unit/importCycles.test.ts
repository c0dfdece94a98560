import * as assert from "assert";
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as path from "path";

const root = path.join(__dirname, "..", "..");

/** The product code: what `pulumi up`, the policy pack and the scripts load. Tests, testkit and bench are not. */
const productFolders = [
    "components",
    "config",
    "delivery",
    "domain",
    "nginx",
    "steps",
    "policy",
    "program",
    "rotation",
    "scripts",
];

function typeScriptFiles(folder: string, recurse: boolean): string[] {
    return fs
        .readdirSync(path.join(root, folder), { withFileTypes: true })
        .flatMap((entry) => {
            const relative = path.posix.join(folder, entry.name);
            if (entry.isDirectory()) {
                return recurse && entry.name !== "node_modules" ? typeScriptFiles(relative, true) : [];
            }
            return entry.name.endsWith(".ts") && !entry.name.endsWith(".d.ts") ? [relative] : [];
        })
        .sort();
}

const productFiles = [
    ...typeScriptFiles(".", false).map((file) => path.posix.normalize(file)),
    ...productFolders.flatMap((folder) => typeScriptFiles(folder, true)),
];

/** One relative import of a file, as written. */
interface Import {
    readonly specifier: string;
    /** `import type`, `export type`, or braces whose every name is marked `type`: gone once compiled. */
    readonly typeOnly: boolean;
}

// `import a, { b, type C } from "./x"`, `import * as x from "./x"`, `export { a } from "./x"`, `export * from "./x"`:
// the clause holds only names, braces, commas and `*`, so the match cannot run on into other statements.
const fromStatement = /^[ \t]*(import|export)\s+(type\s+)?([\w$\s{},*]*?)\s*from\s*["'](\.[^"']*)["']/gm;
// `import "./x"` (for its side effects).
const bareImport = /^[ \t]*import\s*["'](\.[^"']*)["']/gm;
// `require("./x")`, and `import x = require("./x")`.
const requireCall = /\brequire\(\s*["'](\.[^"']*)["']\s*\)/g;

/** Whether an import or export clause names types only (`{ type A, type B }`, with no default import). */
function namesTypesOnly(clause: string): boolean {
    const braces = /^\{([^}]*)\}$/.exec(clause.trim());
    if (braces === null) {
        return false;
    }
    const names = braces[1]
        .split(",")
        .map((name) => name.trim())
        .filter((name) => name !== "");
    return names.length > 0 && names.every((name) => /^type\s/.test(name));
}

/** The relative imports of a source text: a small parser, not TypeScript's, so it reads statements as written. */
function relativeImports(source: string): Import[] {
    return [
        ...[...source.matchAll(fromStatement)].map(([, , type, clause, specifier]) => ({
            specifier,
            typeOnly: type !== undefined || namesTypesOnly(clause),
        })),
        ...[...source.matchAll(bareImport)].map(([, specifier]) => ({ specifier, typeOnly: false })),
        ...[...source.matchAll(requireCall)].map(([, specifier]) => ({ specifier, typeOnly: false })),
    ];
}

/** The product file an import names, if it is one (`./x` is `./x.ts` or `./x/index.ts`). */
function resolve(from: string, specifier: string, known: ReadonlySet<string>): string | undefined {
    const base = path.posix.normalize(path.posix.join(path.posix.dirname(from), specifier));
    return [base, `${base}.ts`, `${base}/index.ts`].find((candidate) => known.has(candidate));
}

/**
 * Who imports whom at run time. Type-only imports are left out: TypeScript erases them, so they
 * load nothing and cannot make a module run before the modules it needs.
 */
function runtimeImportGraph(files: readonly string[]): Map<string, string[]> {
    const known = new Set(files);
    return new Map(
        files.map((file) => {
            const targets = relativeImports(fs.readFileSync(path.join(root, file), "utf8"))
                .filter((found) => !found.typeOnly)
                .map((found) => resolve(file, found.specifier, known))
                .filter((target): target is string => target !== undefined);
            return [file, [...new Set(targets)]];
        }),
    );
}

/** Every cycle a depth-first walk meets, each as the files around it ending where it began. */
function importCycles(graph: ReadonlyMap<string, readonly string[]>): string[][] {
    const cycles: string[][] = [];
    const done = new Set<string>();
    const onPath: string[] = [];
    const visit = (file: string): void => {
        onPath.push(file);
        for (const target of graph.get(file) ?? []) {
            const start = onPath.indexOf(target);
            if (start >= 0) {
                cycles.push([...onPath.slice(start), target]);
            } else if (!done.has(target)) {
                visit(target);
            }
        }
        onPath.pop();
        done.add(file);
    };
    for (const file of graph.keys()) {
        if (!done.has(file)) {
            visit(file);
        }
    }
    return cycles;
}

describe("import cycles", () => {
    describe("the import parser", () => {
        it("reads import, export-from and require statements, and tells type-only ones apart", () => {
            const source = [
                'import * as fs from "fs";',
                'import { a, b } from "./values";',
                'import def, { type C } from "./withDefault";',
                "import {",
                "    type D,",
                "    type E,",
                '} from "./onlyTypes";',
                'import type { F } from "./typeKeyword";',
                'export { g } from "./reexport";',
                'export type { H } from "./typeReexport";',
                'export * from "./everything";',
                'import "./sideEffect";',
                'const lazy = require("./lazy");',
                '// import { commented } from "./comment";',
                'const text = "Array.from(\\"./notAnImport\\")";',
            ].join("\n");
            assert.deepStrictEqual(
                relativeImports(source).map((found) => `${found.specifier}${found.typeOnly ? " (type)" : ""}`),
                [
                    "./values",
                    "./withDefault",
                    "./onlyTypes (type)",
                    "./typeKeyword (type)",
                    "./reexport",
                    "./typeReexport (type)",
                    "./everything",
                    "./sideEffect",
                    "./lazy",
                ],
            );
        });

        it("names every file around a cycle", () => {
            const graph = new Map([
                ["a.ts", ["b.ts"]],
                ["b.ts", ["c.ts"]],
                ["c.ts", ["a.ts", "d.ts"]],
                ["d.ts", []],
            ]);
            assert.deepStrictEqual(importCycles(graph), [["a.ts", "b.ts", "c.ts", "a.ts"]]);
        });
    });

    describe("the product code", () => {
        const graph = runtimeImportGraph(productFiles);

        it("walks every product folder and sees their imports", () => {
            for (const file of [
                "index.ts",
                "stack.ts",
                "config/stackConfig.ts",
                "scripts/status.ts",
                "policy/index.ts",
            ]) {
                assert.ok(graph.has(file), `${file} is not walked`);
            }
            assert.ok(graph.get("config/stackConfig.ts")!.includes("config/configTable.ts"));
            assert.ok(![...graph.keys()].some((file) => /^(tests|testkit|bench|toolchain|node_modules)\//.test(file)));
        });

        // Node runs a module that is still loading as a half-filled exports object: in a cycle, which
        // module works depends on which one happened to be required first.
        it("has no import cycle (type-only imports aside: they vanish at run time)", () => {
            const cycles = importCycles(graph).map((cycle) => cycle.join(" -> "));
            assert.deepStrictEqual(cycles, [], `import cycles:\n  ${cycles.join("\n  ")}`);
        });

        // The reviewer's case (issue 18): config/endpoint required first used to leave the table's checks
        // undefined ("check is not a function"). Each config module goes first once, in a fresh module cache.
        it("validates config whichever config module is required first (config/endpoint among them)", () => {
            const modules = typeScriptFiles("config", true).map((file) => `./${file.replace(/\.ts$/, "")}`);
            assert.ok(modules.includes("./config/endpoint"));
            const script = `
                const path = require("path");
                const ours = (file) => !file.includes(path.sep + "node_modules" + path.sep);
                const failures = [];
                for (const first of ${JSON.stringify(modules)}) {
                    for (const file of Object.keys(require.cache).filter(ours)) delete require.cache[file];
                    try {
                        require(first);
                        const { validateStackConfig } = require("./config/stackConfig");
                        const config = validateStackConfig({ containerName: "x1" }, { stack: "dev", projectDirectory: "." });
                        if (config.containerName !== "x1") throw new Error("containerName is " + config.containerName);
                    } catch (error) {
                        failures.push(first + " first: " + (error && error.message));
                    }
                }
                process.stdout.write(JSON.stringify(failures));
            `;
            const result = spawnSync(process.execPath, ["-r", "ts-node/register/transpile-only", "-e", script], {
                cwd: root,
                encoding: "utf8",
            });
            assert.strictEqual(result.status, 0, result.stderr);
            assert.deepStrictEqual(JSON.parse(result.stdout), []);
        });
    });
});
