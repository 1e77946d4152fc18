//go:build integration

package conmon_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"peapod/internal/runtime"
	"peapod/internal/runtime/conmon"
	"peapod/internal/runtime/runtimetest"
	"peapod/internal/testenv"

	"golang.org/x/sys/unix"
)

// The OCI runtime under test: PEAPOD_TEST_RUNTIME=runc switches from crun.
func ociRuntime() string {
	if r := os.Getenv("PEAPOD_TEST_RUNTIME"); r != "" {
		return r
	}
	return "crun"
}

var (
	rootfsOnce sync.Once
	rootfsDir  string
	rootfsErr  error
)

// busyboxRootfs is a minimal image: /bin/busybox, one symlink per applet,
// passwd and group. Shared read-only by every test (it is a lower layer).
func busyboxRootfs(t *testing.T) string {
	t.Helper()
	rootfsOnce.Do(func() { rootfsDir, rootfsErr = buildRootfs() })
	if rootfsErr != nil {
		t.Fatalf("busybox rootfs: %v", rootfsErr)
	}
	return rootfsDir
}

func buildRootfs() (string, error) {
	dir, err := os.MkdirTemp("", "pp-rootfs")
	if err != nil {
		return "", err
	}
	for _, d := range []string{"bin", "etc", "proc", "sys", "dev", "tmp", "root"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			return "", err
		}
	}
	bb, err := os.ReadFile("/bin/busybox")
	if err != nil {
		return "", err
	}
	if err := os.WriteFile(filepath.Join(dir, "bin/busybox"), bb, 0o755); err != nil {
		return "", err
	}
	out, err := exec.Command("/bin/busybox", "--list").Output()
	if err != nil {
		return "", err
	}
	for _, applet := range strings.Fields(string(out)) {
		if applet == "busybox" {
			continue
		}
		if err := os.Symlink("busybox", filepath.Join(dir, "bin", applet)); err != nil {
			return "", err
		}
	}
	files := map[string]string{
		"etc/passwd": "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n",
		"etc/group":  "root:x:0:\nnogroup:x:65534:\n",
	}
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			return "", err
		}
	}
	return dir, nil
}

func TestMain(m *testing.M) {
	// As in peapod's main: the orphan reaper takes orphans of every PID
	// namespace (TestIntegration_OrphanOfOurNamespaceIsReaped).
	code := conmon.RunOffMainThread(m.Run)
	if rootfsDir != "" {
		os.RemoveAll(rootfsDir)
	}
	os.Exit(code)
}

func randomSuffix() string {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

type env struct {
	rt     *conmon.Runtime
	cfg    conmon.Config
	rootfs string
	logDir string
}

// newEnv makes a runtime on fresh short-pathed dirs and a unique cgroup
// root; when the test ends, after its own cleanups, nothing may be left.
func newEnv(t *testing.T) *env {
	t.Helper()
	testenv.RequireRoot(t)
	testenv.RequireBinaries(t, ociRuntime(), "conmon")
	base, err := os.MkdirTemp("", "pp")
	if err != nil {
		t.Fatal(err)
	}
	cfg := conmon.Config{
		Root:       filepath.Join(base, "c"),
		RunRoot:    filepath.Join(base, "r"),
		Runtime:    ociRuntime(),
		CgroupRoot: "peapod-test-" + randomSuffix(),
	}
	t.Cleanup(func() {
		if err := os.RemoveAll(base); err != nil {
			t.Errorf("remove test dirs: %v", err)
		}
	})
	testenv.NoLeaks(t, testenv.Leaks{Root: cfg.Root, RunRoot: cfg.RunRoot, CgroupRoot: cfg.CgroupRoot})
	rt, err := conmon.New(cfg)
	if err != nil {
		t.Fatalf("conmon.New: %v", err)
	}
	return &env{rt: rt, cfg: cfg, rootfs: busyboxRootfs(t), logDir: filepath.Join(base, "logs")}
}

func (e *env) spec(sandboxID, name string, args ...string) runtime.ContainerSpec {
	return runtime.ContainerSpec{
		SandboxID:    sandboxID,
		Name:         name,
		RootfsLayers: []string{e.rootfs},
		Args:         args,
		Env:          []string{"PATH=/bin", "HOME=/root"},
		LogPath:      filepath.Join(e.logDir, sandboxID, name+".log"),
	}
}

func (e *env) harness() runtimetest.Harness {
	return runtimetest.Harness{
		Runtime: e.rt,
		Container: func(sandboxID, name string, b runtimetest.Behavior) runtime.ContainerSpec {
			switch {
			case b.FailToStart:
				return e.spec(sandboxID, name, "/no/such/binary")
			case b.IgnoreSIGTERM:
				return e.spec(sandboxID, name, "sh", "-c", "trap '' TERM; echo trapped; sleep 1000 & wait")
			case b.Forever:
				return e.spec(sandboxID, name, "sh", "-c", trapTERM)
			default:
				return e.spec(sandboxID, name, "sh", "-c", "exit "+strconv.Itoa(b.ExitCode))
			}
		},
		ExitCmd: func(code int) []string { return []string{"sh", "-c", "exit " + strconv.Itoa(code)} },
		Ready:   e.trapped,
	}
}

// trapTERM runs until SIGTERM, then exits 143. PID 1 of a namespace gets
// no default signal actions, so SIGTERM must be trapped to end it; it says
// "trapped" once it is.
const trapTERM = "trap 'exit 143' TERM; echo trapped; sleep 1000 & wait"

// trapped waits until a started container's log says "trapped": its
// signal handling is in place.
func (e *env) trapped(ctx context.Context, id string) error {
	st, err := e.rt.ContainerStatus(ctx, id)
	if err != nil {
		return err
	}
	for {
		if b, _ := os.ReadFile(st.LogPath); strings.Contains(string(b), "trapped") {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("no \"trapped\" in %s: %w", st.LogPath, ctx.Err())
		case <-time.After(20 * time.Millisecond):
		}
	}
}

func TestIntegration_Suite(t *testing.T) {
	runtimetest.Suite(t, func(t *testing.T) runtimetest.Harness { return newEnv(t).harness() })
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func (e *env) sandbox(t *testing.T, hostname string) *runtime.Sandbox {
	t.Helper()
	sb, err := e.rt.CreateSandbox(ctxT(t), runtime.SandboxSpec{ID: "sb-" + randomSuffix(), Name: "pod", Namespace: "default", Hostname: hostname})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := e.rt.RemoveSandbox(context.Background(), sb.ID); err != nil {
			t.Errorf("RemoveSandbox: %v", err)
		}
	})
	return sb
}

// run creates and starts a container and registers its removal.
func (e *env) run(t *testing.T, spec runtime.ContainerSpec) string {
	t.Helper()
	ctx := ctxT(t)
	id, err := e.rt.CreateContainer(ctx, spec)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := e.rt.RemoveContainer(context.Background(), id); err != nil {
			t.Errorf("RemoveContainer %s: %v", spec.Name, err)
		}
	})
	if err := e.rt.StartContainer(ctx, id); err != nil {
		t.Fatal(err)
	}
	return id
}

// runToEnd runs a container to its exit and returns its log's lines
// (without the CRI prefix).
func (e *env) runToEnd(t *testing.T, spec runtime.ContainerSpec) (int32, []string) {
	t.Helper()
	id := e.run(t, spec)
	st, err := e.rt.WaitContainer(ctxT(t), id)
	if err != nil {
		t.Fatal(err)
	}
	return st.ExitCode, logLines(t, spec.LogPath)
}

var criLine = regexp.MustCompile(`^(\S+) (stdout|stderr) (F|P) (.*)$`)

func logLines(t *testing.T, path string) []string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, l := range strings.Split(strings.TrimSuffix(string(b), "\n"), "\n") {
		if l == "" {
			continue
		}
		m := criLine.FindStringSubmatch(l)
		if m == nil {
			t.Errorf("log line %q is not in CRI format", l)
			continue
		}
		if _, err := time.Parse(time.RFC3339Nano, m[1]); err != nil {
			t.Errorf("log line %q: time: %v", l, err)
		}
		out = append(out, m[4])
	}
	return out
}

func TestIntegration_LocalhostBetweenContainers(t *testing.T) {
	e := newEnv(t)
	sb := e.sandbox(t, "web")
	e.run(t, e.spec(sb.ID, "server", "sh", "-c", "mkdir -p /www && echo pong > /www/index.html && exec httpd -f -p 127.0.0.1:8080 -h /www"))
	code, lines := e.runToEnd(t, e.spec(sb.ID, "client", "sh", "-c",
		"i=0; until wget -q -O - http://127.0.0.1:8080/; do i=$((i+1)); [ $i -gt 100 ] && exit 1; sleep 0.1; done"))
	if code != 0 || !slices.Contains(lines, "pong") {
		t.Errorf("client exit %d, log %q; want 0 and pong", code, lines)
	}
}

func TestIntegration_HostnameIsSandboxHostname(t *testing.T) {
	e := newEnv(t)
	sb := e.sandbox(t, "my-pod-host")
	code, lines := e.runToEnd(t, e.spec(sb.ID, "c", "hostname"))
	if code != 0 || !slices.Equal(lines, []string{"my-pod-host"}) {
		t.Errorf("exit %d, log %q", code, lines)
	}
}

func TestIntegration_Isolation(t *testing.T) {
	e := newEnv(t)
	sb := e.sandbox(t, "iso")
	code, lines := e.runToEnd(t, e.spec(sb.ID, "c", "sh", "-c",
		`echo pid=$$; ls /proc | grep -c '^[0-9]'; test -e /etc/debian_version && echo host-fs || echo own-fs`))
	// sh, ls and grep: the container's own processes only.
	if code != 0 || len(lines) != 3 || lines[0] != "pid=1" || lines[2] != "own-fs" {
		t.Fatalf("exit %d, log %q", code, lines)
	}
	if n, err := strconv.Atoi(lines[1]); err != nil || n > 5 {
		t.Errorf("container sees %s processes", lines[1])
	}
}

func TestIntegration_LogFormat(t *testing.T) {
	e := newEnv(t)
	sb := e.sandbox(t, "logs")
	code, lines := e.runToEnd(t, e.spec(sb.ID, "c", "sh", "-c", "echo line one; echo line two >&2"))
	if code != 0 || !slices.Contains(lines, "line one") || !slices.Contains(lines, "line two") {
		t.Errorf("exit %d, log %q", code, lines)
	}
	b, _ := os.ReadFile(e.spec(sb.ID, "c").LogPath)
	if !regexp.MustCompile(`(?m)^\S+ stdout F line one$`).Match(b) || !regexp.MustCompile(`(?m)^\S+ stderr F line two$`).Match(b) {
		t.Errorf("log:\n%s", b)
	}
}

func TestIntegration_ExecOutput(t *testing.T) {
	e := newEnv(t)
	sb := e.sandbox(t, "exec")
	id := e.run(t, e.spec(sb.ID, "c", "sh", "-c", trapTERM))
	var out, errOut bytes.Buffer
	code, err := e.rt.Exec(ctxT(t), runtime.ExecRequest{ID: id, Cmd: []string{"sh", "-c", "echo $FOO; hostname"}, Env: []string{"FOO=bar"}, Stdout: &out, Stderr: &errOut})
	if err != nil || code != 0 || out.String() != "bar\nexec\n" {
		t.Errorf("exec: %d, %v, stdout %q, stderr %q", code, err, out.String(), errOut.String())
	}
	began := time.Now()
	_, err = e.rt.Exec(ctxT(t), runtime.ExecRequest{ID: id, Cmd: []string{"sleep", "100"}, Timeout: 300 * time.Millisecond})
	if err == nil || time.Since(began) > 5*time.Second {
		t.Errorf("exec with timeout: %v after %v", err, time.Since(began))
	}
	// The timed-out process is gone from the container.
	out.Reset()
	if _, err := e.rt.Exec(ctxT(t), runtime.ExecRequest{ID: id, Cmd: []string{"sh", "-c", "ps -o args | grep -c '^sleep 100$' || true"}, Stdout: &out}); err != nil || strings.TrimSpace(out.String()) != "0" {
		t.Errorf("after timeout, sleep 100 processes: %q, %v", out.String(), err)
	}
}

// A second Runtime on the same dirs (peapod restarted) sees the container
// and waits for it by polling, since its conmon is not the new one's child.
func TestIntegration_Readopt(t *testing.T) {
	e := newEnv(t)
	sb := e.sandbox(t, "readopt")
	id := e.run(t, e.spec(sb.ID, "c", "sh", "-c", trapTERM))
	if err := e.trapped(ctxT(t), id); err != nil {
		t.Fatal(err)
	}
	again, err := conmon.New(e.cfg)
	if err != nil {
		t.Fatal(err)
	}
	sbs, err := again.ListSandboxes(ctxT(t))
	if err != nil || len(sbs) != 1 || sbs[0].ID != sb.ID {
		t.Fatalf("ListSandboxes after restart: %+v, %v", sbs, err)
	}
	list, err := again.ListContainers(ctxT(t), sb.ID)
	if err != nil || len(list) != 1 || list[0].State != runtime.StateRunning {
		t.Fatalf("ListContainers after restart: %+v, %v", list, err)
	}
	if err := again.StopContainer(ctxT(t), runtime.StopRequest{ID: id, Timeout: 10 * time.Second}); err != nil {
		t.Fatal(err)
	}
	st, err := again.WaitContainer(ctxT(t), id)
	if err != nil || st.ExitCode != 143 {
		t.Errorf("wait after restart: %+v, %v", st, err)
	}
}

// TestIntegration_Timings measures the runtime's steps (set
// PEAPOD_TIMINGS=N for N runs); it asserts nothing.
func TestIntegration_Timings(t *testing.T) {
	n, _ := strconv.Atoi(os.Getenv("PEAPOD_TIMINGS"))
	if n == 0 {
		t.Skip("set PEAPOD_TIMINGS=20 to measure")
	}
	e := newEnv(t)
	ctx := ctxT(t)
	var sandbox, create, start, stop, remove, rmSandbox []time.Duration
	for i := range n {
		t0 := time.Now()
		sb, err := e.rt.CreateSandbox(ctx, runtime.SandboxSpec{ID: fmt.Sprintf("t%d", i), Name: "pod", Hostname: "pod"})
		if err != nil {
			t.Fatal(err)
		}
		t1 := time.Now()
		id, err := e.rt.CreateContainer(ctx, e.spec(sb.ID, "c", "sh", "-c", trapTERM))
		if err != nil {
			t.Fatal(err)
		}
		t2 := time.Now()
		if err := e.rt.StartContainer(ctx, id); err != nil {
			t.Fatal(err)
		}
		t3 := time.Now()
		if err := e.trapped(ctx, id); err != nil {
			t.Fatal(err)
		}
		t3b := time.Now()
		if err := e.rt.StopContainer(ctx, runtime.StopRequest{ID: id, Timeout: 10 * time.Second}); err != nil {
			t.Fatal(err)
		}
		t4 := time.Now()
		if err := e.rt.RemoveContainer(ctx, id); err != nil {
			t.Fatal(err)
		}
		t5 := time.Now()
		if err := e.rt.RemoveSandbox(ctx, sb.ID); err != nil {
			t.Fatal(err)
		}
		t6 := time.Now()
		sandbox = append(sandbox, t1.Sub(t0))
		create = append(create, t2.Sub(t1))
		start = append(start, t3.Sub(t2))
		stop = append(stop, t4.Sub(t3b))
		remove = append(remove, t5.Sub(t4))
		rmSandbox = append(rmSandbox, t6.Sub(t5))
	}
	med := func(d []time.Duration) time.Duration {
		sort.Slice(d, func(i, j int) bool { return d[i] < d[j] })
		return d[len(d)/2]
	}
	t.Logf("%s, %d runs, medians: create sandbox %v, create container %v, start %v, stop (SIGTERM) %v, remove container %v, remove sandbox %v",
		ociRuntime(), n, med(sandbox), med(create), med(start), med(stop), med(remove), med(rmSandbox))
}

func TestIntegration_ExecTty(t *testing.T) {
	e := newEnv(t)
	sb := e.sandbox(t, "tty")
	id := e.run(t, e.spec(sb.ID, "c", "sh", "-c", trapTERM))
	var out bytes.Buffer
	code, err := e.rt.Exec(ctxT(t), runtime.ExecRequest{ID: id, Cmd: []string{"tty"}, Tty: true, Stdin: strings.NewReader(""), Stdout: &out, Stderr: &out, Timeout: 10 * time.Second})
	if err != nil || code != 0 || !strings.HasPrefix(strings.TrimSpace(out.String()), "/dev/pts/") {
		t.Errorf("exec tty: %d, %v, %q", code, err, out.String())
	}
}

// The client's first terminal size reaches the exec's pty, and so do the
// next ones. crun sizes the pty racing the process, so the process polls.
func TestIntegration_ExecTtySize(t *testing.T) {
	e := newEnv(t)
	sb := e.sandbox(t, "tty")
	id := e.run(t, e.spec(sb.ID, "c", "sh", "-c", trapTERM))
	resize := make(chan runtime.TerminalSize, 2)
	resize <- runtime.TerminalSize{Width: 77, Height: 22}
	in, typed := io.Pipe()
	defer typed.Close()
	out := &lockedBuffer{}
	done := make(chan error, 1)
	go func() {
		_, err := e.rt.Exec(ctxT(t), runtime.ExecRequest{ID: id, Tty: true, Stdin: in, Stdout: out, Resize: resize, Timeout: 30 * time.Second,
			Cmd: []string{"sh", "-c", `for want in "22 77" "33 88"; do i=0; until [ "$(stty size)" = "$want" ] || [ $i -gt 100 ]; do sleep 0.1; i=$((i+1)); done; stty size; read x; done`}})
		done <- err
	}()
	waitOut := func(want string) {
		t.Helper()
		for deadline := time.Now().Add(20 * time.Second); !strings.Contains(out.String(), want); time.Sleep(50 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("no %q: %q", want, out.String())
			}
		}
	}
	waitOut("22 77\r\n")
	resize <- runtime.TerminalSize{Width: 88, Height: 33}
	if _, err := typed.Write([]byte("next\r")); err != nil {
		t.Fatal(err)
	}
	waitOut("33 88\r\n")
	if _, err := typed.Write([]byte("end\r")); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Errorf("exec: %v (%q)", err, out.String())
	}
	close(resize)
}

// While a started container's conmon runs, its status, an exec into it and
// its stop signal ask the runtime nothing but the exec: a `crun state` per
// status made every observation and every exec probe cost a process, and
// `crun kill` every stop (issue 14).
func TestIntegration_StatusWithoutRuntimeState(t *testing.T) {
	real, err := conmon.LookRuntime(ociRuntime())
	if err != nil {
		t.Skip(err)
	}
	e := newEnv(t)
	// A runtime of the same name that logs its verbs.
	dir := t.TempDir()
	calls := filepath.Join(dir, "calls")
	wrapper := filepath.Join(dir, filepath.Base(real))
	script := fmt.Sprintf("#!/bin/sh\nfor a; do case $a in -*) ;; *) echo $a >>%s; break;; esac; done\nexec %s \"$@\"\n", calls, real)
	if err := os.WriteFile(wrapper, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	e.cfg.Runtime = wrapper
	if e.rt, err = conmon.New(e.cfg); err != nil {
		t.Fatal(err)
	}
	sb := e.sandbox(t, "status")
	id := e.run(t, e.spec(sb.ID, "c", "sh", "-c", trapTERM))
	before, _ := os.ReadFile(calls)
	for range 5 {
		st, err := e.rt.ContainerStatus(ctxT(t), id)
		if err != nil || st.State != runtime.StateRunning || st.Pid <= 0 {
			t.Fatalf("status: %+v, %v", st, err)
		}
	}
	if code, err := e.rt.Exec(ctxT(t), runtime.ExecRequest{ID: id, Cmd: []string{"true"}}); err != nil || code != 0 {
		t.Fatalf("exec: %d, %v", code, err)
	}
	// The stop signal goes to the init process through a pidfd.
	if err := e.trapped(ctxT(t), id); err != nil {
		t.Fatal(err)
	}
	if err := e.rt.StopContainer(ctxT(t), runtime.StopRequest{ID: id, Timeout: 10 * time.Second}); err != nil {
		t.Fatal(err)
	}
	if st, err := e.rt.ContainerStatus(ctxT(t), id); err != nil || st.State != runtime.StateExited || st.ExitCode != 143 {
		t.Fatalf("after stop: %+v, %v", st, err)
	}
	after, _ := os.ReadFile(calls)
	if got := strings.Fields(strings.TrimPrefix(string(after), string(before))); !slices.Equal(got, []string{"exec"}) {
		t.Errorf("runtime verbs for 5 statuses, an exec and a stop: %q, want [exec]", got)
	}
}

// Every runtime call, conmon's create included, runs the binary from a
// read-only mount, where crun and runc skip copying themselves into a
// memfd (sealed.go); the host's binary stays writable.
func TestIntegration_RuntimeRunsReadOnly(t *testing.T) {
	real, err := conmon.LookRuntime(ociRuntime())
	if err != nil {
		t.Skip(err)
	}
	e := newEnv(t)
	dir := t.TempDir()
	calls := filepath.Join(dir, "calls")
	wrapper := filepath.Join(dir, filepath.Base(real))
	script := fmt.Sprintf(`#!/bin/sh
for a; do case $a in -*) ;; *) verb=$a; break;; esac; done
mode=rw; [ -w "$0" ] || mode=ro
echo "$verb $mode ${_LIBCONTAINER_CLONED_BINARY:-unset}" >>%s
exec %s "$@"
`, calls, real)
	if err := os.WriteFile(wrapper, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	e.cfg.Runtime = wrapper
	if e.rt, err = conmon.New(e.cfg); err != nil {
		t.Fatal(err)
	}
	sb := e.sandbox(t, "sealed")
	id := e.run(t, e.spec(sb.ID, "c", "sh", "-c", trapTERM))
	if code, err := e.rt.Exec(ctxT(t), runtime.ExecRequest{ID: id, Cmd: []string{"true"}}); err != nil || code != 0 {
		t.Fatalf("exec: %d, %v", code, err)
	}
	b, err := os.ReadFile(calls)
	if err != nil {
		t.Fatal(err)
	}
	verbs := map[string]bool{}
	for _, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		f := strings.Fields(l)
		if len(f) != 3 || f[1] != "ro" || f[2] != "1" {
			t.Errorf("runtime call %q: want the binary read-only and _LIBCONTAINER_CLONED_BINARY=1", l)
		}
		verbs[f[0]] = true
	}
	for _, v := range []string{"create", "start", "exec"} {
		if !verbs[v] {
			t.Errorf("no %s among the runtime calls:\n%s", v, b)
		}
	}
	if unix.Access(wrapper, unix.W_OK) != nil {
		t.Error("the runtime's own file became read-only")
	}
}

// A container whose conmon was killed (no exit file will ever come), seen
// by a restarted peapod: unknown (the kubelet kills and restarts those),
// WaitContainer returns instead of waiting forever, and StopContainer ends
// what is left of it.
func TestIntegration_ConmonKilled(t *testing.T) {
	e := newEnv(t)
	sb := e.sandbox(t, "nomon")
	id := e.run(t, e.spec(sb.ID, "c", "sh", "-c", "sleep 1000"))
	running, err := e.rt.ContainerStatus(ctxT(t), id)
	if err != nil || running.Pid <= 0 {
		t.Fatalf("status: %+v, %v", running, err)
	}
	b, err := os.ReadFile(filepath.Join(e.cfg.Root, id, "conmon.pid"))
	if err != nil {
		t.Fatal(err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		t.Fatal(err)
	}
	again, err := conmon.New(e.cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := unix.Kill(pid, unix.SIGKILL); err != nil {
		t.Fatal(err)
	}
	// The first runtime (whose child it was) reaps it.
	deadline := time.Now().Add(10 * time.Second)
	for unix.Kill(pid, 0) == nil {
		if time.Now().After(deadline) {
			t.Fatal("conmon not reaped")
		}
		time.Sleep(10 * time.Millisecond)
	}
	st, err := again.ContainerStatus(ctxT(t), id)
	if err != nil || st.State != runtime.StateUnknown {
		t.Fatalf("status without conmon: %+v, %v", st, err)
	}
	wctx, cancel := context.WithTimeout(ctxT(t), 10*time.Second)
	defer cancel()
	if st, err := again.WaitContainer(wctx, id); err != nil || st.State == runtime.StateExited {
		t.Fatalf("wait without conmon: %+v, %v", st, err)
	}
	if err := again.StopContainer(ctxT(t), runtime.StopRequest{ID: id, Timeout: 2 * time.Second}); err != nil {
		t.Fatal(err)
	}
	// Gone, or a zombie left to the reaper.
	if stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", running.Pid)); err == nil && !strings.Contains(string(stat), ") Z ") {
		t.Errorf("the container's process outlived its stop: %s", stat)
	}
	if err := again.RemoveContainer(ctxT(t), id); err != nil {
		t.Fatal(err)
	}
}

// A process left in a sandbox's cgroup by a container whose state was lost
// does not keep RemoveSandbox from removing the cgroup: it is killed.
func TestIntegration_RemoveSandboxKillsStrays(t *testing.T) {
	e := newEnv(t)
	sb := e.sandbox(t, "strays")
	stray := exec.Command("sleep", "1000")
	if err := stray.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = stray.Process.Kill(); _ = stray.Wait() })
	// The pids hierarchy of cgroup v1, or the unified one alone.
	hier := "/sys/fs/cgroup/pids"
	if _, err := os.Stat(hier); err != nil {
		hier = "/sys/fs/cgroup"
	}
	dir := filepath.Join(hier, e.cfg.CgroupRoot, "pod-"+sb.ID, "lost")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "cgroup.procs"), []byte(strconv.Itoa(stray.Process.Pid)), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := e.rt.RemoveSandbox(ctxT(t), sb.ID); err != nil {
		t.Fatal(err)
	}
	if err := stray.Wait(); err == nil {
		t.Error("the stray was not killed")
	}
}

// A create cut short by a kill before its directory was renamed into place
// leaves a ".creating-" directory, which the next start removes.
func TestIntegration_UnfinishedCreateRemovedAtStart(t *testing.T) {
	e := newEnv(t)
	left := filepath.Join(e.cfg.Root, ".creating-0123456789abcdef")
	if err := os.MkdirAll(filepath.Join(left, "rootfs"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(left, "meta.json"), []byte(`{"ID": "0123456789abcdef"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	if list, err := e.rt.ListContainers(ctxT(t), ""); err != nil || len(list) != 0 {
		t.Fatalf("ListContainers: %+v, %v", list, err)
	}
	if _, err := conmon.New(e.cfg); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(left); !os.IsNotExist(err) {
		t.Errorf("%s after a start: %v", left, err)
	}
}

// A sandbox create cut short by a kill (namespaces pinned, no metadata)
// is removed at the next start: listed by nothing, it would otherwise
// stay, and a new create under its ID would pin over its pins.
func TestIntegration_UnfinishedSandboxRemovedAtStart(t *testing.T) {
	e := newEnv(t)
	dir := filepath.Join(e.cfg.RunRoot, "sandboxes", "sb-cut-"+randomSuffix())
	pin := filepath.Join(dir, "ns", "ipc")
	if err := os.MkdirAll(filepath.Dir(pin), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(pin, nil, 0o400); err != nil {
		t.Fatal(err)
	}
	if err := unix.Mount("/proc/self/ns/ipc", pin, "", unix.MS_BIND, ""); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = unix.Unmount(pin, unix.MNT_DETACH) })
	if _, err := conmon.New(e.cfg); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("%s after a start: %v", dir, err)
	}
}
