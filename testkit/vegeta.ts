/**
 * Where the load generator lives: vegeta, built by scripts/setup-vegeta.sh. The bench drives it
 * (bench/vegeta.ts) and the e2e load test runs it; both find it here.
 */
import * as fs from "fs";
import * as os from "os";
import * as path from "path";

export const vegetaVersion = "v12.13.0";

/** Where scripts/setup-vegeta.sh puts the binary. */
export function vegetaBinary(): string {
    // The same root as scripts/env.sh (which the npm scripts source before running this).
    const cacheRoot =
        process.env.MTLS_VEGETA_CACHE?.trim() ||
        process.env.MTLS_CACHE_ROOT?.trim() ||
        path.join(process.env.XDG_CACHE_HOME?.trim() || path.join(os.homedir(), ".cache"), "mtls-nginx");
    const binary = path.join(cacheRoot, `vegeta-${vegetaVersion}`, "vegeta");
    if (!fs.existsSync(binary)) {
        throw new Error(
            `vegeta ${vegetaVersion} is missing (${binary}); run: npm run setup (or bash scripts/setup-vegeta.sh)`,
        );
    }
    return binary;
}
