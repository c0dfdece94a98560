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
    const reader = new TokenReader(text);
    for (let index = 0; index < text.length; index++) reader.read(index);
    return reader.finish();
}

/** ngx_conf_read_token's state, one character at a time; the fields are its flags. */
class TokenReader {
    private readonly tokens: Token[] = [];
    private line = 1;
    private betweenWords = true; // last_space
    private needSeparator = false; // need_space: right after a closing quote
    private comment = false;
    private escaped = false; // quoted: the character after a backslash
    private variable = false; // just after "$": a "{" continues the word
    private quote: '"' | "'" | undefined;
    private start = 0;
    private startLine = 1;

    constructor(private readonly text: string) {}

    /** Takes the character at `index`. */
    read(index: number): void {
        const char = this.text[index];
        if (char === "\n") {
            this.line++;
            this.comment = false;
        }
        if (this.comment) return;
        if (this.escaped) {
            this.escaped = false;
            return;
        }
        if (this.needSeparator && this.afterClosingQuote(char)) return;
        if (this.betweenWords) this.startWord(char, index);
        else this.continueWord(char, index);
    }

    /** The tokens read; throws when the text ends inside a word or a string. */
    finish(): Token[] {
        if (!this.betweenWords || this.needSeparator) {
            // Nginx: an unfinished word or string at the end of the file; the parser reports pending words.
            if (this.quote) throw new Error(`unclosed ${this.quote} quote from line ${this.startLine}`);
            throw new Error('unexpected end of file, expecting ";" or "}"');
        }
        return this.tokens;
    }

    /** Right after a closing quote: a separator, `;` or `{` is taken here (true); `)` starts a word. */
    private afterClosingQuote(char: string): boolean {
        if (isSeparator(char)) {
            this.betweenWords = true;
            this.needSeparator = false;
            return true;
        }
        if (char === ";" || char === "{") {
            this.punctuation(char);
            return true;
        }
        if (char !== ")") throw new Error(`unexpected "${char}" on line ${this.line}`);
        // `if ($a = "b")`: the ")" starts a word of its own.
        this.betweenWords = true;
        this.needSeparator = false;
        return false;
    }

    /** Between words: a separator, punctuation, a comment, or the first character of a word or string. */
    private startWord(char: string, index: number): void {
        this.start = index;
        this.startLine = this.line;
        if (isSeparator(char)) return;
        switch (char) {
            case ";":
            case "{":
            case "}":
                this.punctuation(char);
                return;
            case "#":
                this.comment = true;
                return;
            case "\\":
                this.escaped = true;
                break;
            case '"':
            case "'":
                this.start = index + 1;
                this.quote = char;
                break;
            case "$":
                this.variable = true;
                break;
        }
        this.betweenWords = false;
    }

    /** Inside a word or string: `${`, escapes and variables keep it going; its end makes a word token. */
    private continueWord(char: string, index: number): void {
        if (char === "{" && this.variable) return;
        this.variable = false;
        if (char === "\\") {
            this.escaped = true;
            return;
        }
        if (char === "$") {
            this.variable = true;
            return;
        }
        if (this.quote) this.continueQuoted(char, index);
        else this.continuePlain(char, index);
    }

    /** In a quoted string: its closing quote ends it, and a separator must follow. */
    private continueQuoted(char: string, index: number): void {
        if (char !== this.quote) return;
        this.word(index);
        this.quote = undefined;
        this.needSeparator = true;
    }

    /** In an unquoted word: a separator, `;` or `{` ends it (never `}`). */
    private continuePlain(char: string, index: number): void {
        if (!isSeparator(char) && char !== ";" && char !== "{") return;
        this.word(index);
        this.betweenWords = true;
        if (char === ";" || char === "{") this.punctuation(char);
    }

    private word(end: number): void {
        this.tokens.push({ kind: "word", text: unescape(this.text.slice(this.start, end)), line: this.startLine });
    }

    private punctuation(kind: Punctuation["kind"]): void {
        this.tokens.push({ kind, line: this.line });
        this.betweenWords = true;
        this.needSeparator = false;
        this.variable = false;
    }
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
