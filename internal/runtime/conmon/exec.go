package conmon

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
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
	var s specs.Spec
	if err := readJSON(filepath.Join(dir, "config.json"), &s); err != nil {
		return 0, fmt.Errorf("exec in container %s: %w", req.ID, err)
	}
	p := *s.Process
	p.Args = req.Cmd
	p.Env = append(append([]string(nil), p.Env...), req.Env...)
	p.Terminal = req.Tty
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
	args := append(globalArgs(r.runtimePath, r.stateRoot()), "exec", "--process", procFile, "--pid-file", pidFile)
	if req.Tty {
		args = append(args, "--tty")
	}
	args = append(args, req.ID)
	cmd := exec.CommandContext(ctx, r.runtimePath, args...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = req.Stdin, req.Stdout, req.Stderr
	if req.Tty {
		// "<runtime> exec --tty" puts its own stdin in raw mode, so it
		// must be a terminal: give it one and relay through the master.
		closeTTY, err := attachTerminal(cmd, req.Stdin, req.Stdout)
		if err != nil {
			return 0, fmt.Errorf("exec in container %s: %w", req.ID, err)
		}
		defer closeTTY()
	}
	// Kill the process, not crun: crun then reaps it and exits. Were
	// crun killed first, the process would be orphaned to us (subreaper)
	// and, unreaped, keep the container's init from ever exiting.
	cmd.Cancel = func() error {
		if pid, err := readPid(pidFile); err == nil {
			return unix.Kill(pid, unix.SIGKILL)
		}
		return cmd.Process.Kill()
	}
	// A killed process may leave its stdio copiers waiting on a writer
	// that some grandchild still holds.
	cmd.WaitDelay = 2 * time.Second
	err = cmd.Run()
	reapForeignZombies()
	if ctx.Err() != nil {
		return 0, fmt.Errorf("exec %q in container %s: %w", req.Cmd, req.ID, ctx.Err())
	}
	var exitErr *exec.ExitError
	if errors.As(err, &exitErr) && exitErr.Exited() {
		return exitErr.ExitCode(), nil
	}
	if err != nil {
		return 0, &RunError{Command: append([]string{r.runtimePath}, args...), Inner: err}
	}
	return 0, nil
}

// attachTerminal makes a pty's slave cmd's stdio and copies between its
// master and in/out. The returned func waits for the output copy.
func attachTerminal(cmd *exec.Cmd, in io.Reader, out io.Writer) (func(), error) {
	master, err := os.OpenFile("/dev/ptmx", os.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("open pty: %w", err)
	}
	if err := unix.IoctlSetPointerInt(int(master.Fd()), unix.TIOCSPTLCK, 0); err != nil {
		master.Close()
		return nil, fmt.Errorf("unlock pty: %w", err)
	}
	n, err := unix.IoctlGetInt(int(master.Fd()), unix.TIOCGPTN)
	if err != nil {
		master.Close()
		return nil, fmt.Errorf("pty number: %w", err)
	}
	slave, err := os.OpenFile("/dev/pts/"+strconv.Itoa(n), os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		master.Close()
		return nil, fmt.Errorf("open pty slave: %w", err)
	}
	cmd.Stdin, cmd.Stdout, cmd.Stderr = slave, slave, slave
	if in != nil {
		go func() { _, _ = io.Copy(master, in) }()
	}
	copied := make(chan struct{})
	go func() {
		defer close(copied)
		if out == nil {
			out = io.Discard
		}
		// Ends with EIO once the last slave holder (crun) is gone.
		_, _ = io.Copy(out, master)
	}()
	closed := false
	return func() {
		if !closed {
			closed = true
			slave.Close()
			<-copied
			master.Close()
		}
	}, nil
}
