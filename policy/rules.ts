import {
    ContainerInputs,
    containerProblems,
    PodTemplateOwnerInputs,
    podTemplateProblems,
    ServiceInputs,
    serviceProblems,
    VolumeInputs,
    volumeProblems,
} from "./containers";
import { nginxConfigOf } from "./endpointFiles";
import { defaultLimits, PolicyName } from "./limits";
import { clientVerificationProblems, tlsProtocolProblems } from "./nginxConfig";
import type { Directive } from "./nginxSyntax";
import { CertificateInputs, keyAlgorithmProblems, keySizeProblems, PrivateKeyInputs, validityProblems } from "./pki";

/**
 * Each rule of the pack as a pure function of a resource's type and inputs: what it judges and the
 * problems it finds. index.ts turns them into CrossGuard policies; tests call `problemsOf` directly.
 */

export const resourceTypes = {
    privateKey: "tls:index/privateKey:PrivateKey",
    selfSignedCert: "tls:index/selfSignedCert:SelfSignedCert",
    locallySignedCert: "tls:index/locallySignedCert:LocallySignedCert",
    container: "docker:index/container:Container",
    service: "docker:index/service:Service",
    volume: "docker:index/volume:Volume",
    serviceConfig: "docker:index/serviceConfig:ServiceConfig",
    command: "command:local:Command",
    configMap: "kubernetes:core/v1:ConfigMap",
    deployment: "kubernetes:apps/v1:Deployment",
    job: "kubernetes:batch/v1:Job",
} as const;

export type Limits<Name extends PolicyName> = (typeof defaultLimits)[Name];

type Props = Record<string, unknown>;

export interface Rule<Name extends PolicyName> {
    readonly description: string;
    readonly types: readonly string[];
    /** Whether the rule reads the nginx.conf a resource carries (unknown in a stack's first preview). */
    readonly readsNginxConfig: boolean;
    readonly check: (type: string, props: Props, limits: Limits<Name>) => string[];
}

const {
    privateKey,
    selfSignedCert,
    locallySignedCert,
    container,
    service,
    volume,
    serviceConfig,
    command,
    configMap,
    deployment,
    job,
} = resourceTypes;

/** A rule on the nginx.conf a resource carries (see endpointFiles.ts); reading an unknown file set throws. */
function onNginxConfig<Name extends PolicyName>(
    check: (config: Directive[], limits: Limits<Name>) => string[],
): Rule<Name>["check"] {
    return (type, props, limits) => {
        const source = nginxConfigOf(type, props);
        if (!source) return [];
        if ("unparsable" in source) return [`nginx.conf cannot be parsed: ${source.unparsable}`];
        return check(source.parsed, limits);
    };
}

export const rules: { readonly [Name in PolicyName]: Rule<Name> } = {
    "key-algorithm": {
        description: "Private keys use an allowed algorithm and, for ECDSA, an allowed curve.",
        types: [privateKey],
        readsNginxConfig: false,
        check: (_type, props, limits) => keyAlgorithmProblems(props as PrivateKeyInputs, limits),
    },
    "key-size": {
        description: "RSA private keys have at least the minimum number of bits.",
        types: [privateKey],
        readsNginxConfig: false,
        check: (_type, props, limits) => keySizeProblems(props as PrivateKeyInputs, limits),
    },
    "certificate-validity": {
        description:
            "Certificates are valid no longer than the maximum for their kind (root CA, intermediate CA, server, client).",
        types: [selfSignedCert, locallySignedCert],
        readsNginxConfig: false,
        check: (type, props, limits) => validityProblems(type === selfSignedCert, props as CertificateInputs, limits),
    },
    "tls-protocol-floor": {
        description:
            "Every server in nginx.conf listens with TLS only (no plaintext listener, include, module, stream or " +
            "mail), and every TLS server states ssl_protocols, enabling only allowed protocols.",
        types: [command, serviceConfig, configMap],
        readsNginxConfig: true,
        check: onNginxConfig<"tls-protocol-floor">((config, limits) =>
            tlsProtocolProblems(config, limits.allowedProtocols),
        ),
    },
    "client-certificate-verification": {
        description:
            "Every TLS server in nginx.conf verifies client certificates against the same CA, and under optional " +
            "verification every location but the public ones refuses a request without a verified certificate " +
            "before anything else; nothing forges $ssl_client_verify or turns a refused certificate into a page.",
        types: [command, serviceConfig, configMap],
        readsNginxConfig: true,
        check: onNginxConfig<"client-certificate-verification">(clientVerificationProblems),
    },
    "container-hardening": {
        description:
            "The Nginx container drops every capability but the allowed ones, runs with no-new-privileges, a " +
            "read-only root filesystem and a memory limit with no swap on top, keeps Docker's seccomp, AppArmor and " +
            "SELinux confinement and its own namespaces, and mounts no host path or device (a Swarm service: the " +
            "same, but for no-new-privileges; a volume: no host path under a volume's name; a Kubernetes Deployment " +
            "or Job: the same floor on every container of its pod spec, and no host namespace or hostPath volume).",
        types: [container, service, volume, deployment, job],
        readsNginxConfig: false,
        check: (type, props, limits) =>
            type === container
                ? containerProblems(props as ContainerInputs, limits)
                : type === service
                  ? serviceProblems(props as ServiceInputs, limits)
                  : type === deployment || type === job
                    ? podTemplateProblems(props as PodTemplateOwnerInputs, limits)
                    : volumeProblems(props as VolumeInputs),
    },
};

/** The problems rule `name` finds in a resource ([] when the rule does not judge its type). */
export function problemsOf<Name extends PolicyName>(
    name: Name,
    type: string,
    props: Props,
    limits: Limits<Name> = defaultLimits[name],
): string[] {
    const rule = rules[name] as Rule<Name>;
    return rule.types.includes(type) ? rule.check(type, props, limits) : [];
}
