import * as assert from "assert";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import {
    argsOfStackConfig,
    StackConfigError,
    validateStackConfig,
    type ConfigContext,
    type RawStackConfig,
} from "../../config/stackConfig";
import { configRejection } from "../../testkit/config";
import { ClientRequestFiles, makeClientRequest } from "../../testkit/pki";

/**
 * Files the stack config names (config/files.ts, config/clientEntries.ts, config/clientsFile.ts):
 * a client's csrFile and the clientsFile list, read before any resource is registered. A temp
 * directory is the project directory; its CSRs are made by `openssl req`, as a partner makes them.
 */
describe("client files in stack config (csrFile, clientsFile)", function () {
    this.timeout(60_000);
    let project: string;
    let context: ConfigContext;
    const made: Record<string, ClientRequestFiles> = {};

    before(() => {
        project = fs.mkdtempSync(path.join(os.tmpdir(), "mtls-client-files-test-"));
        fs.mkdirSync(path.join(project, "partners"));
        fs.mkdirSync(path.join(project, "lists"));
        made.alice = makeClientRequest(path.join(project, "partners"), "alice");
        made.carol = makeClientRequest(path.join(project, "partners"), "carol");
        made.mallory = makeClientRequest(path.join(project, "partners"), "mallory");
        fs.writeFileSync(path.join(project, "partners", "garbage.csr"), "not a request\n");
        context = { stack: "unit", projectDirectory: project, readFile: (file) => fs.readFileSync(file, "utf8") };
    });

    after(() => fs.rmSync(project, { recursive: true, force: true }));

    /** Writes a file under the project directory; its path relative to it. */
    function write(relative: string, text: string): string {
        fs.writeFileSync(path.join(project, relative), text);
        return relative;
    }

    const rejection = (raw: RawStackConfig, on: ConfigContext = context): StackConfigError => configRejection(raw, on);

    const problemsOf = (raw: RawStackConfig) =>
        rejection(raw).errors.map((problem) => `${problem.key}: ${problem.message}`);

    describe("{name, csrFile} entries of clients", () => {
        it("reads the CSR from a path relative to the project directory, or absolute, into {name, csr}", () => {
            const config = validateStackConfig(
                {
                    clients: [
                        "bob",
                        { name: "alice", csrFile: "partners/alice.csr" },
                        { name: "carol", csrFile: made.carol.csrPath },
                    ],
                },
                context,
            );
            assert.deepStrictEqual(config.clients, ["bob", "alice", "carol"]);
            assert.deepStrictEqual(config.clientCsrs, { alice: made.alice.csrPem, carol: made.carol.csrPem });
        });

        it("names an unreadable file with its absolute path and the reason, under clients[i].csrFile", () => {
            const missing = path.join(project, "partners", "nobody.csr");
            assert.deepStrictEqual(
                problemsOf({ clients: ["bob", { name: "nobody", csrFile: "partners/nobody.csr" }] }),
                [
                    `clients[1].csrFile: ${missing} cannot be read (ENOENT); allowed: the path of a file that holds the ` +
                        "client's PEM CERTIFICATE REQUEST, relative to the project directory (where Pulumi.yaml is) or absolute",
                ],
            );
            const [directory] = problemsOf({ clients: ["bob", { name: "alice", csrFile: "partners" }] });
            assert.match(directory, /^clients\[1\]\.csrFile: .*\/partners cannot be read \(EISDIR\); allowed: /);
        });

        it("checks the request exactly as an inline csr, naming the file under clients[i].csrFile", () => {
            const problems = problemsOf({
                clients: [
                    "bob",
                    { name: "alice", csrFile: "partners/mallory.csr" },
                    { name: "carol", csrFile: "partners/garbage.csr" },
                ],
            });
            assert.strictEqual(problems.length, 2, problems.join("\n"));
            assert.strictEqual(
                problems[0],
                `clients[1].csrFile: ${made.mallory.csrPath}: has subject CN "mallory", not the client's name ` +
                    `"alice"; allowed: exactly one CN, equal to the client's name "alice" (case included: the ` +
                    "certificate's CN is the name allowlists and revocation go by)",
            );
            assert.match(
                problems[1],
                /^clients\[2\]\.csrFile: .*\/partners\/garbage\.csr: does not parse \(no CERTIFICATE REQUEST PEM block\); allowed: /,
            );
        });

        it("refuses csr and csrFile together, neither of them, a csrFile that is not a string or names nothing", () => {
            const problems = problemsOf({
                clients: [
                    "bob",
                    { name: "alice", csr: made.alice.csrPem, csrFile: "partners/alice.csr" },
                    { name: "carol" },
                    { name: "dave", csrFile: 42 },
                    { name: "erin", csrFile: " " },
                ],
            });
            assert.deepStrictEqual(problems, [
                "clients[1]: has both csr and csrFile; allowed: one of them (csr: the PEM itself; csrFile: the path " +
                    "of a file that holds the client's PEM CERTIFICATE REQUEST, relative to the project directory " +
                    "(where Pulumi.yaml is) or absolute)",
                'clients[2].csr: is not set, nor is csrFile; allowed: csr, one PEM "CERTIFICATE REQUEST" block ' +
                    "(PKCS#10), as `openssl req -new` writes it, signed by the client's key, or csrFile, the path of " +
                    "a file that holds the client's PEM CERTIFICATE REQUEST, relative to the project directory " +
                    "(where Pulumi.yaml is) or absolute",
                "clients[3].csrFile: 42 is not a string; allowed: the path of a file that holds the client's PEM " +
                    "CERTIFICATE REQUEST, relative to the project directory (where Pulumi.yaml is) or absolute",
                'clients[4].csrFile: " " names no file; allowed: the path of a file that holds the client\'s PEM ' +
                    "CERTIFICATE REQUEST, relative to the project directory (where Pulumi.yaml is) or absolute",
            ]);
        });

        it("reports a bad file with every other problem at once, and nothing that follows from it", () => {
            const error = rejection({
                clients: ["bob", { name: "alice", csrFile: "partners/nobody.csr" }],
                revokedClients: ["alice"],
                publishPort: 0,
            });
            assert.deepStrictEqual(
                error.errors.map((problem) => problem.key),
                ["clients[1].csrFile", "publishPort"],
            );
            assert.match(
                error.message,
                /"mtls-nginx:clients\[1\]\.csrFile": \/.*nobody\.csr cannot be read \(ENOENT\)/,
            );
        });

        it("is for stack config only: MtlsEndpoint args refuse it, and the validator reads only through readFile", () => {
            const args = rejection(
                { clients: ["bob", { name: "alice", csrFile: "partners/alice.csr" }] },
                { ...context, endpointName: "partners" },
            );
            assert.deepStrictEqual(
                args.errors.map((problem) => problem.key),
                ["clients[1].csrFile"],
            );
            assert.match(args.message, /is read from stack config only \(an MtlsEndpoint reads no files\)/);
            assert.throws(
                () =>
                    validateStackConfig(
                        { clients: [{ name: "alice", csrFile: "partners/alice.csr" }], smokeTest: false },
                        { stack: "unit", projectDirectory: project },
                    ),
                /mtls-nginx:clients\[0\]\.csrFile names a file, and the validator was given no readFile/,
            );
        });
    });

    describe("the clientsFile key", () => {
        it("reads the list from YAML: names, {name, csr} and {name, csrFile} relative to the project directory", () => {
            const file = write(
                "lists/clients.yaml",
                [
                    "# partners onboarded by CSR, and the probe client",
                    "- ops-probe",
                    "- name: alice",
                    "  csrFile: partners/alice.csr",
                    "- name: carol",
                    "  csr: |",
                    ...made.carol.csrPem
                        .trimEnd()
                        .split("\n")
                        .map((line) => `      ${line}`),
                    "- 2026-01-01",
                    "",
                ].join("\n"),
            );
            const config = validateStackConfig({ clientsFile: file, revokedClients: ["carol"] }, context);
            assert.deepStrictEqual(config.clients, ["ops-probe", "alice", "carol", "2026-01-01"]);
            assert.deepStrictEqual(config.clientCsrs, { alice: made.alice.csrPem, carol: made.carol.csrPem });
            assert.deepStrictEqual(config.revokedClients, ["carol"]);
            assert.deepStrictEqual(config.smokeProbe, { clientName: "ops-probe", path: "/" });
        });

        it("reads JSON, from an absolute path, and takes 10,000 names that stack config cannot hold", () => {
            const names = Array.from({ length: 10_000 }, (_, index) => `bench-${String(index + 1).padStart(5, "0")}`);
            const file = path.join(project, "lists", "ten-thousand.json");
            fs.writeFileSync(file, JSON.stringify(names));
            assert.ok(JSON.stringify(JSON.stringify(names)).length > 128 * 1024, "over MAX_ARG_STRLEN inline");
            const config = validateStackConfig({ clientsFile: file }, context);
            assert.strictEqual(config.clients.length, 10_000);
            assert.deepStrictEqual(config.clientCsrs, {});
        });

        it("becomes clients in the MtlsEndpoint args: the list, each CSR's PEM, no file name", () => {
            const file = write(
                "lists/args.json",
                JSON.stringify(["bob", { name: "alice", csrFile: "partners/alice.csr" }]),
            );
            const raw = { clientsFile: file, publishPort: "9443" };
            const config = validateStackConfig(raw, context);
            const args = argsOfStackConfig(raw, config);
            assert.deepStrictEqual(args, {
                clients: ["bob", { name: "alice", csr: made.alice.csrPem }],
                publishPort: "9443",
            });
            const asArgs = validateStackConfig(args, {
                stack: "unit",
                projectDirectory: "/elsewhere",
                endpointName: "e",
            });
            assert.deepStrictEqual(asArgs.clients, config.clients);
            assert.deepStrictEqual(asArgs.clientCsrs, config.clientCsrs);
            // Without a clientsFile, the args are the stack config's keys, csrFile entries read.
            const inline = { clients: [{ name: "alice", csrFile: "partners/alice.csr" }, "bob"] };
            assert.deepStrictEqual(argsOfStackConfig(inline, validateStackConfig(inline, context)).clients, [
                { name: "alice", csr: made.alice.csrPem },
                "bob",
            ]);
        });

        it("refuses clients and clientsFile together, naming both, even clients set to the default", () => {
            const file = write("lists/both.yaml", "- bob\n");
            const expected =
                "clientsFile: is set, and so is mtls-nginx:clients; allowed: one of them (clients: the list in " +
                "stack config; clientsFile: a file that holds it)";
            assert.deepStrictEqual(problemsOf({ clientsFile: file, clients: ["bob"] }), [expected]);
            // Pulumi.yaml declares no default for clients (Pulumi would pass it as if set): client-1 was set.
            assert.deepStrictEqual(problemsOf({ clientsFile: file, clients: ["client-1"] }), [expected]);
            assert.deepStrictEqual(validateStackConfig({}, context).clients, ["client-1"]);
            assert.deepStrictEqual(problemsOf({ clientsFile: file, clients: "bob" }), [
                'clients: "bob" is not a list of clients; allowed: a list like ["a", "b"] of client names, or of ' +
                    '{"name": ..., "csr": PEM} objects, or of {"name": ..., "csrFile": path} objects',
                expected,
            ]);
            assert.deepStrictEqual(validateStackConfig({ clientsFile: "", clients: ["bob"] }, context).clients, [
                "bob",
            ]);
        });

        it("names an unreadable file, one that is not YAML or JSON, and one that holds no list", () => {
            const allowed =
                "allowed: the path of a YAML or JSON file that holds the clients list (names, {name, csr} or " +
                "{name, csrFile} entries), relative to the project directory (where Pulumi.yaml is) or absolute";
            assert.deepStrictEqual(problemsOf({ clientsFile: "lists/nothing.yaml" }), [
                `clientsFile: ${path.join(project, "lists", "nothing.yaml")} cannot be read (ENOENT); ${allowed}`,
            ]);
            const broken = write("lists/broken.yaml", "- bob\n- [alice\n");
            const [notYaml] = problemsOf({ clientsFile: broken });
            assert.match(notYaml, /^clientsFile: \/.*\/lists\/broken\.yaml is not YAML or JSON \(.+\); allowed: /);
            const mapping = write("lists/mapping.yaml", "clients:\n  - bob\n");
            assert.deepStrictEqual(problemsOf({ clientsFile: mapping }), [
                `clientsFile: ${path.join(project, mapping)} holds {"clients":["bob"]}, not a list; ${allowed}`,
            ]);
            const empty = write("lists/empty.yaml", "");
            assert.match(problemsOf({ clientsFile: empty })[0], /holds undefined, not a list; allowed: /);
            assert.deepStrictEqual(problemsOf({ clientsFile: ["bob"] }), [
                `clientsFile: ["bob"] is not a string; ${allowed}, or "" for none`,
            ]);
        });

        it("names each problem in the file under clientsFile[i], as clients would under clients[i]", () => {
            const file = write(
                "lists/bad.yaml",
                [
                    "- bad name",
                    "- name: alice",
                    "  csrFile: partners/mallory.csr",
                    "- name: carol",
                    "  csrFile: partners/nobody.csr",
                    "- name: dave",
                    "  key: x",
                    "  csr: x",
                    "- Bob",
                    "- bob",
                    "",
                ].join("\n"),
            );
            const error = rejection({ clientsFile: file });
            assert.deepStrictEqual(
                error.errors.map((problem) => problem.key),
                [
                    "clientsFile",
                    "clientsFile[1].csrFile",
                    "clientsFile[2].csrFile",
                    "clientsFile[3].key",
                    "clientsFile[3].csr",
                    "clientsFile",
                ],
            );
            assert.match(
                error.message,
                /"mtls-nginx:clientsFile\[1\]\.csrFile": \/.*mallory\.csr: has subject CN "mallory"/,
            );
            assert.match(error.message, /"mtls-nginx:clientsFile": "bob" repeats "Bob"/);
            assert.match(
                problemsOf({ clientsFile: write("lists/none.yaml", "[]\n") })[0],
                /^clientsFile: holds an empty list; allowed: a non-empty list/,
            );
        });

        it("is for stack config only: an MtlsEndpoint is given clients instead", () => {
            const error = rejection(
                { clientsFile: "lists/clients.yaml" },
                { stack: "unit", projectDirectory: project, endpointName: "partners" },
            );
            assert.deepStrictEqual(error.errors, [
                {
                    key: "clientsFile",
                    message:
                        "is a stack config key, not an MtlsEndpoint arg; allowed: clients, the list itself (a " +
                        "program reads the file and passes what it holds)",
                },
            ]);
        });
    });
});
