/**
 * nginx.conf read the way Nginx reads it (src/core/ngx_conf_file.c, ngx_conf_read_token and
 * ngx_conf_parse), so that the policies judge the directives Nginx will run and not a different
 * reading of the same text:
 *   - words are separated by space, tab, CR and LF only (not by form feed or other Unicode spaces);
 *   - `"` and `'` open a quoted string only at the start of a word: inside a word (`a"b`) a quote is an
 *     ordinary character; after a closing quote only a separator, `;`, `{` or `)` may follow;
 *   - an unquoted word ends at a separator, `;` or `{`, never at `}` (`a}` is one word), and `${` keeps
 *     a word going (`${name}`);
 *   - `#` starts a comment only at the start of a word (`a#b` is one word);
 *   - a backslash keeps the next character from ending the word or the string; in the value, `\"`, `\'`
 *     and `\\` stand for the character, `\t`, `\r`, `\n` for tab, CR and LF, and any other `\x` stays as
 *     written (backslash included).
 * Text Nginx refuses to parse throws here too.
 */

/** One directive: `name args...;` or `name args... { block }`, with its words as Nginx reads them. */
export interface Directive {
    readonly name: string;
    readonly args: readonly string[];
    readonly block?: readonly Directive[];
    /** Line the directive starts on. */
    readonly line?: number;
}

type Token = { readonly kind: "word"; readonly text: string; readonly line: number } | Punctuation;

interface Punctuation {
    readonly kind: ";" | "{" | "}";
    readonly line: number;
}

/** Parses nginx.conf text; throws on text Nginx would not parse either, with Nginx's own reason. */
export function parseNginxConfig(text: string): Directive[] {
    const tokens = tokenize(text);
    let position = 0;
    const parseBlock = (nested: boolean): Directive[] => {
        const directives: Directive[] = [];
        let words: Array<{ readonly text: string; readonly line: number }> = [];
        while (position < tokens.length) {
            const token = tokens[position++];
            if (token.kind === "word") {
                words.push(token);
                continue;
            }
            if (token.kind === "}") {
                if (words.length > 0 || !nested) throw new Error(`unexpected "}" on line ${token.line}`);
                return directives;
            }
            if (words.length === 0) throw new Error(`unexpected "${token.kind}" on line ${token.line}`);
            const [name, ...args] = words;
            words = [];
            directives.push({
                name: name.text,
                args: args.map((arg) => arg.text),
                line: name.line,
                ...(token.kind === "{" ? { block: parseBlock(true) } : {}),
            });
        }
        if (words.length > 0) throw new Error('unexpected end of file, expecting ";" or "}"');
        if (nested) throw new Error('unexpected end of file, expecting "}"');
        return directives;
    };
    return parseBlock(false);
}

const isSeparator = (char: string): boolean => char === " " || char === "\t" || char === "\r" || char === "\n";

/** ngx_conf_read_token over the whole text: its words and the `;`, `{`, `}` that end directives and blocks. */
function tokenize(text: string): Token[] {
    const tokens: Token[] = [];
    let line = 1;
    let betweenWords = true; // last_space
    let needSeparator = false; // need_space: right after a closing quote
    let comment = false;
    let escaped = false; // quoted: the character after a backslash
    let variable = false; // just after "$": a "{" continues the word
    let quote: '"' | "'" | undefined;
    let start = 0;
    let startLine = 1;
    const word = (end: number) =>
        tokens.push({ kind: "word", text: unescape(text.slice(start, end)), line: startLine });
    const punctuation = (kind: Punctuation["kind"]) => {
        tokens.push({ kind, line });
        betweenWords = true;
        needSeparator = false;
        variable = false;
    };

    for (let index = 0; index < text.length; index++) {
        const char = text[index];
        if (char === "\n") {
            line++;
            comment = false;
        }
        if (comment) continue;
        if (escaped) {
            escaped = false;
            continue;
        }
        if (needSeparator) {
            if (isSeparator(char)) {
                betweenWords = true;
                needSeparator = false;
                continue;
            }
            if (char === ";" || char === "{") {
                punctuation(char);
                continue;
            }
            if (char !== ")") throw new Error(`unexpected "${char}" on line ${line}`);
            // `if ($a = "b")`: the ")" starts a word of its own.
            betweenWords = true;
            needSeparator = false;
        }
        if (betweenWords) {
            start = index;
            startLine = line;
            if (isSeparator(char)) continue;
            switch (char) {
                case ";":
                case "{":
                case "}":
                    punctuation(char);
                    continue;
                case "#":
                    comment = true;
                    continue;
                case "\\":
                    escaped = true;
                    break;
                case '"':
                case "'":
                    start = index + 1;
                    quote = char;
                    break;
                case "$":
                    variable = true;
                    break;
            }
            betweenWords = false;
            continue;
        }
        if (char === "{" && variable) continue;
        variable = false;
        if (char === "\\") {
            escaped = true;
            continue;
        }
        if (char === "$") {
            variable = true;
            continue;
        }
        if (quote) {
            if (char === quote) {
                word(index);
                quote = undefined;
                needSeparator = true;
            }
        } else if (isSeparator(char) || char === ";" || char === "{") {
            word(index);
            betweenWords = true;
            if (char !== ";" && char !== "{") continue;
            punctuation(char);
        }
    }
    if (!betweenWords || needSeparator) {
        // Nginx: an unfinished word or string at the end of the file; the parser reports pending words.
        if (quote) throw new Error(`unclosed ${quote} quote from line ${startLine}`);
        throw new Error('unexpected end of file, expecting ";" or "}"');
    }
    return tokens;
}

/** The value Nginx keeps for a word: its escapes resolved (ngx_conf_read_token's copy loop). */
function unescape(raw: string): string {
    let value = "";
    for (let index = 0; index < raw.length; index++) {
        if (raw[index] === "\\" && index + 1 < raw.length) {
            const next = raw[index + 1];
            if (next === '"' || next === "'" || next === "\\") {
                value += next;
                index++;
                continue;
            }
            const control = next === "t" ? "\t" : next === "r" ? "\r" : next === "n" ? "\n" : undefined;
            if (control !== undefined) {
                value += control;
                index++;
                continue;
            }
        }
        value += raw[index];
    }
    return value;
}
