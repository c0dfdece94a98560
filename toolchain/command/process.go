package main

// Running one command, and stopping it gracefully when it is cancelled.
//
// Each command runs in a process group of its own (Setpgid), so that a cancellation reaches
// everything it started (a shell's curl, openssl, node...), not only the interpreter. On
// cancellation (the engine's Cancel RPC, the request's context, or a SIGINT / SIGTERM to the
// provider) the group gets SIGTERM, then SIGKILL if anything of it is still alive after the grace
// period. run returns only once the group is gone, so a cancelled command never outlives its
// resource operation.

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/pulumi/pulumi/sdk/v3/go/common/diag"
	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/pulumi/pulumi/sdk/v3/go/common/resource/archive"
	"github.com/pulumi/pulumi/sdk/v3/go/common/resource/asset"
)

// graceEnv names the environment variable (of the provider, i.e. of `pulumi`) that sets the
// grace period between SIGTERM and SIGKILL: a Go duration ("10s", "1500ms") or seconds ("10").
const graceEnv = "MTLS_COMMAND_STOP_GRACE"

const defaultGrace = 10 * time.Second

// signalGraceCap bounds the grace period when the provider itself is told to stop: the engine
// SIGKILLs a plugin 5 s after its SIGINT, and a command in its own process group would survive that.
const signalGraceCap = 4 * time.Second

// graceFromEnv reads graceEnv; unset or invalid: defaultGrace.
func graceFromEnv() time.Duration {
	value := strings.TrimSpace(os.Getenv(graceEnv))
	if value == "" {
		return defaultGrace
	}
	if seconds, err := strconv.ParseFloat(value, 64); err == nil && seconds >= 0 {
		return time.Duration(seconds * float64(time.Second))
	}
	if d, err := time.ParseDuration(value); err == nil && d >= 0 {
		return d
	}
	fmt.Fprintf(os.Stderr, "pulumi-resource-command: ignoring %s=%q (want e.g. 10s or 10); using %s\n",
		graceEnv, value, defaultGrace)
	return defaultGrace
}

type runResult struct {
	stdout, stderr string
	assets         map[string]*asset.Asset
	archive        *archive.Archive
}

// lockedWriter serialises writes from the stdout and stderr copiers.
type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (l lockedWriter) Write(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(b)
}

// groupStopper stops one command's process group: SIGTERM first, SIGKILL after the grace period.
type groupStopper struct {
	graceNow func() time.Duration // read when the group is told to stop

	mu       sync.Mutex
	grace    time.Duration
	pgid     int
	termSent time.Time
	timer    *time.Timer
}

// terminate is the command's Cancel function: it runs when the command's context is done.
func (s *groupStopper) terminate(pgid int) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.termSent.IsZero() {
		return nil
	}
	err := syscall.Kill(-pgid, syscall.SIGTERM)
	if errors.Is(err, syscall.ESRCH) {
		return os.ErrProcessDone // the whole group had already exited: nothing was stopped
	}
	s.pgid, s.termSent, s.grace = pgid, time.Now(), s.graceNow()
	s.timer = time.AfterFunc(s.grace, func() { _ = syscall.Kill(-pgid, syscall.SIGKILL) })
	return err
}

// finish runs after Wait: when the group was told to stop, it waits until nothing of the group is
// left (a process that ignored SIGTERM is killed when the grace period ends). Reports whether the
// command was stopped, and whether it had to be killed.
func (s *groupStopper) finish() (stopped, killed bool, grace time.Duration) {
	s.mu.Lock()
	pgid, termSent, timer, grace := s.pgid, s.termSent, s.timer, s.grace
	s.mu.Unlock()
	if termSent.IsZero() {
		return false, false, 0
	}
	deadline := termSent.Add(grace)
	for groupAlive(pgid) {
		if time.Now().After(deadline) {
			_ = syscall.Kill(-pgid, syscall.SIGKILL)
			killed = true
			// SIGKILL cannot be caught: what is left are zombies waiting for their new parent.
			for end := time.Now().Add(time.Second); groupAlive(pgid) && time.Now().Before(end); {
				time.Sleep(10 * time.Millisecond)
			}
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if timer != nil && !timer.Stop() {
		killed = true // the timer fired while Wait was still waiting
	}
	return true, killed, grace
}

// groupAlive reports whether any process of the group is still running. Signal 0 checks without
// sending, but also finds zombies (an orphan waits for its new parent to reap it, and some init
// processes never do), so a positive answer is checked against /proc: state Z or X is gone.
func groupAlive(pgid int) bool {
	if syscall.Kill(-pgid, 0) != nil {
		return false
	}
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return true
	}
	for _, entry := range entries {
		if _, err := strconv.Atoi(entry.Name()); err != nil {
			continue
		}
		stat, err := os.ReadFile("/proc/" + entry.Name() + "/stat")
		if err != nil {
			continue
		}
		// pid (comm) state ppid pgrp ...: comm may hold spaces and parentheses, so split after the last ')'.
		i := bytes.LastIndexByte(stat, ')')
		if i < 0 {
			continue
		}
		fields := strings.Fields(string(stat[i+1:]))
		if len(fields) < 3 || fields[2] != strconv.Itoa(pgid) {
			continue
		}
		if fields[0] != "Z" && fields[0] != "X" {
			return true
		}
	}
	return false
}

// run runs one command to completion, or until it is cancelled (ctx, the Cancel RPC, a signal).
// display is how the command is named in errors ("[secret]" when the command text is a secret).
func (p *commandProvider) run(
	ctx context.Context, urn string, command, display string, a commandArgs, prevStdout, prevStderr string,
) (runResult, error) {
	ctx, cancelRun := context.WithCancel(ctx)
	defer cancelRun()
	stopOnCancel := context.AfterFunc(p.stopCtx, cancelRun)
	defer stopOnCancel()
	if p.stopCtx.Err() != nil {
		return runResult{}, fmt.Errorf("not running %s: the operation was cancelled", display)
	}

	args := a.interpreter
	if len(args) == 0 {
		args = []string{"/bin/sh", "-c"}
	}
	args = append(append([]string{}, args...), command)

	var stdout, stderr, combined bytes.Buffer
	var mu sync.Mutex
	comb := lockedWriter{&mu, &combined}
	lr, lw := io.Pipe()
	logW := lockedWriter{&mu, lw}

	var outW, errW []io.Writer
	outW = append(outW, &stdout, comb)
	errW = append(errW, &stderr, comb)
	if a.logging == "stdout" || a.logging == "stdoutAndStderr" {
		outW = append(outW, logW)
	}
	if a.logging == "stderr" || a.logging == "stdoutAndStderr" {
		errW = append(errW, logW)
	}

	stopper := &groupStopper{graceNow: p.currentGrace}
	cmd := exec.CommandContext(ctx, args[0], args[1:]...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return stopper.terminate(cmd.Process.Pid) }
	// Bounds Wait when a process of the group escaped it yet holds stdout / stderr open.
	cmd.WaitDelay = p.currentGrace() + 2*time.Second
	cmd.Stdout = io.MultiWriter(outW...)
	cmd.Stderr = io.MultiWriter(errW...)
	if a.dir != "" {
		cmd.Dir = a.dir
	} else if wd, err := os.Getwd(); err == nil {
		cmd.Dir = wd
	}
	cmd.Env = os.Environ()
	keys := make([]string, 0, len(a.environment))
	for k := range a.environment {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		cmd.Env = append(cmd.Env, k+"="+a.environment[k])
	}
	if a.addPrevious {
		if prevStdout != "" {
			cmd.Env = append(cmd.Env, "PULUMI_COMMAND_STDOUT="+prevStdout)
		}
		if prevStderr != "" {
			cmd.Env = append(cmd.Env, "PULUMI_COMMAND_STDERR="+prevStderr)
		}
	}
	if a.stdin != "" {
		cmd.Stdin = strings.NewReader(a.stdin)
	}

	logDone := make(chan struct{})
	go func() {
		defer close(logDone)
		sc := bufio.NewScanner(lr)
		sc.Buffer(make([]byte, 64*1024), 1024*1024)
		for sc.Scan() {
			if p.host != nil && urn != "" {
				_ = p.host.LogStatus(ctx, diag.Info, resource.URN(urn), sc.Text())
			}
		}
		_, _ = io.Copy(io.Discard, lr)
	}()

	err := cmd.Start()
	if err == nil {
		if p.onStart != nil {
			p.onStart(cmd.Process.Pid)
		}
		err = cmd.Wait()
	}
	_ = lw.Close()
	<-logDone
	stopped, killed, grace := stopper.finish()
	if stopped {
		how := "SIGTERM to its process group"
		if killed {
			how += fmt.Sprintf(", SIGKILL after %s", grace)
		}
		return runResult{}, fmt.Errorf("%s was cancelled (%s; %v):\n%s", display, how, err, combined.String())
	}
	// The command itself succeeded; something it left in the background kept its output open.
	if errors.Is(err, exec.ErrWaitDelay) {
		err = nil
	}
	if err != nil {
		return runResult{}, fmt.Errorf("%w: running %s:\n%s", err, display, combined.String())
	}

	res := runResult{
		stdout: strings.TrimSuffix(stdout.String(), "\n"),
		stderr: strings.TrimSuffix(stderr.String(), "\n"),
	}
	if a.hasAssetPaths {
		assets, err := globAssets(cmd.Dir, a.assetPaths)
		if err != nil {
			return runResult{}, err
		}
		res.assets = assets
	}
	if a.hasArchivePaths {
		assets, err := globAssets(cmd.Dir, a.archivePaths)
		if err != nil {
			return runResult{}, err
		}
		members := map[string]any{}
		for k, v := range assets {
			members[k] = v
		}
		arch, err := archive.FromAssets(members)
		if err != nil {
			return runResult{}, err
		}
		res.archive = arch
	}
	return res, nil
}
