// pulumi-resource-command: our own implementation of the `command` provider's local
// resources, compatible with the @pulumi/command 1.2.1 Node.js SDK.
//
// Why our own: the upstream github.com/pulumi/pulumi-command/provider module is not served
// by the Go module proxy reachable here (403 for every version and pseudo-version), so it
// cannot be built from Go modules. This provider speaks the Pulumi provider gRPC protocol
// directly (sdk/v3 only, no extra dependencies) and implements:
//
//   - command:local:Command (create / update / delete commands, environment, dir,
//     interpreter, stdin, triggers, addPreviousOutputInEnv, logging, stdout / stderr
//     outputs, assetPaths / archivePaths as path assets)
//   - command:local:run (invoke)
//
// with the same behaviour as upstream: commands run with `/bin/sh -c` unless an
// interpreter is given, in the provider's working directory unless `dir` is set;
// on update the `update` command runs (or `create` if unset) and, unless
// addPreviousOutputInEnv is false, PULUMI_COMMAND_STDOUT / PULUMI_COMMAND_STDERR carry the
// previous outputs; trailing newlines are trimmed from stdout / stderr; nothing runs
// during preview. The remote (SSH) resources are not implemented and fail with a clear
// message.
//
// Two things go further than upstream 1.2.1:
//
//   - Secrets: the provider accepts secrets (AcceptSecrets) and every output that echoes an input
//     keeps that input's secret markers, however deep (a secret inside `triggers` or inside
//     `environment` stays a secret in the state). stdout / stderr are not inputs and stay plain,
//     as upstream: mark them with additionalSecretOutputs when a command may print a secret.
//   - Cancellation: each command runs in its own process group; a cancelled command (the
//     engine's Cancel RPC, the request's context, SIGINT / SIGTERM to the provider) gets SIGTERM,
//     and SIGKILL after a grace period (MTLS_COMMAND_STOP_GRACE, default 10s). See process.go.
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"os/signal"
	"path"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/pulumi/pulumi/sdk/v3/go/common/resource/asset"
	"github.com/pulumi/pulumi/sdk/v3/go/common/resource/plugin"
	"github.com/pulumi/pulumi/sdk/v3/go/common/util/cmdutil"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi/provider"
	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/emptypb"
)

// Version must equal node_modules/@pulumi/command/package.json's pulumi.version.
// Overridable with -ldflags "-X main.Version=...".
var Version = "1.2.1"

const (
	tokCommand = "command:local:Command"
	tokRun     = "command:local:run"
)

// inputKeys are the inputs of command:local:Command, in SDK (camelCase) form.
var inputKeys = []string{
	"addPreviousOutputInEnv", "archivePaths", "assetPaths", "create", "delete", "dir",
	"environment", "interpreter", "logging", "stdin", "triggers", "update",
}

func main() {
	// SIGINT is how the engine closes a plugin (SIGKILL to the plugin's group 5 s later); SIGTERM is
	// what anything else sends. Either stops the running commands (their own process groups would
	// not see the signal) and then the gRPC server.
	ctx, stopServer := context.WithCancel(context.Background())
	p := newProvider(nil)
	signals := make(chan os.Signal, 2)
	signal.Notify(signals, syscall.SIGINT, syscall.SIGTERM)
	go func() {
		<-signals
		p.stopAll(signalGraceCap)
		stopServer()
	}()
	err := provider.MainContext(ctx, "command", func(host *provider.HostClient) (pulumirpc.ResourceProviderServer, error) {
		p.host = host
		return p, nil
	})
	if err != nil {
		cmdutil.ExitError(err.Error())
	}
}

type commandProvider struct {
	pulumirpc.UnimplementedResourceProviderServer
	host *provider.HostClient

	// stopCtx is done once the engine cancelled the operation (or the provider was signalled):
	// running commands are stopped, and no new one starts.
	stopCtx context.Context
	stop    context.CancelFunc

	mu    sync.Mutex
	grace time.Duration // SIGTERM to SIGKILL

	// onStart, when set (tests), is told each command's pid (= its process group id).
	onStart func(pid int)
}

func newProvider(host *provider.HostClient) *commandProvider {
	stopCtx, stop := context.WithCancel(context.Background())
	return &commandProvider{host: host, stopCtx: stopCtx, stop: stop, grace: graceFromEnv()}
}

func (p *commandProvider) currentGrace() time.Duration {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.grace
}

// stopAll cancels every running command (and refuses new ones), with a grace period of at most limit.
func (p *commandProvider) stopAll(limit time.Duration) {
	p.mu.Lock()
	if limit < p.grace {
		p.grace = limit
	}
	p.mu.Unlock()
	p.stop()
}

// Inputs and state arrive with their secret markers (the provider accepts secrets) and leave with
// them. Diff compares values only: a change of secretness alone does not re-run a command.
var unmarshalOpts = plugin.MarshalOptions{KeepUnknowns: true, SkipNulls: true, KeepSecrets: true}
var diffOpts = plugin.MarshalOptions{KeepUnknowns: true, SkipNulls: true, KeepSecrets: false}
var marshalOpts = plugin.MarshalOptions{KeepUnknowns: true, SkipNulls: true, KeepSecrets: true}

func (p *commandProvider) GetPluginInfo(context.Context, *emptypb.Empty) (*pulumirpc.PluginInfo, error) {
	return &pulumirpc.PluginInfo{Version: Version}, nil
}

func (p *commandProvider) Handshake(
	context.Context, *pulumirpc.ProviderHandshakeRequest,
) (*pulumirpc.ProviderHandshakeResponse, error) {
	return &pulumirpc.ProviderHandshakeResponse{AcceptSecrets: true, AcceptResources: true}, nil
}

func (p *commandProvider) GetSchema(context.Context, *pulumirpc.GetSchemaRequest) (*pulumirpc.GetSchemaResponse, error) {
	b, _ := json.Marshal(map[string]any{"name": "command", "version": Version})
	return &pulumirpc.GetSchemaResponse{Schema: string(b)}, nil
}

func (p *commandProvider) CheckConfig(_ context.Context, req *pulumirpc.CheckRequest) (*pulumirpc.CheckResponse, error) {
	return &pulumirpc.CheckResponse{Inputs: req.GetNews()}, nil
}

func (p *commandProvider) DiffConfig(context.Context, *pulumirpc.DiffRequest) (*pulumirpc.DiffResponse, error) {
	return &pulumirpc.DiffResponse{Changes: pulumirpc.DiffResponse_DIFF_NONE}, nil
}

func (p *commandProvider) Configure(context.Context, *pulumirpc.ConfigureRequest) (*pulumirpc.ConfigureResponse, error) {
	return &pulumirpc.ConfigureResponse{AcceptSecrets: true, SupportsPreview: true}, nil
}

// Cancel is the engine asking to stop (e.g. `pulumi up` interrupted): every running command gets
// SIGTERM, then SIGKILL after the grace period; no command starts afterwards.
func (p *commandProvider) Cancel(context.Context, *emptypb.Empty) (*emptypb.Empty, error) {
	p.stopAll(p.currentGrace())
	return &emptypb.Empty{}, nil
}

func unsupported(tok string) error {
	return status.Errorf(codes.Unimplemented,
		"%s is not implemented by this offline build of pulumi-resource-command %s "+
			"(only command:local:Command and command:local:run are)", tok, Version)
}

func resourceType(urn string) string {
	// urn:pulumi:stack::project::[parent$]type::name
	parts := strings.Split(urn, "::")
	if len(parts) < 4 {
		return ""
	}
	t := parts[2]
	if i := strings.LastIndex(t, "$"); i >= 0 {
		t = t[i+1:]
	}
	return t
}

func (p *commandProvider) Check(_ context.Context, req *pulumirpc.CheckRequest) (*pulumirpc.CheckResponse, error) {
	if t := resourceType(req.GetUrn()); t != tokCommand {
		return nil, unsupported(t)
	}
	news, err := plugin.UnmarshalProperties(req.GetNews(), diffOpts)
	if err != nil {
		return nil, err
	}
	var failures []*pulumirpc.CheckFailure
	if v, ok := news["logging"]; ok && v.IsString() {
		switch v.StringValue() {
		case "stdout", "stderr", "stdoutAndStderr", "none":
		default:
			failures = append(failures, &pulumirpc.CheckFailure{Property: "logging",
				Reason: fmt.Sprintf("logging must be one of stdout, stderr, stdoutAndStderr, none; got %q", v.StringValue())})
		}
	}
	return &pulumirpc.CheckResponse{Inputs: req.GetNews(), Failures: failures}, nil
}

func (p *commandProvider) Diff(_ context.Context, req *pulumirpc.DiffRequest) (*pulumirpc.DiffResponse, error) {
	olds, err := plugin.UnmarshalProperties(req.GetOldInputs(), diffOpts)
	if err != nil {
		return nil, err
	}
	if req.GetOldInputs() == nil {
		olds, err = plugin.UnmarshalProperties(req.GetOlds(), diffOpts)
		if err != nil {
			return nil, err
		}
	}
	news, err := plugin.UnmarshalProperties(req.GetNews(), diffOpts)
	if err != nil {
		return nil, err
	}
	ignore := map[string]bool{}
	for _, k := range req.GetIgnoreChanges() {
		ignore[k] = true
	}
	var diffs, replaces []string
	detailed := map[string]*pulumirpc.PropertyDiff{}
	for _, k := range inputKeys {
		if ignore[k] {
			continue
		}
		o, hasOld := olds[resource.PropertyKey(k)]
		n, hasNew := news[resource.PropertyKey(k)]
		if !hasOld && !hasNew {
			continue
		}
		if hasOld && hasNew && !n.ContainsUnknowns() && o.DeepEquals(n) {
			continue
		}
		kind := pulumirpc.PropertyDiff_UPDATE
		switch {
		case !hasOld:
			kind = pulumirpc.PropertyDiff_ADD
		case !hasNew:
			kind = pulumirpc.PropertyDiff_DELETE
		}
		if k == "triggers" {
			replaces = append(replaces, k)
			kind += 1 // the *_REPLACE variant follows each kind in the enum
		}
		diffs = append(diffs, k)
		detailed[k] = &pulumirpc.PropertyDiff{Kind: kind, InputDiff: true}
	}
	changes := pulumirpc.DiffResponse_DIFF_NONE
	if len(diffs) > 0 {
		changes = pulumirpc.DiffResponse_DIFF_SOME
	}
	return &pulumirpc.DiffResponse{
		Changes: changes, Diffs: diffs, Replaces: replaces,
		DetailedDiff: detailed, HasDetailedDiff: true,
	}, nil
}

// commandArgs is the decoded form of the inputs that affect running a command.
type commandArgs struct {
	create, update, del *string
	// How each command is named in errors: quoted, or "the [secret] command" when it is a secret.
	createName, updateName, delName string
	dir                             string
	environment                     map[string]string
	interpreter                     []string
	stdin                           string
	logging                         string
	addPrevious                     bool
	assetPaths                      []string
	archivePaths                    []string
	hasAssetPaths                   bool
	hasArchivePaths                 bool
}

func strPtr(m resource.PropertyMap, k string) *string {
	if v, ok := m[resource.PropertyKey(k)]; ok && v.IsString() {
		s := v.StringValue()
		return &s
	}
	return nil
}

func strList(m resource.PropertyMap, k string) ([]string, bool) {
	v, ok := m[resource.PropertyKey(k)]
	if !ok || !v.IsArray() {
		return nil, false
	}
	var out []string
	for _, e := range v.ArrayValue() {
		if e.IsString() {
			out = append(out, e.StringValue())
		}
	}
	return out, true
}

// decodeArgs reads the inputs (or state) m, secret or not.
func decodeArgs(m resource.PropertyMap) commandArgs {
	marked := m
	m = withoutSecrets(m)
	a := commandArgs{
		create: strPtr(m, "create"), update: strPtr(m, "update"), del: strPtr(m, "delete"),
		createName: commandName(marked, "create"), updateName: commandName(marked, "update"),
		delName:     commandName(marked, "delete"),
		environment: map[string]string{}, logging: "stdoutAndStderr", addPrevious: true,
	}
	// command:local:run names its command "command".
	if c := strPtr(m, "command"); c != nil {
		a.create, a.createName = c, commandName(marked, "command")
	}
	if s := strPtr(m, "dir"); s != nil {
		a.dir = *s
	}
	if s := strPtr(m, "stdin"); s != nil {
		a.stdin = *s
	}
	if s := strPtr(m, "logging"); s != nil {
		a.logging = *s
	}
	if v, ok := m["addPreviousOutputInEnv"]; ok && v.IsBool() {
		a.addPrevious = v.BoolValue()
	}
	if v, ok := m["environment"]; ok && v.IsObject() {
		for k, e := range v.ObjectValue() {
			if e.IsString() {
				a.environment[string(k)] = e.StringValue()
			}
		}
	}
	a.interpreter, _ = strList(m, "interpreter")
	a.assetPaths, a.hasAssetPaths = strList(m, "assetPaths")
	a.archivePaths, a.hasArchivePaths = strList(m, "archivePaths")
	return a
}

// commandName is how errors name the command in m[key]: its text, unless that is a secret.
func commandName(m resource.PropertyMap, key resource.PropertyKey) string {
	v, ok := m[key]
	switch {
	case !ok:
		return ""
	case v.ContainsSecrets():
		return "the [secret] command"
	case v.IsString():
		return fmt.Sprintf("%q", v.StringValue())
	}
	return ""
}

// withoutSecret returns v with every secret marker removed, at any depth.
func withoutSecret(v resource.PropertyValue) resource.PropertyValue {
	switch {
	case v.IsSecret():
		return withoutSecret(v.SecretValue().Element)
	case v.IsArray():
		elems := make([]resource.PropertyValue, len(v.ArrayValue()))
		for i, e := range v.ArrayValue() {
			elems[i] = withoutSecret(e)
		}
		return resource.NewProperty(elems)
	case v.IsObject():
		return resource.NewProperty(withoutSecrets(v.ObjectValue()))
	}
	return v
}

func withoutSecrets(m resource.PropertyMap) resource.PropertyMap {
	out := make(resource.PropertyMap, len(m))
	for k, v := range m {
		out[k] = withoutSecret(v)
	}
	return out
}

// previousOutputs reads stdout / stderr of a recorded state (which may hold them as secrets).
func previousOutputs(state resource.PropertyMap) (stdout, stderr string) {
	plain := withoutSecrets(state)
	if v, ok := plain["stdout"]; ok && v.IsString() {
		stdout = v.StringValue()
	}
	if v, ok := plain["stderr"]; ok && v.IsString() {
		stderr = v.StringValue()
	}
	return stdout, stderr
}

// globAssets matches files under dir against path globs ("*" within a segment, "**"
// across segments, a leading "!" excludes), later globs winning.
func globAssets(dir string, globs []string) (map[string]*asset.Asset, error) {
	out := map[string]*asset.Asset{}
	err := fs.WalkDir(os.DirFS(dir), ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			return nil
		}
		for _, g := range globs {
			exclude := strings.HasPrefix(g, "!")
			pattern := strings.TrimPrefix(g, "!")
			if !globMatch(pattern, p) {
				continue
			}
			if exclude {
				delete(out, p)
				continue
			}
			a, err := asset.FromPath(path.Join(dir, p))
			if err != nil {
				return err
			}
			out[p] = a
		}
		return nil
	})
	return out, err
}

func globMatch(pattern, name string) bool {
	return matchSegs(strings.Split(pattern, "/"), strings.Split(name, "/"))
}

func matchSegs(pat, name []string) bool {
	for len(pat) > 0 {
		if pat[0] == "**" {
			for i := 0; i <= len(name); i++ {
				if matchSegs(pat[1:], name[i:]) {
					return true
				}
			}
			return false
		}
		if len(name) == 0 {
			return false
		}
		if ok, _ := filepath.Match(pat[0], name[0]); !ok {
			return false
		}
		pat, name = pat[1:], name[1:]
	}
	return len(name) == 0
}

// outputs builds the resource state: the inputs, with their secret markers, plus stdout / stderr
// (and assets). Like upstream, stdout / stderr are plain: they are no input.
func outputs(inputs resource.PropertyMap, r runResult, preview bool) resource.PropertyMap {
	out := resource.PropertyMap{}
	for _, k := range inputKeys {
		if v, ok := inputs[resource.PropertyKey(k)]; ok {
			out[resource.PropertyKey(k)] = v
		}
	}
	if v, ok := inputs["command"]; ok {
		out["command"] = v
	}
	if preview {
		out["stdout"] = resource.MakeComputed(resource.NewProperty(""))
		out["stderr"] = resource.MakeComputed(resource.NewProperty(""))
		return out
	}
	out["stdout"] = resource.NewProperty(r.stdout)
	out["stderr"] = resource.NewProperty(r.stderr)
	if r.assets != nil {
		m := resource.PropertyMap{}
		for k, a := range r.assets {
			m[resource.PropertyKey(k)] = resource.NewProperty(a)
		}
		out["assets"] = resource.NewProperty(m)
	}
	if r.archive != nil {
		out["archive"] = resource.NewProperty(r.archive)
	}
	return out
}

func (p *commandProvider) Create(ctx context.Context, req *pulumirpc.CreateRequest) (*pulumirpc.CreateResponse, error) {
	if t := resourceType(req.GetUrn()); t != tokCommand {
		return nil, unsupported(t)
	}
	inputs, err := plugin.UnmarshalProperties(req.GetProperties(), unmarshalOpts)
	if err != nil {
		return nil, err
	}
	name := req.GetName()
	if name == "" {
		name = resource.URN(req.GetUrn()).Name()
	}
	id, err := resource.NewUniqueHex(name, 8, 0)
	if err != nil {
		return nil, err
	}
	a := decodeArgs(inputs)
	var r runResult
	if !req.GetPreview() && a.create != nil {
		if r, err = p.run(ctx, req.GetUrn(), *a.create, a.createName, a, "", ""); err != nil {
			return nil, err
		}
	}
	props, err := plugin.MarshalProperties(outputs(inputs, r, req.GetPreview()), marshalOpts)
	if err != nil {
		return nil, err
	}
	return &pulumirpc.CreateResponse{Id: id, Properties: props}, nil
}

func (p *commandProvider) Read(_ context.Context, req *pulumirpc.ReadRequest) (*pulumirpc.ReadResponse, error) {
	// Commands have no external state to refresh: report the recorded state unchanged.
	return &pulumirpc.ReadResponse{Id: req.GetId(), Properties: req.GetProperties(), Inputs: req.GetInputs()}, nil
}

func (p *commandProvider) Update(ctx context.Context, req *pulumirpc.UpdateRequest) (*pulumirpc.UpdateResponse, error) {
	if t := resourceType(req.GetUrn()); t != tokCommand {
		return nil, unsupported(t)
	}
	olds, err := plugin.UnmarshalProperties(req.GetOlds(), unmarshalOpts)
	if err != nil {
		return nil, err
	}
	news, err := plugin.UnmarshalProperties(req.GetNews(), unmarshalOpts)
	if err != nil {
		return nil, err
	}
	prevOut, prevErr := previousOutputs(olds)
	r := runResult{stdout: prevOut, stderr: prevErr}
	a := decodeArgs(news)
	cmd, cmdName := a.create, a.createName
	if a.update != nil {
		cmd, cmdName = a.update, a.updateName
	}
	if !req.GetPreview() && cmd != nil {
		if r, err = p.run(ctx, req.GetUrn(), *cmd, cmdName, a, prevOut, prevErr); err != nil {
			return nil, err
		}
	}
	props, err := plugin.MarshalProperties(outputs(news, r, req.GetPreview()), marshalOpts)
	if err != nil {
		return nil, err
	}
	return &pulumirpc.UpdateResponse{Properties: props}, nil
}

func (p *commandProvider) Delete(ctx context.Context, req *pulumirpc.DeleteRequest) (*emptypb.Empty, error) {
	if t := resourceType(req.GetUrn()); t != tokCommand {
		return nil, unsupported(t)
	}
	state, err := plugin.UnmarshalProperties(req.GetProperties(), unmarshalOpts)
	if err != nil {
		return nil, err
	}
	a := decodeArgs(state)
	if a.del == nil {
		return &emptypb.Empty{}, nil
	}
	prevOut, prevErr := previousOutputs(state)
	if _, err := p.run(ctx, req.GetUrn(), *a.del, a.delName, a, prevOut, prevErr); err != nil {
		return nil, err
	}
	return &emptypb.Empty{}, nil
}

func (p *commandProvider) Invoke(ctx context.Context, req *pulumirpc.InvokeRequest) (*pulumirpc.InvokeResponse, error) {
	if req.GetTok() != tokRun {
		return nil, unsupported(req.GetTok())
	}
	args, err := plugin.UnmarshalProperties(req.GetArgs(), unmarshalOpts)
	if err != nil {
		return nil, err
	}
	a := decodeArgs(args)
	if a.create == nil {
		return &pulumirpc.InvokeResponse{Failures: []*pulumirpc.CheckFailure{
			{Property: "command", Reason: "missing required property 'command'"}}}, nil
	}
	r, err := p.run(ctx, "", *a.create, a.createName, a, "", "")
	if err != nil {
		return nil, err
	}
	ret, err := plugin.MarshalProperties(outputs(args, r, false), marshalOpts)
	if err != nil {
		return nil, err
	}
	return &pulumirpc.InvokeResponse{Return: ret}, nil
}
