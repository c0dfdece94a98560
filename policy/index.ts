import { PolicyPack, ResourceValidationArgs, ResourceValidationPolicy, ReportViolation } from "@pulumi/policy";
import { ContainerInputs, containerProblems, ServiceInputs, serviceProblems } from "./containers";
import { nginxConfigOf, NginxConfigSource } from "./endpointFiles";
import { configSchemas, defaultLimits, limitsOf, PolicyName } from "./limits";
import { clientVerificationProblems, Directive, tlsProtocolProblems } from "./nginxConfig";
import { CertificateInputs, keyAlgorithmProblems, keySizeProblems, PrivateKeyInputs, validityProblems } from "./pki";

/**
 * Mandatory rules for any mutual-TLS endpoint: the keys, the certificates, the TLS settings Nginx
 * runs with, and the container it runs in. Run: `pulumi preview --policy-pack policy`.
 */

const privateKey = "tls:index/privateKey:PrivateKey";
const selfSignedCert = "tls:index/selfSignedCert:SelfSignedCert";
const locallySignedCert = "tls:index/locallySignedCert:LocallySignedCert";
const container = "docker:index/container:Container";
const service = "docker:index/service:Service";
const serviceConfig = "docker:index/serviceConfig:ServiceConfig";
const command = "command:local:Command";

type Limits<Name extends PolicyName> = (typeof defaultLimits)[Name];

/** A mandatory resource policy that reports each problem `check` finds in resources of `types`. */
function rule<Name extends PolicyName>(
    name: Name,
    description: string,
    types: readonly string[],
    check: (args: ResourceValidationArgs, limits: Limits<Name>) => string[],
): ResourceValidationPolicy {
    return {
        name,
        description,
        enforcementLevel: "mandatory",
        configSchema: configSchemas[name],
        validateResource: (args: ResourceValidationArgs, reportViolation: ReportViolation) => {
            if (!types.includes(args.type)) return;
            const problems = check(args, limitsOf(name, args.getConfig<Record<string, unknown>>()));
            if (problems.length > 0) {
                reportViolation(`${args.name}: ${problems.join("; ")}`);
            }
        },
    };
}

/**
 * A rule on the nginx.conf a resource carries to the endpoint (see endpointFiles.ts). In a stack's first
 * preview that file set is unknown: the rule cannot run until `up`, where it runs before the set is
 * delivered. `announceUnknown`: whether this rule says so for a Command (an advisory, once per Command
 * for both rules); an unknown Swarm config says nothing (the Swarm check Command carries the same set).
 */
function nginxRule<Name extends PolicyName>(
    name: Name,
    description: string,
    announceUnknown: boolean,
    check: (config: Directive[], limits: Limits<Name>) => string[],
): ResourceValidationPolicy {
    return rule(name, description, [command, serviceConfig], (args, limits) => {
        let source: NginxConfigSource;
        try {
            source = nginxConfigOf(args.type, args.props);
        } catch (error) {
            if (isUnknownValue(error) && !(announceUnknown && args.type === command)) {
                args.notApplicable("the file set is not known before the CA exists; checked during up");
            }
            throw error;
        }
        if (!source) return [];
        if ("unparsable" in source) return [`nginx.conf cannot be parsed: ${source.unparsable}`];
        return check(source.parsed, limits);
    });
}

/** What @pulumi/policy throws when a policy reads a value that is unknown during preview. */
function isUnknownValue(error: unknown): boolean {
    return error instanceof Error && error.constructor.name === "UnknownValueError";
}

const policies: ResourceValidationPolicy[] = [
    rule(
        "key-algorithm",
        "Private keys use an allowed algorithm and, for ECDSA, an allowed curve.",
        [privateKey],
        (args, limits) => keyAlgorithmProblems(args.props as PrivateKeyInputs, limits),
    ),
    rule("key-size", "RSA private keys have at least the minimum number of bits.", [privateKey], (args, limits) =>
        keySizeProblems(args.props as PrivateKeyInputs, limits),
    ),
    rule(
        "certificate-validity",
        "Certificates are valid no longer than the maximum for their kind (root CA, intermediate CA, server, client).",
        [selfSignedCert, locallySignedCert],
        (args, limits) => validityProblems(args.type === selfSignedCert, args.props as CertificateInputs, limits),
    ),
    nginxRule(
        "tls-protocol-floor",
        "Every TLS server in nginx.conf states ssl_protocols, and enables only allowed protocols.",
        true,
        (config, limits) => tlsProtocolProblems(config, limits.allowedProtocols),
    ),
    nginxRule(
        "client-certificate-verification",
        "Every TLS server in nginx.conf verifies client certificates against a CA, and under optional verification " +
            "every location but the public ones refuses a request without a verified certificate.",
        false,
        clientVerificationProblems,
    ),
    rule(
        "container-hardening",
        "The Nginx container drops every capability but the allowed ones, runs with no-new-privileges, a read-only " +
            "root filesystem and a memory limit (a Swarm service: the same, but for no-new-privileges).",
        [container, service],
        (args, limits) =>
            args.type === container
                ? containerProblems(args.props as ContainerInputs, limits)
                : serviceProblems(args.props as ServiceInputs, limits),
    ),
];

new PolicyPack("mtls-endpoint", { enforcementLevel: "mandatory", policies });
