// Package runtimetest holds an in-memory runtime.Runtime for the agent's
// unit tests and the contract Suite every Runtime must pass.
package runtimetest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"sync"
	"syscall"
	"time"

	"peapod/internal/runtime"
)

// Labels that script a Fake container (nomad's mock driver, by label). A
// pod scripts its containers with annotations "<label>.<container>", which
// reach the runtime as CRI passes them (ContainerSpec.Annotations).
const (
	// LabelExitCode is the code the container exits with on its own.
	LabelExitCode = "peapod.test/exit-code"
	// LabelRunFor is a duration after start at which the container exits
	// by itself; without it the container runs until stopped.
	LabelRunFor = "peapod.test/run-for"
	// LabelStartError makes StartContainer fail with the label's value.
	LabelStartError = "peapod.test/start-error"
	// LabelIgnoreSignal "true": only SIGKILL stops the container.
	LabelIgnoreSignal = "peapod.test/ignore-signal"
)

// Fake is an in-memory Runtime. Its containers do nothing but follow their
// labels; Exec runs ExecFunc.
type Fake struct {
	Clock Clock
	// ExecFunc answers Exec for a running container. The default exits
	// with N for the command {"exit", "N"} and 0 for anything else.
	ExecFunc func(ctx context.Context, req runtime.ExecRequest) (int, error)

	mu         sync.Mutex
	sandboxes  map[string]*runtime.Sandbox
	stopped    map[string]bool
	containers map[string]*fakeContainer
}

type fakeContainer struct {
	status runtime.ContainerStatus
	spec   runtime.ContainerSpec
	script map[string]string // the scripting labels, from labels and annotations
	done   chan struct{}     // closed on exit
	stop   func() bool       // cancels the run-for timer
}

// script is what scripts a container: its labels, over which a pod
// annotation "<label>.<container name>" wins.
func script(spec runtime.ContainerSpec) map[string]string {
	out := maps.Clone(spec.Labels)
	if out == nil {
		out = map[string]string{}
	}
	for _, k := range []string{LabelExitCode, LabelRunFor, LabelStartError, LabelIgnoreSignal} {
		if v, ok := spec.Annotations[k+"."+spec.Name]; ok {
			out[k] = v
		}
	}
	return out
}

var _ runtime.Runtime = (*Fake)(nil)

// NewFake returns an empty Fake on the real clock.
func NewFake() *Fake {
	return &Fake{Clock: realClock{}, sandboxes: map[string]*runtime.Sandbox{}, stopped: map[string]bool{}, containers: map[string]*fakeContainer{}}
}

func randomID() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// CreateSandbox records the sandbox; an existing ID returns the existing one.
func (f *Fake) CreateSandbox(_ context.Context, spec runtime.SandboxSpec) (*runtime.Sandbox, error) {
	if spec.ID == "" {
		return nil, fmt.Errorf("create sandbox: empty ID")
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if sb, ok := f.sandboxes[spec.ID]; ok {
		return clone(sb), nil
	}
	if spec.SharePID && spec.HostPID {
		return nil, fmt.Errorf("create sandbox %s: SharePID and HostPID exclude each other", spec.ID)
	}
	host := spec.Hostname
	if host == "" {
		host = spec.Name
	}
	sb := &runtime.Sandbox{
		ID: spec.ID, Name: spec.Name, Namespace: spec.Namespace, UID: spec.UID, Hostname: host,
		Labels: maps.Clone(spec.Labels), CreatedAt: f.Clock.Now(),
		NetNS: "/fake/" + spec.ID + "/net", IPCNS: "/fake/" + spec.ID + "/ipc", UTSNS: "/fake/" + spec.ID + "/uts",
		CgroupParent: "/fake/pod-" + spec.ID,
		HostNetwork:  spec.HostNetwork, HostIPC: spec.HostIPC, HostPID: spec.HostPID,
	}
	if spec.HostNetwork {
		sb.NetNS, sb.UTSNS, sb.Hostname = "", "", "fake-node"
	}
	if spec.HostIPC {
		sb.IPCNS = ""
	}
	if spec.SharePID {
		sb.PIDNS = "/fake/" + spec.ID + "/pid"
	}
	f.sandboxes[spec.ID] = sb
	return clone(sb), nil
}

func clone(sb *runtime.Sandbox) *runtime.Sandbox {
	c := *sb
	c.Labels = maps.Clone(sb.Labels)
	return &c
}

// StopSandbox records the stop; unknown IDs are fine.
func (f *Fake) StopSandbox(_ context.Context, id string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.sandboxes[id]; ok {
		f.stopped[id] = true
	}
	return nil
}

// Stopped says whether sandbox id was stopped and is still there.
func (f *Fake) Stopped(id string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.stopped[id]
}

// RemoveSandbox forgets the sandbox; unknown IDs are fine.
func (f *Fake) RemoveSandbox(_ context.Context, id string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.sandboxes, id)
	delete(f.stopped, id)
	return nil
}

// ListSandboxes returns the sandboxes ordered by ID.
func (f *Fake) ListSandboxes(context.Context) ([]*runtime.Sandbox, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []*runtime.Sandbox
	for _, id := range slices.Sorted(maps.Keys(f.sandboxes)) {
		out = append(out, clone(f.sandboxes[id]))
	}
	return out, nil
}

// CreateContainer records a created container.
func (f *Fake) CreateContainer(_ context.Context, spec runtime.ContainerSpec) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	sb, ok := f.sandboxes[spec.SandboxID]
	if !ok {
		return "", fmt.Errorf("create container %s: sandbox %s: %w", spec.Name, spec.SandboxID, runtime.ErrNotFound)
	}
	if spec.Security.SharePID && sb.PIDNS == "" && !sb.HostPID {
		return "", fmt.Errorf("create container %s: sandbox %s has no shared PID namespace", spec.Name, spec.SandboxID)
	}
	if len(spec.Args) == 0 {
		return "", fmt.Errorf("create container %s: no args", spec.Name)
	}
	id := randomID()
	f.containers[id] = &fakeContainer{
		spec:   spec,
		script: script(spec),
		done:   make(chan struct{}),
		status: runtime.ContainerStatus{
			ID: id, SandboxID: spec.SandboxID, Name: spec.Name, Attempt: spec.Attempt,
			Image: spec.Image, ImageID: spec.ImageID, State: runtime.StateCreated,
			CreatedAt: f.Clock.Now(), LogPath: spec.LogPath, Labels: maps.Clone(spec.Labels),
		},
	}
	return id, nil
}

func (f *Fake) get(id string) (*fakeContainer, error) {
	c, ok := f.containers[id]
	if !ok {
		return nil, fmt.Errorf("container %s: %w", id, runtime.ErrNotFound)
	}
	return c, nil
}

// StartContainer runs the script: fail, exit after run-for, or run.
func (f *Fake) StartContainer(_ context.Context, id string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	c, err := f.get(id)
	if err != nil {
		return err
	}
	if c.status.State != runtime.StateCreated {
		return fmt.Errorf("start container %s: container is %s", id, c.status.State)
	}
	labels := c.script
	if msg, ok := labels[LabelStartError]; ok {
		c.status.Message = msg
		f.exitLocked(c, 128)
		return fmt.Errorf("start container %s: %s", id, msg)
	}
	code := 0
	if s, ok := labels[LabelExitCode]; ok {
		if code, err = strconv.Atoi(s); err != nil {
			return fmt.Errorf("start container %s: label %s: %w", id, LabelExitCode, err)
		}
	}
	var runFor time.Duration = -1
	if s, ok := labels[LabelRunFor]; ok {
		if runFor, err = time.ParseDuration(s); err != nil {
			return fmt.Errorf("start container %s: label %s: %w", id, LabelRunFor, err)
		}
	}
	c.status.State = runtime.StateRunning
	c.status.StartedAt = f.Clock.Now()
	c.status.Pid = 1000 + len(f.containers)
	if runFor >= 0 {
		c.stop = f.Clock.AfterFunc(runFor, func() {
			f.mu.Lock()
			defer f.mu.Unlock()
			f.exitLocked(c, code)
		})
	}
	return nil
}

// exitLocked moves c to exited once.
func (f *Fake) exitLocked(c *fakeContainer, code int) {
	if c.status.State == runtime.StateExited {
		return
	}
	if c.stop != nil {
		c.stop()
	}
	c.status.State = runtime.StateExited
	c.status.ExitCode = int32(code)
	c.status.FinishedAt = f.Clock.Now()
	c.status.Pid = 0
	close(c.done)
}

// signal delivers sig: the container exits with 128+sig unless it ignores
// everything but SIGKILL.
func (f *Fake) signal(c *fakeContainer, sig syscall.Signal) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if sig != syscall.SIGKILL && c.script[LabelIgnoreSignal] == "true" {
		return
	}
	f.exitLocked(c, 128+int(sig))
}

// StopContainer signals, waits up to the timeout on the clock, then kills.
func (f *Fake) StopContainer(ctx context.Context, req runtime.StopRequest) error {
	f.mu.Lock()
	c, err := f.get(req.ID)
	f.mu.Unlock()
	if err != nil {
		return err
	}
	sig := req.Signal
	if sig == 0 {
		sig = syscall.SIGTERM
	}
	f.signal(c, sig)
	timeout := make(chan struct{})
	stop := f.Clock.AfterFunc(req.Timeout, func() { close(timeout) })
	defer stop()
	select {
	case <-c.done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("stop container %s: %w", req.ID, ctx.Err())
	case <-timeout:
	}
	f.signal(c, syscall.SIGKILL)
	return nil
}

// RemoveContainer kills and forgets the container; unknown IDs are fine.
func (f *Fake) RemoveContainer(_ context.Context, id string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if c, ok := f.containers[id]; ok {
		f.exitLocked(c, 128+int(syscall.SIGKILL))
		delete(f.containers, id)
	}
	return nil
}

// ContainerStatus returns a copy of the container's status.
func (f *Fake) ContainerStatus(_ context.Context, id string) (*runtime.ContainerStatus, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	c, err := f.get(id)
	if err != nil {
		return nil, err
	}
	return copyStatus(&c.status), nil
}

func copyStatus(s *runtime.ContainerStatus) *runtime.ContainerStatus {
	c := *s
	c.Labels = maps.Clone(s.Labels)
	return &c
}

// ListContainers returns the sandbox's containers ("" for all), by ID.
func (f *Fake) ListContainers(_ context.Context, sandboxID string) ([]*runtime.ContainerStatus, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []*runtime.ContainerStatus
	for _, id := range slices.Sorted(maps.Keys(f.containers)) {
		c := f.containers[id]
		if sandboxID == "" || c.status.SandboxID == sandboxID {
			out = append(out, copyStatus(&c.status))
		}
	}
	return out, nil
}

// WaitContainer blocks until the container exits.
func (f *Fake) WaitContainer(ctx context.Context, id string) (*runtime.ContainerStatus, error) {
	f.mu.Lock()
	c, err := f.get(id)
	f.mu.Unlock()
	if err != nil {
		return nil, err
	}
	select {
	case <-c.done:
	case <-ctx.Done():
		return nil, fmt.Errorf("wait for container %s: %w", id, ctx.Err())
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	return copyStatus(&c.status), nil
}

// Exec runs ExecFunc in a running container.
func (f *Fake) Exec(ctx context.Context, req runtime.ExecRequest) (int, error) {
	f.mu.Lock()
	c, err := f.get(req.ID)
	var state runtime.State
	if err == nil {
		state = c.status.State
	}
	f.mu.Unlock()
	if err != nil {
		return 0, err
	}
	if state != runtime.StateRunning {
		return 0, fmt.Errorf("exec in container %s: container is %s", req.ID, state)
	}
	if len(req.Cmd) == 0 {
		return 0, fmt.Errorf("exec in container %s: no command", req.ID)
	}
	if f.ExecFunc != nil {
		return f.ExecFunc(ctx, req)
	}
	if len(req.Cmd) == 2 && req.Cmd[0] == "exit" {
		code, err := strconv.Atoi(req.Cmd[1])
		if err != nil {
			return 0, fmt.Errorf("exec in container %s: %w", req.ID, err)
		}
		return code, nil
	}
	return 0, nil
}
