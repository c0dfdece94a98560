/** Names of the files the endpoint writes into its mounted directory; the renderer refers to them. */
export const endpointFiles = {
    nginxConfig: "nginx.conf",
    serverCertificateChain: "server-chain.pem",
    serverPrivateKey: "server-key.pem",
    clientTrustBundle: "client-ca.pem",
    certificateRevocationList: "crl.pem",
} as const;

/** Where the host directory is mounted inside the container (read-only). */
export const containerConfigDirectory = "/etc/nginx/mtls";

/** The port Nginx listens on inside the container; the published port is stack config. */
export const containerListenPort = 443;

/** Command-line arguments that make Nginx use the mounted config instead of the image's own. */
export const nginxConfigArgs = ["-c", `${containerConfigDirectory}/${endpointFiles.nginxConfig}`];
