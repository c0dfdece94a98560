/**
 * A private PostgreSQL cluster for the e2e tests of shared state: Debian's server binaries
 * (scripts/setup-postgres.sh installs them when missing, no service), a new cluster in a temp
 * directory, listening on 127.0.0.1 only (a free port; its Unix socket in that directory), with a user
 * and a database of its own for the Pulumi state. Never the machine's own cluster. As root the server
 * runs as the `postgres` user (PostgreSQL refuses to run as root). `stop()` shuts it down and removes
 * the directory; `usePostgres()` does that in an after hook, which runs when a test failed too.
 */
import { spawnSync, SpawnSyncReturns } from "child_process";
import * as crypto from "crypto";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";

import { freePort } from "./ports";

const repoRoot = path.join(__dirname, "..");

export interface PostgresCluster {
    readonly host: string;
    readonly port: number;
    /** The state's user and database (the same name). */
    readonly user: string;
    readonly database: string;
    /** The state user's password: in PGPASSWORD for clients, never in the backend URL. */
    readonly password: string;
    /** PULUMI_BACKEND_URL for the state database (no password: it travels in `environment`). */
    readonly backendUrl: string;
    /** What a client of the state database needs beside the URL: PGPASSWORD. */
    readonly environment: Record<string, string>;
    /** Where initdb, pg_ctl, postgres and psql are. */
    readonly binDirectory: string;
    /** Seconds to install (when needed), create and start the cluster. */
    readonly startSeconds: number;
    /** Runs SQL as the state's user in its database; psql's unaligned, tuples-only output. */
    query(sql: string): string;
    /** Stops the server and removes its directory (again: nothing). */
    stop(): void;
}

const adminUser = "mtls_admin";
const stateUser = "mtls_state";

/** Creates and starts the cluster (about 2 s once the binaries are installed). */
export async function startPostgres(): Promise<PostgresCluster> {
    const started = Date.now();
    const setup = spawnSync("bash", [path.join(repoRoot, "scripts", "setup-postgres.sh")], {
        encoding: "utf8",
        timeout: 600_000,
    });
    if (setup.status !== 0) {
        throw new Error(`scripts/setup-postgres.sh failed (status ${setup.status}):\n${setup.stderr}`);
    }
    const binDirectory = setup.stdout.trim();
    const directory = fs.mkdtempSync(path.join(os.tmpdir(), "mtls-e2e-pg-"));
    const dataDirectory = path.join(directory, "data");
    const logFile = path.join(directory, "server.log");
    // PostgreSQL refuses to run as root: as root, the `postgres` user (the package creates it) owns the cluster.
    const asRoot = process.getuid?.() === 0;
    const runAs = asRoot ? ["runuser", "-u", "postgres", "--"] : [];
    const serverCommand = (program: string, args: string[], timeoutMs = 60_000): SpawnSyncReturns<string> => {
        const [command, ...rest] = [...runAs, path.join(binDirectory, program), ...args];
        return spawnSync(command, rest, {
            cwd: directory,
            encoding: "utf8",
            timeout: timeoutMs,
            stdio: ["ignore", "pipe", "pipe"],
        });
    };
    let stopped = false;
    const stop = () => {
        if (stopped) return;
        stopped = true;
        if (fs.existsSync(path.join(dataDirectory, "postmaster.pid"))) {
            const result = serverCommand("pg_ctl", ["-D", dataDirectory, "-m", "fast", "-w", "-t", "30", "stop"]);
            if (result.status !== 0) {
                killPostmaster(dataDirectory);
            }
        }
        fs.rmSync(directory, { recursive: true, force: true });
    };
    try {
        if (asRoot) {
            if (spawnSync("id", ["-u", "postgres"]).status !== 0) {
                throw new Error("running as root, and there is no `postgres` user to run the server as");
            }
            fs.chownSync(directory, userId("postgres"), groupId("postgres"));
            if (spawnSync("runuser", ["-u", "postgres", "--", "test", "-w", directory]).status !== 0) {
                throw new Error(
                    `the postgres user cannot reach ${directory}: set TMPDIR to a directory it can traverse`,
                );
            }
        }
        const adminPassword = crypto.randomBytes(16).toString("hex");
        const passwordFile = path.join(directory, "admin-password");
        fs.writeFileSync(passwordFile, `${adminPassword}\n`, { mode: 0o600 });
        if (asRoot) fs.chownSync(passwordFile, userId("postgres"), groupId("postgres"));
        const init = serverCommand("initdb", [
            "-D",
            dataDirectory,
            "-U",
            adminUser,
            `--pwfile=${passwordFile}`,
            "--auth=scram-sha-256",
            "--encoding=UTF8",
            "--locale=C",
            "--no-sync",
            "--no-instructions",
        ]);
        fs.rmSync(passwordFile);
        if (init.status !== 0) {
            throw new Error(`initdb failed (status ${init.status}):\n${init.stdout}${init.stderr}`);
        }
        let port = 0;
        for (let attempt = 1; ; attempt++) {
            port = await freePort();
            const options = `-c listen_addresses=127.0.0.1 -c port=${port} -c unix_socket_directories=${directory}`;
            const start = serverCommand("pg_ctl", [
                "-D",
                dataDirectory,
                "-l",
                logFile,
                "-w",
                "-t",
                "60",
                "-o",
                options,
                "start",
            ]);
            if (start.status === 0) break;
            const log = fs.existsSync(logFile) ? fs.readFileSync(logFile, "utf8") : "";
            // Another process took the free port in between: try another one.
            if (attempt < 3 && /could not bind|Address already in use/.test(log)) continue;
            throw new Error(`pg_ctl start failed (status ${start.status}):\n${start.stdout}${start.stderr}\n${log}`);
        }
        const password = crypto.randomBytes(16).toString("hex");
        const psql = (user: string, userPassword: string, database: string, sql: string): string => {
            const result = spawnSync(
                path.join(binDirectory, "psql"),
                [
                    "-X",
                    "-q",
                    "-v",
                    "ON_ERROR_STOP=1",
                    "-At",
                    "-h",
                    "127.0.0.1",
                    "-p",
                    String(port),
                    "-U",
                    user,
                    "-d",
                    database,
                    "-c",
                    sql,
                ],
                {
                    encoding: "utf8",
                    timeout: 60_000,
                    maxBuffer: 1 << 30,
                    env: { ...process.env, PGPASSWORD: userPassword, PGCONNECT_TIMEOUT: "10" },
                },
            );
            if (result.status !== 0) {
                throw new Error(`psql failed (status ${result.status}): ${result.stderr || String(result.error)}`);
            }
            return result.stdout;
        };
        // Hex only: nothing to quote.
        psql(adminUser, adminPassword, "postgres", `CREATE ROLE ${stateUser} LOGIN PASSWORD '${password}'`);
        psql(adminUser, adminPassword, "postgres", `CREATE DATABASE ${stateUser} OWNER ${stateUser}`);
        return {
            host: "127.0.0.1",
            port,
            user: stateUser,
            database: stateUser,
            password,
            backendUrl: `postgres://${stateUser}@127.0.0.1:${port}/${stateUser}?sslmode=disable`,
            environment: { PGPASSWORD: password },
            binDirectory,
            startSeconds: (Date.now() - started) / 1000,
            query: (sql) => psql(stateUser, password, stateUser, sql),
            stop,
        };
    } catch (error) {
        stop();
        throw error;
    }
}

/** A cluster for one describe block: started in a before hook, stopped and removed in an after hook. */
export function usePostgres(): { readonly current: PostgresCluster } {
    let cluster: PostgresCluster | undefined;
    before(async function () {
        this.timeout(600_000);
        cluster = await startPostgres();
    });
    after(() => cluster?.stop());
    return {
        get current() {
            if (!cluster) throw new Error("the PostgreSQL cluster is not started yet");
            return cluster;
        },
    };
}

function userId(name: string): number {
    return Number(spawnSync("id", ["-u", name], { encoding: "utf8" }).stdout.trim());
}

function groupId(name: string): number {
    return Number(spawnSync("id", ["-g", name], { encoding: "utf8" }).stdout.trim());
}

/** The server did not stop in time: SIGKILL its postmaster (the first line of postmaster.pid). */
function killPostmaster(dataDirectory: string): void {
    try {
        const pid = Number(fs.readFileSync(path.join(dataDirectory, "postmaster.pid"), "utf8").split("\n")[0]);
        if (pid > 0) process.kill(pid, "SIGKILL");
    } catch {
        // Gone already.
    }
}
