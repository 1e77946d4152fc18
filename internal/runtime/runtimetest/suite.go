package runtimetest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"peapod/internal/runtime"
)

// Behavior is what a suite container must do once started.
type Behavior struct {
	// ExitCode is the code to exit with, at once, unless Forever.
	ExitCode int
	// Forever: run until stopped; SIGTERM makes it exit with 143.
	Forever bool
	// IgnoreSIGTERM (with Forever): only SIGKILL stops it.
	IgnoreSIGTERM bool
	// FailToStart: CreateContainer or StartContainer must fail.
	FailToStart bool
}

// Harness is how the Suite drives one Runtime implementation.
type Harness struct {
	Runtime runtime.Runtime
	// Container returns the spec of a container in sandboxID that behaves
	// as b (labels for the Fake, a busybox command for a real runtime).
	Container func(sandboxID, name string, b Behavior) runtime.ContainerSpec
	// ExitCmd is an exec command that exits with code.
	ExitCmd func(code int) []string
	// Ready, if set, waits until a started Forever container handles its
	// signals: a real process installs its SIGTERM trap some time after it
	// starts, and PID 1 of a namespace drops a signal it does not handle.
	Ready func(ctx context.Context, id string) error
}

// ready waits for a started Forever container to handle its signals.
func ready(t *testing.T, h Harness, id string) {
	t.Helper()
	if h.Ready == nil {
		return
	}
	if err := h.Ready(testContext(t), id); err != nil {
		t.Fatalf("container %s not ready: %v", id, err)
	}
}

// Suite runs the runtime contract. newRuntime is called once per subtest
// and must clean up after itself with t.Cleanup.
func Suite(t *testing.T, newRuntime func(t *testing.T) Harness) {
	tests := []struct {
		name string
		fn   func(t *testing.T, h Harness)
	}{
		{"SandboxIdempotent", testSandboxIdempotent},
		{"ContainerLifecycle", testContainerLifecycle},
		{"ExitCodes", testExitCodes},
		{"StopEscalatesToSIGKILL", testStopEscalates},
		{"StopExitedIsNoop", testStopExited},
		{"RemoveRunning", testRemoveRunning},
		{"StartFailure", testStartFailure},
		{"ListContainersBySandbox", testListContainers},
		{"NotFound", testNotFound},
		{"ExecExitCodes", testExec},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, newRuntime(t)) })
	}
}

// timeout bounds every wait of the suite; a stuck runtime fails, not hangs.
const timeout = 20 * time.Second

func testContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	t.Cleanup(cancel)
	return ctx
}

func sandboxID(t *testing.T) string {
	return fmt.Sprintf("sb-%s-%d", strings.ToLower(strings.NewReplacer("/", "-", "_", "-").Replace(t.Name())), time.Now().UnixNano()%1e6)
}

// sandbox creates a sandbox removed when the test ends.
func sandbox(t *testing.T, h Harness) *runtime.Sandbox {
	t.Helper()
	ctx := testContext(t)
	spec := runtime.SandboxSpec{ID: sandboxID(t), Name: "pod", Namespace: "default", UID: "uid-1", Hostname: "pod-host", Labels: map[string]string{"app": "suite"}}
	sb, err := h.Runtime.CreateSandbox(ctx, spec)
	if err != nil {
		t.Fatalf("CreateSandbox: %v", err)
	}
	t.Cleanup(func() {
		if err := h.Runtime.RemoveSandbox(context.Background(), sb.ID); err != nil {
			t.Errorf("RemoveSandbox: %v", err)
		}
	})
	return sb
}

// container creates (and with start, starts) a container removed when the
// test ends (before its sandbox: cleanups run last-in first-out).
func container(t *testing.T, h Harness, sb *runtime.Sandbox, name string, b Behavior, start bool) string {
	t.Helper()
	ctx := testContext(t)
	spec := h.Container(sb.ID, name, b)
	id, err := h.Runtime.CreateContainer(ctx, spec)
	if err != nil {
		t.Fatalf("CreateContainer %s: %v", name, err)
	}
	t.Cleanup(func() {
		if err := h.Runtime.RemoveContainer(context.Background(), id); err != nil {
			t.Errorf("RemoveContainer %s: %v", name, err)
		}
	})
	if start {
		if err := h.Runtime.StartContainer(ctx, id); err != nil {
			t.Fatalf("StartContainer %s: %v", name, err)
		}
		if b.Forever {
			ready(t, h, id)
		}
	}
	return id
}

func status(t *testing.T, h Harness, id string) *runtime.ContainerStatus {
	t.Helper()
	st, err := h.Runtime.ContainerStatus(testContext(t), id)
	if err != nil {
		t.Fatalf("ContainerStatus: %v", err)
	}
	return st
}

func wait(t *testing.T, h Harness, id string) *runtime.ContainerStatus {
	t.Helper()
	st, err := h.Runtime.WaitContainer(testContext(t), id)
	if err != nil {
		t.Fatalf("WaitContainer: %v", err)
	}
	return st
}

func testSandboxIdempotent(t *testing.T, h Harness) {
	ctx := testContext(t)
	spec := runtime.SandboxSpec{ID: sandboxID(t), Name: "web", Namespace: "ns1", UID: "u1", Hostname: "web-0", Labels: map[string]string{"k": "v"}}
	sb, err := h.Runtime.CreateSandbox(ctx, spec)
	if err != nil {
		t.Fatalf("CreateSandbox: %v", err)
	}
	t.Cleanup(func() { _ = h.Runtime.RemoveSandbox(context.Background(), spec.ID) })
	if sb.ID != spec.ID || sb.Name != "web" || sb.Namespace != "ns1" || sb.UID != "u1" || sb.Hostname != "web-0" || sb.Labels["k"] != "v" {
		t.Errorf("sandbox %+v does not match spec %+v", sb, spec)
	}
	if sb.NetNS == "" || sb.IPCNS == "" || sb.UTSNS == "" || sb.CgroupParent == "" || sb.CreatedAt.IsZero() {
		t.Errorf("sandbox lacks namespaces, cgroup or time: %+v", sb)
	}
	again, err := h.Runtime.CreateSandbox(ctx, spec)
	if err != nil {
		t.Fatalf("CreateSandbox again: %v", err)
	}
	if again.NetNS != sb.NetNS || !again.CreatedAt.Equal(sb.CreatedAt) {
		t.Errorf("second CreateSandbox made a new sandbox: %+v, first %+v", again, sb)
	}
	list, err := h.Runtime.ListSandboxes(ctx)
	if err != nil {
		t.Fatalf("ListSandboxes: %v", err)
	}
	if n := countSandbox(list, spec.ID); n != 1 {
		t.Errorf("ListSandboxes has %s %d times, want 1", spec.ID, n)
	}
	for range 2 {
		if err := h.Runtime.StopSandbox(ctx, spec.ID); err != nil {
			t.Fatalf("StopSandbox: %v", err)
		}
	}
	list, err = h.Runtime.ListSandboxes(ctx)
	if err != nil {
		t.Fatalf("ListSandboxes: %v", err)
	}
	if n := countSandbox(list, spec.ID); n != 1 {
		t.Errorf("a stopped sandbox is listed %d times, want 1 (until it is removed)", n)
	}
	for range 2 {
		if err := h.Runtime.RemoveSandbox(ctx, spec.ID); err != nil {
			t.Fatalf("RemoveSandbox: %v", err)
		}
	}
	list, err = h.Runtime.ListSandboxes(ctx)
	if err != nil {
		t.Fatalf("ListSandboxes: %v", err)
	}
	if n := countSandbox(list, spec.ID); n != 0 {
		t.Errorf("removed sandbox still listed")
	}
}

func countSandbox(list []*runtime.Sandbox, id string) int {
	n := 0
	for _, sb := range list {
		if sb.ID == id {
			n++
		}
	}
	return n
}

func testContainerLifecycle(t *testing.T, h Harness) {
	ctx := testContext(t)
	sb := sandbox(t, h)
	spec := h.Container(sb.ID, "app", Behavior{Forever: true})
	spec.Attempt = 2
	spec.Image, spec.ImageID = "busybox:suite", "sha256:suite"
	if spec.Labels == nil {
		spec.Labels = map[string]string{}
	}
	spec.Labels["suite"] = "yes"
	id, err := h.Runtime.CreateContainer(ctx, spec)
	if err != nil {
		t.Fatalf("CreateContainer: %v", err)
	}
	t.Cleanup(func() { _ = h.Runtime.RemoveContainer(context.Background(), id) })

	st := status(t, h, id)
	if st.State != runtime.StateCreated || st.CreatedAt.IsZero() || !st.StartedAt.IsZero() {
		t.Errorf("after create: %+v", st)
	}
	if st.ID != id || st.SandboxID != sb.ID || st.Name != "app" || st.Attempt != 2 || st.Image != "busybox:suite" || st.ImageID != "sha256:suite" || st.Labels["suite"] != "yes" {
		t.Errorf("status does not reflect the spec: %+v", st)
	}
	if err := h.Runtime.StartContainer(ctx, id); err != nil {
		t.Fatalf("StartContainer: %v", err)
	}
	st = status(t, h, id)
	if st.State != runtime.StateRunning || st.StartedAt.IsZero() || st.Pid <= 0 {
		t.Errorf("after start: %+v", st)
	}
	ready(t, h, id)
	list, err := h.Runtime.ListContainers(ctx, sb.ID)
	if err != nil || len(list) != 1 || list[0].ID != id || list[0].State != runtime.StateRunning {
		t.Errorf("ListContainers = %+v, %v; want the running container", list, err)
	}
	if err := h.Runtime.StopContainer(ctx, runtime.StopRequest{ID: id, Timeout: 10 * time.Second}); err != nil {
		t.Fatalf("StopContainer: %v", err)
	}
	st = status(t, h, id)
	if st.State != runtime.StateExited || st.ExitCode != 143 || st.FinishedAt.IsZero() || st.FinishedAt.Before(st.StartedAt.Add(-time.Second)) {
		t.Errorf("after SIGTERM: %+v; want exited with 143", st)
	}
	if w := wait(t, h, id); w.State != runtime.StateExited || w.ExitCode != 143 {
		t.Errorf("WaitContainer after exit: %+v", w)
	}
	for range 2 {
		if err := h.Runtime.RemoveContainer(ctx, id); err != nil {
			t.Fatalf("RemoveContainer: %v", err)
		}
	}
	if _, err := h.Runtime.ContainerStatus(ctx, id); !errors.Is(err, runtime.ErrNotFound) {
		t.Errorf("status of removed container: %v, want ErrNotFound", err)
	}
}

func testExitCodes(t *testing.T, h Harness) {
	sb := sandbox(t, h)
	for _, code := range []int{0, 3, 42} {
		id := container(t, h, sb, fmt.Sprintf("exit-%d", code), Behavior{ExitCode: code}, true)
		st := wait(t, h, id)
		if st.State != runtime.StateExited || st.ExitCode != int32(code) || st.FinishedAt.IsZero() {
			t.Errorf("exit %d: %+v", code, st)
		}
		if again := status(t, h, id); again.ExitCode != int32(code) || again.State != runtime.StateExited {
			t.Errorf("exit %d: status after wait %+v", code, again)
		}
	}
}

func testStopEscalates(t *testing.T, h Harness) {
	sb := sandbox(t, h)
	id := container(t, h, sb, "stubborn", Behavior{Forever: true, IgnoreSIGTERM: true}, true)
	const grace = 500 * time.Millisecond
	began := time.Now()
	if err := h.Runtime.StopContainer(testContext(t), runtime.StopRequest{ID: id, Signal: syscall.SIGTERM, Timeout: grace}); err != nil {
		t.Fatalf("StopContainer: %v", err)
	}
	if took := time.Since(began); took < grace {
		t.Errorf("stop took %v, less than the %v grace period", took, grace)
	}
	if st := status(t, h, id); st.State != runtime.StateExited || st.ExitCode != 137 {
		t.Errorf("after escalation: %+v; want exited with 137", st)
	}
}

func testStopExited(t *testing.T, h Harness) {
	sb := sandbox(t, h)
	id := container(t, h, sb, "done", Behavior{ExitCode: 5}, true)
	wait(t, h, id)
	if err := h.Runtime.StopContainer(testContext(t), runtime.StopRequest{ID: id, Timeout: time.Second}); err != nil {
		t.Fatalf("StopContainer of exited: %v", err)
	}
	if st := status(t, h, id); st.ExitCode != 5 {
		t.Errorf("stop changed the exit code: %+v", st)
	}
}

func testRemoveRunning(t *testing.T, h Harness) {
	ctx := testContext(t)
	sb := sandbox(t, h)
	id := container(t, h, sb, "busy", Behavior{Forever: true, IgnoreSIGTERM: true}, true)
	if err := h.Runtime.RemoveContainer(ctx, id); err != nil {
		t.Fatalf("RemoveContainer of running: %v", err)
	}
	if _, err := h.Runtime.ContainerStatus(ctx, id); !errors.Is(err, runtime.ErrNotFound) {
		t.Errorf("status after remove: %v, want ErrNotFound", err)
	}
	list, err := h.Runtime.ListContainers(ctx, sb.ID)
	if err != nil || len(list) != 0 {
		t.Errorf("ListContainers after remove = %v, %v", list, err)
	}
}

func testStartFailure(t *testing.T, h Harness) {
	ctx := testContext(t)
	sb := sandbox(t, h)
	id, err := h.Runtime.CreateContainer(ctx, h.Container(sb.ID, "broken", Behavior{FailToStart: true}))
	if err != nil {
		return // failing at create is allowed
	}
	t.Cleanup(func() { _ = h.Runtime.RemoveContainer(context.Background(), id) })
	if err := h.Runtime.StartContainer(ctx, id); err == nil {
		t.Fatal("StartContainer succeeded for a container that cannot start")
	}
	if err := h.Runtime.RemoveContainer(ctx, id); err != nil {
		t.Errorf("RemoveContainer after failed start: %v", err)
	}
}

func testListContainers(t *testing.T, h Harness) {
	ctx := testContext(t)
	sb1, sb2 := sandbox(t, h), sandbox(t, h)
	a := container(t, h, sb1, "a", Behavior{ExitCode: 0}, false)
	b := container(t, h, sb2, "b", Behavior{ExitCode: 0}, false)
	c := container(t, h, sb2, "c", Behavior{ExitCode: 0}, false)
	ids := func(sbID string) []string {
		list, err := h.Runtime.ListContainers(ctx, sbID)
		if err != nil {
			t.Fatalf("ListContainers(%q): %v", sbID, err)
		}
		var out []string
		for _, st := range list {
			out = append(out, st.ID)
		}
		slices.Sort(out)
		return out
	}
	sorted := func(s ...string) []string { slices.Sort(s); return s }
	if got := ids(sb1.ID); !slices.Equal(got, []string{a}) {
		t.Errorf("sandbox 1: %v, want %v", got, []string{a})
	}
	if got := ids(sb2.ID); !slices.Equal(got, sorted(b, c)) {
		t.Errorf("sandbox 2: %v, want %v", got, sorted(b, c))
	}
	all := ids("")
	for _, id := range []string{a, b, c} {
		if !slices.Contains(all, id) {
			t.Errorf("ListContainers(\"\") lacks %s", id)
		}
	}
}

func testNotFound(t *testing.T, h Harness) {
	ctx := testContext(t)
	const id = "0000000000000000deadbeef"
	check := func(op string, err error) {
		t.Helper()
		if !errors.Is(err, runtime.ErrNotFound) {
			t.Errorf("%s of unknown ID: %v, want ErrNotFound", op, err)
		}
	}
	_, err := h.Runtime.ContainerStatus(ctx, id)
	check("ContainerStatus", err)
	check("StartContainer", h.Runtime.StartContainer(ctx, id))
	check("StopContainer", h.Runtime.StopContainer(ctx, runtime.StopRequest{ID: id}))
	_, err = h.Runtime.WaitContainer(ctx, id)
	check("WaitContainer", err)
	_, err = h.Runtime.Exec(ctx, runtime.ExecRequest{ID: id, Cmd: h.ExitCmd(0)})
	check("Exec", err)
	_, err = h.Runtime.CreateContainer(ctx, h.Container("no-such-sandbox", "x", Behavior{}))
	check("CreateContainer in unknown sandbox", err)
	if err := h.Runtime.RemoveContainer(ctx, id); err != nil {
		t.Errorf("RemoveContainer of unknown ID: %v, want nil", err)
	}
	if err := h.Runtime.StopSandbox(ctx, "no-such-sandbox"); err != nil {
		t.Errorf("StopSandbox of unknown ID: %v, want nil", err)
	}
	if err := h.Runtime.RemoveSandbox(ctx, "no-such-sandbox"); err != nil {
		t.Errorf("RemoveSandbox of unknown ID: %v, want nil", err)
	}
}

func testExec(t *testing.T, h Harness) {
	ctx := testContext(t)
	sb := sandbox(t, h)
	id := container(t, h, sb, "target", Behavior{Forever: true}, true)
	for _, code := range []int{0, 7} {
		got, err := h.Runtime.Exec(ctx, runtime.ExecRequest{ID: id, Cmd: h.ExitCmd(code), Timeout: 10 * time.Second})
		if err != nil || got != code {
			t.Errorf("Exec exit %d: got %d, %v", code, got, err)
		}
	}
	stopped := container(t, h, sb, "stopped", Behavior{ExitCode: 0}, true)
	wait(t, h, stopped)
	if _, err := h.Runtime.Exec(ctx, runtime.ExecRequest{ID: stopped, Cmd: h.ExitCmd(0)}); err == nil {
		t.Error("Exec in an exited container succeeded")
	}
}
