package conmon

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// conmonExit returns a channel closed when the container's conmon (pid),
// which is not our child (it was started by an earlier peapod), has exited, and
// a function to release what the wait holds. It waits on a pidfd in Go's
// poller: no thread, no polling. A conmon that is not running, or whose
// PID now belongs to another process (its command line does not name the
// container), counts as exited at once.
func conmonExit(m *meta, pid int) (<-chan struct{}, func()) {
	gone := make(chan struct{})
	if pid <= 0 {
		close(gone)
		return gone, func() {}
	}
	fd, err := unix.PidfdOpen(pid, unix.PIDFD_NONBLOCK)
	if err != nil {
		close(gone)
		return gone, func() {}
	}
	f := os.NewFile(uintptr(fd), "pidfd")
	// Read after the pidfd is open: the PID cannot be reused from here on.
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	rc, rerr := f.SyscallConn()
	if err != nil || !bytes.Contains(b, []byte(m.ID)) || rerr != nil {
		f.Close()
		close(gone)
		return gone, func() {}
	}
	go func() {
		// A pidfd turns readable when its process exits; the poller calls
		// back then. Closing f ends the wait with an error instead.
		err := rc.Read(func(fd uintptr) bool {
			pfd := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
			n, err := unix.Poll(pfd, 0)
			return err == nil && n > 0
		})
		if err == nil {
			close(gone)
		}
	}()
	return gone, func() { f.Close() }
}

// conmonAlive reports whether the container's conmon runs: our child not
// yet reaped, or (after a restart) the process of its recorded PID, which
// is conmon only if its command line names the container (a zombie's is
// empty).
func (r *Runtime) conmonAlive(m *meta) bool {
	r.mu.Lock()
	_, child := r.exits[m.ID]
	r.mu.Unlock()
	if child {
		return true
	}
	pid := r.conmonPID(m)
	if pid <= 0 {
		return false
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	return err == nil && bytes.Contains(b, []byte(m.ID))
}

// conmonPID is the PID of the container's conmon: from its metadata, or,
// when the peapod that started it died before recording it there, from
// the pid file conmon writes itself (0 if neither has it).
func (r *Runtime) conmonPID(m *meta) int {
	if m.ConmonPID > 0 {
		return m.ConmonPID
	}
	pid, _ := readPid(filepath.Join(r.containerDir(m.ID), conmonPid))
	return pid
}
