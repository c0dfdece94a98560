package main

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/structpb"
)

// fakeRunPluginServer collects what RunPlugin streams back.
type fakeRunPluginServer struct {
	grpc.ServerStream
	ctx      context.Context
	stdout   strings.Builder
	stderr   strings.Builder
	exitCode *int32
}

func (s *fakeRunPluginServer) Context() context.Context { return s.ctx }

func (s *fakeRunPluginServer) Send(resp *pulumirpc.RunPluginResponse) error {
	switch out := resp.GetOutput().(type) {
	case *pulumirpc.RunPluginResponse_Stdout:
		s.stdout.Write(out.Stdout)
	case *pulumirpc.RunPluginResponse_Stderr:
		s.stderr.Write(out.Stderr)
	case *pulumirpc.RunPluginResponse_Exitcode:
		code := out.Exitcode
		s.exitCode = &code
	}
	return nil
}

// Stand-ins for @pulumi/pulumi's entry points: they print how node started them.
const stubEntry = `console.log(JSON.stringify({
  script: require("path").basename(require("path").dirname(__filename)),
  args: process.argv.slice(2),
  execArgv: process.execArgv,
  cwd: process.cwd(),
  typescript: process.env.PULUMI_NODEJS_TYPESCRIPT || "",
  tsconfig: process.env.PULUMI_NODEJS_TSCONFIG_PATH || "",
  marker: process.env.RUNPLUGIN_TEST_MARKER || "",
}));
`

type stubRun struct {
	Script     string   `json:"script"`
	Args       []string `json:"args"`
	ExecArgv   []string `json:"execArgv"`
	Cwd        string   `json:"cwd"`
	TypeScript string   `json:"typescript"`
	TSConfig   string   `json:"tsconfig"`
	Marker     string   `json:"marker"`
}

// pluginDir makes a plugin directory whose node_modules has a stub @pulumi/pulumi.
func pluginDir(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	sdk := filepath.Join(dir, "node_modules", "@pulumi", "pulumi")
	for _, entry := range []string{"run-plugin", "run-policy-pack"} {
		if err := os.MkdirAll(filepath.Join(sdk, "cmd", entry), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(sdk, "cmd", entry, "index.js"), []byte(stubEntry), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(sdk, "package.json"), []byte(`{"name":"@pulumi/pulumi","version":"0.0.0"}`), 0o644); err != nil {
		t.Fatal(err)
	}
	real, err := filepath.EvalSymlinks(dir)
	if err != nil {
		t.Fatal(err)
	}
	return real
}

func runPlugin(t *testing.T, host *nodeLanguageHost, req *pulumirpc.RunPluginRequest) (*fakeRunPluginServer, error) {
	t.Helper()
	srv := &fakeRunPluginServer{ctx: context.Background()}
	err := host.RunPlugin(req, srv)
	return srv, err
}

func decodeRun(t *testing.T, srv *fakeRunPluginServer) stubRun {
	t.Helper()
	if srv.exitCode == nil || *srv.exitCode != 0 {
		t.Fatalf("exit code %v, stderr: %s", srv.exitCode, srv.stderr.String())
	}
	var run stubRun
	if err := json.Unmarshal([]byte(strings.TrimSpace(srv.stdout.String())), &run); err != nil {
		t.Fatalf("stdout %q: %v", srv.stdout.String(), err)
	}
	return run
}

func requireNode(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath("node"); err != nil {
		t.Skip("node is not on PATH")
	}
}

func TestRunPluginResource(t *testing.T) {
	requireNode(t)
	dir := pluginDir(t)
	pwd := t.TempDir()
	pwd, _ = filepath.EvalSymlinks(pwd)
	host := &nodeLanguageHost{typescript: true}

	srv, err := runPlugin(t, host, &pulumirpc.RunPluginRequest{
		Kind: "resource",
		Pwd:  pwd,
		Args: []string{"127.0.0.1:12345"},
		Env:  append(os.Environ(), "RUNPLUGIN_TEST_MARKER=from-engine"),
		Info: &pulumirpc.ProgramInfo{ProgramDirectory: dir, RootDirectory: dir, EntryPoint: "."},
	})
	if err != nil {
		t.Fatal(err)
	}
	run := decodeRun(t, srv)
	if run.Script != "run-plugin" {
		t.Errorf("script %q, want run-plugin", run.Script)
	}
	if want := []string{dir, "127.0.0.1:12345"}; strings.Join(run.Args, " ") != strings.Join(want, " ") {
		t.Errorf("args %q, want %q", run.Args, want)
	}
	// The plugin's directory, not the engine's: run-plugin takes tsconfig.json from its working directory.
	if run.Cwd != dir {
		t.Errorf("cwd %q, want the plugin directory %q (the engine's was %q)", run.Cwd, dir, pwd)
	}
	if run.TypeScript != "true" || run.Marker != "from-engine" {
		t.Errorf("env: typescript %q, marker %q", run.TypeScript, run.Marker)
	}
}

func TestRunPluginResourceOptions(t *testing.T) {
	requireNode(t)
	dir := pluginDir(t)
	opts, err := structpb.NewStruct(map[string]any{
		"typescript": false, "tsconfig": "tsconfig.build.json", "nodeargs": "--no-warnings --stack-size=2000",
	})
	if err != nil {
		t.Fatal(err)
	}
	srv, err := runPlugin(t, &nodeLanguageHost{typescript: true}, &pulumirpc.RunPluginRequest{
		Kind: "resource",
		Pwd:  dir,
		Args: []string{"127.0.0.1:1"},
		Info: &pulumirpc.ProgramInfo{ProgramDirectory: dir, RootDirectory: dir, EntryPoint: ".", Options: opts},
	})
	if err != nil {
		t.Fatal(err)
	}
	run := decodeRun(t, srv)
	// A relative tsconfig names a file of the plugin, whatever directory node runs in.
	if run.TypeScript != "false" || run.TSConfig != filepath.Join(dir, "tsconfig.build.json") {
		t.Errorf("typescript %q, tsconfig %q", run.TypeScript, run.TSConfig)
	}
	if strings.Join(run.ExecArgv, " ") != "--no-warnings --stack-size=2000" {
		t.Errorf("node options %q: nodeargs must reach node, before the script", run.ExecArgv)
	}
	if len(run.Args) != 2 || run.Args[0] != dir {
		t.Errorf("args %q", run.Args)
	}
}

func TestRunPluginAnalyzer(t *testing.T) {
	requireNode(t)
	dir := pluginDir(t)
	srv, err := runPlugin(t, &nodeLanguageHost{}, &pulumirpc.RunPluginRequest{
		Kind: "analyzer",
		Pwd:  t.TempDir(),
		Args: []string{"127.0.0.1:23456"},
		Info: &pulumirpc.ProgramInfo{ProgramDirectory: dir, RootDirectory: dir, EntryPoint: "."},
	})
	if err != nil {
		t.Fatal(err)
	}
	run := decodeRun(t, srv)
	if run.Script != "run-policy-pack" {
		t.Errorf("script %q, want run-policy-pack", run.Script)
	}
	if strings.Join(run.Args, " ") != "127.0.0.1:23456 ." {
		t.Errorf("args %q, want [<engine> .]", run.Args)
	}
	if run.Cwd != dir {
		t.Errorf("cwd %q, want the pack directory %q", run.Cwd, dir)
	}
}

func TestRunPluginMissingSDK(t *testing.T) {
	requireNode(t)
	dir := t.TempDir()
	srv, err := runPlugin(t, &nodeLanguageHost{}, &pulumirpc.RunPluginRequest{
		Kind: "resource",
		Pwd:  dir,
		Info: &pulumirpc.ProgramInfo{ProgramDirectory: dir, RootDirectory: dir, EntryPoint: "."},
	})
	if err != nil {
		t.Fatal(err)
	}
	if srv.exitCode == nil || *srv.exitCode != 1 {
		t.Errorf("exit code %v, want 1", srv.exitCode)
	}
	if !strings.Contains(srv.stderr.String(), "Cannot find module '@pulumi/pulumi/cmd/run-plugin'") {
		t.Errorf("stderr %q", srv.stderr.String())
	}
}

func TestRunPluginOtherKinds(t *testing.T) {
	for _, kind := range []string{"converter", "tool", "language"} {
		_, err := runPlugin(t, &nodeLanguageHost{}, &pulumirpc.RunPluginRequest{
			Kind: kind,
			Info: &pulumirpc.ProgramInfo{ProgramDirectory: t.TempDir()},
		})
		if status.Code(err) != codes.Unimplemented {
			t.Errorf("%s: %v, want Unimplemented", kind, err)
		}
	}
}

func TestInstalledFromLockfile(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, at time.Time) {
		path := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte("{}"), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(path, at, at); err != nil {
			t.Fatal(err)
		}
	}
	then := time.Now().Add(-time.Hour)
	write("package.json", then)
	write("package-lock.json", then)
	if installedFromLockfile(dir) {
		t.Error("no node_modules: an install is needed")
	}
	write("node_modules/.package-lock.json", then.Add(time.Minute))
	if !installedFromLockfile(dir) {
		t.Error("node_modules installed after the lockfile: nothing to install")
	}
	write("package-lock.json", then.Add(2*time.Minute))
	if installedFromLockfile(dir) {
		t.Error("the lockfile changed after the install: an install is needed")
	}
}
