// Generated from config/configTable.ts by scripts/endpointArgs.ts: edit the table, then run
// `bash scripts/with-node.sh node -r ts-node/register/transpile-only scripts/endpointArgs.ts --write`.
import type { ClientEntryArgs } from "./clientArgs";
import type { LocationArgs } from "./locationArgs";

/**
 * What an MtlsEndpoint is made of: the stack config keys, one arg each, all optional (a default
 * applies). Plain values, not Outputs: every arg is validated before any resource is registered.
 */
export interface MtlsEndpointArgs {
    /** DNS name clients use; the server certificate's CN and first SAN, and the only SNI accepted. Default: "localhost". */
    serverName?: string;
    /** Extra DNS subject alternative names for the server certificate; each may start with one *. wildcard. Default: []. */
    serverDnsNames?: string[];
    /** IP subject alternative names for the server certificate. Default: ["127.0.0.1"]. */
    serverIpAddresses?: string[];
    /** One client certificate per name; the name is the certificate's CN (unique regardless of case, as Nginx compares them). An entry {name, csr} brings the client's own key as a PEM CERTIFICATE REQUEST (CN = name) that the CA signs; the stack then holds no key for it. In stack config, {name, csrFile} reads the CSR from a file (relative to the project directory, or absolute). Default: [client-1], unless clientsFile is set. */
    clients?: ClientEntryArgs[];
    /** Clients whose certificates are revoked (must also be listed in clients). Default: []. */
    revokedClients?: string[];
    /** ECDSA-P256, ECDSA-P384, RSA-2048, RSA-3072 or RSA-4096. Default: "ECDSA-P256". */
    keyAlgorithm?: string;
    /** Issue leaves from an intermediate CA signed by the root. Default: false. */
    intermediateCa?: boolean;
    /** The CA slot (a or b) that issues certificates; a CA rollover moves it. Default: "a". */
    activeCa?: string;
    /** CA slots (a, b) clients may chain to; must include activeCa. Default: [activeCa]. */
    trustedCas?: string[];
    /** Maximum client certificate chain depth Nginx verifies (1-10). Default: the deepest CA chain of the CA slots (1 for a root, 2 with intermediateCa or an external root). */
    verifyDepth?: number;
    /** Where CA slot a comes from: generated (by the stack), external-root (an intermediate whose CSR a root held elsewhere signs) or import (an existing CA with its key). Default: "generated". */
    caMode?: string;
    /** external-root: the PEM certificate the root signed for the intermediateCsrPem output; empty until then. Default: "". */
    externalIntermediateCertificate?: string;
    /** external-root: the PEM certificate of the root that signed externalIntermediateCertificate. Default: "". */
    externalRootCertificate?: string;
    /** PEM CRLs signed by the CAs above the stack's CA, whose keys it does not hold (the external root; each importedCaChain CA); required while revokedClients is not empty. Default: "". */
    externalRootCrl?: string;
    /** import: the PEM certificate of the CA that issues the leaves. Default: "". */
    importedCaCertificate?: string;
    /** import: the CA's PEM private key; set it as a secret (pulumi config set --secret). Default: "". */
    importedCaKey?: string;
    /** import: the PEM certificates above importedCaCertificate up to its root (empty for a root). Default: "". */
    importedCaChain?: string;
    /** Like caMode, for CA slot b. Default: "generated". */
    caModeB?: string;
    /** Like externalIntermediateCertificate, for CA slot b. Default: "". */
    externalIntermediateCertificateB?: string;
    /** Like externalRootCertificate, for CA slot b. Default: "". */
    externalRootCertificateB?: string;
    /** Like externalRootCrl, for CA slot b. Default: "". */
    externalRootCrlB?: string;
    /** Like importedCaCertificate, for CA slot b. Default: "". */
    importedCaCertificateB?: string;
    /** Like importedCaKey, for CA slot b. Default: "". */
    importedCaKeyB?: string;
    /** Like importedCaChain, for CA slot b. Default: "". */
    importedCaChainB?: string;
    /** on (every request needs a client certificate) or optional (enforced per location). Default: "on". */
    verifyClient?: string;
    /** Nginx locations: {path, allowedClients?, requireClientCertificate? (default true), proxyPass?}. Default: [{"path":"/","requireClientCertificate":true}]. */
    locations?: LocationArgs[];
    /** PEM CA certificates an https proxyPass upstream's certificate must chain to (it must also name the proxyPass host); empty: the image's system CA bundle. Default: "". */
    upstreamCaCertificates?: string;
    /** Organization (O) in every certificate subject. Default: "mtls-nginx". */
    organization?: string;
    /** Nginx image the container runs (Debian-based: it needs sh, curl and coreutils); pin a version in production. Default: "nginx:stable". */
    image?: string;
    /** Docker container name (its files volume and Swarm service are named after it). Default: mtls-nginx-<stack>; for an MtlsEndpoint not named mtls-nginx, mtls-nginx-<stack>-<endpoint name>. */
    containerName?: string;
    /** Host address the endpoint is published on. Default: "127.0.0.1". */
    publishAddress?: string;
    /** Host port the endpoint is published on. Default: 8443. */
    publishPort?: number;
    /** container (one Nginx container), swarm (a Docker Swarm service; dockerHost names a manager) or kubernetes (a Deployment and a Service). Default: "container". */
    platform?: string;
    /** Swarm tasks or Kubernetes pods (platforms swarm and kubernetes); with publishMode host, at most one per node. Default: 3. */
    replicas?: number;
    /** ingress (the routing mesh) or host (each node's own port) for platform swarm. Default: "ingress". */
    publishMode?: string;
    /** Kubeconfig (YAML) of the cluster, for platform kubernetes; set it as a secret (pulumi config set --secret). Empty: the ambient one (KUBECONFIG, else ~/.kube/config). Default: "". */
    kubeconfig?: string;
    /** The kubeconfig context to deploy to (platform kubernetes). Empty: its current context. Default: "". */
    kubernetesContext?: string;
    /** Namespace of the Deployment, Service, ConfigMap and Secret (platform kubernetes); it must exist. Default: "default". */
    kubernetesNamespace?: string;
    /** How the Service exposes the endpoint (platform kubernetes): ClusterIP, NodePort or LoadBalancer. Default: "ClusterIP". */
    kubernetesServiceType?: string;
    /** The Service's node port, 30000-32767 (kubernetesServiceType NodePort). 0: Kubernetes picks one. Default: 0. */
    kubernetesNodePort?: number;
    /** IP addresses clients reach the endpoint at (one per node with publishMode host); the smoke test probes each. Default: the published address. */
    endpointAddresses?: string[];
    /** Nginx worker_processes (auto = one per core). Default: "auto". */
    workerProcesses?: string;
    /** TLS key exchange groups, most preferred first (ssl_ecdh_curve). Default: X25519MLKEM768 (post-quantum hybrid) first, then X25519, prime256v1, secp384r1, for an image on OpenSSL 3.5 or later (a trixie tag); the classical three otherwise. */
    keyExchangeGroups?: string[];
    /** Probe the endpoint with and without a client certificate during pulumi up. Default: true. */
    smokeTest?: boolean;
    /** Docker engine to deploy to: empty (DOCKER_HOST or the local socket), unix://, tcp://host:port (TLS) or ssh://user@host. Default: "". */
    dockerHost?: string;
    /** PEM CA certificate the tcp:// Docker engine's server certificate must chain to. Default: "". */
    dockerTlsCaCertificate?: string;
    /** PEM client certificate for the tcp:// Docker engine. Default: "". */
    dockerTlsCertificate?: string;
    /** PEM client key for the tcp:// Docker engine; set it as a secret (pulumi config set --secret). Default: "". */
    dockerTlsKey?: string;
    /** Linux capabilities the container keeps; every other one is dropped. Default: ["CHOWN","NET_BIND_SERVICE","SETGID","SETUID"]. */
    capabilities?: string[];
    /** Run the container with no-new-privileges. Default: true. */
    noNewPrivileges?: boolean;
    /** Read-only root filesystem, with tmpfs where Nginx writes (/run, /tmp, its temp paths). Default: true. */
    readOnlyRootFilesystem?: boolean;
    /** Container memory limit in MiB (no swap on top). Default: 256. */
    memoryLimitMb?: number;
    /** Container process limit. Default: 256. */
    pidsLimit?: number;
    /** Docker json-file log rotation: size of one log file, in MiB. Default: 10. */
    logMaxSizeMb?: number;
    /** Docker json-file log rotation: how many log files are kept. Default: 3. */
    logMaxFiles?: number;
    /** Also rotate what enters its renewal window within this many hours (0 = only what is due now). Default: 0. */
    rotationLookaheadHours?: number;
    /** How long root CA certificates are valid, in hours (at least 2). Default: 87600. */
    caValidityHours?: number;
    /** Rotate root CA certificates this many hours before they expire (at least 1, less than caValidityHours). Default: 8760. */
    caRenewBeforeHours?: number;
    /** How long intermediate CA certificates are valid, in hours (at least 2). Default: 43800. */
    intermediateValidityHours?: number;
    /** Rotate intermediate CA certificates this many hours before they expire (at least 1, less than intermediateValidityHours). Default: 4380. */
    intermediateRenewBeforeHours?: number;
    /** How long server certificates are valid, in hours (at least 2). Default: 2160. */
    serverValidityHours?: number;
    /** Rotate server certificates this many hours before they expire (at least 1, less than serverValidityHours). Default: 720. */
    serverRenewBeforeHours?: number;
    /** How long client certificates are valid, in hours (at least 2). Default: 8760. */
    clientValidityHours?: number;
    /** Rotate client certificates this many hours before they expire (at least 1, less than clientValidityHours). Default: 720. */
    clientRenewBeforeHours?: number;
    /** Next-update distance of the CRLs, in hours (at least 2; CRLs exist while revokedClients is not empty). Default: 720. */
    crlValidityHours?: number;
    /** Re-issue the CRLs this many hours before their next update (at least 1, less than crlValidityHours). Default: 240. */
    crlRenewBeforeHours?: number;
}
