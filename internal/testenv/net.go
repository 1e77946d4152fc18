package testenv

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"testing"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// Net is a network of one test's own: a /24 for pods, a bridge and an
// nftables table named after it, cluster IPs, node ports and host ports.
// It is held with an exclusive lock until the test ends, so tests of
// concurrent processes (two CI runs, a stress loop next to a build) never
// share one, whatever their PIDs.
type Net struct {
	PodCIDR string // 10.<pool>.<n>.0/24
	Bridge  string // pp<pool>-<n>
	Table   string // peapod-<Bridge>
	n       int
}

// ServiceCIDR is the net's service range, 10.100.<n>.0/24: the kubernetes
// Service has .1.
func (n Net) ServiceCIDR() string { return fmt.Sprintf("10.100.%d.0/24", n.n) }

// ServiceIP is the i-th cluster IP of the net (i < 240) to ask for; the
// ones allocated dynamically may be any of the range.
func (n Net) ServiceIP(i int) string { return fmt.Sprintf("10.100.%d.%d", n.n, 10+i) }

// NodePortRange is the net's ten node ports, as --service-node-port-range.
func (n Net) NodePortRange() string { return fmt.Sprintf("%d+10", n.NodePort(0)) }

// NodePort is the i-th node port of the net (i < 10).
func (n Net) NodePort(i int) int { return 30000 + 10*n.n + i }

// HostPort is the i-th host port of the net (i < 10).
func (n Net) HostPort(i int) int { return 20000 + 10*n.n + i }

// lockDir holds one lock file per reserved net; on tmpfs, so a reboot
// clears it, and a process that dies releases its locks with its fds.
const lockDir = "/run/peapod-test-nets"

// ReserveNet reserves a net with its pods in 10.<pool>.0.0/16 for t: the
// first index whose lock this process gets and whose /24 no interface has
// an address in (a network a killed run left). The index is unique on the
// machine among all pools, and with it the service range and the ports. It is released when t ends, after every
// cleanup registered later.
func ReserveNet(t testing.TB, pool int) Net {
	t.Helper()
	if err := os.MkdirAll(lockDir, 0o755); err != nil {
		t.Fatal(err)
	}
	start := os.Getpid() % 250
	for k := range 250 {
		i := (start+k)%250 + 1
		cidr := fmt.Sprintf("10.%d.%d.0/24", pool, i)
		// One lock per index whatever the pool: the service range and the
		// ports follow the index alone.
		f, err := os.OpenFile(filepath.Join(lockDir, fmt.Sprint(i)), os.O_RDWR|os.O_CREATE|unix.O_CLOEXEC, 0o644)
		if err != nil {
			t.Fatal(err)
		}
		if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
			f.Close()
			if errors.Is(err, unix.EWOULDBLOCK) {
				continue
			}
			t.Fatal(err)
		}
		bridge := fmt.Sprintf("pp%d-%d", pool, i)
		if inUse(cidr, bridge) {
			f.Close()
			continue
		}
		t.Cleanup(func() { f.Close() })
		return Net{PodCIDR: cidr, Bridge: bridge, Table: "peapod-" + bridge, n: i}
	}
	t.Fatalf("no free /24 in 10.%d.0.0/16", pool)
	return Net{}
}

// inUse tells whether the bridge exists or an interface has an address in
// cidr.
func inUse(cidr, bridge string) bool {
	if _, err := netlink.LinkByName(bridge); err == nil {
		return true
	}
	_, subnet, _ := net.ParseCIDR(cidr)
	addrs, err := netlink.AddrList(nil, netlink.FAMILY_V4)
	if err != nil {
		return true
	}
	for _, a := range addrs {
		if subnet.Contains(a.IP) {
			return true
		}
	}
	return false
}
