/** Names of the files in one file set; nginx.conf names the others relative to itself. */
export const endpointFiles = {
    nginxConfig: "nginx.conf",
    serverCertificateChain: "server-chain.pem",
    serverPrivateKey: "server-key.pem",
    clientTrustBundle: "client-ca.pem",
    certificateRevocationList: "crl.pem",
    /** CA certificates an https upstream's certificate must chain to (only when stack config gives them). */
    upstreamTrustBundle: "upstream-ca.pem",
} as const;

/** Where Debian-based images (the official nginx ones, the local one) keep the system's CA bundle. */
export const systemTrustBundle = "/etc/ssl/certs/ca-certificates.crt";

/** Where the endpoint's files volume is mounted inside the container. */
export const containerConfigDirectory = "/etc/nginx/mtls";

/** The symlink in that directory that points at the file set Nginx serves (see delivery/deliverFiles.ts). */
export const liveFileSet = "live";

/** The nginx.conf of the live file set: what the container's Nginx runs with. */
export const liveConfigPath = `${containerConfigDirectory}/${liveFileSet}/${endpointFiles.nginxConfig}`;

/** The Nginx master's pid file, as the rendered config sets it. */
export const nginxPidFile = "/run/nginx-mtls.pid";

/** The port Nginx listens on inside the container; the published port is stack config. */
export const containerListenPort = 443;

/** Command-line arguments that make Nginx use a config mounted at the directory itself (tests, bench). */
export const nginxConfigArgs = ["-c", `${containerConfigDirectory}/${endpointFiles.nginxConfig}`];
