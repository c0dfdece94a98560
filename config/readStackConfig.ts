import * as pulumi from "@pulumi/pulumi";
import * as fs from "fs";
import type { MtlsEndpointArgs } from "../components/mtlsEndpointArgs";
import { configNamespace } from "./problems";
import { argsOfStackConfig, RawStackConfig, StackConfig, StackConfigError, validateStackConfig } from "./stackConfig";

export { configNamespace };

/**
 * Reads every `mtls-nginx:*` key of the current stack and validates it. The only place that
 * touches stack config, and the files it names (clientsFile, a client's csrFile: relative to
 * `projectDirectory`, where Pulumi.yaml is): components receive the validated StackConfig. Reading
 * all keys (not only known ones) lets the validator catch a misspelt key instead of silently using
 * a default. Invalid config ends `pulumi up` with a RunError: every problem in one message, no
 * stack trace.
 */
export function readStackConfig(projectDirectory: string): StackConfig {
    return validateStackConfigOrStop(readRawStackConfig(), projectDirectory);
}

/**
 * The stack config as MtlsEndpoint args, once it validates as stack config: its problems name the
 * stack config keys (`mtls-nginx:KEY`), which is what the user edits. The files it names are read
 * here, once: the args hold what they hold (the clients list, each CSR's PEM), never a file name.
 */
export function readStackConfigArgs(projectDirectory: string): MtlsEndpointArgs {
    const raw = readRawStackConfig();
    return argsOfStackConfig(raw, validateStackConfigOrStop(raw, projectDirectory)) as MtlsEndpointArgs;
}

/** Every `mtls-nginx:*` key as set, values parsed from their text form. */
function readRawStackConfig(): RawStackConfig {
    const prefix = `${configNamespace}:`;
    // Object.fromEntries defines own properties: a key named "__proto__" stays a key (and is reported unknown).
    return Object.fromEntries(
        Object.entries(pulumi.runtime.allConfig())
            .filter(([fullKey]) => fullKey.startsWith(prefix))
            .map(([fullKey, text]) => [fullKey.slice(prefix.length), parseConfigValue(text)]),
    );
}

function validateStackConfigOrStop(raw: RawStackConfig, projectDirectory: string): StackConfig {
    try {
        return validateStackConfig(raw, { stack: pulumi.getStack(), projectDirectory, readFile });
    } catch (error) {
        if (error instanceof StackConfigError) {
            throw new pulumi.RunError(error.message);
        }
        throw error;
    }
}

/** The files the stack config names, read as UTF-8 text. */
function readFile(file: string): string {
    return fs.readFileSync(file, "utf8");
}

/** Structured values (lists, objects) arrive as JSON text; scalars stay strings for the validator. */
function parseConfigValue(text: string): unknown {
    const trimmed = text.trim();
    if (trimmed.startsWith("[") || trimmed.startsWith("{")) {
        try {
            return JSON.parse(trimmed);
        } catch {
            return text;
        }
    }
    return text;
}
