/** The config namespace: the project name in Pulumi.yaml. */
export const configNamespace = "mtls-nginx";

/** A key as the user writes it: `mtls-nginx:clients`, `mtls-nginx:locations[0].path`. */
export function qualified(key: string): string {
    return `${configNamespace}:${key}`;
}

/** One thing wrong with the config: the key (or key path) and what is wrong and allowed. */
export interface ConfigProblem {
    readonly key: string;
    readonly message: string;
}

/**
 * Collects problems so that validation reports every one at once (cert-manager's field.ErrorList):
 * validators append, the caller throws once at the end.
 */
export class ConfigProblems {
    private readonly found: ConfigProblem[] = [];

    add(key: string, message: string): void {
        this.found.push({ key, message });
    }

    /** Whether anything was reported for this key or below it (`locations` covers `locations[0].path`). */
    touches(key: string): boolean {
        return this.found.some(
            (problem) => problem.key === key || problem.key.startsWith(`${key}[`) || problem.key.startsWith(`${key}.`),
        );
    }

    get list(): readonly ConfigProblem[] {
        return this.found;
    }

    /** Throws a StackConfigError listing every problem, if there is any. */
    throwIfAny(): void {
        if (this.found.length > 0) {
            throw new StackConfigError(this.found);
        }
    }
}

/**
 * Raised for invalid stack config. The message lists every problem, one line each, naming the key
 * and what is allowed; `key` is the first problem's key, `errors` all of them.
 */
export class StackConfigError extends Error {
    readonly key: string;
    readonly errors: readonly ConfigProblem[];

    constructor(errors: readonly ConfigProblem[]);
    /** One problem (the form before problems were collected). */
    constructor(key: string, message: string);
    constructor(errorsOrKey: readonly ConfigProblem[] | string, message?: string) {
        const errors = typeof errorsOrKey === "string" ? [{ key: errorsOrKey, message: message ?? "" }] : errorsOrKey;
        if (errors.length === 0) {
            throw new Error("StackConfigError needs at least one problem");
        }
        const lines = errors.map((error) => `"${qualified(error.key)}": ${error.message}`);
        super(
            errors.length === 1
                ? `Invalid stack config ${lines[0]}`
                : [`Invalid stack config (${errors.length} problems):`, ...lines.map((line) => `  ${line}`)].join("\n"),
        );
        this.name = "StackConfigError";
        this.key = errors[0].key;
        this.errors = errors;
    }
}
