package main

// RunPlugin: how the CLI starts a plugin written in Node.js. The engine (pkg/v3
// resource/plugin) calls it for a plugin *directory* instead of an executable, with the directory
// as the program directory (entry point "."), the runtime options of its manifest, the engine's
// environment and the plugin's own arguments. Two kinds are supported:
//
//   - "analyzer": a policy pack (`pulumi preview --policy-pack DIR`, `runtime: nodejs` in
//     DIR/PulumiPolicy.yaml). The CLI no longer looks for the upstream `pulumi-analyzer-policy`
//     shell script; we start what that script started: `node <@pulumi/pulumi/cmd/run-policy-pack>
//     <engine address> .` in the pack directory.
//   - "resource": a source-based provider, e.g. a TypeScript component package (DIR/PulumiPlugin.yaml
//     with `runtime: nodejs`, plus a package.json), as `pulumi package get-schema DIR`, `pulumi
//     package add DIR` and programs that use such a package start it. As upstream's language host
//     does, we start `node [nodeargs] <@pulumi/pulumi/cmd/run-plugin> <plugin dir> <engine address>`
//     in the plugin directory (upstream: the engine's working directory; see below). run-plugin registers ts-node, `require`s the plugin
//     directory (package.json `main`, else index.js/index.ts) and, when that module exports
//     ComponentResource classes, serves them through componentProviderHost (the package name from
//     package.json; the schema from the TypeScript analyzer); otherwise the module runs as is (a
//     hand-written provider calls provider.main itself).
//
// In both cases the module is resolved from the plugin directory (so its own, or an enclosing
// project's, node_modules is used), the plugin prints its gRPC port first, stdout and stderr are
// streamed back as they come, then the exit code. A missing module is reported as node's
// `Cannot find module ...` (for a policy pack the engine turns that into "the policy pack's
// dependencies are not installed"). The engine ends the plugin by cancelling the call, which kills
// node. Other kinds (converter, tool) answer Unimplemented.

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/pulumi/pulumi/sdk/v3/go/common/util/logging"
	"github.com/pulumi/pulumi/sdk/v3/go/common/util/rpcutil"
	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

const (
	runPolicyPackModule = "@pulumi/pulumi/cmd/run-policy-pack"
	runPluginModule     = "@pulumi/pulumi/cmd/run-plugin"
)

func (host *nodeLanguageHost) RunPlugin(
	req *pulumirpc.RunPluginRequest, server grpc.ServerStreamingServer[pulumirpc.RunPluginResponse],
) error {
	kind := req.GetKind()
	if kind != "analyzer" && kind != "resource" {
		return status.Errorf(codes.Unimplemented,
			"this language host runs Node.js policy packs and resource providers only, not %q plugins", kind)
	}
	nodeBin, err := exec.LookPath("node")
	if err != nil {
		return fmt.Errorf("could not find node on the $PATH: %w", err)
	}
	pluginDir := programDir(req.GetInfo(), req.GetPwd())

	closer, stdout, stderr, err := rpcutil.MakeRunPluginStreams(server, false)
	if err != nil {
		return err
	}
	defer closer.Close()

	module := runPolicyPackModule
	if kind == "resource" {
		module = runPluginModule
	}
	runPath, err := resolveModule(nodeBin, pluginDir, module)
	if err != nil {
		fmt.Fprintf(stderr, "Cannot find module '%s' from %s: %v\n", module, pluginDir, err)
		if kind == "resource" {
			fmt.Fprintf(stderr, "It looks like the Pulumi SDK has not been installed. Have you run npm install in %s?\n", pluginDir)
		}
		return server.Send(&pulumirpc.RunPluginResponse{Output: &pulumirpc.RunPluginResponse_Exitcode{Exitcode: 1}})
	}

	env := req.GetEnv()
	if len(env) == 0 {
		env = os.Environ()
	}
	var args []string
	dir := pluginDir
	if kind == "analyzer" {
		// run-policy-pack takes <engine address> <program>; the engine sends the address as the only
		// argument. Packs have always run in their own directory.
		args = append([]string{runPath}, req.GetArgs()...)
		args = append(args, ".")
	} else {
		typescript, tsconfig, nodeargs := host.nodeOptions(req.GetInfo())
		env = append(env, "PULUMI_NODEJS_TYPESCRIPT="+strconv.FormatBool(typescript))
		if tsconfig != "" {
			// The manifest names it relative to the plugin, but node runs in the consumer's directory.
			if !filepath.IsAbs(tsconfig) {
				tsconfig = filepath.Join(pluginDir, tsconfig)
			}
			env = append(env, "PULUMI_NODEJS_TSCONFIG_PATH="+tsconfig)
		}
		// nodeargs are node's own options, so they go before the script (upstream v3.260 puts them
		// after it, where run-plugin would take them as program arguments).
		if nodeargs != "" {
			args = append(args, strings.Fields(nodeargs)...)
		}
		// run-plugin takes <program> [program args...]; the program is the plugin directory, the
		// engine's arguments (its address) follow, and it runs in the engine's working directory.
		args = append(args, runPath, pluginDir)
		args = append(args, req.GetArgs()...)
		// It runs in the plugin's directory, not the engine's: run-plugin registers ts-node with the
		// tsconfig.json of its working directory, and the plugin's sources need the plugin's own
		// (a consumer's directory has none, or one made for other code).
	}

	logging.V(5).Infof("language host launching %s plugin %s in %s: %s %v", kind, pluginDir, dir, nodeBin, args)
	// The engine ends the plugin by cancelling this call: the context kills node.
	cmd := exec.CommandContext(server.Context(), nodeBin, args...)
	cmd.Dir = dir
	cmd.Env = env
	cmd.Stdout = stdout
	cmd.Stderr = stderr
	exitCode := int32(0)
	if err := cmd.Run(); err != nil {
		var exitErr *exec.ExitError
		if !errors.As(err, &exitErr) {
			return fmt.Errorf("could not run the %s plugin in %s: %w", kind, pluginDir, err)
		}
		exitCode = int32(exitErr.ExitCode())
	}
	return server.Send(&pulumirpc.RunPluginResponse{Output: &pulumirpc.RunPluginResponse_Exitcode{Exitcode: exitCode}})
}
