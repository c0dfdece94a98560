import * as pulumi from "@pulumi/pulumi";
import { RawStackConfig, StackConfig, validateStackConfig } from "./stackConfig";

/** The config namespace: the project name in Pulumi.yaml. */
export const configNamespace = "mtls-nginx";

/**
 * Reads every `mtls-nginx:*` key of the current stack and validates it. The only place that
 * touches stack config: components receive the validated StackConfig. Reading all keys (not
 * only known ones) lets the validator catch a misspelt key instead of silently using a default.
 */
export function readStackConfig(projectDirectory: string): StackConfig {
    const raw: RawStackConfig = {};
    for (const [fullKey, text] of Object.entries(pulumi.runtime.allConfig())) {
        const [namespace, key] = fullKey.split(":", 2);
        if (namespace === configNamespace && key !== undefined) {
            raw[key] = parseConfigValue(text);
        }
    }
    return validateStackConfig(raw, { stack: pulumi.getStack(), projectDirectory });
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
