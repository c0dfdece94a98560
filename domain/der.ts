/**
 * A small reader of DER (X.690), enough for the structures the stack reads by hand: a PKCS#10
 * request (domain/csr.ts), a CRL and a certificate's subject (domain/x509.ts). Synchronous and pure; it checks lengths against the buffer and throws a
 * DerError on anything malformed, so a caller reports one message for any bad input.
 */

/** Malformed DER: the message says where. */
export class DerError extends Error {
    constructor(message: string) {
        super(message);
        this.name = "DerError";
    }
}

/** Tags the readers here ask for (universal class unless noted). */
export const derTag = {
    boolean: 0x01,
    integer: 0x02,
    bitString: 0x03,
    octetString: 0x04,
    oid: 0x06,
    utf8String: 0x0c,
    printableString: 0x13,
    t61String: 0x14,
    ia5String: 0x16,
    bmpString: 0x1e,
    utcTime: 0x17,
    generalizedTime: 0x18,
    sequence: 0x30,
    set: 0x31,
    /** [0] constructed, context-specific (a request's attributes). */
    contextConstructed0: 0xa0,
} as const;

/** One TLV: its tag, its contents, and the whole element's bytes (what a signature covers). */
export interface DerElement {
    readonly tag: number;
    readonly contents: Buffer;
    readonly encoded: Buffer;
}

/** The element that starts at `offset` of `buffer`, and where the next one starts. */
function readElement(buffer: Buffer, offset: number): { element: DerElement; next: number } {
    if (offset + 2 > buffer.length) {
        throw new DerError("truncated element");
    }
    const tag = buffer[offset];
    if ((tag & 0x1f) === 0x1f) {
        throw new DerError("multi-byte tags are not used here");
    }
    let length = buffer[offset + 1];
    let start = offset + 2;
    if (length & 0x80) {
        const octets = length & 0x7f;
        if (octets === 0 || octets > 4 || start + octets > buffer.length) {
            throw new DerError("bad length");
        }
        length = 0;
        for (let index = 0; index < octets; index++) {
            length = length * 256 + buffer[start + index];
        }
        start += octets;
    }
    const end = start + length;
    if (end > buffer.length) {
        throw new DerError("an element runs past its container");
    }
    return {
        element: { tag, contents: buffer.subarray(start, end), encoded: buffer.subarray(offset, end) },
        next: end,
    };
}

/** The one element a buffer holds (nothing may follow it). */
export function readDer(buffer: Buffer): DerElement {
    const { element, next } = readElement(buffer, 0);
    if (next !== buffer.length) {
        throw new DerError("data after the outermost element");
    }
    return element;
}

/** The elements inside a constructed element, in order. */
export function childrenOf(element: DerElement): DerElement[] {
    const children: DerElement[] = [];
    let offset = 0;
    while (offset < element.contents.length) {
        const { element: child, next } = readElement(element.contents, offset);
        children.push(child);
        offset = next;
    }
    return children;
}

/** `element`, asserting its tag (`what` names it in the error). */
export function expectTag(element: DerElement | undefined, tag: number, what: string): DerElement {
    if (element === undefined || element.tag !== tag) {
        throw new DerError(`${what} is missing or not of the expected type`);
    }
    return element;
}

/** An OBJECT IDENTIFIER's dotted form. */
export function oidOf(element: DerElement): string {
    const bytes = expectTag(element, derTag.oid, "an object identifier").contents;
    if (bytes.length === 0) {
        throw new DerError("empty object identifier");
    }
    const arcs: number[] = [];
    let value = 0;
    for (const byte of bytes) {
        value = value * 128 + (byte & 0x7f);
        if ((byte & 0x80) === 0) {
            arcs.push(value);
            value = 0;
        }
    }
    const first = arcs.shift()!;
    const head = first < 80 ? [Math.floor(first / 40), first % 40] : [2, first - 80];
    return [...head, ...arcs].join(".");
}

/** A string value of a name attribute (UTF8String, PrintableString, IA5String, T61String, BMPString). */
export function stringOf(element: DerElement): string {
    switch (element.tag) {
        case derTag.utf8String:
            return element.contents.toString("utf8");
        case derTag.printableString:
        case derTag.ia5String:
        case derTag.t61String:
            return element.contents.toString("latin1");
        case derTag.bmpString:
            return Buffer.from(element.contents).swap16().toString("utf16le");
        default:
            throw new DerError("a name attribute is not a string");
    }
}

/** A BIT STRING's bits, which must fill whole bytes (a signature). */
export function bitStringBytes(element: DerElement): Buffer {
    const contents = expectTag(element, derTag.bitString, "a bit string").contents;
    if (contents.length === 0 || contents[0] !== 0) {
        throw new DerError("a bit string with unused bits");
    }
    return contents.subarray(1);
}
