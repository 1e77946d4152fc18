package probe

import (
	"context"
	"net"
)

// Dial connects from inside the target's network namespace, as the
// probes do (port-forward shares it).
func (t Target) Dial(ctx context.Context, network, addr string) (net.Conn, error) {
	return t.dial(ctx, network, addr)
}
