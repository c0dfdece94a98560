/**
 * MtlsEndpoint's surface, written once and rendered where else it is read:
 * - components/mtlsEndpointArgs.ts, the args interface, from the config table: each key (but the
 *   stack-only ones, which name files) becomes an optional arg of the same name, its TypeScript type read from the key's type, and its doc comment
 *   (which `pulumi package get-schema` turns into the schema's description) made of the key's
 *   description and default;
 * - the outputs table of docs/outputs.md, from the output fields of components/mtlsEndpoint.ts and
 *   their doc comments.
 * Unit tests hold both to what this renders.
 *
 * Run: bash scripts/with-node.sh node -r ts-node/register/transpile-only scripts/endpointArgs.ts --write
 */
import * as fs from "fs";
import * as path from "path";
import { configTableEntries, hasComputedDefault } from "../config/configTable";
import type { ConfigKey } from "../config/types";

export const endpointArgsFile = path.join(__dirname, "..", "components", "mtlsEndpointArgs.ts");
const endpointClassFile = path.join(__dirname, "..", "components", "mtlsEndpoint.ts");
export const outputsDocFile = path.join(__dirname, "..", "docs", "outputs.md");

/** Each output field of the MtlsEndpoint class, with its doc comment, in declaration order. */
export function outputDeclarations(): Array<{ name: string; description: string }> {
    const source = fs.readFileSync(endpointClassFile, "utf8");
    return [...source.matchAll(/\/\*\* (.+?) \*\/\n\s+public readonly (\w+)!: pulumi\.Output</g)].map((match) => ({
        name: match[2],
        description: match[1],
    }));
}

const outputsStart = "<!-- prettier-ignore-start -->\n<!-- generated: outputs table -->";
const outputsEnd = "<!-- end generated -->\n<!-- prettier-ignore-end -->";

/** The outputs table, as docs/outputs.md holds it between its markers. */
export function renderOutputsTable(): string {
    const rows = outputDeclarations().map(
        ({ name, description }) => `| \`${name}\` | ${description.replace(/\|/g, "\\|")} |`,
    );
    return [outputsStart, "| output | what |", "| --- | --- |", ...rows, outputsEnd].join("\n");
}

/** docs/outputs.md with its outputs table rendered afresh. */
export function outputsDocWithTable(current: string): string {
    const start = current.indexOf(outputsStart);
    const end = current.indexOf(outputsEnd, start);
    if (start < 0 || end < 0) {
        throw new Error(`${outputsDocFile} has no outputs table markers`);
    }
    return current.slice(0, start) + renderOutputsTable() + current.slice(end + outputsEnd.length);
}

/** The args interface's source text. */
export function renderEndpointArgs(): string {
    const fields = [...configTableEntries]
        .filter(([, declaration]) => declaration.stackOnly === undefined)
        .map(([name, declaration]) => renderField(name, declaration));
    return [
        "// Generated from config/configTable.ts by scripts/endpointArgs.ts: edit the table, then run",
        "// `bash scripts/with-node.sh node -r ts-node/register/transpile-only scripts/endpointArgs.ts --write`.",
        'import type { ClientEntryArgs } from "./clientArgs";',
        'import type { LocationArgs } from "./locationArgs";',
        "",
        "/**",
        " * What an MtlsEndpoint is made of: the stack config keys, one arg each, all optional (a default",
        " * applies). Plain values, not Outputs: every arg is validated before any resource is registered.",
        " */",
        "export interface MtlsEndpointArgs {",
        ...fields,
        "}",
        "",
    ].join("\n");
}

function renderField(name: string, declaration: ConfigKey<unknown>): string {
    const fallback = hasComputedDefault(declaration)
        ? declaration.computedDefault.rule
        : JSON.stringify(declaration.default);
    // Some descriptions state their default already (a computed one, in words).
    const withDefault = /Default: /.test(declaration.description)
        ? declaration.description
        : `${declaration.description} Default: ${fallback}.`;
    const doc = withDefault.replace(/\*\//g, "*\\/");
    return [`    /** ${doc} */`, `    ${name}?: ${typeScriptType(name, declaration)};`].join("\n");
}

function typeScriptType(name: string, declaration: ConfigKey<unknown>): string {
    switch (declaration.type) {
        case "string":
            return "string";
        case "integer":
            return "number";
        case "boolean":
            return "boolean";
        case "array":
            if (declaration.items === "string") {
                return "string[]";
            }
            if (name === "locations") {
                return "LocationArgs[]";
            }
            if (name === "clients") {
                return "ClientEntryArgs[]";
            }
            throw new Error(`${name}: no args type for an array of ${declaration.items}`);
        case "object":
            throw new Error(`${name}: no args type for an object key`);
    }
}

if (require.main === module) {
    if (process.argv.includes("--write")) {
        fs.writeFileSync(endpointArgsFile, renderEndpointArgs());
        fs.writeFileSync(outputsDocFile, outputsDocWithTable(fs.readFileSync(outputsDocFile, "utf8")));
        console.log(
            `wrote ${path.relative(process.cwd(), endpointArgsFile)} and ${path.relative(process.cwd(), outputsDocFile)}`,
        );
    } else {
        process.stdout.write(renderEndpointArgs());
    }
}
