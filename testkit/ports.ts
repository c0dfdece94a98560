import * as net from "net";

/**
 * A free TCP port on 127.0.0.1. There is a small window before the caller binds it (Docker, a stack's
 * publishPort): callers that can retry on "address already in use" do (startEndpoint).
 */
export function freePort(): Promise<number> {
    return new Promise((resolve, reject) => {
        const server = net.createServer();
        server.unref();
        server.on("error", reject);
        server.listen(0, "127.0.0.1", () => {
            const address = server.address();
            server.close(() =>
                typeof address === "object" && address ? resolve(address.port) : reject(new Error("no port")),
            );
        });
    });
}
