package conmon

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	goruntime "runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

// reap waits for one child we did not start through os/exec: a conmon's
// daemon half, or a sandbox's infra. The wait is on a pidfd parked in the
// netpoller, so a thousand waiting children cost goroutines, not threads,
// and never wait4(-1), which would steal os/exec's children. When it
// returns for a conmon, conmon has written the exit file.
func (r *Runtime) reap(id string, pid int) {
	done := make(chan struct{})
	r.mu.Lock()
	r.exits[id] = done
	r.mu.Unlock()
	tracked.Store(pid, struct{}{})
	go func() {
		waitChild(pid)
		tracked.Delete(pid)
		r.mu.Lock()
		if r.exits[id] == done {
			delete(r.exits, id)
		}
		r.mu.Unlock()
		close(done)
	}()
}

// tracked holds the PIDs a reap goroutine waits for; the orphan reaper
// leaves them alone.
var tracked sync.Map

// waitChild reaps our child pid and returns once it is gone (or was never
// ours: ECHILD).
func waitChild(pid int) {
	f, err := openPidfd(pid)
	if f == nil && err == nil {
		return // already gone
	}
	if err == nil {
		defer f.Close()
		rc, err := f.SyscallConn()
		if err == nil {
			err = rc.Read(func(fd uintptr) bool {
				var info unix.Siginfo
				err := unix.Waitid(unix.P_PIDFD, int(fd), &info, unix.WEXITED|unix.WNOHANG, nil)
				if errors.Is(err, unix.EINTR) || errors.Is(err, unix.EAGAIN) {
					return false
				}
				// Signo is SIGCHLD once a child was reaped, 0 while it
				// runs; any other error means it is not ours to wait for.
				return err != nil || info.Signo != 0
			})
		}
		if err == nil {
			return
		}
	}
	// No pollable pidfd (an old kernel): block a thread in wait4.
	var ws unix.WaitStatus
	for {
		if _, err := unix.Wait4(pid, &ws, 0, nil); !errors.Is(err, unix.EINTR) {
			return
		}
	}
}

// waitGone waits until pid, which need not be our child, has exited (a
// zombie counts as exited), or the context ends.
func waitGone(ctx context.Context, pid int) error {
	f, err := openPidfd(pid)
	if f == nil && err == nil {
		return nil
	}
	if err != nil {
		return err
	}
	defer f.Close()
	stop := context.AfterFunc(ctx, func() { _ = f.SetReadDeadline(time.Now()) })
	defer stop()
	rc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	// A pidfd polls readable once its process has exited.
	err = rc.Read(func(fd uintptr) bool {
		n, err := unix.Poll([]unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}, 0)
		return err == nil && n > 0
	})
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return err
}

// openPidfd returns a non-blocking pidfd for pid, registered with the
// netpoller; nil and no error when pid no longer exists.
func openPidfd(pid int) (*os.File, error) {
	fd, err := unix.PidfdOpen(pid, unix.PIDFD_NONBLOCK)
	if errors.Is(err, unix.ESRCH) {
		return nil, nil
	}
	if err != nil {
		return nil, os.NewSyscallError("pidfd_open", err)
	}
	return os.NewFile(uintptr(fd), "pidfd:"+strconv.Itoa(pid)), nil
}

// orphanReaperInterval is the least time between two scans of our
// children: a burst of exits (exec probes end every second, per pod) costs
// one scan, not one per SIGCHLD.
const orphanReaperInterval = 100 * time.Millisecond

var orphanReaperOnce sync.Once

// mainThreadIdle says the main thread runs nothing but RunOffMainThread's
// wait, so every child it has was handed to us as an orphan.
var mainThreadIdle atomic.Bool

// RunOffMainThread runs program on another goroutine and keeps the main
// thread idle until it returns; main calls it first. As child subreaper we
// inherit every orphan of our subtree, and the kernel hands each to our
// first live thread, the main one, while os/exec's children are children
// of whichever thread forked them. With nothing forking on the main
// thread, each of its zombie children is an orphan no one else will wait
// for (the helper of an OCI runtime killed under load, the IPAM plugin of
// a killed CNI plugin), and the reaper takes them all, not only those
// from containers' PID namespaces.
func RunOffMainThread(program func() int) int {
	goruntime.LockOSThread() // the main goroutine runs on the main thread
	mainThreadIdle.Store(true)
	code := make(chan int, 1)
	go func() {
		growStack()
		code <- program()
	}()
	return <-code
}

// growStack grows the calling goroutine's stack to 64 KiB in one step,
// two frames deep. A new goroutine starts with 8 KiB, and the program's
// call chains (cobra, client-go) grew it by doubling, each copy walking
// every frame through the function tables: 5–7 ms more for `peapod
// version` on this project's machines than on the main goroutine, whose
// stack the package initializers had grown already.
//
//go:noinline
func growStack() {
	var b [64 << 10]byte
	keep(b[:])
}

//go:noinline
func keep(b []byte) { b[0] = 1 }

// startOrphanReaper reaps, on SIGCHLD, the zombie orphans handed to us:
// those of containers' PID namespaces always (a process "crun exec"
// started becomes ours if crun dies first; unreaped, it blocks the exit of
// the container's init, as the kernel waits for every task of a dying PID
// namespace to be reaped), and those of our own namespace too when the
// main thread is idle (RunOffMainThread); otherwise they could be
// os/exec's children, which only their Wait may reap. One per process:
// SIGCHLD and the children are per process.
func startOrphanReaper() {
	orphanReaperOnce.Do(func() {
		self, err := os.ReadFile("/proc/self/status")
		if err != nil {
			return // no /proc: no way to tell orphans
		}
		depth := nsDepth(self)        // fixed for the life of the process
		ch := make(chan os.Signal, 1) // a SIGCHLD during a scan queues one more
		signal.Notify(ch, unix.SIGCHLD)
		go func() {
			for range ch {
				reapOrphans(depth, mainThreadIdle.Load())
				time.Sleep(orphanReaperInterval)
			}
		}()
	})
}

// reapOrphans reads the status of our untracked children only (not of
// every process on the host) and reaps the orphaned zombies among them.
func reapOrphans(depth int, anyNamespace bool) {
	for _, pid := range children() {
		if _, ok := tracked.Load(pid); ok {
			continue
		}
		b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
		if err == nil && orphanZombie(b, depth, anyNamespace) {
			var ws unix.WaitStatus
			_, _ = unix.Wait4(pid, &ws, unix.WNOHANG, nil)
		}
	}
}

// children lists the children of our main thread, where the kernel puts
// every orphan it hands the subreaper (its find_alive_thread starts at the
// thread group leader, which Go never ends); what the other threads forked
// (os/exec's children) is not read.
func children() []int {
	b, err := os.ReadFile(fmt.Sprintf("/proc/self/task/%d/children", os.Getpid()))
	if err != nil {
		return nil
	}
	return parsePids(b)
}

// parsePids parses a space-separated PID list (/proc/.../children).
func parsePids(b []byte) []int {
	var pids []int
	for _, f := range bytes.Fields(b) {
		if pid, err := strconv.Atoi(string(f)); err == nil && pid > 0 {
			pids = append(pids, pid)
		}
	}
	return pids
}

// orphanZombie says, from /proc/PID/status, whether a child of the main
// thread is a zombie to reap: one below our PID namespace (peapod itself
// may run in a container, at selfDepth), or, with anyNamespace, any.
func orphanZombie(status []byte, selfDepth int, anyNamespace bool) bool {
	zombie := bytes.HasPrefix(bytes.TrimSpace(statusField(status, "State")), []byte("Z"))
	return zombie && (anyNamespace || nsDepth(status) > selfDepth)
}

// nsDepth is how many PID namespaces deep a process is, from its status.
func nsDepth(status []byte) int {
	return len(bytes.Fields(statusField(status, "NSpid")))
}

// statusField is the value of one "Key:\tvalue" line of /proc/PID/status.
func statusField(status []byte, key string) []byte {
	for _, line := range bytes.Split(status, []byte("\n")) {
		if k, v, ok := bytes.Cut(line, []byte(":")); ok && string(k) == key {
			return v
		}
	}
	return nil
}
