/**
 * The configuration reference, generated from config/configTable.ts so that each key's description,
 * type and default are written once, in the table. A Markdown file marks each generated table:
 *
 *     <!-- prettier-ignore-start -->
 *     <!-- generated: config table -->                       (every key, in table order)
 *     <!-- generated: config table: platform, replicas -->   (only these keys, in this order)
 *     ...
 *     <!-- end generated -->
 *     <!-- prettier-ignore-end -->
 *
 * `bash scripts/with-node.sh node -r ts-node/register/transpile-only scripts/configReference.ts --write` rewrites every marked table of
 * README.md and docs/*.md; `--check` (the default) only names the files whose tables are stale and
 * exits 1. tests/unit/configReference.test.ts fails while any is stale.
 */
import * as fs from "fs";
import * as path from "path";
import { ConfigKey, configTableEntries, hasComputedDefault } from "../config/configTable";

const repoRoot = path.join(__dirname, "..");

/** The file that holds the whole reference: every key, under the `<!-- generated: config table -->` marker. */
export const referenceFile = "docs/configuration.md";

/** The command that regenerates every marked table (the test's failure message names it). */
export const regenerateCommand =
    "bash scripts/with-node.sh node -r ts-node/register/transpile-only scripts/configReference.ts --write";

const startMarker = "<!-- generated: config table";
const endMarker = "<!-- end generated -->";
const ignoreStart = "<!-- prettier-ignore-start -->";
const ignoreEnd = "<!-- prettier-ignore-end -->";

/**
 * One marked table, with the prettier-ignore lines around it when they are there (a region written
 * without them gets them on the next --write). Group 1: the key list after "config table: ", if any.
 */
const regionPattern = new RegExp(
    `(?:${ignoreStart}\\n)?${startMarker}(?:: ([^\\n]*?))? -->\\n[\\s\\S]*?${endMarker}(?:\\n${ignoreEnd})?`,
    "g",
);

/** Text as a table cell: Markdown's special characters escaped, `|` included, on one line. */
export function escapeCell(text: string): string {
    return text
        .replace(/\s*\n\s*/g, " ")
        .replace(/[\\`*[\]<>|~]/g, (character) => `\\${character}`)
        .replace(/&(?=#?\w+;)/g, "\\&")
        .replace(/_/g, (underscore, offset: number, whole: string) =>
            /[\p{L}\p{N}]/u.test(whole[offset - 1] ?? "") && /[\p{L}\p{N}]/u.test(whole[offset + 1] ?? "")
                ? underscore
                : "\\_",
        );
}

/** A code span that holds any text, a `|` included (GitHub's tables split cells on `|` even inside code). */
function codeSpan(text: string): string {
    const longestRun = Math.max(0, ...(text.match(/`+/g) ?? []).map((run) => run.length));
    const fence = "`".repeat(longestRun + 1);
    const padding = text.startsWith("`") || text.endsWith("`") ? " " : "";
    return `${fence}${padding}${text.replace(/\|/g, "\\|")}${padding}${fence}`;
}

/** A value as a stack file would spell it: bare strings at the top, JSON inside lists and objects. */
function formatValue(value: unknown, nested = false): string {
    if (Array.isArray(value)) {
        return `[${value.map((item) => formatValue(item, true)).join(", ")}]`;
    }
    if (value !== null && typeof value === "object") {
        const fields = Object.entries(value).map(
            ([name, item]) => `${JSON.stringify(name)}: ${formatValue(item, true)}`,
        );
        return `{${fields.join(", ")}}`;
    }
    if (typeof value === "string" && !nested && value !== "") {
        return value;
    }
    return JSON.stringify(value);
}

function typeCell(declaration: ConfigKey<unknown>): string {
    return declaration.items === undefined ? declaration.type : `${declaration.type} of ${declaration.items}`;
}

function defaultCell(declaration: ConfigKey<unknown>): string {
    return hasComputedDefault(declaration)
        ? `computed: ${escapeCell(declaration.computedDefault.rule)}`
        : codeSpan(formatValue(declaration.default));
}

/** Rows as a Markdown table, each column padded to its widest cell. */
function markdownTable(header: readonly string[], rows: readonly (readonly string[])[]): string {
    const width = (cell: string) => [...cell].length;
    const widths = header.map((title, column) => Math.max(3, width(title), ...rows.map((row) => width(row[column]))));
    const line = (cells: readonly string[]) =>
        `| ${cells.map((cell, column) => cell + " ".repeat(widths[column] - width(cell))).join(" | ")} |`;
    return [line(header), line(widths.map((columnWidth) => "-".repeat(columnWidth))), ...rows.map(line)].join("\n");
}

/**
 * The key table: every key of the table in its order, or the keys named, in their order. Each row is
 * the key, its type in Pulumi.yaml, its default (or the rule of a computed one) and its description.
 */
export function renderConfigTable(
    keys?: readonly string[],
    table: ReadonlyMap<string, ConfigKey<unknown>> = configTableEntries,
): string {
    const names = keys ?? [...table.keys()];
    const unknown = names.filter((name) => !table.has(name));
    if (unknown.length > 0) {
        throw new Error(`not keys of config/configTable.ts: ${unknown.join(", ")}`);
    }
    const rows = names.map((name) => {
        const declaration = table.get(name)!;
        return [codeSpan(name), typeCell(declaration), defaultCell(declaration), escapeCell(declaration.description)];
    });
    return markdownTable(["key", "type", "default", "description"], rows);
}

/** A whole marked region: the markers, and the table between them, kept out of prettier's hands. */
export function renderRegion(
    keys?: readonly string[],
    table: ReadonlyMap<string, ConfigKey<unknown>> = configTableEntries,
): string {
    const marker = keys === undefined ? `${startMarker} -->` : `${startMarker}: ${keys.join(", ")} -->`;
    return [ignoreStart, marker, "", renderConfigTable(keys, table), "", endMarker, ignoreEnd].join("\n");
}

/** The generated part of docs/configuration.md: every key, with its type, default and description. */
export function renderConfigurationReference(): string {
    return renderRegion();
}

/** The key lists of a text's marked regions (undefined: every key). */
export function markedRegions(text: string): Array<readonly string[] | undefined> {
    return [...text.matchAll(regionPattern)].map(([, list]) =>
        list === undefined ? undefined : list.split(",").map((name) => name.trim()),
    );
}

/** The text with every marked region rendered afresh from the table. */
export function regenerate(text: string, table: ReadonlyMap<string, ConfigKey<unknown>> = configTableEntries): string {
    return text.replace(regionPattern, (_region, list: string | undefined) =>
        renderRegion(list === undefined ? undefined : list.split(",").map((name) => name.trim()), table),
    );
}

/** The Markdown files that may hold marked regions, relative to the repository: README.md and docs/*.md. */
export function documentationFiles(root: string = repoRoot): string[] {
    const docs = path.join(root, "docs");
    const pages = fs.existsSync(docs)
        ? fs
              .readdirSync(docs)
              .filter((name) => name.endsWith(".md"))
              .sort()
              .map((name) => `docs/${name}`)
        : [];
    return ["README.md", ...pages];
}

function main(argv: readonly string[]): number {
    const unknown = argv.filter((arg) => arg !== "--write" && arg !== "--check");
    if (unknown.length > 0) {
        console.error(
            `usage: node -r ts-node/register scripts/configReference.ts [--write | --check] (not ${unknown.join(" ")})`,
        );
        return 64;
    }
    const write = argv.includes("--write");
    const reference = fs.readFileSync(path.join(repoRoot, referenceFile), "utf8");
    if (!markedRegions(reference).some((keys) => keys === undefined)) {
        console.error(`${referenceFile} has no "${startMarker} -->" ... "${endMarker}" region for the whole table`);
        return 1;
    }
    const stale: string[] = [];
    for (const file of documentationFiles()) {
        const text = fs.readFileSync(path.join(repoRoot, file), "utf8");
        const fresh = regenerate(text);
        if (fresh !== text) {
            stale.push(file);
            if (write) {
                fs.writeFileSync(path.join(repoRoot, file), fresh);
            }
        }
    }
    if (stale.length === 0) {
        console.log("the configuration reference matches config/configTable.ts");
        return 0;
    }
    if (write) {
        console.log(`regenerated from config/configTable.ts: ${stale.join(", ")}`);
        return 0;
    }
    console.error(`stale against config/configTable.ts: ${stale.join(", ")}; run ${regenerateCommand}`);
    return 1;
}

if (require.main === module) {
    process.exitCode = main(process.argv.slice(2));
}
