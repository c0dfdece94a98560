import * as pulumi from "@pulumi/pulumi";
import { configNamespace } from "./problems";
import { RawStackConfig, StackConfig, StackConfigError, validateStackConfig } from "./stackConfig";

export { configNamespace };

/**
 * Reads every `mtls-nginx:*` key of the current stack and validates it. The only place that
 * touches stack config: components receive the validated StackConfig. Reading all keys (not
 * only known ones) lets the validator catch a misspelt key instead of silently using a default.
 * Invalid config ends `pulumi up` with a RunError: every problem in one message, no stack trace.
 */
export function readStackConfig(projectDirectory: string): StackConfig {
    const prefix = `${configNamespace}:`;
    // Object.fromEntries defines own properties: a key named "__proto__" stays a key (and is reported unknown).
    const raw: RawStackConfig = Object.fromEntries(
        Object.entries(pulumi.runtime.allConfig())
            .filter(([fullKey]) => fullKey.startsWith(prefix))
            .map(([fullKey, text]) => [fullKey.slice(prefix.length), parseConfigValue(text)]),
    );
    try {
        return validateStackConfig(raw, { stack: pulumi.getStack(), projectDirectory });
    } catch (error) {
        if (error instanceof StackConfigError) {
            throw new pulumi.RunError(error.message);
        }
        throw error;
    }
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
