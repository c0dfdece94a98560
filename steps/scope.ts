/**
 * Where the steps put their resources: under which parent, and with which name prefix. The stack
 * used to register everything at the root; now an MtlsEndpoint component holds it, and two of them
 * in one stack must not share a URN (a URN names the parent's type, not the parent's name).
 */
import * as pulumi from "@pulumi/pulumi";
import { rootUrnOf } from "../components/shared/urns";

export interface ResourceScope {
    /** The name of a step's resource: `<endpoint>-<base>` under a component, `<base>` at the root. */
    name(base: string): string;
    /** The options of a step's resource: its parent, and the aliases that keep what was deployed before. */
    options(base: string): pulumi.ComponentResourceOptions;
    /**
     * The URN a resource named `base` of `type` had at the stack's root, for one deployed before the
     * component existed; undefined when nothing of this scope was ever there.
     */
    formerRootUrn(base: string, type: string): string | undefined;
}

/** Everything at the stack's root, named as the steps name it (the unit tests' graph). */
export const rootScope: ResourceScope = {
    name: (base) => base,
    options: () => ({}),
    formerRootUrn: () => undefined,
};

/**
 * Everything under `parent`, named `<prefix>-<base>`. `movedFromRoot`: the stack's own endpoint,
 * whose resources were deployed at the root before the component existed; each direct child gets
 * an alias to its old root URN, and the engine derives its children's aliases from that (their
 * names start with their parent's).
 */
export function componentScope(parent: pulumi.Resource, prefix: string, movedFromRoot: boolean): ResourceScope {
    return {
        name: (base) => `${prefix}-${base}`,
        options: (base) => ({
            parent,
            ...(movedFromRoot ? { aliases: [{ name: base, parent: pulumi.rootStackResource }] } : {}),
        }),
        formerRootUrn: (base, type) => (movedFromRoot ? rootUrnOf(type, base) : undefined),
    };
}
