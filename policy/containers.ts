import * as path from "path";

/**
 * The container hardening floor, judged on what @pulumi/docker is asked to run: a
 * `docker:index/container:Container`, the task spec of a Swarm `docker:index/service:Service`, and a
 * `docker:index/volume:Volume` (whose driver options can make it a host path under another name).
 */

export interface HardeningLimits {
    /** Capabilities a container may add back after dropping ALL (Docker names, no CAP_ prefix). */
    readonly allowedCapabilities: readonly string[];
    /** The memory limit must be set, and at most this, in MiB. */
    readonly maximumMemoryMb: number;
}

/** A mount as @pulumi/docker names it (Container `mounts`, Service `taskSpec.containerSpec.mounts`). */
interface MountInputs {
    readonly type?: string;
    readonly source?: string;
    readonly target?: string;
    readonly volumeOptions?: { readonly driverOptions?: Readonly<Record<string, string>> };
}

/** The Container inputs the floor reads. */
export interface ContainerInputs {
    readonly capabilities?: { readonly adds?: readonly string[]; readonly drops?: readonly string[] };
    readonly securityOpts?: readonly string[];
    readonly readOnly?: boolean;
    /** MiB. */
    readonly memory?: number;
    /** MiB, memory and swap together; -1: unlimited swap. */
    readonly memorySwap?: number;
    readonly privileged?: boolean;
    readonly networkMode?: string;
    readonly pidMode?: string;
    readonly ipcMode?: string;
    readonly usernsMode?: string;
    readonly cgroupnsMode?: string;
    readonly devices?: ReadonlyArray<{ readonly hostPath?: string; readonly containerPath?: string }>;
    readonly gpus?: string;
    readonly volumes?: ReadonlyArray<{
        readonly volumeName?: string;
        readonly hostPath?: string;
        readonly fromContainer?: string;
        readonly containerPath?: string;
    }>;
    readonly mounts?: readonly MountInputs[];
}

export function containerProblems(container: ContainerInputs, limits: HardeningLimits): string[] {
    const problems = capabilityProblems(container.capabilities?.drops, container.capabilities?.adds, limits);
    problems.push(...securityOptionProblems(container.securityOpts ?? []));
    if (container.readOnly !== true) {
        problems.push("the root filesystem is writable (readOnly is not true)");
    }
    if (container.privileged === true) {
        problems.push("the container is privileged");
    }
    problems.push(...memoryProblems(container.memory, limits));
    problems.push(...swapProblems(container.memory, container.memorySwap));
    problems.push(...namespaceProblems(container));
    const devices = container.devices ?? [];
    if (devices.length > 0) {
        problems.push(`devices ${devices.map((device) => device.hostPath).join(", ")} give the container host devices`);
    }
    if (container.gpus !== undefined && container.gpus !== "") {
        problems.push(`gpus ${container.gpus} gives the container the host's GPUs`);
    }
    for (const volume of container.volumes ?? []) {
        if (volume.fromContainer) {
            problems.push(
                `volumes takes every volume of container ${volume.fromContainer}, which the policy cannot see`,
            );
            continue;
        }
        // The provider binds volumeName (else hostPath) as "source:target": a path there is a host path.
        const source = volume.volumeName || volume.hostPath;
        const hostPath = source && !isVolumeName(source) ? source : volume.hostPath;
        if (hostPath) {
            problems.push(hostPathProblem(`volumes ${volume.containerPath ?? ""}`, hostPath));
        }
    }
    problems.push(...mountProblems("mounts", container.mounts ?? []));
    return problems;
}

/** The Service inputs the floor reads (`taskSpec`). */
export interface ServiceInputs {
    readonly taskSpec?: {
        readonly containerSpec?: {
            readonly capAdds?: readonly string[];
            readonly capDrops?: readonly string[];
            readonly readOnly?: boolean;
            readonly mounts?: readonly MountInputs[];
            readonly privileges?: {
                readonly seLinuxContext?: {
                    readonly disable?: boolean;
                    readonly type?: string;
                    readonly user?: string;
                    readonly role?: string;
                };
            };
        };
        readonly resources?: { readonly limits?: { readonly memoryBytes?: number } };
        readonly networksAdvanceds?: ReadonlyArray<{ readonly name?: string }>;
    };
}

/**
 * The same floor for a Swarm service, but for no-new-privileges: a Swarm service spec has no such
 * setting (neither has `docker service create`), so it cannot be asked for here. Nor has it seccomp,
 * AppArmor, namespace modes, devices or swap settings; its task mounts only volumes and tmpfs.
 */
export function serviceProblems(service: ServiceInputs, limits: HardeningLimits): string[] {
    const spec = service.taskSpec?.containerSpec ?? {};
    const problems = capabilityProblems(spec.capDrops, spec.capAdds, limits);
    if (spec.readOnly !== true) {
        problems.push("the root filesystem is writable (taskSpec.containerSpec.readOnly is not true)");
    }
    const bytes = service.taskSpec?.resources?.limits?.memoryBytes;
    problems.push(...memoryProblems(bytes === undefined ? undefined : bytes / (1024 * 1024), limits));
    problems.push(...mountProblems("taskSpec.containerSpec.mounts", spec.mounts ?? []));
    const selinux = spec.privileges?.seLinuxContext;
    if (selinux?.disable === true) {
        problems.push("taskSpec.containerSpec.privileges.seLinuxContext.disable turns SELinux separation off");
    }
    for (const field of ["type", "user", "role"] as const) {
        if (selinux?.[field]) {
            problems.push(
                `taskSpec.containerSpec.privileges.seLinuxContext.${field} ${selinux[field]} replaces the ` +
                    "container's SELinux label with one the policy cannot judge",
            );
        }
    }
    for (const network of service.taskSpec?.networksAdvanceds ?? []) {
        if (network.name === "host") {
            problems.push("taskSpec.networksAdvanceds host: the tasks share the host's network stack");
        }
    }
    return problems;
}

/** The Volume inputs the floor reads. */
export interface VolumeInputs {
    readonly driverOpts?: Readonly<Record<string, string>>;
}

/** A named volume stays Docker's own: the local driver's `o=bind` or a `device` path makes it a host path. */
export function volumeProblems(volume: VolumeInputs): string[] {
    return driverOptionProblems("driverOpts", volume.driverOpts);
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

/** What each security option that turns a default confinement off does. */
const confinementOff: Record<string, string> = {
    "seccomp=unconfined": "turns seccomp filtering off",
    "apparmor=unconfined": "turns AppArmor off",
    "label=disable": "turns SELinux separation off",
    "systempaths=unconfined": "unmasks /proc and /sys paths",
    "writable-cgroups=true": "makes the cgroup filesystem writable",
};

/** The default confinements, spelled out: allowed, as they change nothing. */
const defaultConfinements = new Set(["seccomp=builtin", "apparmor=docker-default"]);

/**
 * Security options as the Docker daemon reads them (parseSecurityOpt): "no-new-privileges" alone, or
 * key and value split at the first "=" (else at the first ":", the deprecated form); for
 * no-new-privileges the last one counts. Allowed: no-new-privileges, and the default confinements by
 * name. Anything else turns a confinement off or replaces it with a profile the policy cannot judge.
 */
function securityOptionProblems(options: readonly string[]): string[] {
    const problems: string[] = [];
    let noNewPrivileges = false;
    for (const option of options) {
        const separator = option.includes("=") ? "=" : ":";
        const [key, value] = option === "no-new-privileges" ? [option, "true"] : splitOnce(option, separator);
        if (key === "no-new-privileges") {
            noNewPrivileges = goBool(value) ?? false;
            continue;
        }
        const canonical = option === "disable" ? "label=disable" : `${key}=${value}`;
        if (defaultConfinements.has(canonical)) continue;
        problems.push(
            confinementOff[canonical]
                ? `securityOpts ${option} ${confinementOff[canonical]}`
                : `securityOpts ${option} replaces a default confinement with one the policy cannot judge; ` +
                      "allowed: no-new-privileges:true, seccomp=builtin, apparmor=docker-default",
        );
    }
    if (!noNewPrivileges) {
        problems.push('no-new-privileges is not set (securityOpts "no-new-privileges:true")');
    }
    return problems;
}

function splitOnce(text: string, separator: string): [string, string] {
    const index = text.indexOf(separator);
    return index < 0 ? [text, ""] : [text.slice(0, index), text.slice(index + 1)];
}

/** Go's strconv.ParseBool, which the daemon reads no-new-privileges with; undefined: Docker refuses it. */
function goBool(value: string): boolean | undefined {
    if (["1", "t", "T", "TRUE", "true", "True"].includes(value)) return true;
    if (["0", "f", "F", "FALSE", "false", "False"].includes(value)) return false;
    return undefined;
}

function memoryProblems(memoryMb: number | undefined, limits: HardeningLimits): string[] {
    if (memoryMb === undefined || memoryMb <= 0) {
        return ["no memory limit is set"];
    }
    return memoryMb > limits.maximumMemoryMb
        ? [`the memory limit of ${memoryMb} MiB is above the maximum of ${limits.maximumMemoryMb} MiB`]
        : [];
}

/** memorySwap is memory and swap together: equal to memory, no swap on top (Docker's default adds as much again). */
function swapProblems(memoryMb: number | undefined, memorySwapMb: number | undefined): string[] {
    if (memoryMb === undefined || memoryMb <= 0) return [];
    if (memorySwapMb === -1) {
        return ["memorySwap -1 gives the container unlimited swap on top of its memory limit"];
    }
    if (memorySwapMb === undefined || memorySwapMb === 0) {
        return [`memorySwap is not set, so Docker adds ${memoryMb} MiB of swap on top; set it equal to memory`];
    }
    return memorySwapMb > memoryMb
        ? [`memorySwap ${memorySwapMb} MiB adds ${memorySwapMb - memoryMb} MiB of swap on top; set it equal to memory`]
        : [];
}

/** The namespaces a container must not share with the host or with another container. */
const namespaces = [
    ["networkMode", "network stack"],
    ["pidMode", "processes"],
    ["ipcMode", "IPC namespace"],
    ["usernsMode", "user namespace"],
    ["cgroupnsMode", "cgroup namespace"],
] as const;

function namespaceProblems(container: ContainerInputs): string[] {
    return namespaces.flatMap(([field, what]) => {
        const mode = container[field]?.toLowerCase();
        if (mode === "host") return [`${field} host: the container shares the host's ${what}`];
        if (mode?.startsWith("container:")) {
            return [`${field} ${container[field]}: the container joins another container's ${what}`];
        }
        return [];
    });
}

/** A Docker volume name ([a-zA-Z0-9][a-zA-Z0-9_.-]*); anything else as a bind source is a host path. */
function isVolumeName(source: string): boolean {
    return /^[A-Za-z0-9][A-Za-z0-9_.-]*$/.test(source);
}

function mountProblems(field: string, mounts: readonly MountInputs[]): string[] {
    return mounts.flatMap((mount) => {
        const where = `${field} ${mount.target ?? ""}`;
        if (mount.type === "tmpfs") return [];
        if (mount.type === "volume") {
            return driverOptionProblems(`${where}: volumeOptions.driverOptions`, mount.volumeOptions?.driverOptions);
        }
        if (mount.type === "bind" || mount.type === "npipe") return [hostPathProblem(where, mount.source ?? "")];
        return [`${where}: a ${mount.type ?? "typeless"} mount; allowed: volume and tmpfs`];
    });
}

/**
 * The local driver mounts `device` instead of a volume of its own: with `o=bind` a host directory,
 * and a path under /dev a host disk. (`device=tmpfs` or an NFS export stays off the host's files.)
 */
function driverOptionProblems(field: string, options: Readonly<Record<string, string>> | undefined): string[] {
    const bind = options && (/(^|,)r?bind(,|$)/.test(options.o ?? "") || (options.device ?? "").startsWith("/"));
    return bind
        ? [
              `${field} device=${options.device ?? ""} o=${options.o ?? ""} mounts a host path; allowed: plain named volumes`,
          ]
        : [];
}

/** A host path mounted into the container: named for what it hands over. */
function hostPathProblem(where: string, hostPath: string): string {
    const normalized = path.posix.normalize(hostPath).replace(/(.)\/+$/, "$1");
    if (/(^|\/)(docker|containerd|podman)\.sock$/.test(normalized)) {
        return `${where}: bind-mounts the container engine's socket ${hostPath}, which controls the host`;
    }
    if (normalized === "/") {
        return `${where}: bind-mounts the host's root filesystem`;
    }
    return `${where}: bind-mounts the host path ${hostPath}; allowed: named volumes and tmpfs`;
}

/** A Kubernetes container's settings the floor reads (`securityContext`, `resources`). */
interface PodContainerInputs {
    readonly name?: string;
    readonly securityContext?: {
        readonly capabilities?: { readonly add?: readonly string[]; readonly drop?: readonly string[] };
        readonly allowPrivilegeEscalation?: boolean;
        readonly readOnlyRootFilesystem?: boolean;
        readonly privileged?: boolean;
        readonly seccompProfile?: { readonly type?: string };
        readonly procMount?: string;
    };
    readonly resources?: { readonly limits?: { readonly memory?: string } };
}

/** The pod spec of a Deployment or a Job (`spec.template.spec`). */
export interface PodTemplateOwnerInputs {
    readonly spec?: {
        readonly template?: {
            readonly spec?: {
                readonly containers?: readonly PodContainerInputs[];
                readonly initContainers?: readonly PodContainerInputs[];
                readonly hostNetwork?: boolean;
                readonly hostPID?: boolean;
                readonly hostIPC?: boolean;
                readonly securityContext?: { readonly seccompProfile?: { readonly type?: string } };
                readonly volumes?: ReadonlyArray<{
                    readonly name?: string;
                    readonly hostPath?: { readonly path?: string };
                }>;
            };
        };
    };
}

/**
 * The same floor for a Kubernetes pod template: each container drops every capability but the
 * allowed ones, cannot escalate privileges (no-new-privileges), has a read-only root, a memory limit,
 * is not privileged and keeps a seccomp profile (its own or the pod's, never Unconfined); the pod
 * shares no host namespace and mounts no hostPath.
 */
export function podTemplateProblems(owner: PodTemplateOwnerInputs, limits: HardeningLimits): string[] {
    const pod = owner.spec?.template?.spec ?? {};
    const problems: string[] = [];
    const podSeccomp = pod.securityContext?.seccompProfile?.type;
    for (const container of [...(pod.initContainers ?? []), ...(pod.containers ?? [])]) {
        const context = container.securityContext ?? {};
        const own = capabilityProblems(context.capabilities?.drop, context.capabilities?.add, limits);
        if (context.allowPrivilegeEscalation !== false) {
            own.push("privilege escalation is allowed (securityContext.allowPrivilegeEscalation is not false)");
        }
        if (context.readOnlyRootFilesystem !== true) {
            own.push("the root filesystem is writable (securityContext.readOnlyRootFilesystem is not true)");
        }
        if (context.privileged === true) {
            own.push("the container is privileged");
        }
        const seccomp = context.seccompProfile?.type ?? podSeccomp;
        if (seccomp === undefined || seccomp === "Unconfined") {
            own.push(`seccomp is ${seccomp ?? "not set"} (allowed: RuntimeDefault or Localhost)`);
        }
        if (context.procMount === "Unmasked") {
            own.push("securityContext.procMount Unmasked unmasks /proc paths");
        }
        own.push(...memoryProblems(mebibytes(container.resources?.limits?.memory), limits));
        problems.push(...own.map((problem) => `container ${container.name ?? "?"}: ${problem}`));
    }
    for (const [field, what] of [
        ["hostNetwork", "network stack"],
        ["hostPID", "processes"],
        ["hostIPC", "IPC namespace"],
    ] as const) {
        if (pod[field] === true) {
            problems.push(`${field}: the pod shares the host's ${what}`);
        }
    }
    for (const volume of pod.volumes ?? []) {
        if (volume.hostPath) {
            problems.push(hostPathProblem(`volume ${volume.name ?? "?"}`, volume.hostPath.path ?? ""));
        }
    }
    return problems;
}

/** A Kubernetes memory quantity in MiB (Ki, Mi, Gi and plain bytes); undefined when unset or unreadable. */
function mebibytes(quantity: string | undefined): number | undefined {
    const match = /^([0-9]+)(Ki|Mi|Gi|K|M|G)?$/.exec(quantity ?? "");
    if (!match) return undefined;
    const factor: Record<string, number> = {
        "": 1 / 1048576,
        Ki: 1 / 1024,
        Mi: 1,
        Gi: 1024,
        K: 1000 / 1048576,
        M: 1e6 / 1048576,
        G: 1e9 / 1048576,
    };
    return Number(match[1]) * factor[match[2] ?? ""];
}
