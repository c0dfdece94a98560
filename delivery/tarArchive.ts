/**
 * A minimal ustar writer: regular files and directories, in memory. The Docker API takes files
 * only as a tar stream (`PUT /containers/{id}/archive`), and keys must never touch the deploying
 * machine's disk, so the archive is built here instead of by `tar` from files.
 */

/** One entry of the archive; paths are relative and use "/". */
export interface TarEntry {
    readonly path: string;
    /** Absent for a directory. */
    readonly content?: string;
    /** Permission bits, e.g. 0o600. */
    readonly mode: number;
}

const blockSize = 512;

/** The archive, owned by root (uid and gid 0), with a fixed time so equal input gives equal bytes. */
export function tarArchive(entries: readonly TarEntry[]): Buffer {
    const blocks: Buffer[] = [];
    for (const entry of entries) {
        const body = entry.content === undefined ? Buffer.alloc(0) : Buffer.from(entry.content, "utf8");
        blocks.push(header(entry, body.length));
        if (body.length > 0) {
            blocks.push(body, Buffer.alloc((blockSize - (body.length % blockSize)) % blockSize));
        }
    }
    // The end of an archive is two zero blocks.
    blocks.push(Buffer.alloc(2 * blockSize));
    return Buffer.concat(blocks);
}

function header(entry: TarEntry, size: number): Buffer {
    const isDirectory = entry.content === undefined;
    const name = isDirectory && !entry.path.endsWith("/") ? `${entry.path}/` : entry.path;
    if (Buffer.byteLength(name) > 100 || name.startsWith("/") || name.split("/").includes("..")) {
        throw new Error(`tar entry path "${name}" must be relative, without "..", and at most 100 bytes`);
    }
    const block = Buffer.alloc(blockSize);
    block.write(name, 0, 100, "utf8");
    writeOctal(block, 100, 8, entry.mode & 0o7777);
    writeOctal(block, 108, 8, 0); // uid
    writeOctal(block, 116, 8, 0); // gid
    writeOctal(block, 124, 12, size);
    writeOctal(block, 136, 12, 0); // mtime
    block.fill(" ", 148, 156); // checksum field counts as spaces while summing
    block.write(isDirectory ? "5" : "0", 156, 1, "ascii");
    block.write("ustar\u000000", 257, 8, "binary");
    block.write("root", 265, 32, "ascii");
    block.write("root", 297, 32, "ascii");
    let checksum = 0;
    for (const byte of block) {
        checksum += byte;
    }
    block.write(`${checksum.toString(8).padStart(6, "0")}\u0000 `, 148, 8, "binary");
    return block;
}

function writeOctal(block: Buffer, offset: number, length: number, value: number): void {
    block.write(`${value.toString(8).padStart(length - 1, "0")}\u0000`, offset, length, "ascii");
}

/** The regular files of a ustar archive (as the Docker API returns one), names without a leading "./". */
export function readTarFiles(archive: Buffer): TarEntry[] {
    const files: TarEntry[] = [];
    let offset = 0;
    while (offset + blockSize <= archive.length) {
        const block = archive.subarray(offset, offset + blockSize);
        if (block.every((byte) => byte === 0)) {
            break;
        }
        const field = (start: number, length: number) =>
            block.toString("utf8", start, start + length).replace(/\0.*$/s, "");
        const prefix = field(345, 155);
        const name = (prefix ? `${prefix}/` : "") + field(0, 100);
        const size = parseInt(field(124, 12).trim() || "0", 8);
        const type = field(156, 1);
        const body = archive.subarray(offset + blockSize, offset + blockSize + size);
        if (type === "0" || type === "") {
            files.push({
                path: name.replace(/^\.\//, ""),
                content: body.toString("utf8"),
                mode: parseInt(field(100, 8).trim(), 8),
            });
        }
        offset += blockSize + Math.ceil(size / blockSize) * blockSize;
    }
    return files;
}
