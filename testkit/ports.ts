import * as net from "net";

/**
 * Where test ports come from: below Linux's ephemeral range (32768-60999 by default), so that no
 * outgoing connection of this machine (the engine's gRPC, npm, Docker's proxies) takes the port as its
 * source port between the moment it is chosen and the moment Docker binds it. A port from the kernel's
 * `listen(0)` is an ephemeral one, and CI once lost that race ("bind: address already in use").
 */
const testPortRange = { first: 20000, last: 32767 } as const;

/** Ports this process has handed out: two callers never get the same one, even before either binds it. */
const handedOut = new Set<number>();

/**
 * A free TCP port on 127.0.0.1, from the test range: one that nothing listens on now. There is still a
 * small window before the caller binds it (Docker, a stack's publishPort): callers that can retry on
 * "address already in use" do (startEndpoint).
 */
export async function freePort(): Promise<number> {
    for (let attempt = 0; attempt < 200; attempt++) {
        const port = testPortRange.first + Math.floor(Math.random() * (testPortRange.last - testPortRange.first + 1));
        if (!handedOut.has(port) && (await canListen(port))) {
            handedOut.add(port);
            return port;
        }
    }
    throw new Error(`no free port in ${testPortRange.first}-${testPortRange.last} on 127.0.0.1 after 200 tries`);
}

function canListen(port: number): Promise<boolean> {
    return new Promise((resolve) => {
        const server = net.createServer();
        server.unref();
        server.once("error", () => resolve(false));
        server.listen(port, "127.0.0.1", () => server.close(() => resolve(true)));
    });
}
