package main

// RunPlugin: how the CLI starts a Node.js policy pack (`pulumi preview --policy-pack DIR` with
// `runtime: nodejs` in DIR/PulumiPolicy.yaml). Since the engine's analyzer loader moved to the
// language hosts' RunPlugin (pkg/v3 resource/plugin), the CLI no longer looks for the upstream
// `pulumi-analyzer-policy` shell script for Node.js packs: it calls this method with kind
// "analyzer", the engine address as the only argument, and the pack directory as the program
// directory. We start what that script started: `node <@pulumi/pulumi/cmd/run-policy-pack>
// <engine address> .` in the pack directory, with the module resolved from there (so the pack's
// own, or an enclosing project's, node_modules is used). The pack prints its gRPC port first;
// stdout and stderr are streamed back as they come, then the exit code.
//
// Other plugin kinds (a resource provider or converter written in Node.js) are not supported.

import (
	"errors"
	"fmt"
	"os"
	"os/exec"

	"github.com/pulumi/pulumi/sdk/v3/go/common/util/logging"
	"github.com/pulumi/pulumi/sdk/v3/go/common/util/rpcutil"
	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

const runPolicyPackModule = "@pulumi/pulumi/cmd/run-policy-pack"

func (host *nodeLanguageHost) RunPlugin(
	req *pulumirpc.RunPluginRequest, server grpc.ServerStreamingServer[pulumirpc.RunPluginResponse],
) error {
	if req.GetKind() != "analyzer" {
		return status.Errorf(codes.Unimplemented,
			"this language host runs Node.js policy packs only, not %q plugins", req.GetKind())
	}
	nodeBin, err := exec.LookPath("node")
	if err != nil {
		return fmt.Errorf("could not find node on the $PATH: %w", err)
	}
	dir := programDir(req.GetInfo(), req.GetPwd())

	closer, stdout, stderr, err := rpcutil.MakeRunPluginStreams(server, false)
	if err != nil {
		return err
	}
	defer closer.Close()

	runPath, err := resolveModule(nodeBin, dir, runPolicyPackModule)
	if err != nil {
		// As the upstream script did: node's own message on stderr, which the engine turns into
		// "the policy pack's dependencies are not installed; try running npm install".
		fmt.Fprintf(stderr, "Cannot find module '%s' from %s: %v\n", runPolicyPackModule, dir, err)
		return server.Send(&pulumirpc.RunPluginResponse{Output: &pulumirpc.RunPluginResponse_Exitcode{Exitcode: 1}})
	}

	// run-policy-pack takes <engine address> <program>; the engine sends the address as the only argument.
	args := append([]string{runPath}, req.GetArgs()...)
	args = append(args, ".")
	env := req.GetEnv()
	if len(env) == 0 {
		env = os.Environ()
	}

	logging.V(5).Infof("language host launching policy pack in %s: %s %v", dir, nodeBin, args)
	// The engine ends the pack by cancelling this call: the context kills node.
	cmd := exec.CommandContext(server.Context(), nodeBin, args...)
	cmd.Dir = dir
	cmd.Env = env
	cmd.Stdout = stdout
	cmd.Stderr = stderr
	exitCode := int32(0)
	if err := cmd.Run(); err != nil {
		var exitErr *exec.ExitError
		if !errors.As(err, &exitErr) {
			return fmt.Errorf("could not run the policy pack in %s: %w", dir, err)
		}
		exitCode = int32(exitErr.ExitCode())
	}
	return server.Send(&pulumirpc.RunPluginResponse{Output: &pulumirpc.RunPluginResponse_Exitcode{Exitcode: exitCode}})
}
