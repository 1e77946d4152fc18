package conmon

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"peapod/internal/runtime"
)

// Exec runs req.Cmd in the container with "<runtime> exec --process": the
// process inherits the container's user, capabilities, rlimits and
// environment. On timeout or cancel the process itself is killed (by its
// PID file), not only the runtime in front of it.
func (r *Runtime) Exec(ctx context.Context, req runtime.ExecRequest) (int, error) {
	if len(req.Cmd) == 0 {
		return 0, fmt.Errorf("exec in container %s: no command", req.ID)
	}
	st, err := r.ContainerStatus(ctx, req.ID)
	if err != nil {
		return 0, err
	}
	if st.State != runtime.StateRunning {
		return 0, fmt.Errorf("exec in container %s: container is %s", req.ID, st.State)
	}
	dir := r.containerDir(req.ID)
	s, err := r.configs.read(filepath.Join(dir, "config.json"))
	if err != nil {
		return 0, fmt.Errorf("exec in container %s: %w", req.ID, err)
	}
	p := *s.Process // a copy: s is shared
	p.Args = req.Cmd
	p.Env = append(append([]string(nil), p.Env...), req.Env...)
	p.Terminal = req.Tty
	var size *runtime.TerminalSize
	if req.Tty {
		// A pty starts at 0x0. Given the client's first size, crun sizes
		// the pty itself, close to the process's start; crun 1.8 does it
		// racing the process (a `stty size` first thing may still read
		// nothing), so the relay sets it again when it gets the master.
		if sz, ok := firstSize(ctx, req.Resize); ok {
			size = &sz
			p.ConsoleSize = &specs.Box{Height: uint(sz.Height), Width: uint(sz.Width)}
		}
	}
	execID, err := newID()
	if err != nil {
		return 0, err
	}
	procFile := filepath.Join(dir, "exec-"+execID+".json")
	pidFile := filepath.Join(dir, "exec-"+execID+".pid")
	defer os.Remove(procFile)
	defer os.Remove(pidFile)
	if err := writeJSON(procFile, p); err != nil {
		return 0, fmt.Errorf("exec in container %s: %w", req.ID, err)
	}

	if req.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, req.Timeout)
		defer cancel()
	}
	args := []string{"exec", "--process", procFile, "--pid-file", pidFile}
	var console *consoleSocket
	if req.Tty {
		// The runtime hands over the master of the process's own pty, so
		// sizes set on it reach the process (crun would not pass its own
		// terminal's SIGWINCH on).
		if console, err = listenConsole(); err != nil {
			return 0, fmt.Errorf("exec in container %s: %w", req.ID, err)
		}
		defer console.Close()
		args = append(args, "--tty", "--console-socket", console.path)
	}
	args = append(args, req.ID)
	cmd := r.runtimeCommand(ctx, args...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = req.Stdin, req.Stdout, req.Stderr
	var runtimeOut bytes.Buffer
	if req.Tty {
		cmd.Stdin, cmd.Stdout, cmd.Stderr = nil, &runtimeOut, &runtimeOut
	}
	// Kill the process, not crun: crun then reaps it and exits. Were
	// crun killed first, the process and crun's helper that joins the
	// container would be orphaned to us (subreaper): the orphan reaper
	// takes them once they exit, but the process would run on, watched by
	// no one, until its container stops. So the PID file is waited for a
	// moment.
	cmd.Cancel = func() error {
		deadline := time.Now().Add(execPidFileWait)
		for {
			if pid, err := readPid(pidFile); err == nil {
				return unix.Kill(pid, unix.SIGKILL)
			}
			if cmd.Process.Signal(unix.Signal(0)) != nil {
				return nil // crun ended by itself and was waited for
			}
			if time.Now().After(deadline) {
				return cmd.Process.Kill()
			}
			time.Sleep(2 * time.Millisecond)
		}
	}
	// A killed process may leave its stdio copiers waiting on a writer
	// that some grandchild still holds.
	cmd.WaitDelay = 2 * time.Second
	if err = cmd.Start(); err == nil {
		if console != nil {
			go console.relay(req.Stdin, req.Stdout, size, req.Resize)
		}
		err = cmd.Wait()
		if console != nil {
			console.drain(2 * time.Second)
		}
	}
	if ctx.Err() != nil {
		return 0, fmt.Errorf("exec %q in container %s: %w", req.Cmd, req.ID, ctx.Err())
	}
	var exitErr *exec.ExitError
	if errors.As(err, &exitErr) && exitErr.Exited() {
		return exitErr.ExitCode(), nil
	}
	if err != nil {
		if runtimeOut.Len() > 0 {
			err = fmt.Errorf("%w: %s", err, bytes.TrimSpace(runtimeOut.Bytes()))
		}
		return 0, &RunError{Command: cmd.Args, Inner: err}
	}
	return 0, nil
}

// execPidFileWait bounds how long a cancelled exec waits for the runtime
// to name the process before the runtime itself is killed; crun writes the
// file within milliseconds of its start.
const execPidFileWait = time.Second

// initialSizeWait bounds the wait for a terminal client's first size,
// which clients send as soon as the stream is up.
const initialSizeWait = time.Second

// firstSize takes the client's first terminal size from resize, if one
// comes soon.
func firstSize(ctx context.Context, resize <-chan runtime.TerminalSize) (runtime.TerminalSize, bool) {
	if resize == nil {
		return runtime.TerminalSize{}, false
	}
	t := time.NewTimer(initialSizeWait)
	defer t.Stop()
	select {
	case sz, ok := <-resize:
		return sz, ok && sz.Width > 0 && sz.Height > 0
	case <-t.C:
	case <-ctx.Done():
	}
	return runtime.TerminalSize{}, false
}

// consoleSocket receives a pty master from the runtime (--console-socket)
// and relays between it and the client.
type consoleSocket struct {
	dir, path string
	ln        *net.UnixListener
	mu        sync.Mutex
	master    *os.File
	copied    chan struct{} // closed when the output copy ends
}

func listenConsole() (*consoleSocket, error) {
	// A short path of its own: sun_path has room for 107 bytes only.
	dir, err := os.MkdirTemp("", "peapod-console-")
	if err != nil {
		return nil, err
	}
	path := filepath.Join(dir, "sock")
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("console socket: %w", err)
	}
	return &consoleSocket{dir: dir, path: path, ln: ln, copied: make(chan struct{})}, nil
}

// relay takes the master the runtime sends, sizes it (initial, then each
// of resize) and copies both ways; it returns when the output ends.
func (c *consoleSocket) relay(in io.Reader, out io.Writer, initial *runtime.TerminalSize, resize <-chan runtime.TerminalSize) {
	defer close(c.copied)
	master, err := c.receive()
	if err != nil {
		return
	}
	c.mu.Lock()
	c.master = master
	c.mu.Unlock()
	setSize := func(sz runtime.TerminalSize) {
		c.mu.Lock()
		defer c.mu.Unlock()
		if c.master != nil {
			_ = unix.IoctlSetWinsize(int(c.master.Fd()), unix.TIOCSWINSZ, &unix.Winsize{Row: sz.Height, Col: sz.Width})
		}
	}
	if initial != nil {
		setSize(*initial)
	}
	if in != nil {
		go func() { _, _ = io.Copy(master, in) }()
	}
	if resize != nil {
		go func() {
			for sz := range resize {
				setSize(sz)
			}
		}()
	}
	if out == nil {
		out = io.Discard
	}
	// Ends with EIO once the process and its children closed the slave.
	_, _ = io.Copy(out, master)
}

func (c *consoleSocket) receive() (*os.File, error) {
	_ = c.ln.SetDeadline(time.Now().Add(30 * time.Second))
	conn, err := c.ln.AcceptUnix()
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	buf, oob := make([]byte, 4096), make([]byte, unix.CmsgSpace(4))
	_, oobn, _, _, err := conn.ReadMsgUnix(buf, oob)
	if err != nil {
		return nil, err
	}
	msgs, err := unix.ParseSocketControlMessage(oob[:oobn])
	if err != nil || len(msgs) == 0 {
		return nil, fmt.Errorf("console socket: no file descriptor received")
	}
	fds, err := unix.ParseUnixRights(&msgs[0])
	if err != nil || len(fds) == 0 {
		return nil, fmt.Errorf("console socket: no file descriptor received")
	}
	for _, fd := range fds[1:] {
		unix.Close(fd)
	}
	// Non-blocking, so that the poller can interrupt a read at Close.
	if err := unix.SetNonblock(fds[0], true); err != nil {
		unix.Close(fds[0])
		return nil, err
	}
	unix.CloseOnExec(fds[0])
	return os.NewFile(uintptr(fds[0]), "pty-master"), nil
}

// drain gives the output copy up to d to finish once the process is gone;
// a background process may hold the terminal open forever.
func (c *consoleSocket) drain(d time.Duration) {
	c.ln.Close() // a runtime that failed never connects
	select {
	case <-c.copied:
	case <-time.After(d):
	}
}

func (c *consoleSocket) Close() error {
	c.ln.Close()
	c.mu.Lock()
	if c.master != nil {
		c.master.Close()
		c.master = nil
	}
	c.mu.Unlock()
	return os.RemoveAll(c.dir)
}
