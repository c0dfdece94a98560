import { Directive, parseNginxConfig } from "./nginxSyntax";

/**
 * Where the rendered nginx.conf travels, and so where policy can read it:
 *   - a `command:local:Command` whose stdin is a file set, JSON `{files: [{name, content}, ...]}`: the
 *     container platform's delivery and the Swarm platform's `nginx -t` check. The stdin is a secret
 *     (it holds the server key too); policies get secrets unwrapped, and never print them;
 *   - a `docker:index/serviceConfig:ServiceConfig` (Swarm) whose base64 `data` is an Nginx main config;
 *   - a `kubernetes:core/v1:ConfigMap` (Kubernetes) whose `data` has an `nginx.conf`.
 * Both are known during `pulumi up`, and in a preview once the CA exists (the config names its session
 * cache after the CA bundle): in the first preview of a stack they are unknown.
 */
export type NginxConfigSource = { readonly parsed: Directive[] } | { readonly unparsable: string } | undefined;

/** The nginx.conf a resource carries, parsed; undefined when it carries none. Reading an unknown value throws. */
export function nginxConfigOf(type: string, props: Record<string, unknown>): NginxConfigSource {
    if (type === "command:local:Command") {
        const content = fileSetEntry(props.stdin, "nginx.conf");
        if (content === undefined) return undefined;
        try {
            return { parsed: parseNginxConfig(content) };
        } catch (error) {
            return { unparsable: (error as Error).message };
        }
    }
    if (type === "kubernetes:core/v1:ConfigMap") {
        const content = (props.data as Record<string, unknown> | undefined)?.["nginx.conf"];
        if (typeof content !== "string") return undefined;
        try {
            return { parsed: parseNginxConfig(content) };
        } catch (error) {
            return { unparsable: (error as Error).message };
        }
    }
    if (type === "docker:index/serviceConfig:ServiceConfig" && typeof props.data === "string") {
        try {
            const parsed = parseNginxConfig(Buffer.from(props.data, "base64").toString("utf8"));
            // PEM files and the CRL deadline never parse, or have no http block: they are not Nginx configs.
            return parsed.some((directive) => directive.name === "http" && directive.block) ? { parsed } : undefined;
        } catch {
            return undefined;
        }
    }
    return undefined;
}

function fileSetEntry(stdin: unknown, name: string): string | undefined {
    if (typeof stdin !== "string" || !stdin.trimStart().startsWith("{")) return undefined;
    let request: unknown;
    try {
        request = JSON.parse(stdin);
    } catch {
        return undefined;
    }
    const files = (request as { files?: unknown }).files;
    if (!Array.isArray(files)) return undefined;
    const entry = files.find((file): file is { name: string; content: string } => {
        const candidate = file as { name?: unknown; content?: unknown };
        return candidate?.name === name && typeof candidate.content === "string";
    });
    return entry?.content;
}
