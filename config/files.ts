/**
 * Files the stack config names (clientsFile, a client's csrFile): a path relative to the project
 * directory (where Pulumi.yaml is) or absolute, read through the context's readFile. The validator
 * does no I/O of its own: the stack's config reader passes fs (config/readStackConfig.ts), a test
 * its own reader, and MtlsEndpoint args name no files at all.
 */
import * as path from "path";
import { ConfigProblems, qualified } from "./problems";
import type { ConfigContext } from "./types";
import { show } from "./values";

/** Whether the config being read may name files: the stack config's may, an MtlsEndpoint's args may not. */
export function namesFiles(context: ConfigContext | undefined): boolean {
    return context !== undefined && context.endpointName === undefined;
}

/** A file read for a key: its absolute path (for messages) and its text. */
export interface NamedFile {
    readonly file: string;
    readonly text: string;
}

/**
 * Reads the file a key's value names, or reports under `key` why it cannot (`allowed`: what the key
 * takes) and returns undefined.
 */
export function readNamedFile(
    value: unknown,
    key: string,
    allowed: string,
    context: ConfigContext | undefined,
    problems: ConfigProblems,
): NamedFile | undefined {
    if (typeof value !== "string") {
        problems.add(key, `${show(value)} is not a string; allowed: ${allowed}`);
        return undefined;
    }
    if (value.trim() === "") {
        problems.add(key, `${show(value)} names no file; allowed: ${allowed}`);
        return undefined;
    }
    if (context?.readFile === undefined) {
        throw new Error(`${qualified(key)} names a file, and the validator was given no readFile to read it with`);
    }
    const file = path.resolve(context.projectDirectory, value);
    try {
        return { file, text: context.readFile(file) };
    } catch (error) {
        const reason = (error as NodeJS.ErrnoException).code ?? (error as Error).message;
        problems.add(key, `${file} cannot be read (${reason}); allowed: ${allowed}`);
        return undefined;
    }
}
