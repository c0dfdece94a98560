import * as path from "path";
import type { ConfigContext, ConfigSettings } from "./configTable";
import { ConfigProblems } from "./problems";
import { Check, show } from "./values";

// Docker's own rule for container names ([a-zA-Z0-9][a-zA-Z0-9_.-]+), kept to 63 characters.
const containerNamePattern = /^[a-zA-Z0-9][a-zA-Z0-9_.-]{1,62}$/;

/** The container's name. */
export const checkContainerName: Check = (name) =>
    containerNamePattern.test(name)
        ? undefined
        : `${show(name)} is not a Docker container name; allowed: 2-63 letters, digits, '_', '.' or '-', ` +
          "starting with a letter or digit";

/** The worker count Nginx runs. */
export const checkWorkerProcesses: Check = (value) =>
    /^(auto|[1-9][0-9]{0,2})$/.test(value) ? undefined : `${show(value)} is not allowed; allowed: "auto" or 1-999`;

const hostDirectoryAllowed =
    "a non-empty directory path without ':' or control characters, other than the filesystem root";

/** The host directory as written (relative to the project directory, or absolute). */
export const checkHostDirectory: Check = (directory) =>
    // Docker's bind syntax (host:container:options) splits on ':'.
    directory === "" || /[:\p{Cc}]/u.test(directory)
        ? `${show(directory)} is not allowed; allowed: ${hostDirectoryAllowed}`
        : undefined;

/** The host directory as the container mounts it: absolute, resolved against the project directory. */
export function resolveHostDirectory(directory: string, context: ConfigContext): string {
    return path.resolve(context.projectDirectory, directory);
}

/** Endpoint concern, with the context: the host directory must not be the root (it is emptied and rewritten). */
export function validateEndpoint(
    settings: Partial<ConfigSettings>,
    context: ConfigContext,
    problems: ConfigProblems,
): void {
    if (settings.hostDirectory !== undefined) {
        const resolved = resolveHostDirectory(settings.hostDirectory, context);
        if (resolved === path.parse(resolved).root) {
            problems.add(
                "hostDirectory",
                `${show(settings.hostDirectory)} is the filesystem root; allowed: ${hostDirectoryAllowed}`,
            );
        }
    }
}
