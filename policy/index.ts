import {
    PolicyPack,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    ReportViolation,
    StackValidationArgs,
    StackValidationPolicy,
} from "@pulumi/policy";
import {
    ClientKeyCustodyLimits,
    clientKeyCustodyDefaults,
    clientKeyCustodyName,
    clientKeyCustodyProblems,
    clientKeyCustodySchema,
} from "./clientKeys";
import { configSchemas, limitsOf, PolicyName } from "./limits";
import { problemsOf, resourceTypes, rules } from "./rules";

/**
 * Mandatory rules for any mutual-TLS endpoint: the keys, the certificates, the TLS settings Nginx
 * runs with, and the container it runs in. Run: `pulumi preview --policy-pack policy`. What each rule
 * judges, and how, is in rules.ts (pure functions); this turns them into CrossGuard policies.
 */

/**
 * The rules that announce an nginx.conf they cannot read yet, for a Command. In a stack's first preview
 * the file set is unknown: the nginx.conf rules cannot run until `up`, where they run before the set is
 * delivered. One advisory per Command says so; an unknown Swarm config says nothing (the Swarm check
 * Command carries the same set).
 */
const announcesUnknownNginxConfig: readonly PolicyName[] = ["tls-protocol-floor"];

/** A mandatory resource policy that reports each problem rule `name` finds in a resource. */
function policy(name: PolicyName): ResourceValidationPolicy {
    const { description, types, readsNginxConfig } = rules[name];
    return {
        name,
        description,
        enforcementLevel: "mandatory",
        configSchema: configSchemas[name],
        validateResource: (args: ResourceValidationArgs, reportViolation: ReportViolation) => {
            if (!types.includes(args.type)) return;
            let problems: string[];
            try {
                problems = problemsOf(name, args.type, args.props, limitsOf(name, args.getConfig()));
            } catch (error) {
                const announce = announcesUnknownNginxConfig.includes(name) && args.type === resourceTypes.command;
                if (readsNginxConfig && isUnknownValue(error) && !announce) {
                    args.notApplicable("the file set is not known before the CA exists; checked during up");
                }
                throw error;
            }
            if (problems.length > 0) {
                reportViolation(`${args.name}: ${problems.join("; ")}`);
            }
        },
    };
}

/** What @pulumi/policy throws when a policy reads a value that is unknown during preview. */
function isUnknownValue(error: unknown): boolean {
    return error instanceof Error && error.constructor.name === "UnknownValueError";
}

/** client-key-custody: a stack policy, since it reads what each certificate's CSR comes from. */
const clientKeyCustody: StackValidationPolicy = {
    name: clientKeyCustodyName,
    description:
        "With requireClientCsr, every client certificate is signed from a CSR the client brought: the stack makes " +
        "and holds no client key.",
    enforcementLevel: "mandatory",
    configSchema: clientKeyCustodySchema,
    validateStack: (args: StackValidationArgs, reportViolation: ReportViolation) => {
        const limits = { ...clientKeyCustodyDefaults, ...args.getConfig<Partial<ClientKeyCustodyLimits>>() };
        for (const resource of args.resources) {
            if (resource.type !== resourceTypes.locallySignedCert) continue;
            const facts = {
                name: resource.name,
                inputs: resource.props,
                requestFrom: (resource.propertyDependencies.certRequestPem ?? []).map((dependency) => dependency.type),
            };
            for (const problem of clientKeyCustodyProblems(facts, limits)) {
                reportViolation(problem, resource.urn);
            }
        }
    },
};

const policies = [...(Object.keys(rules) as PolicyName[]).map(policy), clientKeyCustody];

new PolicyPack("mtls-endpoint", { enforcementLevel: "mandatory", policies });
