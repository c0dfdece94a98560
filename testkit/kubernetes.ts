/**
 * A throwaway single-node Kubernetes cluster (v1.34) for the e2e tier: scripts/setup-kubernetes.sh
 * builds (or finds cached) the binaries, scripts/kube-cluster.sh starts the cluster in a new temp
 * directory with every listener on 127.0.0.1, its own containerd, pods on 10.244.0.0/24 (bridge
 * cni0) and kube-proxy in iptables mode (ClusterIPs and 127.0.0.1:<nodePort> answer from the host).
 * Needs root. One cluster per machine at a time (it owns cni0 and the apiserver's port block).
 * `stop()` undoes everything start did and removes the directory; `useTestCluster()` calls it in an
 * after hook, which runs when a test failed too.
 */
import { spawn, spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";

const repoRoot = path.join(__dirname, "..");
const clusterScript = path.join(repoRoot, "scripts", "kube-cluster.sh");

export interface TestClusterOptions {
    /** Docker image refs to `docker save` from the local engine into the cluster (MTLS_KUBE_IMAGES). */
    readonly images?: readonly string[];
    /** The apiserver's port; the next 10 are the cluster's other listeners (default 26443). */
    readonly apiServerPort?: number;
}

export interface TestCluster {
    /** The cluster's directory: state, logs (`logs/`), certificates, binaries (`bin/`). */
    readonly directory: string;
    /** The admin kubeconfig (client certificate of system:masters). */
    readonly kubeconfigPath: string;
    readonly kubeconfig: string;
    /** https://127.0.0.1:<port> */
    readonly apiServerUrl: string;
    /** The Node's name (the machine's hostname when it resolves to 127.0.0.1, else "localhost"). */
    readonly nodeName: string;
    /** Seconds from the setup script's start to a Ready node with a default service account. */
    readonly startSeconds: number;
    /** Stops the cluster, undoes its host changes and removes the directory (again: nothing). */
    stop(): Promise<void>;
}

interface ScriptResult {
    readonly code: number | null;
    readonly output: string;
}

/** Runs a script with bash, stdout and stderr interleaved, killed after timeoutMs. */
function runScript(args: readonly string[], env: NodeJS.ProcessEnv, timeoutMs: number): Promise<ScriptResult> {
    return new Promise((resolve) => {
        const child = spawn("bash", [...args], { cwd: repoRoot, env, stdio: ["ignore", "pipe", "pipe"] });
        let output = "";
        child.stdout.on("data", (chunk: Buffer) => (output += chunk.toString()));
        child.stderr.on("data", (chunk: Buffer) => (output += chunk.toString()));
        const timer = setTimeout(() => {
            output += `\n(killed after ${timeoutMs} ms)`;
            child.kill("SIGKILL");
        }, timeoutMs);
        child.on("close", (code) => {
            clearTimeout(timer);
            resolve({ code, output });
        });
    });
}

/**
 * Builds the binaries when needed (minutes the first time; a cold Go cache takes ~10 min on 2
 * cores), then starts a cluster: about 10 s with the binaries cached. Fails with the scripts'
 * output; a failed start has already been stopped by the script.
 */
export async function startTestCluster(options: TestClusterOptions = {}): Promise<TestCluster> {
    const started = Date.now();
    const setup = await runScript([path.join(repoRoot, "scripts", "setup-kubernetes.sh")], process.env, 1_800_000);
    if (setup.code !== 0) {
        throw new Error(`scripts/setup-kubernetes.sh failed (status ${setup.code}):\n${setup.output}`);
    }
    const directory = fs.mkdtempSync(path.join(os.tmpdir(), "mtls-kube-"));
    const port = options.apiServerPort ?? Number(process.env.MTLS_KUBE_APISERVER_PORT ?? 26443);
    const env: NodeJS.ProcessEnv = {
        ...process.env,
        MTLS_KUBE_APISERVER_PORT: String(port),
        MTLS_KUBE_IMAGES: (options.images ?? []).join(" "),
    };
    let stopped = false;
    const stop = async (): Promise<void> => {
        if (stopped) return;
        const result = await runScript([clusterScript, "stop", directory], env, 300_000);
        if (result.code !== 0) {
            throw new Error(`kube-cluster.sh stop ${directory} failed (status ${result.code}):\n${result.output}`);
        }
        stopped = true;
        fs.rmSync(directory, { recursive: true, force: true });
    };
    const start = await runScript([clusterScript, "start", directory], env, 600_000);
    if (start.code !== 0) {
        await stop().catch(() => undefined);
        throw new Error(`kube-cluster.sh start ${directory} failed (status ${start.code}):\n${start.output}`);
    }
    const kubeconfigPath = path.join(directory, "kubeconfig");
    return {
        directory,
        kubeconfigPath,
        kubeconfig: fs.readFileSync(kubeconfigPath, "utf8"),
        apiServerUrl: `https://127.0.0.1:${port}`,
        nodeName: fs.readFileSync(path.join(directory, "node-name"), "utf8").trim(),
        startSeconds: (Date.now() - started) / 1000,
        stop,
    };
}

/** Runs the cluster's kubectl with the admin kubeconfig; its stdout. Throws with stderr on failure. */
export function kubectl(cluster: TestCluster, args: readonly string[], input?: string): string {
    const result = spawnSync(
        path.join(cluster.directory, "bin", "kubectl"),
        ["--kubeconfig", cluster.kubeconfigPath, ...args],
        {
            encoding: "utf8",
            input,
            timeout: 120_000,
            maxBuffer: 1 << 28,
        },
    );
    if (result.status !== 0) {
        throw new Error(
            `kubectl ${args.join(" ")} failed (status ${result.status}): ${result.stderr || String(result.error)}`,
        );
    }
    return result.stdout;
}

/** A cluster for one describe block: started in a before hook, stopped in an after hook. */
export function useTestCluster(options: TestClusterOptions = {}): { readonly current: TestCluster } {
    let cluster: TestCluster | undefined;
    before(async function () {
        this.timeout(2_400_000);
        cluster = await startTestCluster(options);
    });
    after(async function () {
        this.timeout(300_000);
        await cluster?.stop();
    });
    return {
        get current(): TestCluster {
            if (cluster === undefined) throw new Error("the test cluster is not started (before hook failed?)");
            return cluster;
        },
    };
}
