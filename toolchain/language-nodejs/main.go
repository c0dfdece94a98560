// pulumi-language-nodejs: a small Node.js language host for the Pulumi engine.
//
// Why this exists: the upstream language host lives in its own Go module
// (github.com/pulumi/pulumi/sdk/nodejs/cmd/pulumi-language-nodejs/v3), which the Go
// module proxy reachable from this project's machines does not serve (every version,
// pseudo-version and query of it answers 403 "This module version is not available").
// So this is our own implementation of the LanguageRuntime gRPC service, written
// against the sdk/v3 protocol of the same pulumi release as the CLI. It covers what
// `pulumi preview/up/destroy/refresh/stack/config` need for a Node.js (JS or TS) program:
//
//   - Handshake / engine address argument
//   - GetRequiredPlugins / GetRequiredPackages: scan node_modules for package.json files
//     with {"pulumi": {"resource": true}} (same rule as upstream)
//   - Run: start `node <@pulumi/pulumi/cmd/run> --monitor ... <entry point>` from the
//     program's own node_modules, passing config and secret keys through the environment
//   - InstallDependencies: `npm install` in the program directory
//   - RunPlugin (runplugin.go) for kind "analyzer" (Node.js policy packs, through
//     @pulumi/pulumi/cmd/run-policy-pack) and kind "resource" (source-based providers such as
//     a TypeScript component package: a directory with PulumiPlugin.yaml `runtime: nodejs`,
//     started through @pulumi/pulumi/cmd/run-plugin), which is what `pulumi package
//     get-schema/add DIR` and programs that use such a package need
//   - GetPluginInfo, About
//
// Everything else (codegen: GeneratePackage/GenerateProgram/GenerateProject, so `pulumi
// package gen-sdk --language nodejs`, `pulumi convert` and the SDK step of `pulumi package add`
// in a Node.js project; Link; converter and tool plugins) answers Unimplemented, which the
// engine tolerates for preview/up/destroy/refresh/stack/config.
package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"

	"github.com/pulumi/pulumi/sdk/v3/go/common/util/logging"
	"github.com/pulumi/pulumi/sdk/v3/go/common/util/rpcutil"
	"github.com/pulumi/pulumi/sdk/v3/go/common/version"
	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/emptypb"
)

const (
	// Module the program is started through; resolved from the program directory.
	runModule = "@pulumi/pulumi/cmd/run"
	// Exit code the Node.js SDK uses after it has already shown an actionable message.
	exitCodeUserMessageShown = 32
)

func main() {
	tracing := flag.String("tracing", "", "Emit tracing to a Zipkin-compatible tracing endpoint")
	typescript := flag.Bool("typescript", true, "Use ts-node at runtime to support TypeScript source natively")
	root := flag.String("root", "", "Project root path to use (ignored; the engine sends it per request)")
	tsconfig := flag.String("tsconfig", "", "Path to tsconfig.json to use")
	nodeargs := flag.String("nodeargs", "", "Arguments for the Node process")
	_ = flag.String("packagemanager", "", "Package manager (only npm is supported here)")
	_ = flag.String("binary", "", "Unsupported: prebuilt binaries are not used")
	flag.Parse()
	_ = root

	logging.InitLogging(false, 0, false)

	host := &nodeLanguageHost{
		engineAddress: flag.Arg(0),
		tracing:       *tracing,
		typescript:    *typescript,
		tsconfig:      *tsconfig,
		nodeargs:      *nodeargs,
	}

	handle, err := rpcutil.ServeWithOptions(rpcutil.ServeOptions{
		Init: func(srv *grpc.Server) error {
			pulumirpc.RegisterLanguageRuntimeServer(srv, host)
			return nil
		},
	})
	if err != nil {
		fmt.Fprintf(os.Stderr, "fatal: could not start language host RPC server: %v\n", err)
		os.Exit(1)
	}

	// The engine reads the port from our first line of stdout.
	fmt.Printf("%d\n", handle.Port)

	if err := <-handle.Done; err != nil {
		fmt.Fprintf(os.Stderr, "fatal: language host RPC stopped serving: %v\n", err)
		os.Exit(1)
	}
}

type nodeLanguageHost struct {
	pulumirpc.UnimplementedLanguageRuntimeServer

	mu            sync.Mutex
	engineAddress string
	tracing       string
	typescript    bool
	tsconfig      string
	nodeargs      string
}

func (host *nodeLanguageHost) Handshake(
	_ context.Context, req *pulumirpc.LanguageHandshakeRequest,
) (*pulumirpc.LanguageHandshakeResponse, error) {
	host.mu.Lock()
	defer host.mu.Unlock()
	if req.GetEngineAddress() != "" {
		host.engineAddress = req.GetEngineAddress()
	}
	return &pulumirpc.LanguageHandshakeResponse{}, nil
}

func (host *nodeLanguageHost) GetPluginInfo(context.Context, *emptypb.Empty) (*pulumirpc.PluginInfo, error) {
	return &pulumirpc.PluginInfo{Version: version.Version}, nil
}

// programDir returns the directory holding the program (and its node_modules).
func programDir(info *pulumirpc.ProgramInfo, fallback string) string {
	if info != nil && info.GetProgramDirectory() != "" {
		return info.GetProgramDirectory()
	}
	if fallback != "" {
		return fallback
	}
	wd, _ := os.Getwd()
	return wd
}

type packageJSON struct {
	Name    string `json:"name"`
	Version string `json:"version"`
	Pulumi  struct {
		Resource bool   `json:"resource"`
		Name     string `json:"name"`
		Version  string `json:"version"`
		Server   string `json:"server"`
	} `json:"pulumi"`
}

type pluginDep struct{ name, version, server string }

// findPlugins walks node_modules under dir and returns every package that declares a
// resource plugin, de-duplicated by name and version.
func findPlugins(dir string) ([]pluginDep, error) {
	nm := filepath.Join(dir, "node_modules")
	if _, err := os.Stat(nm); err != nil {
		return nil, nil
	}
	seen := map[string]bool{}
	var deps []pluginDep
	err := filepath.WalkDir(nm, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return nil // unreadable entries are skipped, as upstream does
		}
		if d.IsDir() || d.Name() != "package.json" {
			return nil
		}
		// Only package roots: <...>/node_modules/<pkg>/package.json or .../node_modules/@scope/<pkg>/package.json
		parent := filepath.Base(filepath.Dir(filepath.Dir(path)))
		grand := filepath.Base(filepath.Dir(filepath.Dir(filepath.Dir(path))))
		if parent != "node_modules" && !(strings.HasPrefix(parent, "@") && grand == "node_modules") {
			return nil
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return nil
		}
		var info packageJSON
		if json.Unmarshal(b, &info) != nil || !info.Pulumi.Resource {
			return nil
		}
		name := info.Pulumi.Name
		if name == "" {
			name = strings.TrimPrefix(info.Name, "@pulumi/")
			name = strings.TrimPrefix(name, "@")
		}
		ver := info.Pulumi.Version
		if ver == "" {
			ver = info.Version
		}
		if name == "" || ver == "" {
			return nil
		}
		if !strings.HasPrefix(ver, "v") {
			ver = "v" + ver
		}
		key := name + "@" + ver
		if !seen[key] {
			seen[key] = true
			deps = append(deps, pluginDep{name: name, version: ver, server: info.Pulumi.Server})
		}
		return nil
	})
	return deps, err
}

func (host *nodeLanguageHost) GetRequiredPlugins(
	_ context.Context, req *pulumirpc.GetRequiredPluginsRequest,
) (*pulumirpc.GetRequiredPluginsResponse, error) {
	deps, err := findPlugins(programDir(req.GetInfo(), req.GetProgram()))
	if err != nil {
		logging.V(3).Infof("errors while discovering plugins: %v", err)
	}
	resp := &pulumirpc.GetRequiredPluginsResponse{}
	for _, d := range deps {
		resp.Plugins = append(resp.Plugins, &pulumirpc.PluginDependency{
			Name: d.name, Kind: "resource", Version: d.version, Server: d.server,
		})
	}
	return resp, nil
}

func (host *nodeLanguageHost) GetRequiredPackages(
	_ context.Context, req *pulumirpc.GetRequiredPackagesRequest,
) (*pulumirpc.GetRequiredPackagesResponse, error) {
	deps, err := findPlugins(programDir(req.GetInfo(), ""))
	if err != nil {
		logging.V(3).Infof("errors while discovering packages: %v", err)
	}
	resp := &pulumirpc.GetRequiredPackagesResponse{}
	for _, d := range deps {
		resp.Packages = append(resp.Packages, &pulumirpc.PackageDependency{
			Name: d.name, Kind: "resource", Version: d.version, Server: d.server,
		})
	}
	return resp, nil
}

// optionString reads a runtime option (Pulumi.yaml runtime.options) from the request.
func optionValue(info *pulumirpc.ProgramInfo, key string) (any, bool) {
	if info == nil || info.GetOptions() == nil {
		return nil, false
	}
	v, ok := info.GetOptions().AsMap()[key]
	return v, ok
}

// nodeOptions returns the runtime options of a program or plugin (Pulumi.yaml /
// PulumiPlugin.yaml `runtime.options`: typescript, tsconfig, nodeargs), each defaulting to the
// flag the host was started with.
func (host *nodeLanguageHost) nodeOptions(info *pulumirpc.ProgramInfo) (typescript bool, tsconfig, nodeargs string) {
	typescript, tsconfig, nodeargs = host.typescript, host.tsconfig, host.nodeargs
	if v, ok := optionValue(info, "typescript"); ok {
		if b, isBool := v.(bool); isBool {
			typescript = b
		}
	}
	if v, ok := optionValue(info, "tsconfig"); ok {
		if s, isStr := v.(string); isStr {
			tsconfig = s
		}
	}
	if v, ok := optionValue(info, "nodeargs"); ok {
		if s, isStr := v.(string); isStr {
			nodeargs = s
		}
	}
	return typescript, tsconfig, nodeargs
}

func (host *nodeLanguageHost) Run(ctx context.Context, req *pulumirpc.RunRequest) (*pulumirpc.RunResponse, error) {
	nodeBin, err := exec.LookPath("node")
	if err != nil {
		return nil, fmt.Errorf("could not find node on the $PATH: %w", err)
	}
	dir := programDir(req.GetInfo(), req.GetPwd())

	runPath, err := resolveModule(nodeBin, dir, runModule)
	if err != nil {
		return &pulumirpc.RunResponse{Error: "It looks like the Pulumi SDK has not been installed. " +
			"Have you run npm install or yarn install? (" + err.Error() + ")"}, nil
	}

	host.mu.Lock()
	engine := host.engineAddress
	host.mu.Unlock()

	typescript, tsconfig, nodeargs := host.nodeOptions(req.GetInfo())

	var args []string
	if nodeargs != "" {
		args = append(args, strings.Fields(nodeargs)...)
	}
	args = append(args, runPath)
	add := func(k, v string) {
		if v != "" {
			args = append(args, "--"+k, v)
		}
	}
	add("monitor", req.GetMonitorAddress())
	add("engine", engine)
	add("organization", req.GetOrganization())
	add("project", req.GetProject())
	if req.GetInfo() != nil {
		add("root-directory", req.GetInfo().GetRootDirectory())
	}
	add("stack", req.GetStack())
	add("pwd", req.GetPwd())
	if req.GetDryRun() {
		args = append(args, "--dry-run")
	}
	add("parallel", strconv.Itoa(int(req.GetParallel())))
	add("tracing", host.tracing)

	entry := "."
	if req.GetInfo() != nil && req.GetInfo().GetEntryPoint() != "" {
		entry = req.GetInfo().GetEntryPoint()
	} else if req.GetProgram() != "" {
		entry = req.GetProgram()
	}
	args = append(args, entry)
	args = append(args, req.GetArgs()...)

	cfg := req.GetConfig()
	if cfg == nil {
		cfg = map[string]string{}
	}
	cfgJSON, err := json.Marshal(cfg)
	if err != nil {
		return nil, fmt.Errorf("failed to serialize configuration: %w", err)
	}
	secretKeys := req.GetConfigSecretKeys()
	if secretKeys == nil {
		secretKeys = []string{}
	}
	secretJSON, err := json.Marshal(secretKeys)
	if err != nil {
		return nil, fmt.Errorf("failed to serialize secret keys: %w", err)
	}

	env := os.Environ()
	env = append(env,
		"PULUMI_CONFIG="+string(cfgJSON),
		"PULUMI_CONFIG_SECRET_KEYS="+string(secretJSON),
		"PULUMI_NODEJS_TYPESCRIPT="+strconv.FormatBool(typescript),
	)
	if tsconfig != "" {
		env = append(env, "PULUMI_NODEJS_TSCONFIG_PATH="+tsconfig)
	}
	if req.GetConfigPropertyMap() != nil {
		if b, err := req.GetConfigPropertyMap().MarshalJSON(); err == nil {
			env = append(env, "PULUMI_CONFIG_PROPERTY_MAP="+string(b))
		}
	}

	logging.V(5).Infof("language host launching: %s %s", nodeBin, strings.Join(args, " "))
	cmd := exec.CommandContext(ctx, nodeBin, args...)
	cmd.Dir = dir
	cmd.Stdout = os.Stdout
	cmd.Stderr = os.Stderr
	cmd.Env = env
	if err := cmd.Run(); err != nil {
		var exitErr *exec.ExitError
		if errors.As(err, &exitErr) {
			if exitErr.ExitCode() == exitCodeUserMessageShown {
				return &pulumirpc.RunResponse{Bail: true}, nil
			}
			return &pulumirpc.RunResponse{
				Error: fmt.Sprintf("Program exited with non-zero exit code: %d", exitErr.ExitCode()),
			}, nil
		}
		return &pulumirpc.RunResponse{
			Error: fmt.Sprintf("Problem executing program (could not run language executor): %v", err),
		}, nil
	}
	return &pulumirpc.RunResponse{}, nil
}

// resolveModule asks node to resolve a module from dir, as `require` would there.
func resolveModule(nodeBin, dir, mod string) (string, error) {
	cmd := exec.Command(nodeBin, "-e", fmt.Sprintf("console.log(require.resolve(%q))", mod))
	cmd.Dir = dir
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("cannot resolve %s from %s: %v: %s", mod, dir, err, strings.TrimSpace(stderr.String()))
	}
	return strings.TrimSpace(string(out)), nil
}

func (host *nodeLanguageHost) InstallDependencies(
	req *pulumirpc.InstallDependenciesRequest,
	server grpc.ServerStreamingServer[pulumirpc.InstallDependenciesResponse],
) error {
	dir := req.GetDirectory()
	if req.GetInfo() != nil && req.GetInfo().GetProgramDirectory() != "" {
		dir = req.GetInfo().GetProgramDirectory()
	}
	if _, err := os.Stat(filepath.Join(dir, "package.json")); err != nil {
		return nil // nothing to install
	}
	if installedFromLockfile(dir) {
		_ = server.Send(&pulumirpc.InstallDependenciesResponse{
			Stdout: []byte("node_modules is newer than package.json and package-lock.json: nothing to install\n"),
		})
		return nil
	}
	npm, err := exec.LookPath("npm")
	if err != nil {
		return status.Errorf(codes.FailedPrecondition, "could not find npm on the $PATH: %v", err)
	}
	sub := "install"
	if _, err := os.Stat(filepath.Join(dir, "package-lock.json")); err == nil {
		sub = "ci"
	}
	cmd := exec.Command(npm, sub, "--no-audit", "--no-fund")
	cmd.Dir = dir
	pr, pw := io.Pipe()
	cmd.Stdout = pw
	cmd.Stderr = pw
	if err := cmd.Start(); err != nil {
		return err
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait(); pw.Close() }()
	sc := bufio.NewScanner(pr)
	for sc.Scan() {
		_ = server.Send(&pulumirpc.InstallDependenciesResponse{Stdout: append(sc.Bytes(), '\n')})
	}
	if err := <-done; err != nil {
		return fmt.Errorf("npm %s failed in %s: %w", sub, dir, err)
	}
	return nil
}

// installedFromLockfile: whether npm last installed dir's node_modules after package.json and
// package-lock.json last changed (npm writes node_modules/.package-lock.json on every install). The
// CLI asks for an install before each `pulumi package get-schema` or `add` of a plugin directory;
// `npm ci` would delete and rebuild a checkout's node_modules every time, under whatever runs from
// it. A fresh clone (no node_modules) or a changed lockfile still installs.
func installedFromLockfile(dir string) bool {
	installed, err := os.Stat(filepath.Join(dir, "node_modules", ".package-lock.json"))
	if err != nil {
		return false
	}
	for _, manifest := range []string{"package.json", "package-lock.json"} {
		info, err := os.Stat(filepath.Join(dir, manifest))
		if err != nil || info.ModTime().After(installed.ModTime()) {
			return false
		}
	}
	return true
}

func (host *nodeLanguageHost) About(context.Context, *pulumirpc.AboutRequest) (*pulumirpc.AboutResponse, error) {
	nodeBin, err := exec.LookPath("node")
	if err != nil {
		return nil, fmt.Errorf("could not find node on the $PATH: %w", err)
	}
	out, err := exec.Command(nodeBin, "--version").Output()
	if err != nil {
		return nil, fmt.Errorf("failed to get node version: %w", err)
	}
	return &pulumirpc.AboutResponse{
		Executable: nodeBin,
		Version:    strings.TrimPrefix(strings.TrimSpace(string(out)), "v"),
	}, nil
}
