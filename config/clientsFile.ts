/**
 * The `clientsFile` key (stack config only): a YAML or JSON file that holds the clients list, for a
 * list too long for stack config (Pulumi hands the whole stack config to the program in one
 * environment variable, which Linux caps at 128 KiB). Its entries are those of `clients`, a csrFile
 * among them relative to the project directory too; problems in it are named `clientsFile[i]...`.
 */
import * as yaml from "js-yaml";
import type { ClientEntry } from "../domain/clients";
import { clientEntryList } from "./clientEntries";
import { readNamedFile } from "./files";
import { ConfigProblems } from "./problems";
import type { ConfigContext, ConfigSettings, RawStackConfig } from "./types";
import { Parse, show } from "./values";

const clientsFileAllowed =
    "the path of a YAML or JSON file that holds the clients list (names, {name, csr} or {name, csrFile} " +
    "entries), relative to the project directory (where Pulumi.yaml is) or absolute";

/** The key's own value: a path, or "" for none (the file is read across keys, by clientsOf). */
export const clientsFilePath: Parse<string> = (value, key, problems) => {
    if (typeof value !== "string") {
        problems.add(key, `${show(value)} is not a string; allowed: ${clientsFileAllowed}, or "" for none`);
        return undefined;
    }
    return value;
};

const readEntries = clientEntryList(
    "holds an empty list; allowed: a non-empty list of client names or {name, csr} or {name, csrFile} objects",
);

/**
 * The clients: the `clients` key's, or the list the file `clientsFile` names holds (undefined when
 * that file or an entry of it is not allowed, the problem reported). `clients` has no default while
 * clientsFile is set (configTable.ts), so a clients value beside clientsFile was set, whatever it
 * holds (an invalid one reads as undefined, its own problem reported): that is refused.
 */
export function clientsOf(
    settings: Partial<ConfigSettings>,
    raw: RawStackConfig,
    context: ConfigContext,
    problems: ConfigProblems,
): ClientEntry[] | undefined {
    const { clients, clientsFile } = settings;
    if (clientsFile === undefined || clientsFile === "") {
        return clients;
    }
    if (Object.hasOwn(raw, "clients") && raw.clients !== undefined) {
        problems.add(
            "clientsFile",
            "is set, and so is mtls-nginx:clients; allowed: one of them (clients: the list in stack config; " +
                "clientsFile: a file that holds it)",
        );
        return clients;
    }
    const read = readNamedFile(clientsFile, "clientsFile", clientsFileAllowed, context, problems);
    if (read === undefined) {
        return undefined;
    }
    let list: unknown;
    try {
        // The core schema: plain YAML 1.2 and JSON, no dates or other tags (a name like 2026-01-01 stays a name).
        list = yaml.load(read.text, { schema: yaml.CORE_SCHEMA, filename: read.file });
    } catch (error) {
        const reason = (error as Error).message.split("\n")[0];
        problems.add("clientsFile", `${read.file} is not YAML or JSON (${reason}); allowed: ${clientsFileAllowed}`);
        return undefined;
    }
    if (!Array.isArray(list)) {
        problems.add("clientsFile", `${read.file} holds ${show(list)}, not a list; allowed: ${clientsFileAllowed}`);
        return undefined;
    }
    return readEntries(list, "clientsFile", problems, context);
}
