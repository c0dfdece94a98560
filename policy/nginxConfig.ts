/**
 * The rendered nginx.conf as the policies read it: a small parser (directives, arguments, blocks)
 * and the two checks on it, as pure functions of text. They judge what Nginx will run, not the
 * stack config it was rendered from, so a renderer change that weakens TLS is caught too.
 */

/** One directive: `name args...;` or `name args... { block }`. */
export interface Directive {
    readonly name: string;
    readonly args: readonly string[];
    readonly block?: readonly Directive[];
}

/** Parses nginx.conf text; throws on text Nginx would not parse either (an unclosed block or quote). */
export function parseNginxConfig(text: string): Directive[] {
    const tokens = tokenize(text);
    let position = 0;
    const parseBlock = (nested: boolean): Directive[] => {
        const directives: Directive[] = [];
        let words: string[] = [];
        while (position < tokens.length) {
            const token = tokens[position++];
            if (token.kind === "word") {
                words.push(token.text);
            } else if (token.text === ";") {
                if (words.length === 0) throw new Error(`unexpected ";" on line ${token.line}`);
                directives.push({ name: words[0], args: words.slice(1) });
                words = [];
            } else if (token.text === "{") {
                if (words.length === 0) throw new Error(`unexpected "{" on line ${token.line}`);
                directives.push({ name: words[0], args: words.slice(1), block: parseBlock(true) });
                words = [];
            } else {
                if (!nested) throw new Error(`unexpected "}" on line ${token.line}`);
                if (words.length > 0) throw new Error(`directive "${words[0]}" without ";" on line ${token.line}`);
                return directives;
            }
        }
        if (nested) throw new Error('unexpected end of file: a block is not closed with "}"');
        if (words.length > 0) throw new Error(`directive "${words[0]}" without ";" at the end of the file`);
        return directives;
    };
    return parseBlock(false);
}

interface Token {
    readonly kind: "word" | "punctuation";
    readonly text: string;
    readonly line: number;
}

function tokenize(text: string): Token[] {
    const tokens: Token[] = [];
    let line = 1;
    let index = 0;
    while (index < text.length) {
        const char = text[index];
        if (char === "\n") line++;
        if (/\s/.test(char)) {
            index++;
        } else if (char === "#") {
            while (index < text.length && text[index] !== "\n") index++;
        } else if (char === ";" || char === "{" || char === "}") {
            tokens.push({ kind: "punctuation", text: char, line });
            index++;
        } else if (char === '"' || char === "'") {
            const start = line;
            let value = "";
            index++;
            while (index < text.length && text[index] !== char) {
                if (text[index] === "\\" && index + 1 < text.length) value += text[index++];
                if (text[index] === "\n") line++;
                value += text[index++];
            }
            if (index >= text.length) throw new Error(`unclosed ${char} quote from line ${start}`);
            index++;
            tokens.push({ kind: "word", text: value, line: start });
        } else {
            let value = "";
            while (index < text.length && !/[\s;{}"']/.test(text[index])) value += text[index++];
            tokens.push({ kind: "word", text: value, line });
        }
    }
    return tokens;
}

/** The servers of every http block that complete TLS handshakes (`ssl_reject_handshake on` ones complete none). */
function tlsServers(config: readonly Directive[]): Array<{ http: Directive; server: Directive; label: string }> {
    return config
        .filter((directive) => directive.name === "http")
        .flatMap((http) =>
            children(http, "server")
                .filter((server) => children(server, "listen").some((listen) => listen.args.includes("ssl")))
                .filter((server) => lastArgs(server, "ssl_reject_handshake")?.[0] !== "on")
                .map((server) => ({ http, server, label: serverLabel(server) })),
        );
}

function children(directive: Directive, name: string): Directive[] {
    return (directive.block ?? []).filter((child) => child.name === name);
}

/** Arguments of the last `name` directive directly in the block, if any. */
function lastArgs(directive: Directive, name: string): readonly string[] | undefined {
    return children(directive, name).at(-1)?.args;
}

/** A server-level setting, else the http-level one (Nginx's inheritance for ssl_* directives). */
function effective(http: Directive, server: Directive, name: string): readonly string[] | undefined {
    return lastArgs(server, name) ?? lastArgs(http, name);
}

function serverLabel(server: Directive): string {
    const names = lastArgs(server, "server_name");
    return names && names.length > 0 ? `server ${names.join(" ")}` : "the unnamed server";
}

/** TLS floor: every TLS server states its protocols, all of them allowed; nothing overrides them. */
export function tlsProtocolProblems(config: readonly Directive[], allowedProtocols: readonly string[]): string[] {
    const servers = tlsServers(config);
    if (servers.length === 0) {
        return ["nginx.conf has no server that terminates TLS (listen ... ssl)"];
    }
    const problems: string[] = [];
    for (const { http, server, label } of servers) {
        const protocols = effective(http, server, "ssl_protocols");
        if (!protocols) {
            problems.push(
                `${label}: no ssl_protocols, so the protocols are Nginx's build default; ` +
                    `state them (allowed: ${allowedProtocols.join(", ")})`,
            );
            continue;
        }
        const refused = protocols.filter((protocol) => !allowedProtocols.includes(protocol));
        if (refused.length > 0) {
            problems.push(
                `${label}: ssl_protocols enables ${refused.join(", ")}; allowed: ${allowedProtocols.join(", ")}`,
            );
        }
    }
    for (const directive of everyDirective(config)) {
        if (directive.name === "ssl_conf_command" && /protocol/i.test(directive.args[0] ?? "")) {
            problems.push(`ssl_conf_command ${directive.args.join(" ")} overrides ssl_protocols; it is not allowed`);
        }
    }
    return problems;
}

function everyDirective(config: readonly Directive[]): Directive[] {
    return config.flatMap((directive) => [directive, ...everyDirective(directive.block ?? [])]);
}

export interface ClientVerificationLimits {
    /** ssl_verify_client values allowed. */
    readonly allowedModes: readonly string[];
    /** Location paths that may answer without a verified client certificate under "optional". */
    readonly publicLocations: readonly string[];
}

/**
 * Client verification: every TLS server verifies client certificates against a CA, in an allowed
 * mode; where the mode lets a request without a certificate through the handshake ("optional"),
 * every location refuses one itself, except the public ones, and so do paths no location declares.
 */
export function clientVerificationProblems(config: readonly Directive[], limits: ClientVerificationLimits): string[] {
    const servers = tlsServers(config);
    if (servers.length === 0) {
        return ["nginx.conf has no server that terminates TLS (listen ... ssl)"];
    }
    const problems: string[] = [];
    for (const { http, server, label } of servers) {
        const mode = effective(http, server, "ssl_verify_client")?.[0];
        if (!mode) {
            problems.push(`${label}: no ssl_verify_client, so client certificates are not asked for`);
            continue;
        }
        if (!limits.allowedModes.includes(mode)) {
            problems.push(`${label}: ssl_verify_client is ${mode}; allowed: ${limits.allowedModes.join(", ")}`);
            continue;
        }
        if (!effective(http, server, "ssl_client_certificate") && !effective(http, server, "ssl_trusted_certificate")) {
            problems.push(`${label}: no ssl_client_certificate, so no CA verifies the client certificates`);
        }
        if (mode === "on" || hasGuard(server)) {
            continue;
        }
        const locations = children(server, "location");
        for (const location of unguardedLocations(locations)) {
            const path = location.args.at(-1) ?? "";
            if (!limits.publicLocations.includes(path)) {
                problems.push(
                    `${label}: location ${location.args.join(" ")} answers without a verified client certificate ` +
                        `(ssl_verify_client ${mode}, no "if ($ssl_client_verify != SUCCESS) { return 4xx; }"); ` +
                        `public locations allowed: ${limits.publicLocations.join(", ") || "none"}`,
                );
            }
        }
        const catchAll = locations.find((location) => location.args.length === 1 && location.args[0] === "/");
        if (!catchAll) {
            problems.push(
                `${label}: no "location /", so paths no location declares answer without a verified client ` +
                    `certificate (ssl_verify_client ${mode})`,
            );
        }
    }
    return problems;
}

/** Locations (nested ones too) that neither they nor an enclosing location guard. */
function unguardedLocations(locations: readonly Directive[]): Directive[] {
    return locations.flatMap((location) =>
        hasGuard(location) ? [] : [location, ...unguardedLocations(children(location, "location"))],
    );
}

/** `if ($ssl_client_verify != SUCCESS) { return 4xx; }` directly in the block. */
function hasGuard(block: Directive): boolean {
    return children(block, "if").some((condition) => {
        const test = condition.args
            .join(" ")
            .replace(/[()"']/g, "")
            .replace(/\s+/g, " ")
            .trim();
        const refuses = children(condition, "return").some((answer) => /^4\d\d$/.test(answer.args[0] ?? ""));
        return test === "$ssl_client_verify != SUCCESS" && refuses;
    });
}
