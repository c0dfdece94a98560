import * as assert from "assert";
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as yaml from "js-yaml";
import * as os from "os";
import * as path from "path";

/**
 * The ready recipes of examples/renew (docs/rotation.md, "Renewal that runs by itself"): the systemd
 * units pass `systemd-analyze verify` (no runner of GitHub Actions or GitLab CI exists here, so the
 * workflows are parsed, checked, and their shell steps run with a stand-in npm).
 */
const root = path.join(__dirname, "..", "..");
const recipes = path.join(root, "examples", "renew");
const read = (file: string) => fs.readFileSync(path.join(recipes, file), "utf8");

/** A systemd unit file as section -> key -> values (a key may repeat). */
function parseUnit(text: string): Map<string, Map<string, string[]>> {
    const sections = new Map<string, Map<string, string[]>>();
    let current: Map<string, string[]> | undefined;
    for (const raw of text.split("\n")) {
        const line = raw.trim();
        if (line === "" || line.startsWith("#") || line.startsWith(";")) continue;
        const section = /^\[(\w+)\]$/.exec(line);
        if (section) {
            current = new Map();
            sections.set(section[1], current);
            continue;
        }
        const setting = /^(\w+)=(.*)$/.exec(line);
        assert.ok(setting && current, `not a setting in a section: ${line}`);
        current.set(setting[1], [...(current.get(setting[1]) ?? []), setting[2]]);
    }
    return sections;
}

const setting = (unit: Map<string, Map<string, string[]>>, section: string, key: string) =>
    unit.get(section)?.get(key) ?? [];

/** `systemd-analyze verify` of the units in `directory`: its exit status and everything it printed. */
function verify(directory: string): { status: number | null; output: string } {
    const analyze = spawnSync("bash", ["-c", "command -v systemd-analyze"], { encoding: "utf8" });
    if (analyze.status !== 0) {
        throw new Error(
            "systemd-analyze is missing: npm run setup installs it (Debian's systemd package, scripts/setup-docker.sh)",
        );
    }
    const result = spawnSync(
        analyze.stdout.trim(),
        [
            "verify",
            "--man=no",
            path.join(directory, "mtls-nginx-renew.service"),
            path.join(directory, "mtls-nginx-renew.timer"),
        ],
        { encoding: "utf8", env: { ...process.env, SYSTEMD_LOG_COLOR: "0" } },
    );
    return { status: result.status, output: `${result.stdout}${result.stderr}`.trim() };
}

/** Runs a recipe's shell step the way its runner does, with a stand-in npm that records its arguments. */
function runStep(
    shell: string[],
    script: string,
    environment: Record<string, string>,
    npmExit = 0,
): { status: number | null; npmArguments: string[]; output: string } {
    const directory = fs.mkdtempSync(path.join(os.tmpdir(), "mtls-recipe-"));
    try {
        const bin = path.join(directory, "bin");
        fs.mkdirSync(bin);
        fs.writeFileSync(
            path.join(bin, "npm"),
            `#!/bin/sh\nprintf '%s\\n' "$@" >"${directory}/npm-arguments"\necho "mtls-nginx renew: stand-in"\nexit ${npmExit}\n`,
            { mode: 0o755 },
        );
        const result = spawnSync(shell[0], [...shell.slice(1), script], {
            cwd: directory,
            encoding: "utf8",
            env: { PATH: `${bin}:/usr/bin:/bin`, HOME: directory, RUNNER_TEMP: directory, ...environment },
        });
        const recorded = path.join(directory, "npm-arguments");
        return {
            status: result.status,
            npmArguments: fs.existsSync(recorded) ? fs.readFileSync(recorded, "utf8").trim().split("\n") : [],
            output: `${result.stdout}${result.stderr}`,
        };
    } finally {
        fs.rmSync(directory, { recursive: true, force: true });
    }
}

describe("examples/renew: systemd units", () => {
    const service = parseUnit(read("mtls-nginx-renew.service"));
    const timer = parseUnit(read("mtls-nginx-renew.timer"));

    it("pass systemd-analyze verify without a word", () => {
        const { status, output } = verify(recipes);
        assert.strictEqual(status, 0, output);
        assert.strictEqual(output, "", "systemd-analyze warned (it exits 0 on unknown keys and bad values)");
    });

    it("fail systemd-analyze verify when a setting is wrong (so the check above means something)", () => {
        const broken = fs.mkdtempSync(path.join(os.tmpdir(), "mtls-units-"));
        try {
            fs.writeFileSync(
                path.join(broken, "mtls-nginx-renew.service"),
                read("mtls-nginx-renew.service").replace("Type=oneshot", "Type=oneshoot"),
            );
            fs.writeFileSync(
                path.join(broken, "mtls-nginx-renew.timer"),
                read("mtls-nginx-renew.timer").replace("OnCalendar=daily", "OnCalendar=every day"),
            );
            const { output } = verify(broken);
            assert.match(output, /Failed to parse service type/);
            assert.match(output, /Failed to parse calendar specification/);
        } finally {
            fs.rmSync(broken, { recursive: true, force: true });
        }
    });

    it("run npm run renew once per start, in the checkout, as the account that set it up", () => {
        assert.deepStrictEqual(setting(service, "Service", "Type"), ["oneshot"]);
        assert.deepStrictEqual(setting(service, "Service", "ExecStart"), [
            "/bin/bash scripts/with-node.sh npm run --silent renew -- dev",
        ]);
        assert.match(setting(service, "Service", "WorkingDirectory")[0], /^\//);
        assert.notStrictEqual(setting(service, "Service", "User")[0] ?? "root", "root");
        assert.ok(setting(service, "Service", "TimeoutStartSec").length === 1, "a hung renewal is stopped");
    });

    it("hand the passphrase over as a credential, never from the checkout", () => {
        const [credential] = setting(service, "Service", "LoadCredential");
        assert.match(credential, /^pulumi-passphrase:\/etc\//);
        assert.deepStrictEqual(setting(service, "Service", "Environment"), [
            "PULUMI_CONFIG_PASSPHRASE_FILE=%d/pulumi-passphrase",
        ]);
        const workingDirectory = setting(service, "Service", "WorkingDirectory")[0];
        assert.ok(!credential.includes(workingDirectory), "the credential is outside the checkout");
        assert.doesNotMatch(read("mtls-nginx-renew.service"), /^[^#]*PULUMI_CONFIG_PASSPHRASE=/m);
        for (const file of setting(service, "Service", "EnvironmentFile")) {
            assert.match(file, /^-?\/etc\//, "settings live outside the checkout");
        }
    });

    it("start it daily at a random time, catching up after downtime", () => {
        assert.deepStrictEqual(setting(timer, "Timer", "OnCalendar"), ["daily"]);
        assert.deepStrictEqual(setting(timer, "Timer", "Persistent"), ["true"]);
        assert.ok(setting(timer, "Timer", "RandomizedDelaySec").length === 1);
        assert.deepStrictEqual(setting(timer, "Timer", "Unit"), ["mtls-nginx-renew.service"]);
        assert.deepStrictEqual(setting(timer, "Install", "WantedBy"), ["timers.target"]);
    });
});

interface GitHubStep {
    readonly name?: string;
    readonly uses?: string;
    readonly run?: string;
    readonly if?: string;
    readonly with?: Record<string, unknown>;
}

interface GitHubWorkflow {
    readonly on: { schedule: Array<{ cron: string }>; workflow_dispatch?: unknown };
    readonly concurrency: { group: string; "cancel-in-progress": boolean };
    readonly jobs: Record<string, { "runs-on": string[]; env: Record<string, string>; steps: GitHubStep[] }>;
}

/** GitHub runs a `run:` step with `bash --noprofile --norc -eo pipefail {0}`. */
const githubBash = ["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c"];

describe("examples/renew: the GitHub Actions workflow", () => {
    const workflow = yaml.load(read("github-actions.yml")) as GitHubWorkflow;
    const job = workflow.jobs.renew;
    const renewStep = job.steps.find((step) => step.run?.includes("npm run --silent renew --"));

    it("is scheduled daily (five cron fields) and can be started by hand", () => {
        assert.strictEqual(workflow.on.schedule.length, 1);
        const fields = workflow.on.schedule[0].cron.split(" ");
        assert.strictEqual(fields.length, 5);
        assert.deepStrictEqual(fields.slice(2), ["*", "*", "*"], "every day");
        assert.ok("workflow_dispatch" in workflow.on);
    });

    it("runs npm run renew on the endpoint's own runner, one at a time, with the passphrase from a secret", () => {
        assert.ok(renewStep, "a step runs npm run renew");
        assert.ok(job["runs-on"].includes("self-hosted"));
        assert.strictEqual(workflow.concurrency["cancel-in-progress"], false);
        assert.strictEqual(job.env.PULUMI_CONFIG_PASSPHRASE, "${{ secrets.PULUMI_CONFIG_PASSPHRASE }}");
        const checkout = job.steps.find((step) => step.uses?.startsWith("actions/checkout@"));
        assert.strictEqual(checkout?.with?.clean, false, "keeps node_modules and .pulumi-home: renew runs no setup");
        for (const step of job.steps) {
            assert.doesNotMatch(step.run ?? "", /\$\{\{/, "no expression inside a script (script injection)");
        }
    });

    it("passes the stack (and --dry-run when asked) to npm run renew, and fails with its exit status", () => {
        const environment = { STACK: "dev", DRY_RUN: "" };
        const passed = runStep(githubBash, renewStep!.run!, environment);
        assert.strictEqual(passed.status, 0, passed.output);
        assert.deepStrictEqual(passed.npmArguments, ["run", "--silent", "renew", "--", "dev"]);
        const dryRun = runStep(githubBash, renewStep!.run!, { ...environment, DRY_RUN: "true" });
        assert.deepStrictEqual(dryRun.npmArguments, ["run", "--silent", "renew", "--", "dev", "--dry-run"]);
        const failed = runStep(githubBash, renewStep!.run!, environment, 3);
        assert.strictEqual(failed.status, 3, "the pipe into tee keeps renew's exit status");
        const summary = job.steps.find((step) => step.name === "Summary");
        assert.strictEqual(summary?.if, "always()", "the last line reaches the summary also when renew failed");
    });
});

interface GitLabJob {
    readonly rules: Array<{ if: string }>;
    readonly script: string[];
    readonly variables: Record<string, string>;
    readonly resource_group?: string;
}

describe("examples/renew: the GitLab CI job", () => {
    const pipeline = yaml.load(read("gitlab-ci.yml")) as Record<string, GitLabJob>;
    const job = pipeline["mtls-nginx-renew"];

    it("runs only in a scheduled pipeline that names the stack", () => {
        assert.deepStrictEqual(
            job.rules.map((rule) => rule.if),
            ['$CI_PIPELINE_SOURCE == "schedule" && $MTLS_RENEW_STACK'],
        );
        assert.ok(job.resource_group, "one renewal at a time");
        assert.strictEqual(job.variables.GIT_CLEAN_FLAGS, "none", "keeps what setup made: renew runs no setup");
        assert.doesNotMatch(
            read("gitlab-ci.yml"),
            /^[^#]*PULUMI_CONFIG_PASSPHRASE:/m,
            "the passphrase is a CI/CD variable",
        );
    });

    it("runs npm run renew for the scheduled stack, and fails with its exit status", () => {
        const script = ["set -e", ...job.script].join("\n");
        const passed = runStep(["bash", "-c"], script, { MTLS_RENEW_STACK: "staging" });
        assert.strictEqual(passed.status, 0, passed.output);
        assert.deepStrictEqual(passed.npmArguments, ["run", "--silent", "renew", "--", "staging"]);
        assert.strictEqual(runStep(["bash", "-c"], script, { MTLS_RENEW_STACK: "staging" }, 2).status, 2);
    });
});
