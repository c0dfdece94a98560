import * as assert from "assert";
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";

import { repoRoot } from "../../testkit/stack";

/**
 * The real user's path through scripts/setup-toolchain.sh: with a released `pulumi` on PATH, plugins
 * come from `pulumi plugin install` first, and the offline Go build only takes over for a plugin that
 * cannot be acquired. A stand-in `pulumi` plays the released CLI (this machine is offline): it
 * "downloads" tls and fails for the others, as an offline machine would.
 */
describe("setup: the normal Pulumi way first, the offline build as the fallback", function () {
    let scratch: string;

    before(() => {
        scratch = fs.mkdtempSync(path.join(os.tmpdir(), "mtls-setup-paths-"));
        const checkout = path.join(scratch, "checkout");
        fs.mkdirSync(checkout);
        for (const entry of ["scripts", "toolchain", "package.json"]) {
            fs.cpSync(path.join(repoRoot, entry), path.join(checkout, entry), { recursive: true });
        }
        for (const name of ["tls", "docker", "command", "kubernetes"]) {
            const target = path.join(checkout, "node_modules", "@pulumi", name);
            fs.mkdirSync(target, { recursive: true });
            fs.copyFileSync(
                path.join(repoRoot, "node_modules", "@pulumi", name, "package.json"),
                path.join(target, "package.json"),
            );
        }
        const bin = path.join(scratch, "released");
        fs.mkdirSync(bin);
        fs.writeFileSync(
            path.join(bin, "pulumi"),
            [
                "#!/bin/sh",
                'echo "$*" >> "$CALLS"',
                'case "$1" in version) echo v3.280.0 ;; plugin)',
                '  dir="$PULUMI_HOME/plugins/resource-$4-v$5"',
                '  if [ "$6" = "--file" ]; then mkdir -p "$dir" && cp "$7" "$dir/pulumi-resource-$4"; exit $?; fi',
                '  if [ "$4" = tls ]; then mkdir -p "$dir" && printf "#!/bin/sh\\n" > "$dir/pulumi-resource-tls" && chmod +x "$dir/pulumi-resource-tls"; exit 0; fi',
                '  echo "error: could not download plugin $4: no such host" >&2; exit 1 ;;',
                "esac",
            ].join("\n"),
            { mode: 0o755 },
        );
        fs.copyFileSync(
            path.join(repoRoot, ".pulumi-home", "bin", "pulumi-language-nodejs"),
            path.join(bin, "pulumi-language-nodejs"),
        );
        fs.chmodSync(path.join(bin, "pulumi-language-nodejs"), 0o755);
    });

    after(() => fs.rmSync(scratch, { recursive: true, force: true }));

    it("says which path each plugin took and why, and installs all three", () => {
        const checkout = path.join(scratch, "checkout");
        const calls = path.join(scratch, "calls");
        const result = spawnSync("bash", ["scripts/setup-toolchain.sh"], {
            cwd: checkout,
            encoding: "utf8",
            env: {
                ...process.env,
                PATH: `${path.join(scratch, "released")}:${process.env.PATH}`,
                MTLS_AMBIENT_PULUMI_HOME: path.join(scratch, "no-ambient-home"),
                CALLS: calls,
            },
            timeout: 600_000,
        });
        assert.strictEqual(result.status, 0, result.stderr);
        const log = result.stderr;
        assert.match(log, /pulumi: using .*released\/pulumi \(v3\.280\.0\) found on PATH/);
        assert.match(log, /tls 5\.5\.1: acquired the normal Pulumi way \(pulumi plugin install\)/);
        assert.match(
            log,
            /docker [0-9.]+: pulumi plugin install failed \(error: could not download plugin docker: no such host\); building it offline instead/,
        );
        assert.match(log, /command [0-9.]+: pulumi plugin install failed .*building it offline instead/);
        const tried = fs.readFileSync(calls, "utf8").split("\n");
        const firstAcquire = tried.findIndex((line) => /^plugin install resource tls /.test(line));
        assert.ok(firstAcquire >= 0, `calls: ${tried.join(" | ")}`);
        for (const name of ["tls", "docker", "command"]) {
            const plugins = path.join(checkout, ".pulumi-home", "plugins");
            const installed = fs
                .readdirSync(plugins)
                .find((entry) => entry.startsWith(`resource-${name}-v`) && !entry.endsWith(".lock"));
            assert.ok(installed, `${name} installed`);
        }
    });
});
