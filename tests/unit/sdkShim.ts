/**
 * THE SHIM: every piece of @pulumi/pulumi internals the unit tier relies on, and nothing else. The
 * public mocks API passes a resource's inputs only; these three read what it leaves out. When an SDK
 * upgrade breaks the unit tier, look here first.
 *
 * 1. How a secret travels on the wire (mocks receive inputs in that form).
 * 2. Waiting until every registration the program started has reached the mocks.
 * 3. Seeing each registration's options (replacementTrigger, ignoreChanges, additionalSecretOutputs,
 *    parent and aliases).
 */

// 1. The SDK's marker of a secret value (sdk/nodejs/runtime/rpc.ts: specialSigKey, specialSecretSig).
const secretSignature = "4dabf18193072939515e22adb298388d";
const secretSignatureValue = "1b47061264138c4ac30d75fd1eb44270";

export function isSecretWrapper(value: unknown): value is { value: unknown } {
    return (
        typeof value === "object" &&
        value !== null &&
        (value as Record<string, unknown>)[secretSignature] === secretSignatureValue
    );
}

interface Settings {
    waitForRPCs(): Promise<void>;
    getMonitor(): { registerResource(request: RegistrationRequest, callback: unknown): unknown };
}

function settings(): Settings {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    return require("@pulumi/pulumi/runtime/settings") as Settings;
}

// 2. "The RPC queue drained".
export async function waitForRegistrations(): Promise<void> {
    await settings().waitForRPCs();
}

/** The options of one registration, as the shim reads them. */
export interface RegistrationOptions {
    readonly name: string;
    readonly replacementTrigger?: unknown;
    readonly ignoreChanges: string[];
    readonly additionalSecretOutputs: string[];
    /** The parent's URN. */
    readonly parent: string;
    /**
     * Each alias as `name` (or `(same name)`) `under` parent URN, `at the root`, or `under the same
     * parent`; an alias given as a whole URN as `the URN <urn>`.
     */
    readonly aliases: string[];
}

interface RegistrationRequest {
    getName(): string;
    getReplacementTrigger?(): { toJavaScript(): unknown } | undefined;
    getIgnorechangesList(): string[];
    getAdditionalsecretoutputsList(): string[];
    getParent(): string;
    getAliasesList(): Array<{
        getUrn(): string;
        getSpec(): { getParenturn(): string; getName(): string; getNoparent(): boolean } | undefined;
    }>;
}

// 3. Wraps the mock monitor's registerResource to hand each registration's options to `observe`.
export function observeRegistrations(observe: (options: RegistrationOptions) => void): void {
    const monitor = settings().getMonitor();
    const register = monitor.registerResource.bind(monitor);
    monitor.registerResource = (request, callback) => {
        observe({
            name: request.getName(),
            replacementTrigger: request.getReplacementTrigger?.()?.toJavaScript(),
            ignoreChanges: request.getIgnorechangesList(),
            additionalSecretOutputs: request.getAdditionalsecretoutputsList(),
            parent: request.getParent(),
            aliases: request.getAliasesList().map((alias) => {
                if (alias.getUrn()) {
                    return `the URN ${alias.getUrn()}`;
                }
                const spec = alias.getSpec();
                const where = spec?.getNoparent()
                    ? "at the root"
                    : spec?.getParenturn()
                      ? `under ${spec.getParenturn()}`
                      : "under the same parent";
                return `${spec?.getName() || "(same name)"} ${where}`;
            }),
        });
        return register(request, callback);
    };
}
