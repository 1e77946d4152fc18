// Package testenv holds test-only helpers: skip conditions for tests that
// need root or host binaries, a leak check for what the real runtime and
// the pod network leave behind (mounts, network namespaces, cgroup dirs,
// processes, veths, address reservations, iptables and nftables rules),
// and network resources reserved for one test process at a time.
package testenv

import (
	"bytes"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// RequireRoot skips the test unless it runs as root.
func RequireRoot(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
}

// RequireBinaries skips the test unless every name is found in PATH.
func RequireBinaries(t testing.TB, names ...string) {
	t.Helper()
	for _, n := range names {
		if _, err := exec.LookPath(n); err != nil {
			t.Skipf("needs %s in PATH", n)
		}
	}
}

// ReapAdoptedZombies reaps the zombie children of this process named one
// of comms. A test binary that made itself a child subreaper (the conmon
// runtime does) inherits the monitors of a peapod subprocess it killed,
// and whatever it was running then (CNI plugins, the OCI runtime);
// nothing else would reap them once they exit.
func ReapAdoptedZombies(comms ...string) { reapAdopted(comms) }

// reapAdopted reaps this process's zombie children named one of comms and
// returns the PIDs of those still running.
func reapAdopted(comms []string) (running []int) {
	self := strconv.Itoa(os.Getpid())
	procs, _ := os.ReadDir("/proc")
	for _, p := range procs {
		pid, err := strconv.Atoi(p.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile("/proc/" + p.Name() + "/stat")
		if err != nil {
			continue
		}
		open, end := bytes.IndexByte(stat, '('), bytes.LastIndexByte(stat, ')')
		if open < 0 || end < open {
			continue
		}
		f := strings.Fields(string(stat[end+1:]))
		if !slices.Contains(comms, string(stat[open+1:end])) || len(f) < 2 || f[1] != self {
			continue
		}
		if f[0] != "Z" {
			running = append(running, pid)
			continue
		}
		var ws syscall.WaitStatus
		_, _ = syscall.Wait4(pid, &ws, syscall.WNOHANG, nil)
	}
	return running
}

// ReapAdoptedChildren waits until no child of this process named one of
// comms is left, reaping them as they exit: the helpers of a program this
// test ran (a browser's zygote and renderers) that outlived it and became
// ours. Any still running after timeout are killed, by PID: they
// descend from what the test started.
func ReapAdoptedChildren(timeout time.Duration, comms ...string) {
	deadline := time.Now().Add(timeout)
	for {
		running := reapAdopted(comms)
		if len(running) == 0 {
			return
		}
		if time.Now().After(deadline) {
			for _, pid := range running {
				_ = syscall.Kill(pid, syscall.SIGKILL)
			}
			deadline = time.Now().Add(time.Hour) // killed: wait for them
		}
		time.Sleep(20 * time.Millisecond)
	}
}
