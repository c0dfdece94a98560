import * as command from "@pulumi/command";
import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";

import type { KubernetesServiceType } from "../config/types";
import type { KubernetesWatch } from "../delivery/awaitKubernetes";
import { deliveryCommand, projectDirectory } from "../delivery/commands";
import { defaultHardening, type ContainerHardening } from "../nginx/container";
import {
    checkJobName,
    checkJobSpec,
    configMapData,
    configMapName,
    deploymentSpec,
    labelsOf,
    serviceSpec,
    tlsSecretName,
    type KubernetesSpecArgs,
} from "../nginx/kubernetes";
import { fileSetOf, type EndpointFileArgs } from "./shared/endpointFiles";

/** The cluster: a kubeconfig (secret) or the ambient one, and a context. */
export interface KubernetesClusterArgs {
    /** Kubeconfig YAML (secret); empty: KUBECONFIG, else ~/.kube/config. */
    readonly kubeconfig: pulumi.Input<string>;
    /** Empty: the kubeconfig's current context. */
    readonly context: string;
}

export interface KubernetesEndpointArgs extends EndpointFileArgs {
    readonly cluster: KubernetesClusterArgs;
    /** An existing namespace. */
    readonly namespace: string;
    /** The Deployment's and Service's name; the ConfigMap, Secret and check Job are named after it. */
    readonly name: string;
    /** Image reference the nodes can run (a registry image, or a tag loaded on every node). */
    readonly image: string;
    readonly replicas: number;
    /** A name the server answers to: the readiness probe sends it as SNI. */
    readonly serverName: string;
    readonly serviceType: KubernetesServiceType;
    /** The Service's port. */
    readonly port: number;
    /** NodePort only; 0: Kubernetes picks one. */
    readonly nodePort: number;
    /** Container lockdown; default: `defaultHardening`. */
    readonly hardening?: ContainerHardening;
    /** How long `up` waits for the check and for the rollout. */
    readonly rolloutTimeoutSeconds?: number;
}

/** Where a resource of the endpoint goes: under the component, on the cluster. */
type OnCluster = pulumi.CustomResourceOptions;

/**
 * Nginx as a Kubernetes Deployment behind a Service. The server chain and key are a `kubernetes.io/tls`
 * Secret, the other files a ConfigMap, both immutable and named by content, so a new file set is new
 * objects and a new pod template. A Job runs `nginx -t` on the new set first; only when it passes
 * does the Deployment move, new pods ready before old ones go, and `up` waits for the rollout.
 */
export class KubernetesEndpoint extends pulumi.ComponentResource {
    /** The Deployment's UID. */
    public readonly deploymentId: pulumi.Output<string>;
    /** What the rollout watch reported (changes with each rollout). */
    public readonly rolloutReport: pulumi.Output<string>;
    /** The Service's cluster IP. */
    public readonly clusterIp: pulumi.Output<string>;
    /** The Service's node port (NodePort), else 0. */
    public readonly nodePort: pulumi.Output<number>;
    /** The load balancer's address (LoadBalancer), else empty. */
    public readonly loadBalancerAddress: pulumi.Output<string>;
    /** The ConfigMap and Secret serving now, in words. */
    public readonly filesLocation: pulumi.Output<string>;

    constructor(name: string, args: KubernetesEndpointArgs, opts?: pulumi.ComponentResourceOptions) {
        super("mtls:nginx:KubernetesEndpoint", name, {}, opts);
        const hardening = args.hardening ?? defaultHardening;
        const provider = clusterProvider(`${name}-cluster`, args, this);
        // Every object of the endpoint depends on the teardown watch, so a destroy runs it last.
        const teardown = watch(name, "teardown", args, pulumi.output(args.name), [], { parent: this }, "delete");
        const onCluster: OnCluster = { parent: this, provider, dependsOn: [teardown] };

        const files = fileObjects(name, args, onCluster);
        const spec: KubernetesSpecArgs = {
            ...args,
            hardening,
            configMapName: files.configMap.metadata.name,
            secretName: files.secret.metadata.name,
        };
        const check = checkFileSet(name, args, spec, files, onCluster);
        const deployment = new k8s.apps.v1.Deployment(
            `${name}-deployment`,
            {
                metadata: {
                    name: args.name,
                    namespace: args.namespace,
                    labels: labelsOf(args.name, "serve"),
                    annotations: { ...skipAwait, ...takeOwnership },
                },
                spec: deploymentSpec(spec),
            },
            { ...onCluster, dependsOn: [teardown, check] },
        );
        const rollout = watch(name, "rollout", args, deployment.metadata.name, [deployment.spec], {
            parent: this,
            dependsOn: [deployment],
        });
        const service = new k8s.core.v1.Service(
            `${name}-service`,
            {
                metadata: {
                    name: args.name,
                    namespace: args.namespace,
                    labels: labelsOf(args.name, "serve"),
                    annotations: takeOwnership,
                },
                spec: serviceSpec({
                    name: args.name,
                    type: args.serviceType,
                    port: args.port,
                    nodePort: args.nodePort,
                }),
            },
            { ...onCluster, dependsOn: [teardown, rollout] },
        );

        this.deploymentId = deployment.metadata.uid;
        this.rolloutReport = rollout.stdout;
        this.clusterIp = service.spec.clusterIP;
        this.nodePort = service.spec.ports.apply((ports) => ports[0]?.nodePort ?? 0);
        this.loadBalancerAddress = service.status.apply(
            (status) => status?.loadBalancer?.ingress?.[0]?.ip ?? status?.loadBalancer?.ingress?.[0]?.hostname ?? "",
        );
        this.filesLocation = pulumi.interpolate`ConfigMap ${files.configMap.metadata.name} and Secret ${files.secret.metadata.name} in namespace ${args.namespace}`;
        this.registerOutputs({
            deploymentId: this.deploymentId,
            rolloutReport: this.rolloutReport,
            clusterIp: this.clusterIp,
            nodePort: this.nodePort,
            loadBalancerAddress: this.loadBalancerAddress,
            filesLocation: this.filesLocation,
        });
    }
}

/** The watch scripts wait instead of the provider: they quote what went wrong (delivery/awaitKubernetes.ts). */
const skipAwait = { "pulumi.com/skipAwait": "true" };
/**
 * The stack owns its Deployment and Service: an `up` puts back a field changed by hand (`kubectl scale`,
 * `kubectl edit`) instead of failing on server-side apply's conflict with that field's new manager.
 */
const takeOwnership = { "pulumi.com/patchForce": "true" };

/** A provider for the configured cluster and namespace; the kubeconfig stays a secret. */
function clusterProvider(name: string, args: KubernetesEndpointArgs, parent: pulumi.Resource): k8s.Provider {
    const kubeconfig = pulumi.output(args.cluster.kubeconfig).apply((text) => (text === "" ? undefined : text));
    return new k8s.Provider(
        name,
        {
            kubeconfig: pulumi.secret(kubeconfig) as pulumi.Output<string>,
            context: args.cluster.context || undefined,
            namespace: args.namespace,
            // Stacks must not pick up a namespace or cluster from whoever runs them, beyond the kubeconfig.
            enableServerSideApply: true,
        },
        { parent },
    );
}

interface FileObjects {
    readonly configMap: k8s.core.v1.ConfigMap;
    readonly secret: k8s.core.v1.Secret;
}

/** The ConfigMap (nginx.conf, CA bundle, CRLs) and the TLS Secret (chain and key), named by content. */
function fileObjects(name: string, args: KubernetesEndpointArgs, onCluster: OnCluster): FileObjects {
    const data = fileSetOf(args, { withKey: false }).apply(configMapData);
    const configMap = new k8s.core.v1.ConfigMap(
        `${name}-files`,
        {
            metadata: {
                name: data.apply((content) => configMapName(args.name, content)),
                namespace: args.namespace,
                labels: labelsOf(args.name, "serve"),
            },
            immutable: true,
            data,
        },
        onCluster,
    );
    const secret = new k8s.core.v1.Secret(
        `${name}-tls`,
        {
            metadata: {
                name: pulumi.output(args.serverCertificateChainPem).apply((chain) => tlsSecretName(args.name, chain)),
                namespace: args.namespace,
                labels: labelsOf(args.name, "serve"),
            },
            type: "kubernetes.io/tls",
            immutable: true,
            stringData: pulumi.secret({
                "tls.crt": pulumi.output(args.serverCertificateChainPem),
                "tls.key": pulumi.output(args.serverPrivateKeyPem),
            }),
        },
        { ...onCluster, additionalSecretOutputs: ["data", "stringData"] },
    );
    return { configMap, secret };
}

/** `nginx -t` of the new set in a Job, and the wait for its verdict; the Deployment waits for both. */
function checkFileSet(
    name: string,
    args: KubernetesEndpointArgs,
    spec: KubernetesSpecArgs,
    files: FileObjects,
    onCluster: OnCluster,
): command.local.Command {
    const jobName = pulumi
        .all([files.configMap.metadata.name, files.secret.metadata.name])
        .apply(([configMap, secret]) => checkJobName(spec, configMap, secret));
    const job = new k8s.batch.v1.Job(
        `${name}-check`,
        {
            metadata: {
                name: jobName,
                namespace: args.namespace,
                labels: labelsOf(args.name, "check"),
                // The API orphans a deleted Job's pods unless told otherwise.
                annotations: { ...skipAwait, "pulumi.com/deletionPropagationPolicy": "background" },
            },
            spec: checkJobSpec(spec),
        },
        { ...onCluster, dependsOn: [...dependenciesOf(onCluster), files.configMap, files.secret] },
    );
    return watch(name, "check", args, job.metadata.name, [job.metadata.uid], {
        parent: onCluster.parent,
        dependsOn: [job],
    });
}

function dependenciesOf(opts: pulumi.CustomResourceOptions): pulumi.Input<pulumi.Resource>[] {
    const dependsOn = opts.dependsOn ?? [];
    return Array.isArray(dependsOn) ? dependsOn : [dependsOn as pulumi.Input<pulumi.Resource>];
}

/**
 * A watch command for one gate (delivery/awaitKubernetes.ts): run when the command is created (and
 * again whenever a trigger changes), or, for the teardown, when it is deleted.
 */
function watch(
    name: string,
    gate: KubernetesWatch["gate"],
    args: KubernetesEndpointArgs,
    objectName: pulumi.Output<string>,
    triggers: pulumi.Input<unknown>[],
    opts: pulumi.CustomResourceOptions,
    when: "create" | "delete" = "create",
): command.local.Command {
    const input = pulumi.all([args.cluster.kubeconfig, objectName]).apply(
        ([kubeconfig, object]): KubernetesWatch => ({
            cluster: { kubeconfig, context: args.cluster.context },
            namespace: args.namespace,
            gate,
            name: object,
            timeoutSeconds: args.rolloutTimeoutSeconds ?? 300,
        }),
    );
    return new command.local.Command(
        `${name}-${gate}-watch`,
        {
            [when]: deliveryCommand("awaitKubernetes"),
            stdin: pulumi.secret(input.apply((value) => JSON.stringify(value))),
            dir: projectDirectory,
            triggers,
        },
        { ...opts, additionalSecretOutputs: ["stdin", "stderr"] },
    );
}
