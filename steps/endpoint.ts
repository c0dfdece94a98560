/**
 * The endpoint step: the file set (nginx.conf rendered from config and the trust material, the chain,
 * the key, the CAs, the CRLs) served by one hardened container or a Swarm service on the configured
 * engine, and the addresses clients reach it at.
 */
import * as pulumi from "@pulumi/pulumi";

import type { EndpointAddress } from "../domain/clientAccess";
import type { DockerEngineArgs } from "../components/shared/engineProvider";
import type { EndpointFileArgs } from "../components/shared/endpointFiles";
import { KubernetesEndpoint } from "../components/kubernetesEndpoint";
import { NginxEndpoint } from "../components/nginxEndpoint";
import { SwarmEndpoint } from "../components/swarmEndpoint";
import { isTcpEngine } from "../config/endpoint";
import type { StackConfig } from "../config/stackConfig";
import type { ContainerHardening } from "../nginx/container";
import { renderNginxConfig, trustDigest } from "../nginx/renderNginxConfig";
import type { CaSlots } from "./authorities";
import type { Leaves } from "./leaves";
import { nginxConfigSpecOf } from "./nginxConfigSpec";
import type { Revocation } from "./revocation";
import type { ResourceScope } from "./scope";

/** The file set the endpoint serves: nginx.conf (rendered from config and the trust material), chain, key, CAs, CRLs. */
export function endpointFilesOf(
    config: StackConfig,
    authorities: CaSlots,
    leaves: Leaves,
    revocation: Revocation | undefined,
): EndpointFileArgs {
    const trustBundlePem = authorities.trustBundlePem;
    // Rendered from the trust material too: its digest names the TLS session cache (see renderNginxConfig).
    const nginxConfig = pulumi.all([trustBundlePem, revocation?.crlPem ?? ""]).apply(([bundle, crl]) =>
        renderNginxConfig(
            nginxConfigSpecOf(config, {
                clientIssuers: authorities.clientIssuers,
                checkRevocation: revocation !== undefined,
                trustDigest: trustDigest(bundle, crl),
            }),
        ),
    );
    return {
        nginxConfig,
        serverCertificateChainPem: pulumi.concat(leaves.server.certificatePem, authorities.active!.chainPem),
        serverPrivateKeyPem: leaves.server.privateKeyPem,
        clientTrustBundlePem: trustBundlePem,
        certificateRevocationListPem: revocation?.crlPem,
        certificateRevocationListNextUpdate: revocation?.nextUpdate,
        upstreamTrustBundlePem: config.upstreamCaCertificates || undefined,
    };
}

/** The Docker engine stack config names; its TLS key becomes a secret here, the moment it leaves config. */
function engineOf(config: StackConfig): DockerEngineArgs {
    if (!isTcpEngine(config.dockerHost)) {
        return { host: config.dockerHost };
    }
    return {
        host: config.dockerHost,
        tls: {
            caPem: config.dockerTlsCaCertificate,
            certificatePem: config.dockerTlsCertificate,
            keyPem: pulumi.secret(config.dockerTlsKey),
        },
    };
}

/** What the rest of the stack needs of a running endpoint, whatever the platform. */
export interface DeployedEndpoint {
    /** The component, for dependsOn. */
    readonly resource: pulumi.Resource;
    /** The container ID, or the Swarm service ID. */
    readonly id: pulumi.Output<string>;
    /** Changes whenever a new file set is serving. */
    readonly reloadId: pulumi.Output<string>;
    /** Where the files live, in words. */
    readonly filesLocation: pulumi.Output<string>;
    /** Where clients reach it (a Kubernetes Service's address is known once it exists). */
    readonly addresses: pulumi.Output<EndpointAddress[]>;
}

/** The endpoint step: one hardened container, or a Swarm service, on the configured engine. */
export function deployEndpoint(config: StackConfig, files: EndpointFileArgs, scope: ResourceScope): DeployedEndpoint {
    const common = {
        ...files,
        engine: engineOf(config),
        hardening: hardeningOf(config),
        image: config.image,
        publishPort: config.publishPort,
        serverName: config.serverName,
    };
    if (config.platform === "kubernetes") {
        return deployOnKubernetes(config, files, scope);
    }
    if (config.platform === "swarm") {
        const service = new SwarmEndpoint(
            scope.name("endpoint"),
            {
                ...common,
                serviceName: config.containerName,
                replicas: config.replicas,
                publishMode: config.publishMode,
            },
            scope.options("endpoint"),
        );
        return {
            resource: service,
            id: service.serviceId,
            reloadId: service.rolloutReport,
            filesLocation: pulumi.output(`Swarm configs and a secret of service ${config.containerName}`),
            addresses: pulumi.output(clientAddresses(config)),
        };
    }
    const container = new NginxEndpoint(
        scope.name("endpoint"),
        {
            ...common,
            containerName: config.containerName,
            publishAddress: config.publishAddress,
        },
        scope.options("endpoint"),
    );
    return {
        resource: container,
        id: container.containerId,
        reloadId: container.reloadId,
        filesLocation: pulumi.interpolate`docker volume ${container.filesVolume}`,
        addresses: pulumi.output(clientAddresses(config)),
    };
}

/** A Deployment behind a Service, on the configured cluster; the kubeconfig becomes a secret here. */
function deployOnKubernetes(config: StackConfig, files: EndpointFileArgs, scope: ResourceScope): DeployedEndpoint {
    const endpoint = new KubernetesEndpoint(
        scope.name("endpoint"),
        {
            ...files,
            cluster: { kubeconfig: pulumi.secret(config.kubeconfig), context: config.kubernetesContext },
            namespace: config.kubernetesNamespace,
            name: config.containerName,
            image: config.image,
            replicas: config.replicas,
            serverName: config.serverName,
            serviceType: config.kubernetesServiceType,
            port: config.publishPort,
            nodePort: config.kubernetesNodePort,
            hardening: hardeningOf(config),
        },
        scope.options("endpoint"),
    );
    return {
        resource: endpoint,
        id: endpoint.deploymentId,
        reloadId: endpoint.rolloutReport,
        filesLocation: endpoint.filesLocation,
        addresses: pulumi
            .all([endpoint.clusterIp, endpoint.nodePort, endpoint.loadBalancerAddress])
            .apply(([clusterIp, nodePort, loadBalancer]) =>
                kubernetesClientAddresses(config, { clusterIp, nodePort, loadBalancer }),
            ),
    };
}

function hardeningOf(config: StackConfig): ContainerHardening {
    return {
        capabilities: config.capabilities,
        noNewPrivileges: config.noNewPrivileges,
        readOnlyRootFilesystem: config.readOnlyRootFilesystem,
        memoryLimitMb: config.memoryLimitMb,
        pidsLimit: config.pidsLimit,
        logMaxSizeMb: config.logMaxSizeMb,
        logMaxFiles: config.logMaxFiles,
    };
}

/** What a Service tells about where it answers. */
export interface ServiceAddresses {
    readonly clusterIp: string;
    readonly nodePort: number;
    readonly loadBalancer: string;
}

/**
 * Where clients reach a Kubernetes endpoint: the configured addresses, else the Service's own (its
 * cluster IP, or its load balancer's address), at the Service's port; with NodePort, the node
 * addresses (endpointAddresses, else publishAddress) at the node port.
 */
export function kubernetesClientAddresses(config: StackConfig, service: ServiceAddresses): EndpointAddress[] {
    const nodePort = config.kubernetesServiceType === "NodePort";
    const serviceAddress = config.kubernetesServiceType === "LoadBalancer" ? service.loadBalancer : service.clusterIp;
    const addresses =
        config.endpointAddresses.length > 0
            ? config.endpointAddresses
            : [nodePort ? config.publishAddress : serviceAddress];
    return addresses.map((address) => ({
        serverName: config.serverName,
        publishAddress: address,
        publishPort: nodePort ? service.nodePort : config.publishPort,
    }));
}

/** Where clients reach the endpoint: each configured address, else the published one. */
export function clientAddresses(config: StackConfig): EndpointAddress[] {
    const base = {
        serverName: config.serverName,
        publishAddress: config.publishAddress,
        publishPort: config.publishPort,
        dockerHost: config.dockerHost,
    };
    return config.endpointAddresses.length === 0
        ? [base]
        : config.endpointAddresses.map((address) => ({ ...base, publishAddress: address }));
}
