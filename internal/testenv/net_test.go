package testenv

import "testing"

// Two reservations of one process never share a net: the lock is per
// open file, and held until the test ends.
func TestReserveNet_Exclusive(t *testing.T) {
	RequireRoot(t)
	a, b := ReserveNet(t, 125), ReserveNet(t, 125)
	if a.PodCIDR == b.PodCIDR || a.Bridge == b.Bridge || a.Table == b.Table || a.ServiceIP(0) == b.ServiceIP(0) || a.NodePort(0) == b.NodePort(0) || a.HostPort(0) == b.HostPort(0) {
		t.Errorf("two reservations share: %+v %+v", a, b)
	}
	var again Net
	t.Run("released", func(t *testing.T) { again = ReserveNet(t, 125) })
	if c := ReserveNet(t, 125); c.PodCIDR != again.PodCIDR {
		t.Errorf("the net of an ended test, %s, was not free again (got %s)", again.PodCIDR, c.PodCIDR)
	}
}
