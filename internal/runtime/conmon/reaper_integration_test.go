//go:build integration

package conmon_test

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"peapod/internal/runtime"
)

// ourChildren lists the test process's children with their comm.
func ourChildren(t *testing.T) map[int]string {
	t.Helper()
	files, _ := filepath.Glob("/proc/self/task/*/children")
	out := map[int]string{}
	for _, f := range files {
		b, _ := os.ReadFile(f)
		for _, s := range strings.Fields(string(b)) {
			pid, _ := strconv.Atoi(s)
			comm, _ := os.ReadFile("/proc/" + s + "/comm")
			out[pid] = strings.TrimSpace(string(comm))
		}
	}
	return out
}

// A process "crun exec" started becomes ours when crun dies first. When
// its container stops, it is our zombie, and the container's init cannot
// finish exiting until we reap it: the stop returns only if the reaper
// notices by itself (on SIGCHLD; nothing polls any more).
func TestIntegration_OrphanedExecIsReaped(t *testing.T) {
	e := newEnv(t)
	sb := e.sandbox(t, "orphan")
	id := e.run(t, e.spec(sb.ID, "c", "sh", "-c", trapTERM))
	if err := e.trapped(ctxT(t), id); err != nil {
		t.Fatal(err)
	}
	before := ourChildren(t)
	execDone := make(chan error, 1)
	go func() {
		_, err := e.rt.Exec(context.Background(), runtime.ExecRequest{ID: id, Cmd: []string{"sleep", "1000"}})
		execDone <- err
	}()
	// Find the OCI runtime's exec among our new children and kill it:
	// its sleep is orphaned to us.
	var ociPid int
	deadline := time.Now().Add(10 * time.Second)
	for ociPid == 0 && time.Now().Before(deadline) {
		for pid, comm := range ourChildren(t) {
			if _, old := before[pid]; !old && (comm == "crun" || comm == "runc") && hasChild(pid, "sleep") {
				ociPid = pid
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	if ociPid == 0 {
		t.Fatal("no exec with a sleep under it among our children")
	}
	if err := syscall.Kill(ociPid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-execDone // an error: its runtime was killed
	orphaned := false
	for time.Now().Before(deadline) && !orphaned {
		for _, comm := range ourChildren(t) {
			orphaned = orphaned || comm == "sleep"
		}
		time.Sleep(10 * time.Millisecond)
	}
	if !orphaned {
		t.Fatal("the exec's sleep was not orphaned to us")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := e.rt.StopContainer(ctx, runtime.StopRequest{ID: id, Signal: syscall.SIGKILL}); err != nil {
		t.Fatalf("stop with an orphaned exec inside: %v", err)
	}
	for pid, comm := range ourChildren(t) {
		if comm == "sleep" {
			t.Errorf("the orphan %d is still our child", pid)
		}
	}
}

// hasChild says whether one of pid's children is called comm.
func hasChild(pid int, comm string) bool {
	files, _ := filepath.Glob("/proc/" + strconv.Itoa(pid) + "/task/*/children")
	for _, f := range files {
		b, _ := os.ReadFile(f)
		for _, s := range strings.Fields(string(b)) {
			if c, _ := os.ReadFile("/proc/" + s + "/comm"); string(bytes.TrimSpace(c)) == comm {
				return true
			}
		}
	}
	return false
}

// Waiting for a conmon must not hold an OS thread: with a blocking wait4
// per container, 100 pods meant 300 threads.
func TestIntegration_WaitingHoldsNoThread(t *testing.T) {
	e := newEnv(t)
	sb := e.sandbox(t, "threads")
	e.run(t, e.spec(sb.ID, "warm", "sleep", "1000"))
	t0 := threads(t)
	const n = 20
	for i := range n {
		e.run(t, e.spec(sb.ID, "c"+strconv.Itoa(i), "sleep", "1000"))
	}
	if grew := threads(t) - t0; grew >= n/2 {
		t.Errorf("%d more threads for %d more waited-for conmons", grew, n)
	}
}

func threads(t *testing.T) int {
	t.Helper()
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "Threads:"); ok {
			n, _ := strconv.Atoi(strings.TrimSpace(v))
			return n
		}
	}
	t.Fatal("no Threads: line")
	return 0
}

// An orphan of our own PID namespace (here a shell's background sleep; on
// a loaded node, the helper of a "crun exec" killed at its timeout, or the
// IPAM plugin of a killed CNI plugin) is handed to us as subreaper; with
// the main thread idle the reaper takes it once it exits. Before, each
// stayed our zombie for the life of the process.
func TestIntegration_OrphanOfOurNamespaceIsReaped(t *testing.T) {
	newEnv(t) // the runtime makes us subreaper and starts the reaper
	out, err := exec.Command("sh", "-c", "sleep 0.3 & echo $!").Output()
	if err != nil {
		t.Fatal(err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(out)))
	if err != nil {
		t.Fatalf("sleep's PID: %q", out)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		state := procState(pid)
		if state == "gone" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the orphaned sleep %d is still there 10 s later: %s", pid, state)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// An exec cancelled while the OCI runtime is still joining the container
// must leave nothing behind: were the runtime killed before it wrote the
// process's PID file, its helper child in our own PID namespace would be
// orphaned to us (the orphan reaper takes it), and the process itself would
// be one that nothing but a stop of the container ends.
func TestIntegration_CancelledExecLeavesNoZombie(t *testing.T) {
	e := newEnv(t)
	sb := e.sandbox(t, "cancelled")
	id := e.run(t, e.spec(sb.ID, "c", "sleep", "1000"))
	before := ourChildren(t)
	for i := range 40 {
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() {
			defer close(done)
			_, _ = e.rt.Exec(ctx, runtime.ExecRequest{ID: id, Cmd: []string{"sleep", "1000"}})
		}()
		// Cancel at every moment of the runtime's first milliseconds.
		time.Sleep(time.Duration(i%20) * time.Millisecond / 2)
		cancel()
		<-done
	}
	var left []string
	deadline := time.Now().Add(5 * time.Second)
	for {
		left = left[:0]
		for pid, comm := range ourChildren(t) {
			if _, old := before[pid]; !old && comm != "conmon" {
				left = append(left, strconv.Itoa(pid)+" "+comm+" "+procState(pid))
			}
		}
		if len(left) == 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if len(left) > 0 {
		t.Errorf("cancelled execs left children behind: %v", left)
	}
}

// procState is the State: line of a process's status.
func procState(pid int) string {
	b, _ := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "State:"); ok {
			return strings.TrimSpace(v)
		}
	}
	return "gone"
}
