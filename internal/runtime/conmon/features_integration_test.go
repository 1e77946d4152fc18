//go:build integration

package conmon_test

import (
	"context"
	"os"
	"path/filepath"
	goruntime "runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"peapod/internal/runtime"
	"peapod/internal/runtime/conmon"
	"peapod/internal/testenv"
)

// sandboxWith creates a sandbox from spec (its ID is filled in) and
// registers its removal.
func (e *env) sandboxWith(t *testing.T, spec runtime.SandboxSpec) *runtime.Sandbox {
	t.Helper()
	spec.ID, spec.Name, spec.Namespace = "sb-"+randomSuffix(), "pod", "default"
	sb, err := e.rt.CreateSandbox(ctxT(t), spec)
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

func nsIno(t *testing.T, p string) uint64 {
	t.Helper()
	fi, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Sys().(*syscall.Stat_t).Ino
}

func infraPid(t *testing.T, e *env, sb *runtime.Sandbox) int {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(e.cfg.RunRoot, "sandboxes", sb.ID, "infra.pid"))
	if err != nil {
		t.Fatal(err)
	}
	pid, err := strconv.Atoi(string(b))
	if err != nil {
		t.Fatal(err)
	}
	return pid
}

// With a shared PID namespace the infra is PID 1, a sidecar sees the main
// container's processes, reads its filesystem through /proc/<pid>/root and
// can signal it.
func TestIntegration_SharePID(t *testing.T) {
	e := newEnv(t)
	testenv.RequireBinaries(t, "catatonit")
	sb := e.sandboxWith(t, runtime.SandboxSpec{Hostname: "shared", SharePID: true})
	if sb.PIDNS == "" {
		t.Fatal("sandbox has no PIDNS")
	}
	// Not PID 1 of its namespace, main's sleep dies of SIGTERM.
	mainSpec := e.spec(sb.ID, "main", "sh", "-c", "echo $$ > /tmp/mark; exec sleep 1000")
	mainSpec.Security.SharePID = true
	mainID := e.run(t, mainSpec)
	side := e.spec(sb.ID, "side", "sh", "-c", `
i=0; until pidof sleep >/dev/null; do i=$((i+1)); [ $i -gt 100 ] && exit 1; sleep 0.05; done
echo "pid1=$(tr '\0' ' ' < /proc/1/cmdline)"
for p in /proc/[0-9]*; do m=$(cat $p/root/tmp/mark 2>/dev/null) && break; done
echo "mark=$m"; [ "$m" = "$(pidof sleep)" ] && kill -TERM $m`)
	side.Security.SharePID = true
	code, lines := e.runToEnd(t, side)
	if code != 0 || len(lines) != 2 || !strings.HasSuffix(lines[0], "catatonit -P ") || !strings.HasPrefix(lines[1], "mark=") {
		t.Errorf("sidecar exit %d, log %q; want 0, pid1=.../catatonit -P and mark=<pid of main>", code, lines)
	}
	st, err := e.rt.WaitContainer(ctxT(t), mainID)
	if err != nil || st.ExitCode != 143 {
		t.Errorf("main after the sidecar's SIGTERM: %+v, %v; want exit 143", st, err)
	}
	// A container whose init leaves a process behind in the shared
	// namespace: removal must still end it (the leak check looks).
	left := e.spec(sb.ID, "leaves", "sh", "-c", "sleep 1000 & exit 0")
	left.Security.SharePID = true
	if code, _ := e.runToEnd(t, left); code != 0 {
		t.Errorf("leaves: exit %d", code)
	}
	// The infra is in the pod's cgroup and the pod's network namespace.
	pid := infraPid(t, e, sb)
	cg, _ := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cgroup")
	if !strings.Contains(string(cg), ":memory:"+sb.CgroupParent+"\n") {
		t.Errorf("infra cgroups:\n%s\nwant memory in %s", cg, sb.CgroupParent)
	}
	if nsIno(t, "/proc/"+strconv.Itoa(pid)+"/ns/net") != nsIno(t, sb.NetNS) {
		t.Errorf("infra is not in the sandbox's network namespace")
	}
}

// A sandbox with a shared PID namespace survives a peapod restart: the new
// Runtime runs containers in it and kills the infra it did not start.
func TestIntegration_SharePIDReadopt(t *testing.T) {
	e := newEnv(t)
	testenv.RequireBinaries(t, "catatonit")
	sb := e.sandboxWith(t, runtime.SandboxSpec{SharePID: true})
	again, err := conmon.New(e.cfg)
	if err != nil {
		t.Fatal(err)
	}
	spec := e.spec(sb.ID, "c", "sh", "-c", "tr '\\0' ' ' < /proc/1/cmdline")
	spec.Security.SharePID = true
	id, err := again.CreateContainer(ctxT(t), spec)
	if err != nil {
		t.Fatal(err)
	}
	if err := again.StartContainer(ctxT(t), id); err != nil {
		t.Fatal(err)
	}
	if st, err := again.WaitContainer(ctxT(t), id); err != nil || st.ExitCode != 0 {
		t.Errorf("wait: %+v, %v", st, err)
	}
	if lines := logLines(t, spec.LogPath); len(lines) != 1 || !strings.HasSuffix(lines[0], "catatonit -P ") {
		t.Errorf("PID 1 seen from the container: %q", lines)
	}
	if err := again.RemoveContainer(ctxT(t), id); err != nil {
		t.Fatal(err)
	}
	pid := infraPid(t, e, sb)
	if err := again.RemoveSandbox(ctxT(t), sb.ID); err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat"); err == nil && !strings.Contains(string(b), ") Z ") {
		t.Errorf("infra %d still runs after RemoveSandbox: %s", pid, b)
	}
}

// hostNetwork, hostIPC and hostPID leave the container in the node's
// namespaces, with the node's hostname.
func TestIntegration_HostNamespaces(t *testing.T) {
	e := newEnv(t)
	sb := e.sandboxWith(t, runtime.SandboxSpec{Hostname: "ignored", HostNetwork: true, HostIPC: true, HostPID: true})
	code, lines := e.runToEnd(t, e.spec(sb.ID, "c", "sh", "-c", "hostname; for n in net ipc uts pid; do readlink /proc/self/ns/$n; done"))
	host, _ := os.Hostname()
	want := []string{host}
	// Not /proc/self: the main thread may be wedged in a sandbox's
	// namespaces (see pinNamespaces); no other thread is.
	goruntime.LockOSThread()
	defer goruntime.UnlockOSThread()
	for _, n := range []string{"net", "ipc", "uts", "pid"} {
		l, err := os.Readlink("/proc/thread-self/ns/" + n)
		if err != nil {
			t.Fatal(err)
		}
		want = append(want, l)
	}
	if code != 0 || !slices.Equal(lines, want) {
		t.Errorf("exit %d, log %q; want %q", code, lines, want)
	}
	if sb.Hostname != host || sb.NetNS != "" || sb.IPCNS != "" || sb.UTSNS != "" {
		t.Errorf("sandbox %+v", sb)
	}
}

// The limits land in the container's v1 cgroups.
func TestIntegration_CgroupLimits(t *testing.T) {
	e := newEnv(t)
	if _, err := os.Stat("/sys/fs/cgroup/memory/memory.limit_in_bytes"); err != nil {
		t.Skip("needs cgroup v1 memory")
	}
	sb := e.sandbox(t, "limits")
	spec := e.spec(sb.ID, "c", "sleep", "1000")
	spec.Resources = runtime.Resources{MemoryLimitBytes: 32 << 20, CPUShares: 512, CPUQuota: 50000, CPUPeriod: 100000, PidsLimit: 64}
	id := e.run(t, spec)
	cg := sb.CgroupParent + "/" + id
	for file, want := range map[string]string{
		"memory/memory.limit_in_bytes":       strconv.Itoa(32 << 20),
		"memory/memory.memsw.limit_in_bytes": strconv.Itoa(32 << 20),
		"cpu/cpu.shares":                     "512",
		"cpu/cpu.cfs_quota_us":               "50000",
		"cpu/cpu.cfs_period_us":              "100000",
		"pids/pids.max":                      "64",
	} {
		ctl, name, _ := strings.Cut(file, "/")
		p := filepath.Join("/sys/fs/cgroup", ctl, cg, name)
		b, err := os.ReadFile(p)
		if os.IsNotExist(err) && strings.Contains(name, "memsw") {
			continue // no swap accounting on this host
		}
		if err != nil || strings.TrimSpace(string(b)) != want {
			t.Errorf("%s = %q, %v; want %s", p, b, err, want)
		}
	}
}

// A container over its memory limit is OOM-killed: exit 137, OOMKilled.
func TestIntegration_OOMKilled(t *testing.T) {
	e := newEnv(t)
	sb := e.sandbox(t, "oom")
	spec := e.spec(sb.ID, "hog", "sh", "-c", "tail /dev/zero")
	spec.Resources.MemoryLimitBytes = 16 << 20
	id := e.run(t, spec)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	st, err := e.rt.WaitContainer(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if st.ExitCode != 137 || !st.OOMKilled {
		t.Errorf("exit %d, OOMKilled %v; want 137 and true", st.ExitCode, st.OOMKilled)
	}
	// conmon also writes "oom" into its working directory.
	if _, err := os.Stat("oom"); err == nil {
		os.Remove("oom")
		t.Error("conmon wrote an oom file into peapod's working directory")
	}
}

// TestIntegration_InfraCost measures what shareProcessNamespace adds to a
// sandbox (set PEAPOD_TIMINGS=N for N runs); it asserts nothing.
func TestIntegration_InfraCost(t *testing.T) {
	n, _ := strconv.Atoi(os.Getenv("PEAPOD_TIMINGS"))
	if n == 0 {
		t.Skip("set PEAPOD_TIMINGS=20 to measure")
	}
	e := newEnv(t)
	testenv.RequireBinaries(t, "catatonit")
	median := func(d []time.Duration) time.Duration {
		slices.Sort(d)
		return d[len(d)/2]
	}
	for _, share := range []bool{false, true} {
		var create, remove []time.Duration
		var rss string
		for range n {
			id := "cost-" + randomSuffix()
			t0 := time.Now()
			sb, err := e.rt.CreateSandbox(ctxT(t), runtime.SandboxSpec{ID: id, Name: "cost", SharePID: share})
			if err != nil {
				t.Fatal(err)
			}
			create = append(create, time.Since(t0))
			if share && rss == "" {
				b, _ := os.ReadFile("/proc/" + strconv.Itoa(infraPid(t, e, sb)) + "/smaps_rollup")
				for _, l := range strings.Split(string(b), "\n") {
					if strings.HasPrefix(l, "Rss:") || strings.HasPrefix(l, "Pss:") {
						rss += strings.Join(strings.Fields(l), " ") + " "
					}
				}
			}
			t0 = time.Now()
			if err := e.rt.RemoveSandbox(ctxT(t), id); err != nil {
				t.Fatal(err)
			}
			remove = append(remove, time.Since(t0))
		}
		t.Logf("sharePID=%v: create %v, remove %v (medians of %d) %s", share, median(create), median(remove), n, rss)
	}
}
