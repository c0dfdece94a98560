import * as assert from "assert";

import { docker, testImage } from "../../testkit/docker";
import { useThrowawayStack, ThrowawayStack } from "../../testkit/stack";

/**
 * A files volume the stack did not create: Docker's volume create hands back an existing volume of
 * the same name, so without a claim the stack took it over, and `destroy` deleted it with its data.
 * Now `up` stops before the volume enters state, and nothing of it is touched, at `up` or `destroy`.
 */
describe("a volume of someone else's with the files volume's name", function () {
    const fixture = useThrowawayStack("foreign-volume");
    let deployment: ThrowawayStack;
    const readBack = () =>
        docker(["run", "--rm", "-v", `${deployment.filesVolume}:/data:ro`, testImage, "cat", "/data/keep"]);

    before(() => {
        deployment = fixture.current;
        const created = docker(["volume", "create", "--label", "team=billing", deployment.filesVolume]);
        assert.strictEqual(created.status, 0, created.stderr);
        const written = docker([
            "run", "--rm", "-v", `${deployment.filesVolume}:/data`, testImage, "sh", "-c", "echo precious > /data/keep",
        ]); // prettier-ignore
        assert.strictEqual(written.status, 0, written.stderr);
    });

    after(() => {
        docker(["volume", "rm", "-f", deployment.filesVolume]);
    });

    it("stops up naming the volume, before the volume or the container exists in state", async () => {
        await assert.rejects(deployment.stack.up({ onOutput: fixture.log }), (error: Error) => {
            assert.match(
                error.message,
                new RegExp(`volume ${deployment.filesVolume} already exists on the engine and is not this stack's`),
            );
            return true;
        });
        const state = JSON.stringify((await deployment.stack.exportStack()).deployment);
        assert.doesNotMatch(state, /docker:index\/volume:Volume/, "the volume is not in state");
        assert.doesNotMatch(state, /docker:index\/container:Container/, "no container was made");
        assert.strictEqual(readBack().stdout.trim(), "precious");
    });

    it("destroy leaves the volume and its data alone", async () => {
        await deployment.stack.destroy({ onOutput: fixture.log });
        const inspected = docker(["volume", "inspect", "--format", "{{.Labels.team}}", deployment.filesVolume]);
        assert.strictEqual(inspected.stdout.trim(), "billing", inspected.stderr);
        assert.strictEqual(readBack().stdout.trim(), "precious");
    });
});
