package network

import (
	"context"
	"net"
	"syscall"
)

// ListenGateway listens on addr (host:port) even before the host has the
// address: the pod bridge carries the gateway's address from the first
// pod on, and what pods and the cluster reach on it (the API, the kubelet
// API) listens from the start.
func ListenGateway(ctx context.Context, addr string) (net.Listener, error) {
	lc := net.ListenConfig{Control: func(_, _ string, c syscall.RawConn) error {
		var serr error
		if err := c.Control(func(fd uintptr) {
			serr = syscall.SetsockoptInt(int(fd), syscall.SOL_IP, syscall.IP_FREEBIND, 1)
		}); err != nil {
			return err
		}
		return serr
	}}
	return lc.Listen(ctx, "tcp", addr)
}
