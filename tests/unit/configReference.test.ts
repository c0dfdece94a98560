import * as assert from "assert";
import * as fs from "fs";
import * as path from "path";
import { ConfigKey, configKeys, configTableEntries } from "../../config/configTable";
import {
    documentationFiles,
    escapeCell,
    markedRegions,
    referenceFile,
    regenerate,
    regenerateCommand,
    renderConfigTable,
    renderConfigurationReference,
    renderRegion,
} from "../../scripts/configReference";

const root = path.join(__dirname, "..", "..");
const readText = (file: string) => fs.readFileSync(path.join(root, file), "utf8");

/** A table row's cells: split on the `|` that are not escaped. */
function cells(row: string): string[] {
    return row
        .split(/(?<!\\)\|/)
        .slice(1, -1)
        .map((cell) => cell.trim());
}

/** The body rows of a rendered table (header and delimiter row dropped). */
function bodyRows(table: string): string[][] {
    return table
        .split("\n")
        .filter((line) => line.startsWith("|"))
        .slice(2)
        .map(cells);
}

describe("the configuration reference (scripts/configReference.ts)", () => {
    it(`${referenceFile} holds exactly the key table config/configTable.ts renders`, () => {
        assert.ok(
            readText(referenceFile).includes(renderConfigurationReference()),
            `${referenceFile}'s key table is not what config/configTable.ts renders: run \`${regenerateCommand}\` to regenerate it`,
        );
    });

    it("keeps every generated key table of README.md and docs/ up to date", () => {
        for (const file of documentationFiles()) {
            const text = readText(file);
            assert.ok(
                regenerate(text) === text,
                `${file} has a key table that is not what config/configTable.ts renders: run \`${regenerateCommand}\` to regenerate it`,
            );
        }
    });

    it("lists every key once, in the table's order, each row with four cells", () => {
        const rows = bodyRows(renderConfigTable());
        assert.deepStrictEqual(
            rows.map((row) => row[0]),
            configKeys.map((name) => `\`${name}\``),
        );
        for (const row of rows) {
            assert.strictEqual(row.length, 4, `a row splits into ${row.length} cells: ${row.join(" | ")}`);
        }
    });

    it("writes each description once: no page repeats one outside its generated tables", () => {
        for (const file of documentationFiles()) {
            const prose = readText(file).replace(/<!-- generated: config table[\s\S]*?<!-- end generated -->/g, "");
            for (const [name, declaration] of configTableEntries) {
                assert.ok(
                    !prose.includes(declaration.description),
                    `${file} repeats ${name}'s description outside a generated table: link to ${referenceFile} instead`,
                );
            }
        }
    });

    it("renders a region per marker: every key, or the keys it names, in its order", () => {
        assert.deepStrictEqual(
            markedRegions(regenerate(`a\n${renderRegion()}\nb\n${renderRegion(["replicas", "platform"])}\n`)),
            [undefined, ["replicas", "platform"]],
        );
        const subset = bodyRows(renderConfigTable(["replicas", "platform"])).map((row) => row[0]);
        assert.deepStrictEqual(subset, ["`replicas`", "`platform`"]);
        // A region written without its prettier-ignore lines gets them.
        const bare = "<!-- generated: config table: platform -->\nstale\n<!-- end generated -->";
        assert.strictEqual(regenerate(`x\n${bare}\ny`), `x\n${renderRegion(["platform"])}\ny`);
    });

    it("refuses a marker that names a key the table does not have", () => {
        assert.throws(
            () => regenerate("<!-- generated: config table: platform, hostDirectory -->\n<!-- end generated -->"),
            /not keys of config\/configTable\.ts: hostDirectory/,
        );
    });

    it("escapes what Markdown would read: | in any cell, HTML-like and emphasis characters in text", () => {
        const fake = new Map<string, ConfigKey<unknown>>([
            [
                "pipes",
                {
                    type: "array",
                    items: "string",
                    description: "a|b, <stack>, *not emphasis*, _nor this_, snake_case stays, [not a link]",
                    default: ["x|y"],
                    parse: () => [],
                },
            ],
            [
                "computed",
                {
                    type: "string",
                    description: "plain",
                    computedDefault: { rule: "mtls-nginx-<stack>|x", compute: () => "" },
                    parse: () => "",
                },
            ],
        ]);
        const [pipes, computed] = bodyRows(renderConfigTable(undefined, fake));
        assert.deepStrictEqual(pipes, [
            "`pipes`",
            "array of string",
            '`["x\\|y"]`',
            "a\\|b, \\<stack\\>, \\*not emphasis\\*, \\_nor this\\_, snake_case stays, \\[not a link\\]",
        ]);
        assert.deepStrictEqual(computed.slice(1, 3), ["string", "computed: mtls-nginx-\\<stack\\>\\|x"]);
        assert.strictEqual(escapeCell("two\n  lines"), "two lines");
    });
});
