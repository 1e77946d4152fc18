package conmon

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"

	"golang.org/x/sys/unix"

	"peapod/internal/runtime"
)

// conmon's attach socket carries packets of at most its STDIO_BUF_SIZE
// (8192) bytes of output, each after one byte naming the stream: its
// stdpipe_t (utils.h), where 0 is NO_PIPE and 1 is stdin, so stdout is 2
// and stderr 3. A terminal's output is all stdout.
const (
	attachBufSize = 8192 + 1
	attachStdout  = 2
	attachStderr  = 3
)

// Attach connects to the container's stdio through conmon, which stays its
// supervisor: the attach socket (<socket dir>/<id>/attach, a seqpacket
// socket) gives its output and takes its stdin; the bundle's "ctl" FIFO
// takes terminal resizes. Output written before the attach is not
// replayed; it is in the log.
func (r *Runtime) Attach(ctx context.Context, req runtime.AttachRequest) error {
	st, err := r.ContainerStatus(ctx, req.ID)
	if err != nil {
		return err
	}
	if st.State != runtime.StateRunning {
		return fmt.Errorf("attach to container %s: container is %s", req.ID, st.State)
	}
	conn, err := dialAttach(filepath.Join(r.socketDir(), req.ID))
	if err != nil {
		return fmt.Errorf("attach to container %s: %w", req.ID, err)
	}
	defer conn.Close()

	if req.Tty && req.Resize != nil {
		go r.relayResize(ctx, req.ID, req.Resize)
	}
	stdinDone := make(chan struct{})
	if req.Stdin != nil {
		go func() {
			defer close(stdinDone)
			_, _ = io.Copy(conn, req.Stdin)
			// conmon closes the container's stdin when its attached
			// writer goes (unless told --leave-stdin-open).
			_ = conn.CloseWrite()
		}()
	}
	// A terminal stays open after that (conmon keeps a dup of the pty
	// master), so its client is done when its stdin is.
	var ttyStdinDone <-chan struct{}
	if req.Tty && req.Stdin != nil {
		ttyStdinDone = stdinDone
	}
	out := make(chan error, 1)
	go func() { out <- copyAttachOutput(conn, req.Stdout, req.Stderr) }()
	exited := make(chan struct{})
	go func() {
		defer close(exited)
		_, _ = r.WaitContainer(ctx, req.ID)
	}()
	select {
	case err := <-out:
		return err
	case <-ctx.Done():
		return ctx.Err()
	case <-ttyStdinDone:
		return nil
	case <-exited:
		// conmon may outlive the process briefly; what it still has is
		// flushed before it closes the socket.
		return <-out
	}
}

// dialAttach connects to dir/attach through /proc/self/fd: the socket
// path may be longer than sun_path allows.
func dialAttach(dir string) (*net.UnixConn, error) {
	fd, err := unix.Open(dir, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("attach socket directory: %w", err)
	}
	defer unix.Close(fd)
	addr := &net.UnixAddr{Name: "/proc/self/fd/" + strconv.Itoa(fd) + "/attach", Net: "unixpacket"}
	return net.DialUnix("unixpacket", nil, addr)
}

// copyAttachOutput demultiplexes conmon's packets until it closes the
// socket. Without Tty stderr arrives apart; with one everything is stdout.
func copyAttachOutput(conn *net.UnixConn, stdout, stderr io.Writer) error {
	buf := make([]byte, attachBufSize)
	for {
		n, err := conn.Read(buf)
		if n > 0 {
			var w io.Writer
			switch buf[0] {
			case attachStdout:
				w = stdout
			case attachStderr:
				w = stderr
			}
			if w != nil {
				if _, werr := w.Write(buf[1:n]); werr != nil {
					return werr
				}
			}
		}
		if errors.Is(err, io.EOF) || (err == nil && n == 0) {
			return nil
		}
		if err != nil {
			if errors.Is(err, net.ErrClosed) || errors.Is(err, unix.ECONNRESET) {
				return nil
			}
			return err
		}
	}
}

// openCtl opens conmon's control FIFO in the container's bundle for
// writing, without blocking: with no conmon reading it the open fails at
// once (ENXIO) instead of hanging.
func (r *Runtime) openCtl(id string) (*os.File, error) {
	return os.OpenFile(filepath.Join(r.containerDir(id), "ctl"), os.O_WRONLY|unix.O_NONBLOCK, 0)
}

// relayResize writes each size to conmon's control FIFO as "1 <rows>
// <cols>", conmon's resize message.
func (r *Runtime) relayResize(ctx context.Context, id string, resize <-chan runtime.TerminalSize) {
	ctl, err := r.openCtl(id)
	if err != nil {
		return
	}
	defer ctl.Close()
	for {
		select {
		case <-ctx.Done():
			return
		case sz, ok := <-resize:
			if !ok {
				return
			}
			if _, err := fmt.Fprintf(ctl, "1 %d %d\n", sz.Height, sz.Width); err != nil {
				return
			}
		}
	}
}
