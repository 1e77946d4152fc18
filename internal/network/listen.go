package network

import (
	"context"
	"errors"
	"fmt"
	"net"
	"syscall"

	"github.com/vishvananda/netlink"
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

// UpBridge makes the bridge with the gateway's address now, as the bridge
// plugin does at the first pod's ADD: a node that the cluster reaches on
// its gateway (the kubelet API) is reachable before any pod has a
// network, and nothing sent to that address leaves by the default route
// meanwhile.
func (c *CNI) UpBridge() error {
	br, err := netlink.LinkByName(c.cfg.Bridge)
	if err != nil {
		if err := netlink.LinkAdd(&netlink.Bridge{LinkAttrs: netlink.LinkAttrs{Name: c.cfg.Bridge}}); err != nil && !errors.Is(err, syscall.EEXIST) {
			return fmt.Errorf("pod network: bridge %s: %w", c.cfg.Bridge, err)
		}
		if br, err = netlink.LinkByName(c.cfg.Bridge); err != nil {
			return fmt.Errorf("pod network: bridge %s: %w", c.cfg.Bridge, err)
		}
	}
	addr := &netlink.Addr{IPNet: &net.IPNet{IP: c.gateway, Mask: c.subnet.Mask}}
	if err := netlink.AddrAdd(br, addr); err != nil && !errors.Is(err, syscall.EEXIST) {
		return fmt.Errorf("pod network: address %s on %s: %w", addr.IPNet, c.cfg.Bridge, err)
	}
	return netlink.LinkSetUp(br)
}
