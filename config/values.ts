import { ConfigProblems } from "./problems";
import type { ConfigContext } from "./types";

/**
 * Reads one set value: returns it parsed, or reports under `key` and returns undefined. Values arrive
 * as Pulumi gives them (scalars as strings, lists and objects parsed from JSON) or as plain JSON values.
 * `context`: what the validator was given (whose config it is, and how to read the files it names).
 */
export type Parse<T> = (
    value: unknown,
    key: string,
    problems: ConfigProblems,
    context?: ConfigContext,
) => T | undefined;

/** Checks one string: a message naming the value and what is allowed, or undefined when it is fine. */
export type Check = (value: string) => string | undefined;

/** Shows a value in a message: strings quoted, anything else as JSON. */
export function show(value: unknown): string {
    const text = JSON.stringify(value) ?? String(value);
    return text.length > 80 ? `${text.slice(0, 77)}...` : text;
}

/** A string, checked; the check decides about the empty string too (and names what is allowed). */
export function text(check: Check): Parse<string> {
    return (value, key, problems) => {
        if (typeof value !== "string") {
            problems.add(key, `${show(value)} is not a string; allowed: a string`);
            return undefined;
        }
        const problem = check(value);
        if (problem !== undefined) {
            problems.add(key, problem);
            return undefined;
        }
        return value;
    };
}

/** An integer in [min, max]; Pulumi passes integers as decimal strings. */
export function integer(min: number, max: number): Parse<number> {
    return (value, key, problems) => {
        const parsed = typeof value === "string" && /^-?[0-9]+$/.test(value) ? Number(value) : value;
        if (typeof parsed !== "number" || !Number.isInteger(parsed)) {
            problems.add(key, `${show(value)} is not an integer; allowed: an integer from ${min} to ${max}`);
            return undefined;
        }
        if (parsed < min || parsed > max) {
            problems.add(key, `${show(value)} is out of range; allowed: an integer from ${min} to ${max}`);
            return undefined;
        }
        return parsed;
    };
}

/** true or false; Pulumi passes booleans as "true" or "false". */
export function flag(): Parse<boolean> {
    return (value, key, problems) => {
        if (value === true || value === "true") {
            return true;
        }
        if (value === false || value === "false") {
            return false;
        }
        problems.add(key, `${show(value)} is not a boolean; allowed: true or false`);
        return undefined;
    };
}

/** One of a fixed set of strings, compared exactly. */
export function oneOf<T extends string>(allowed: readonly T[]): Parse<T> {
    return (value, key, problems) => {
        if (typeof value !== "string" || !(allowed as readonly string[]).includes(value)) {
            problems.add(key, `${show(value)} is not allowed; allowed: ${allowed.join(", ")}`);
            return undefined;
        }
        return value as T;
    };
}

export interface ListOptions {
    /** What one entry is, for messages: "client name". */
    readonly noun: string;
    /** Checks each entry. */
    readonly item?: Check;
    /**
     * Entries equal under `normalize` are duplicates (default: identical strings); `why` explains it in
     * the message, `qualifier` ends the allowed part ("regardless of case").
     */
    readonly sameness?: {
        readonly normalize: (value: string) => string;
        readonly why: string;
        readonly qualifier: string;
    };
    /** Message for an empty list; absent: an empty list is fine. */
    readonly emptyMessage?: string;
}

/** A list of strings: every entry checked, no entry twice. Reports every bad entry, not just the first. */
export function stringList(options: ListOptions): Parse<string[]> {
    return (value, key, problems) => {
        if (!Array.isArray(value) || value.some((item) => typeof item !== "string")) {
            problems.add(key, `${show(value)} is not a list of strings; allowed: a list like ["a", "b"]`);
            return undefined;
        }
        const list = value as string[];
        let valid = true;
        if (list.length === 0 && options.emptyMessage !== undefined) {
            problems.add(key, options.emptyMessage);
            valid = false;
        }
        for (const item of list) {
            const problem = options.item?.(item);
            if (problem !== undefined) {
                problems.add(key, problem);
                valid = false;
            }
        }
        for (const duplicate of duplicates(list, options.sameness?.normalize)) {
            const message =
                duplicate.item === duplicate.first
                    ? `${show(duplicate.item)} is listed twice`
                    : `${show(duplicate.item)} repeats ${show(duplicate.first)} (${options.sameness?.why})`;
            const qualifier = options.sameness === undefined ? "" : `, ${options.sameness.qualifier}`;
            problems.add(key, `${message}; allowed: each ${options.noun} once${qualifier}`);
            valid = false;
        }
        return valid ? list : undefined;
    };
}

/** Entries that repeat an earlier one under `normalize`, each with the entry it repeats. */
export function duplicates(
    list: readonly string[],
    normalize: (value: string) => string = (value) => value,
): Array<{ item: string; first: string }> {
    const seen = new Map<string, string>();
    const found: Array<{ item: string; first: string }> = [];
    for (const item of list) {
        const normalized = normalize(item);
        const first = seen.get(normalized);
        if (first === undefined) {
            seen.set(normalized, item);
        } else {
            found.push({ item, first });
        }
    }
    return found;
}
