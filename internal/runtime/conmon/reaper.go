package conmon

import (
	"bytes"
	"errors"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

// reap waits for one conmon we started. A targeted wait4, never wait4(-1),
// which would steal os/exec's children. When it returns, conmon has written
// the exit file: the container is over.
func (r *Runtime) reap(id string, pid int) {
	done := make(chan struct{})
	r.mu.Lock()
	r.exits[id] = done
	r.mu.Unlock()
	go func() {
		var ws unix.WaitStatus
		for {
			_, err := unix.Wait4(pid, &ws, 0, nil)
			if !errors.Is(err, unix.EINTR) {
				break // reaped, or ECHILD: not ours after all; waiters poll
			}
		}
		r.mu.Lock()
		if r.exits[id] == done {
			delete(r.exits, id)
		}
		r.mu.Unlock()
		close(done)
	}()
}

// reapInterval is the least time between two scans for foreign zombies.
const reapInterval = 40 * time.Millisecond

// lastReap is when the last scan began (UnixNano).
var lastReap atomic.Int64

// reapForeignZombies reaps our zombie children that live in another PID
// namespace. As a subreaper we inherit every orphan of our subtree: a
// process "crun exec" started in a container becomes ours if crun dies
// first. Unreaped, it blocks the exit of the container's init (the kernel
// waits for every task of a dying PID namespace to be reaped). No os/exec
// child of ours runs in another PID namespace, so reaping these is safe.
func reapForeignZombies() {
	// Every waiting container calls this on each tick; one scan of /proc
	// per interval serves them all (a scan per waiter made 100 pods cost
	// a whole core).
	now := time.Now().UnixNano()
	last := lastReap.Load()
	if now-last < int64(reapInterval) || !lastReap.CompareAndSwap(last, now) {
		return
	}
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return
	}
	self := strconv.Itoa(os.Getpid())
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/status")
		if err != nil {
			continue
		}
		var state, ppid string
		var nspids int
		for _, line := range bytes.Split(b, []byte("\n")) {
			k, v, _ := strings.Cut(string(line), ":")
			switch k {
			case "State":
				state = strings.TrimSpace(v)
			case "PPid":
				ppid = strings.TrimSpace(v)
			case "NSpid":
				nspids = len(strings.Fields(v))
			}
		}
		if ppid == self && strings.HasPrefix(state, "Z") && nspids > 1 {
			var ws unix.WaitStatus
			_, _ = unix.Wait4(pid, &ws, unix.WNOHANG, nil)
		}
	}
}
