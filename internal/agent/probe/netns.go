package probe

import (
	"context"
	"fmt"
	"net"
	goruntime "runtime"

	"golang.org/x/sys/unix"
)

// dial connects from inside the target's network namespace: a socket
// belongs to the namespace of the thread that created it, and keeps it.
func (t Target) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	if t.NetNS == "" {
		var d net.Dialer
		return d.DialContext(ctx, network, addr)
	}
	type dialed struct {
		conn net.Conn
		err  error
	}
	ch := make(chan dialed, 1)
	// A goroutine of its own: if its thread cannot be put back in the
	// node's namespace it stays locked, and the runtime ends the thread
	// with the goroutine instead of reusing it.
	go func() {
		conn, err := dialInNetNS(ctx, t.NetNS, network, addr)
		ch <- dialed{conn, err}
	}()
	d := <-ch
	return d.conn, d.err
}

func dialInNetNS(ctx context.Context, path, network, addr string) (net.Conn, error) {
	goruntime.LockOSThread()
	orig, err := unix.Open("/proc/thread-self/ns/net", unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		goruntime.UnlockOSThread()
		return nil, fmt.Errorf("open own network namespace: %w", err)
	}
	defer unix.Close(orig)
	target, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		goruntime.UnlockOSThread()
		return nil, fmt.Errorf("open pod network namespace: %w", err)
	}
	defer unix.Close(target)
	if err := unix.Setns(target, unix.CLONE_NEWNET); err != nil {
		goruntime.UnlockOSThread()
		return nil, fmt.Errorf("enter pod network namespace: %w", err)
	}
	// The dialer makes the socket on this goroutine's (locked) thread; the
	// connect then completes through the poller, wherever.
	var d net.Dialer
	conn, err := d.DialContext(ctx, network, addr)
	if unix.Setns(orig, unix.CLONE_NEWNET) == nil {
		goruntime.UnlockOSThread()
	}
	return conn, err
}
