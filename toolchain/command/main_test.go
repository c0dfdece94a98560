package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/pulumi/pulumi/sdk/v3/go/common/resource/plugin"
	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"
	"google.golang.org/protobuf/types/known/emptypb"
	"google.golang.org/protobuf/types/known/structpb"
)

const testURN = "urn:pulumi:test::proj::command:local:Command::cmd"

func secret(v any) resource.PropertyValue {
	return resource.MakeSecret(resource.NewPropertyValue(v))
}

func props(t *testing.T, m resource.PropertyMap) *structpb.Struct {
	t.Helper()
	// What the engine sends a provider that accepts secrets.
	s, err := plugin.MarshalProperties(m, plugin.MarshalOptions{KeepUnknowns: true, KeepSecrets: true})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func unprops(t *testing.T, s *structpb.Struct) resource.PropertyMap {
	t.Helper()
	m, err := plugin.UnmarshalProperties(s, plugin.MarshalOptions{KeepUnknowns: true, KeepSecrets: true})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func testProvider(grace time.Duration) *commandProvider {
	p := newProvider(nil)
	p.grace = grace
	return p
}

// --- secrets -------------------------------------------------------------------------------

func TestConfigureAndHandshakeAcceptSecrets(t *testing.T) {
	p := testProvider(time.Second)
	c, err := p.Configure(context.Background(), &pulumirpc.ConfigureRequest{})
	if err != nil || !c.GetAcceptSecrets() {
		t.Fatalf("Configure: AcceptSecrets = %v (err %v), want true", c.GetAcceptSecrets(), err)
	}
	h, err := p.Handshake(context.Background(), &pulumirpc.ProviderHandshakeRequest{})
	if err != nil || !h.GetAcceptSecrets() {
		t.Fatalf("Handshake: AcceptSecrets = %v (err %v), want true", h.GetAcceptSecrets(), err)
	}
}

const fakeKey = "-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\n-----END PRIVATE KEY-----"

// secretInputs: a plain command that checks it sees the secrets' values, with a secret stdin, a
// secret next to a plain value in environment, and secrets at two depths inside triggers.
func secretInputs() resource.PropertyMap {
	return resource.PropertyMap{
		"create": resource.NewProperty(`test "$(cat)" = "$WANT_STDIN" && test "${TOKEN#s3}" = cret && printf '%s' "$VISIBLE"`),
		"stdin":  secret(fakeKey),
		"environment": resource.NewProperty(resource.PropertyMap{
			"VISIBLE":    resource.NewProperty("plain value"),
			"TOKEN":      secret("s3cret"),
			"WANT_STDIN": resource.NewProperty(fakeKey),
		}),
		"triggers": resource.NewProperty([]resource.PropertyValue{
			resource.NewProperty("plain trigger"),
			secret("secret trigger"),
			resource.NewProperty(resource.PropertyMap{"nested": secret("deep secret")}),
			resource.NewProperty([]resource.PropertyValue{secret("in a list")}),
		}),
		"logging": resource.NewProperty("none"),
	}
}

// assertSecretsKept checks the state: each echoed input keeps exactly its markers.
func assertSecretsKept(t *testing.T, out resource.PropertyMap) {
	t.Helper()
	if v := out["stdin"]; !v.IsSecret() || v.SecretValue().Element.StringValue() != fakeKey {
		t.Errorf("stdin: want the secret key, got %v", v)
	}
	env := out["environment"]
	if env.IsSecret() || !env.IsObject() {
		t.Fatalf("environment: want a plain map holding a secret, got %v", env)
	}
	if v := env.ObjectValue()["TOKEN"]; !v.IsSecret() || v.SecretValue().Element.StringValue() != "s3cret" {
		t.Errorf("environment.TOKEN: want secret s3cret, got %v", v)
	}
	if v := env.ObjectValue()["VISIBLE"]; !v.IsString() || v.StringValue() != "plain value" {
		t.Errorf("environment.VISIBLE: want plain, got %v", v)
	}
	triggers := out["triggers"]
	if !triggers.IsArray() || len(triggers.ArrayValue()) != 4 {
		t.Fatalf("triggers: want a list of 4, got %v", triggers)
	}
	tr := triggers.ArrayValue()
	if !tr[0].IsString() || tr[0].StringValue() != "plain trigger" {
		t.Errorf("triggers[0]: want plain, got %v", tr[0])
	}
	if !tr[1].IsSecret() || tr[1].SecretValue().Element.StringValue() != "secret trigger" {
		t.Errorf("triggers[1]: want secret, got %v", tr[1])
	}
	if n := tr[2].ObjectValue()["nested"]; !n.IsSecret() {
		t.Errorf("triggers[2].nested: want secret, got %v", n)
	}
	if n := tr[3].ArrayValue()[0]; !n.IsSecret() {
		t.Errorf("triggers[3][0]: want secret, got %v", n)
	}
	if v := out["create"]; !v.IsString() {
		t.Errorf("create: want plain, got %v", v)
	}
	// stdout / stderr are no input: plain, as upstream.
	if v := out["stdout"]; !v.IsString() || v.StringValue() != "plain value" {
		t.Errorf("stdout: want plain 'plain value', got %v", v)
	}
	// Nothing in the state holds a secret's value in the clear.
	plainOnly := resource.PropertyMap{}
	for k, v := range out {
		if !v.ContainsSecrets() {
			plainOnly[k] = v
		}
	}
	dump := strings.Join(flatten(resource.NewProperty(plainOnly)), "\n")
	for _, leaked := range []string{"s3cret", "secret trigger", "deep secret", "in a list", "BEGIN PRIVATE KEY"} {
		if strings.Contains(dump, leaked) {
			t.Errorf("%q appears in a property that is not secret", leaked)
		}
	}
}

// flatten lists every string leaf not under a secret.
func flatten(v resource.PropertyValue) []string {
	switch {
	case v.IsSecret():
		return nil
	case v.IsString():
		return []string{v.StringValue()}
	case v.IsArray():
		var out []string
		for _, e := range v.ArrayValue() {
			out = append(out, flatten(e)...)
		}
		return out
	case v.IsObject():
		var out []string
		for _, e := range v.ObjectValue() {
			// the environment's WANT_STDIN is a plain copy of the key, made by this test on purpose
			if e.IsString() && e.StringValue() == fakeKey {
				continue
			}
			out = append(out, flatten(e)...)
		}
		return out
	}
	return nil
}

func TestCreateKeepsSecretInputsSecret(t *testing.T) {
	p := testProvider(time.Second)
	res, err := p.Create(context.Background(), &pulumirpc.CreateRequest{Urn: testURN, Properties: props(t, secretInputs())})
	if err != nil {
		t.Fatalf("Create: %v", err)
	}
	assertSecretsKept(t, unprops(t, res.GetProperties()))
}

func TestPreviewKeepsSecretInputsSecret(t *testing.T) {
	p := testProvider(time.Second)
	res, err := p.Create(context.Background(), &pulumirpc.CreateRequest{
		Urn: testURN, Properties: props(t, secretInputs()), Preview: true,
	})
	if err != nil {
		t.Fatalf("Create (preview): %v", err)
	}
	out := unprops(t, res.GetProperties())
	if !out["stdin"].IsSecret() || !out["triggers"].ArrayValue()[1].IsSecret() ||
		!out["environment"].ObjectValue()["TOKEN"].IsSecret() {
		t.Errorf("preview lost a secret marker: %v", out)
	}
	if !out["stdout"].IsComputed() {
		t.Errorf("preview stdout: want unknown, got %v", out["stdout"])
	}
}

func TestUpdateKeepsSecretsAndReadsSecretPreviousOutput(t *testing.T) {
	p := testProvider(time.Second)
	olds := secretInputs()
	olds["stdout"] = secret("previous output") // e.g. additionalSecretOutputs
	olds["stderr"] = resource.NewProperty("")
	news := secretInputs()
	news["update"] = resource.NewProperty(`test "$PULUMI_COMMAND_STDOUT" = "previous output" && test "${TOKEN#s3}" = cret && printf '%s' "$VISIBLE"`)
	res, err := p.Update(context.Background(), &pulumirpc.UpdateRequest{
		Urn: testURN, Olds: props(t, olds), News: props(t, news),
	})
	if err != nil {
		t.Fatalf("Update: %v", err)
	}
	assertSecretsKept(t, unprops(t, res.GetProperties()))
}

func TestDeleteRunsWithSecretState(t *testing.T) {
	p := testProvider(time.Second)
	marker := filepath.Join(t.TempDir(), "deleted")
	state := secretInputs()
	state["delete"] = secret(`test "${TOKEN#s3}" = cret && touch "` + marker + `"`)
	if _, err := p.Delete(context.Background(), &pulumirpc.DeleteRequest{Urn: testURN, Properties: props(t, state)}); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	if _, err := os.Stat(marker); err != nil {
		t.Fatalf("the delete command did not run: %v", err)
	}
}

func TestInvokeKeepsSecretsSecret(t *testing.T) {
	p := testProvider(time.Second)
	args := secretInputs()
	args["command"] = args["create"]
	delete(args, "create")
	delete(args, "triggers")
	res, err := p.Invoke(context.Background(), &pulumirpc.InvokeRequest{Tok: tokRun, Args: props(t, args)})
	if err != nil || len(res.GetFailures()) > 0 {
		t.Fatalf("Invoke: %v %v", err, res.GetFailures())
	}
	out := unprops(t, res.GetReturn())
	if !out["stdin"].IsSecret() || !out["environment"].ObjectValue()["TOKEN"].IsSecret() {
		t.Errorf("invoke lost a secret marker: %v", out)
	}
	if out["stdout"].StringValue() != "plain value" {
		t.Errorf("stdout: %v", out["stdout"])
	}
}

func TestSecretCommandTextStaysOutOfErrors(t *testing.T) {
	p := testProvider(time.Second)
	in := resource.PropertyMap{"create": secret("echo failing; exit 3 # password=hunter2")}
	_, err := p.Create(context.Background(), &pulumirpc.CreateRequest{Urn: testURN, Properties: props(t, in)})
	if err == nil {
		t.Fatal("want an error")
	}
	if strings.Contains(err.Error(), "hunter2") || !strings.Contains(err.Error(), "[secret]") ||
		!strings.Contains(err.Error(), "failing") {
		t.Fatalf("error should name a [secret] command and show its output, not its text: %v", err)
	}
}

func TestDiffIgnoresSecretnessAndReplacesOnSecretTriggerChange(t *testing.T) {
	p := testProvider(time.Second)
	olds := secretInputs()
	same := secretInputs()
	same["stdin"] = resource.NewProperty(fakeKey) // the same value, no longer marked
	res, err := p.Diff(context.Background(), &pulumirpc.DiffRequest{Urn: testURN, OldInputs: props(t, olds), News: props(t, same)})
	if err != nil {
		t.Fatal(err)
	}
	if res.GetChanges() != pulumirpc.DiffResponse_DIFF_NONE {
		t.Errorf("secretness alone: want no diff, got %v %v", res.GetChanges(), res.GetDiffs())
	}
	changed := secretInputs()
	changed["triggers"].ArrayValue()[1] = secret("another secret trigger")
	res, err = p.Diff(context.Background(), &pulumirpc.DiffRequest{Urn: testURN, OldInputs: props(t, olds), News: props(t, changed)})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.GetReplaces()) != 1 || res.GetReplaces()[0] != "triggers" {
		t.Errorf("changed secret trigger: want replace on triggers, got %v", res.GetReplaces())
	}
}

// --- cancellation --------------------------------------------------------------------------

type started struct{ pids chan int }

func watchStarts(p *commandProvider) started {
	s := started{pids: make(chan int, 8)}
	p.onStart = func(pid int) { s.pids <- pid }
	return s
}

func (s started) next(t *testing.T) int {
	t.Helper()
	select {
	case pid := <-s.pids:
		return pid
	case <-time.After(10 * time.Second):
		t.Fatal("the command did not start")
	}
	return 0
}

type result struct {
	err  error
	done time.Time
}

func createAsync(p *commandProvider, ctx context.Context, t *testing.T, command string) chan result {
	ch := make(chan result, 1)
	in := props(t, resource.PropertyMap{"create": resource.NewProperty(command), "logging": resource.NewProperty("none")})
	go func() {
		_, err := p.Create(ctx, &pulumirpc.CreateRequest{Urn: testURN, Properties: in})
		ch <- result{err, time.Now()}
	}()
	return ch
}

func waitResult(t *testing.T, ch chan result, within time.Duration) result {
	t.Helper()
	select {
	case r := <-ch:
		return r
	case <-time.After(within):
		t.Fatalf("the command was not stopped within %s", within)
	}
	return result{}
}

// waitForFile waits until the command has set up its traps (it creates the file after trap).
func waitForFile(t *testing.T, path string) {
	t.Helper()
	for end := time.Now().Add(10 * time.Second); time.Now().Before(end); time.Sleep(10 * time.Millisecond) {
		if _, err := os.Stat(path); err == nil {
			return
		}
	}
	t.Fatalf("%s never appeared", path)
}

func TestCancelRPCStopsTheWholeProcessGroupWithSIGTERM(t *testing.T) {
	p := testProvider(5 * time.Second)
	starts := watchStarts(p)
	ready := filepath.Join(t.TempDir(), "ready")
	// A shell with two children (one a grandchild): all of them must go.
	ch := createAsync(p, context.Background(), t,
		`trap 'echo got TERM; exit 143' TERM; sh -c 'sleep 60' & sleep 60 & touch `+ready+`; wait`)
	pgid := starts.next(t)
	waitForFile(t, ready)
	cancelled := time.Now()
	if _, err := p.Cancel(context.Background(), &emptypb.Empty{}); err != nil {
		t.Fatal(err)
	}
	r := waitResult(t, ch, 4*time.Second)
	if r.err == nil || !strings.Contains(r.err.Error(), "cancelled") || !strings.Contains(r.err.Error(), "got TERM") {
		t.Fatalf("want a cancellation error with the command's own output, got %v", r.err)
	}
	if strings.Contains(r.err.Error(), "SIGKILL") {
		t.Errorf("SIGTERM sufficed, yet the error mentions SIGKILL: %v", r.err)
	}
	if took := r.done.Sub(cancelled); took > 3*time.Second {
		t.Errorf("stopping took %s; SIGTERM should end it at once", took)
	}
	if groupAlive(pgid) {
		t.Errorf("process group %d is still alive after Create returned", pgid)
	}
}

func TestCancelKillsWhatIgnoresSIGTERMAfterTheGracePeriod(t *testing.T) {
	grace := 400 * time.Millisecond
	p := testProvider(grace)
	starts := watchStarts(p)
	ready := filepath.Join(t.TempDir(), "ready")
	// An ignored signal stays ignored across exec: the shell and both sleeps ignore SIGTERM.
	ch := createAsync(p, context.Background(), t, `trap '' TERM; sleep 60 & touch `+ready+`; sleep 60`)
	pgid := starts.next(t)
	waitForFile(t, ready)
	cancelled := time.Now()
	if _, err := p.Cancel(context.Background(), &emptypb.Empty{}); err != nil {
		t.Fatal(err)
	}
	r := waitResult(t, ch, 5*time.Second)
	took := r.done.Sub(cancelled)
	if r.err == nil || !strings.Contains(r.err.Error(), "SIGKILL after 400ms") {
		t.Fatalf("want an error naming the SIGKILL, got %v", r.err)
	}
	if took < grace || took > grace+3*time.Second {
		t.Errorf("stopped after %s; want the grace period (%s), then at once", took, grace)
	}
	if groupAlive(pgid) {
		t.Errorf("process group %d is still alive after Create returned", pgid)
	}
}

func TestRequestContextCancellationStopsTheCommand(t *testing.T) {
	p := testProvider(5 * time.Second)
	starts := watchStarts(p)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ch := createAsync(p, ctx, t, `sleep 60`)
	pgid := starts.next(t)
	cancel()
	r := waitResult(t, ch, 4*time.Second)
	if r.err == nil || !strings.Contains(r.err.Error(), "cancelled") {
		t.Fatalf("want a cancellation error, got %v", r.err)
	}
	if groupAlive(pgid) {
		t.Errorf("process group %d is still alive", pgid)
	}
	// Only that request was cancelled: the provider still runs commands.
	if _, err := p.Create(context.Background(), &pulumirpc.CreateRequest{Urn: testURN,
		Properties: props(t, resource.PropertyMap{"create": resource.NewProperty("true")})}); err != nil {
		t.Fatalf("a later command failed: %v", err)
	}
}

func TestNoCommandStartsAfterCancel(t *testing.T) {
	p := testProvider(time.Second)
	if _, err := p.Cancel(context.Background(), &emptypb.Empty{}); err != nil {
		t.Fatal(err)
	}
	marker := filepath.Join(t.TempDir(), "ran")
	_, err := p.Create(context.Background(), &pulumirpc.CreateRequest{Urn: testURN,
		Properties: props(t, resource.PropertyMap{"create": resource.NewProperty("touch " + marker)})})
	if err == nil || !strings.Contains(err.Error(), "cancelled") {
		t.Fatalf("want a cancellation error, got %v", err)
	}
	if _, statErr := os.Stat(marker); statErr == nil {
		t.Fatal("the command ran after Cancel")
	}
}

func TestStopAllCapsTheGracePeriod(t *testing.T) {
	p := testProvider(time.Minute) // the provider's own SIGINT / SIGTERM caps it (signalGraceCap)
	starts := watchStarts(p)
	ready := filepath.Join(t.TempDir(), "ready")
	ch := createAsync(p, context.Background(), t, `trap '' TERM; touch `+ready+`; sleep 60`)
	pgid := starts.next(t)
	waitForFile(t, ready)
	p.stopAll(300 * time.Millisecond)
	r := waitResult(t, ch, 5*time.Second)
	if r.err == nil || !strings.Contains(r.err.Error(), "SIGKILL after 300ms") {
		t.Fatalf("want SIGKILL after the capped grace, got %v", r.err)
	}
	if groupAlive(pgid) {
		t.Errorf("process group %d is still alive", pgid)
	}
}

func TestCommandsFinishingNormallyAreUnaffected(t *testing.T) {
	p := testProvider(200 * time.Millisecond)
	res, err := p.Create(context.Background(), &pulumirpc.CreateRequest{Urn: testURN,
		Properties: props(t, resource.PropertyMap{"create": resource.NewProperty("echo out; echo err >&2")})})
	if err != nil {
		t.Fatal(err)
	}
	out := unprops(t, res.GetProperties())
	if out["stdout"].StringValue() != "out" || out["stderr"].StringValue() != "err" {
		t.Fatalf("stdout/stderr: %v / %v", out["stdout"], out["stderr"])
	}
	_, err = p.Create(context.Background(), &pulumirpc.CreateRequest{Urn: testURN,
		Properties: props(t, resource.PropertyMap{"create": resource.NewProperty("exit 7")})})
	if err == nil || !strings.Contains(err.Error(), "exit status 7") || strings.Contains(err.Error(), "cancelled") {
		t.Fatalf("want a plain failure, got %v", err)
	}
}

func TestGraceFromEnv(t *testing.T) {
	for value, want := range map[string]time.Duration{
		"": defaultGrace, "10": 10 * time.Second, "2.5": 2500 * time.Millisecond,
		"1500ms": 1500 * time.Millisecond, "0": 0, "nonsense": defaultGrace, "-3": defaultGrace,
	} {
		t.Setenv(graceEnv, value)
		if got := graceFromEnv(); got != want {
			t.Errorf("%s=%q: got %s, want %s", graceEnv, value, got, want)
		}
	}
}
