import type { Directive } from "./nginxSyntax";

/**
 * The two checks on the rendered nginx.conf, as pure functions of its directives (parsed as Nginx
 * parses them: nginxSyntax.ts). They judge what Nginx will run, not the stack config it was rendered
 * from, so a renderer change that weakens TLS is caught too. Both start from the same floor (see
 * `servingProblems`): text the policy cannot see, and anything that answers outside the TLS servers
 * it judges, fail both.
 */

/** What neither check can judge past: included text, modules, stream/mail servers, plaintext listeners. */
export function servingProblems(config: readonly Directive[]): string[] {
    const problems: string[] = [];
    for (const directive of everyDirective(config)) {
        if (directive.name === "include") {
            problems.push(`${written(directive)}: the policy cannot see an included file; inline it`);
        }
    }
    for (const directive of config) {
        if (directive.name === "load_module") {
            problems.push(`${written(directive)}: a module adds directives the policy cannot judge`);
        }
        if (directive.name === "stream" || directive.name === "mail") {
            problems.push(`a ${directive.name} block serves outside http, where the policy cannot judge it`);
        }
    }
    for (const server of httpServers(config)) {
        const label = serverLabel(server);
        const listens = children(server, "listen");
        if (listens.length === 0) {
            problems.push(`${label}: no listen, so Nginx listens in plaintext on port 80 (8000 when not root)`);
        }
        for (const listen of listens.filter((candidate) => !candidate.args.includes("ssl"))) {
            problems.push(
                `${label}: ${written(listen)} has no ssl: it answers without TLS and without a client certificate`,
            );
        }
    }
    return problems;
}

interface TlsServer {
    readonly http: Directive;
    readonly server: Directive;
    readonly label: string;
}

function httpServers(config: readonly Directive[]): Directive[] {
    return httpBlocks(config).flatMap((http) => children(http, "server"));
}

function httpBlocks(config: readonly Directive[]): Directive[] {
    return config.filter((directive) => directive.name === "http" && directive.block);
}

/** The servers of every http block with a TLS listener; `handshakes`: only those that complete handshakes. */
function tlsServers(config: readonly Directive[], handshakes: boolean): TlsServer[] {
    return httpBlocks(config).flatMap((http) =>
        children(http, "server")
            .filter((server) => children(server, "listen").some((listen) => listen.args.includes("ssl")))
            .filter((server) => !handshakes || completesHandshakes(http, server))
            .map((server) => ({ http, server, label: serverLabel(server) })),
    );
}

/** `ssl_reject_handshake on` (a flag: Nginx reads it case-insensitively, and servers inherit it from http). */
function completesHandshakes(http: Directive, server: Directive): boolean {
    return effective(http, server, "ssl_reject_handshake")?.[0]?.toLowerCase() !== "on";
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

function everyDirective(config: readonly Directive[]): Directive[] {
    return config.flatMap((directive) => [directive, ...everyDirective(directive.block ?? [])]);
}

/**
 * TLS floor: every TLS server that completes handshakes states its protocols, all of them allowed;
 * nothing overrides them. Nginx adds up every ssl_protocols line of a block (a bitmask), so all count.
 */
export function tlsProtocolProblems(config: readonly Directive[], allowedProtocols: readonly string[]): string[] {
    const problems = servingProblems(config);
    const servers = tlsServers(config, true);
    if (servers.length === 0) {
        problems.push("nginx.conf has no server that terminates TLS (listen ... ssl)");
    }
    const allowed = allowedProtocols.map((protocol) => protocol.toLowerCase());
    for (const { http, server, label } of servers) {
        const stated = children(server, "ssl_protocols");
        const protocols = (stated.length > 0 ? stated : children(http, "ssl_protocols")).flatMap((line) => line.args);
        if (protocols.length === 0) {
            problems.push(
                `${label}: no ssl_protocols, so the protocols are Nginx's build default; ` +
                    `state them (allowed: ${allowedProtocols.join(", ")})`,
            );
            continue;
        }
        const refused = [...new Set(protocols.filter((protocol) => !allowed.includes(protocol.toLowerCase())))];
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

export interface ClientVerificationLimits {
    /** ssl_verify_client values allowed. */
    readonly allowedModes: readonly string[];
    /** Location paths that may answer without a verified client certificate under "optional". */
    readonly publicLocations: readonly string[];
}

/** The guard every location needs where verification is optional. */
const guardText = '"if ($ssl_client_verify != SUCCESS) { return 4xx; }"';

/**
 * Client verification: every TLS server verifies client certificates against a CA, in an allowed
 * mode. Where the mode lets a request without a certificate through the handshake ("optional"), every
 * location refuses one itself, with the guard as its first directive, except the public ones, and so
 * do paths no location declares. Nothing may forge $ssl_client_verify or turn a refused certificate
 * into a page (error_page 495, 496, 497).
 */
export function clientVerificationProblems(config: readonly Directive[], limits: ClientVerificationLimits): string[] {
    const problems = servingProblems(config);
    // Every TLS server, those that reject handshakes too: a request reaches a server by its Host once
    // another server's handshake is done, and Nginx refuses that (421) only for a server that verifies.
    const servers = tlsServers(config, false);
    if (servers.length === 0) {
        problems.push("nginx.conf has no server that terminates TLS (listen ... ssl)");
    }
    problems.push(...forgedVerificationProblems(config));
    for (const { http, server, label } of servers) {
        const mode = effective(http, server, "ssl_verify_client")?.[0]?.toLowerCase();
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
        if (mode !== "on") {
            problems.push(...optionalVerificationProblems(server, label, mode, limits));
        }
    }
    problems.push(...mixedTrustProblems(tlsServers(config, true)));
    return problems;
}

/** Under "optional": the server-level rewrite directives, then every location, nested ones too. */
function optionalVerificationProblems(
    server: Directive,
    label: string,
    mode: string,
    limits: ClientVerificationLimits,
): string[] {
    const { problems, guarded } = serverLevelProblems(server, label, mode);
    if (guarded) return problems;
    for (const location of everyLocation(server)) {
        const { modifier, path } = locationPath(location);
        const where = `${label}: ${written(location)}`;
        if (limits.publicLocations.includes(path) && (modifier === "" || modifier === "=" || modifier === "^~")) {
            continue;
        }
        const block = location.block ?? [];
        if (block.length > 0 && isGuard(block[0])) {
            continue;
        }
        const guard = block.find(isGuard);
        if (guard) {
            problems.push(
                `${where}: ${block[0].name} comes before the guard ${guardText}, so it can answer or skip it ` +
                    `(ssl_verify_client ${mode}); the guard must be the location's first directive`,
            );
        } else if (limits.publicLocations.includes(path)) {
            problems.push(
                `${where} answers without a verified client certificate (ssl_verify_client ${mode}, no ` +
                    `${guardText}); a public location is a prefix or exact one, never a regex or named one`,
            );
        } else {
            problems.push(
                `${where} answers without a verified client certificate ` +
                    `(ssl_verify_client ${mode}, no ${guardText}); ` +
                    `public locations allowed: ${limits.publicLocations.join(", ") || "none"}`,
            );
        }
    }
    const catchAll = children(server, "location").find(
        (location) => location.args.length === 1 && location.args[0] === "/",
    );
    if (!catchAll) {
        problems.push(
            `${label}: no "location /", so paths no location declares answer without a verified client ` +
                `certificate (ssl_verify_client ${mode})`,
        );
    }
    return problems;
}

/** The rewrite module's directives: Nginx runs them in the order written, before any content. */
const rewriteDirectives = new Set(["if", "return", "rewrite", "break", "set"]);

/**
 * A server's own rewrite directives run (server rewrite phase) before Nginx picks a location, so
 * before any location's guard. `guarded`: a server-level guard that nothing before it can skip (only
 * `set` and refusals come first) refuses every request without a verified certificate. Otherwise
 * nothing at server level may answer: a `return` other than a 4xx refusal, or an `if` holding one.
 */
function serverLevelProblems(server: Directive, label: string, mode: string): { problems: string[]; guarded: boolean } {
    const block = server.block ?? [];
    const guardAt = block.findIndex(isGuard);
    const skippers = (guardAt < 0 ? [] : block.slice(0, guardAt)).filter(
        (directive) => rewriteDirectives.has(directive.name) && directive.name !== "set" && !isRefusal(directive),
    );
    if (guardAt >= 0 && skippers.length === 0) {
        return { problems: [], guarded: true };
    }
    const problems = skippers.map(
        (directive) =>
            `${label}: ${written(directive)} comes before the server-level guard ${guardText}, so it can ` +
            `answer or skip it (ssl_verify_client ${mode})`,
    );
    for (const directive of block.filter((candidate) => answers(candidate) && !skippers.includes(candidate))) {
        problems.push(
            `${label}: ${written(directive)} at server level answers before any location's guard ` +
                `(ssl_verify_client ${mode})`,
        );
    }
    return { problems, guarded: false };
}

/** `return 4xx`, or an `if` whose first directive is one: it refuses, it never answers with content. */
function isRefusal(directive: Directive): boolean {
    if (directive.name === "return") return /^4\d\d$/.test(directive.args[0] ?? "");
    return directive.name === "if" && directive.block?.[0] !== undefined && isRefusal(directive.block[0]);
}

/** A `return` that is not a refusal, or an `if` that holds one. */
function answers(directive: Directive): boolean {
    if (directive.name === "return") return !isRefusal(directive);
    return directive.name === "if" && !isRefusal(directive) && (directive.block ?? []).some(answers);
}

/**
 * Every location of a server, nested ones too. A nested location inherits none of its parent's
 * rewrite directives (ngx_http_rewrite_merge_loc_conf), so a guard protects its own location only.
 */
function everyLocation(block: Directive): Directive[] {
    return children(block, "location").flatMap((location) => [location, ...everyLocation(location)]);
}

/** `location [=|^~|~|~*] path` or `location @name`; Nginx also takes the modifier joined to the path. */
function locationPath(location: Directive): { modifier: string; path: string } {
    if (location.args.length >= 2) {
        return { modifier: location.args[0], path: location.args[1] };
    }
    const [argument = ""] = location.args;
    const modifier = /^(=|\^~|~\*?|@)/.exec(argument)?.[1] ?? "";
    return { modifier, path: argument.slice(modifier.length) };
}

/**
 * `if ($ssl_client_verify != SUCCESS) { return 4xx; }`, read as ngx_http_rewrite_if_condition reads
 * it: "(" and ")" stand apart or stick to the first and last words, variable names are
 * case-insensitive, and the refusal is the block's first directive.
 */
function isGuard(directive: Directive): boolean {
    if (directive.name !== "if") return false;
    const words = [...directive.args];
    if (words[0] === "(") words.shift();
    else if (words[0]?.startsWith("(")) words[0] = words[0].slice(1);
    else return false;
    const last = words.length - 1;
    if (words[last] === ")") words.pop();
    else if (words[last]?.endsWith(")")) words[last] = words[last].slice(0, -1);
    else return false;
    const [variable, operator, value, ...rest] = words;
    return (
        rest.length === 0 &&
        variable?.toLowerCase() === "$ssl_client_verify" &&
        operator === "!=" &&
        value === "SUCCESS" &&
        isRefusal(directive)
    );
}

/**
 * Directives that give a variable its value, and which argument names the variable. Nginx lets any
 * of them redefine $ssl_client_verify (its SSL variables are changeable), so a guard would read a
 * value the configuration made up.
 */
const variableTargets: Record<string, (args: readonly string[]) => string | undefined> = {
    set: (args) => args[0],
    map: (args) => args[1],
    geo: (args) => args.at(-1),
    split_clients: (args) => args[1],
    perl_set: (args) => args[0],
    js_set: (args) => args[0],
    js_var: (args) => args[0],
    auth_request_set: (args) => args[0],
};

function forgedVerificationProblems(config: readonly Directive[]): string[] {
    const problems: string[] = [];
    for (const directive of everyDirective(config)) {
        const target = variableTargets[directive.name]?.(directive.args);
        if (target?.toLowerCase() === "$ssl_client_verify") {
            problems.push(
                `${written(directive)} redefines $ssl_client_verify, which the guards and ` +
                    "upstreams trust; it must stay Nginx's own",
            );
        }
        if (directive.name === "error_page" && directive.args.some((arg) => /^49[567]$/.test(arg))) {
            problems.push(
                `${written(directive)} turns a request refused for its client certificate (495, 496) ` +
                    "or sent in plaintext (497) into an internal redirect that can answer it",
            );
        }
    }
    return problems;
}

/**
 * A handshake without SNI goes to the default server, and its request may then name another server
 * by Host: Nginx checks that server's verification mode again, but not the CA that verified the
 * certificate. So every server that completes handshakes verifies against the same CAs and CRL.
 */
function mixedTrustProblems(servers: readonly TlsServer[]): string[] {
    const trust = (http: Directive, server: Directive) =>
        ["ssl_client_certificate", "ssl_trusted_certificate", "ssl_crl"]
            .flatMap((name) => {
                const args = effective(http, server, name);
                return args ? [written({ name, args })] : [];
            })
            .join(", ") || "no CA";
    const [first, ...others] = servers.map(({ http, server, label }) => ({ label, trust: trust(http, server) }));
    return others
        .filter((other) => other.trust !== first.trust)
        .map(
            (other) =>
                `${first.label} (${first.trust}) and ${other.label} (${other.trust}) complete handshakes with ` +
                "different client CAs or CRLs: a certificate one accepts can send requests to the other",
        );
}

/** A directive as it could be written: a word with a space, quote, ";", "{", "}" or control character quoted. */
function written(directive: Directive): string {
    const word = (text: string) => (text === "" || /[\s"';{}\\\x00-\x1f]/.test(text) ? JSON.stringify(text) : text);
    return [directive.name, ...directive.args].map(word).join(" ");
}
