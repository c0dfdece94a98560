/**
 * The container hardening floor, judged on what @pulumi/docker is asked to run: a
 * `docker:index/container:Container`, or the task spec of a Swarm `docker:index/service:Service`.
 */

export interface HardeningLimits {
    /** Capabilities a container may add back after dropping ALL (Docker names, no CAP_ prefix). */
    readonly allowedCapabilities: readonly string[];
    /** The memory limit must be set, and at most this, in MiB. */
    readonly maximumMemoryMb: number;
}

/** The Container inputs the floor reads. */
export interface ContainerInputs {
    readonly capabilities?: { readonly adds?: readonly string[]; readonly drops?: readonly string[] };
    readonly securityOpts?: readonly string[];
    readonly readOnly?: boolean;
    /** MiB. */
    readonly memory?: number;
    readonly privileged?: boolean;
}

export function containerProblems(container: ContainerInputs, limits: HardeningLimits): string[] {
    const problems = capabilityProblems(container.capabilities?.drops, container.capabilities?.adds, limits);
    const options = (container.securityOpts ?? []).map((option) => option.replace(/\s/g, ""));
    if (!options.some((option) => /^no-new-privileges(?:[:=]true)?$/.test(option))) {
        problems.push('no-new-privileges is not set (securityOpts "no-new-privileges:true")');
    }
    if (container.readOnly !== true) {
        problems.push("the root filesystem is writable (readOnly is not true)");
    }
    if (container.privileged === true) {
        problems.push("the container is privileged");
    }
    problems.push(...memoryProblems(container.memory, limits));
    return problems;
}

/** The Service inputs the floor reads (`taskSpec`). */
export interface ServiceInputs {
    readonly taskSpec?: {
        readonly containerSpec?: {
            readonly capAdds?: readonly string[];
            readonly capDrops?: readonly string[];
            readonly readOnly?: boolean;
        };
        readonly resources?: { readonly limits?: { readonly memoryBytes?: number } };
    };
}

/**
 * The same floor for a Swarm service, but for no-new-privileges: a Swarm service spec has no such
 * setting (neither has `docker service create`), so it cannot be asked for here.
 */
export function serviceProblems(service: ServiceInputs, limits: HardeningLimits): string[] {
    const spec = service.taskSpec?.containerSpec ?? {};
    const problems = capabilityProblems(spec.capDrops, spec.capAdds, limits);
    if (spec.readOnly !== true) {
        problems.push("the root filesystem is writable (taskSpec.containerSpec.readOnly is not true)");
    }
    const bytes = service.taskSpec?.resources?.limits?.memoryBytes;
    problems.push(...memoryProblems(bytes === undefined ? undefined : bytes / (1024 * 1024), limits));
    return problems;
}

function capabilityProblems(
    drops: readonly string[] | undefined,
    adds: readonly string[] | undefined,
    limits: HardeningLimits,
): string[] {
    const problems: string[] = [];
    if (!(drops ?? []).some((capability) => normalize(capability) === "ALL")) {
        problems.push("capabilities are not dropped (drop ALL, then add back what is needed)");
    }
    const allowed = limits.allowedCapabilities.map(normalize);
    const extra = (adds ?? []).filter((capability) => !allowed.includes(normalize(capability)));
    if (extra.length > 0) {
        problems.push(
            `capabilities ${extra.map(normalize).join(", ")} are added; allowed: ${limits.allowedCapabilities.join(", ") || "none"}`,
        );
    }
    return problems;
}

function normalize(capability: string): string {
    return capability.toUpperCase().replace(/^CAP_/, "");
}

function memoryProblems(memoryMb: number | undefined, limits: HardeningLimits): string[] {
    if (memoryMb === undefined || memoryMb <= 0) {
        return ["no memory limit is set"];
    }
    return memoryMb > limits.maximumMemoryMb
        ? [`the memory limit of ${memoryMb} MiB is above the maximum of ${limits.maximumMemoryMb} MiB`]
        : [];
}
