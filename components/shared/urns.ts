import * as pulumi from "@pulumi/pulumi";

/**
 * URNs as plain strings, for aliases. The SDK turns an alias given as `{name, parent}` into several
 * Outputs per resource, before and after registration: with 6 such aliases per client, that was
 * about 8 s of the program's CPU in a no-op preview at 1,000 clients (bench/README.md). The engine
 * treats an alias URN exactly as the `{name, parent}` it stands for.
 */

/** The URN of a resource of `type` named `name` at the stack's root. */
export function rootUrnOf(type: string, name: string): string {
    return `urn:pulumi:${pulumi.getStack()}::${pulumi.getProject()}::${type}::${name}`;
}

/** The URN of a resource of `type` named `name` whose parent is `parentUrn` (not the stack). */
export function childUrnOf(parentUrn: string, type: string, name: string): string {
    const parentQualifiedType = parentUrn.substring(0, parentUrn.lastIndexOf("::"));
    return `${parentQualifiedType}$${type}::${name}`;
}

/** The types in a URN (`urn:pulumi:STACK::PROJECT::A$B$TYPE::NAME`): its ancestors' first, its own last. */
export function typeChainOf(urn: string): string[] {
    return (urn.split("::")[2] ?? "").split("$");
}

/** The name in a URN: what follows its type. */
export function nameOf(urn: string): string {
    return urn.split("::").slice(3).join("::");
}
