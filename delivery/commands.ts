/**
 * How a component runs one of the delivery programs on the deploying machine: the command line and
 * the directory to run it in. One place, so the programs' names and the way they start cannot drift
 * apart between the container and the Swarm platforms.
 */
import { readFileSync } from "fs";
import * as path from "path";

/** The programs of delivery/, by file name. */
export type DeliveryProgram = "deliverFiles" | "checkFileSet" | "awaitRollout" | "awaitKubernetes" | "claimVolume";

/**
 * The project's root (in the npm package, the package's root): commands run there, so the project's
 * ts-node and node_modules (the package's dependencies) are found.
 */
export const projectDirectory = path.join(__dirname, "..");

/**
 * Whether this code runs compiled, as the npm package does (`npm run package`): then the delivery
 * programs are JavaScript next to it, and the consumer has no ts-node.
 */
const compiled = __filename.endsWith(".js");

/**
 * The command that runs a delivery program: from this checkout with the project's ts-node (transpile
 * only: `npm test` type-checks it), from the npm package with plain node. Its input comes on stdin,
 * never in argv: it may hold keys.
 */
export function deliveryCommand(program: DeliveryProgram, ...flags: string[]): string {
    const start = compiled
        ? ["node", `delivery/${program}.js`]
        : ["node", "--require", "ts-node/register/transpile-only", `delivery/${program}.ts`];
    return [...start, ...flags].join(" ");
}

/**
 * A delivery program's main: its JSON input from stdin, its report on stdout, and on failure the
 * error on stderr (prefixed by `context`) and exit status 1, which fails the command resource.
 */
export function runWithStdin<T>(run: (input: T) => Promise<string>, context: (input: T) => string = () => ""): void {
    const input = JSON.parse(readFileSync(0, "utf8")) as T;
    run(input).then(
        (report) => console.log(report),
        (error: Error) => {
            console.error(`${context(input)}${error.message}`);
            process.exit(1);
        },
    );
}
