//go:build integration

package network

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/containernetworking/plugins/pkg/ns"
	"github.com/containernetworking/plugins/pkg/testutils"
	"github.com/coreos/go-iptables/iptables"
	"github.com/vishvananda/netlink"

	"peapod/internal/testenv"
)

// newTestCNI is a network of its own: a bridge and a /24 in 10.124.0.0/16,
// and host ports, that clash neither with a running peapod (10.88.0.0/16,
// peapod0) nor with the cli package's tests (10.123.0.0/16) nor with
// another test process. Everything goes at the end: the bridge, and every
// nat rule of its addresses.
func newTestCNI(t *testing.T) (*CNI, testenv.Net) {
	t.Helper()
	testenv.RequireRoot(t)
	if _, err := os.Stat(filepath.Join(DefaultPluginDir, "bridge")); err != nil {
		t.Skip("needs containernetworking-plugins")
	}
	tn := testenv.ReserveNet(t, 124)
	c, err := New(Config{Dir: t.TempDir(), Bridge: tn.Bridge, PodCIDR: tn.PodCIDR})
	if err != nil {
		t.Fatal(err)
	}
	testenv.NoLeaks(t, testenv.Leaks{Links: []string{tn.Bridge}, Subnet: tn.PodCIDR})
	t.Cleanup(func() {
		if err := c.Remove(context.Background()); err != nil {
			t.Errorf("remove network: %v", err)
		}
	})
	return c, tn
}

// attached lists the addresses reserved and the veths on the bridge.
func attached(t *testing.T, c *CNI) (ips, veths []string) {
	t.Helper()
	entries, _ := os.ReadDir(filepath.Join(c.cfg.Dir, "networks", NetworkName))
	for _, e := range entries {
		if net.ParseIP(e.Name()) != nil {
			ips = append(ips, e.Name())
		}
	}
	br, err := netlink.LinkByName(c.cfg.Bridge)
	if err != nil {
		return ips, nil
	}
	links, err := netlink.LinkList()
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range links {
		if l.Attrs().MasterIndex == br.Attrs().Index {
			veths = append(veths, l.Attrs().Name)
		}
	}
	return ips, veths
}

func newNS(t *testing.T) ns.NetNS {
	t.Helper()
	n, err := testutils.NewNS()
	if err != nil {
		t.Fatal(err)
	}
	testenv.NoLeaks(t, testenv.Leaks{NetNS: []string{n.Path()}})
	t.Cleanup(func() {
		n.Close()
		_ = testutils.UnmountNS(n)
	})
	return n
}

// listen serves one "hello" per connection on port inside n.
func listen(t *testing.T, n ns.NetNS, port int) {
	t.Helper()
	var l net.Listener
	err := n.Do(func(ns.NetNS) error {
		var err error
		l, err = net.Listen("tcp", fmt.Sprintf(":%d", port))
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			conn, err := l.Accept()
			if err != nil {
				return
			}
			_, _ = conn.Write([]byte("hello"))
			conn.Close()
		}
	}()
}

func dial(addr string) error {
	conn, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		return err
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(2 * time.Second))
	buf := make([]byte, 5)
	if _, err := conn.Read(buf); err != nil || string(buf) != "hello" {
		return fmt.Errorf("read %q: %v", buf, err)
	}
	return nil
}

func TestNetwork_AttachDetach(t *testing.T) {
	c, tn := newTestCNI(t)
	n := newNS(t)
	ctx := context.Background()
	hostPort := tn.HostPort(0)
	// Chain names hash the network name and the sandbox ID: unique IDs keep
	// them apart from any other peapod's.
	id := fmt.Sprintf("test-a-%d", os.Getpid())
	ips, err := c.Attach(ctx, id, n.Path(), []PortMapping{{HostPort: int32(hostPort), ContainerPort: 8080, Protocol: "tcp"}})
	if err != nil {
		t.Fatal(err)
	}
	if len(ips) != 1 || !c.subnet.Contains(ips[0]) || ips[0].Equal(c.gateway) {
		t.Fatalf("ips = %v, want one in %s", ips, c.subnet)
	}
	// Attaching again (an adopted sandbox) keeps the address.
	again, err := c.Attach(ctx, id, n.Path(), nil)
	if err != nil || !slices.EqualFunc(again, ips, net.IP.Equal) {
		t.Fatalf("second attach = %v, %v; want %v", again, err, ips)
	}
	listen(t, n, 8080)
	if err := dial(net.JoinHostPort(ips[0].String(), "8080")); err != nil {
		t.Errorf("host to pod IP: %v", err)
	}
	// hostPort on localhost: portmap sets route_localnet on the bridge and
	// masquerades 127.0.0.1.
	if err := dial(fmt.Sprintf("127.0.0.1:%d", hostPort)); err != nil {
		t.Errorf("host to 127.0.0.1:%d: %v", hostPort, err)
	}
	if got, veths := attached(t, c); len(got) != 1 || len(veths) != 1 {
		t.Errorf("attached: ips %v veths %v", got, veths)
	}

	for range 2 { // twice: idempotent
		if err := c.Detach(ctx, id, n.Path()); err != nil {
			t.Fatal(err)
		}
	}
	if got, veths := attached(t, c); len(got) != 0 || len(veths) != 0 {
		t.Errorf("after detach: ips %v veths %v", got, veths)
	}
	if out, _ := exec.Command("iptables-save", "-t", "nat").Output(); strings.Contains(string(out), ips[0].String()) {
		t.Errorf("nat rules for %s left:\n%s", ips[0], out)
	}
	if err := dial(net.JoinHostPort(ips[0].String(), "8080")); err == nil {
		t.Errorf("pod IP still reachable after detach")
	}
}

// The bridge made before any pod has its gateway address, which the
// bridge plugin then takes as it is.
func TestNetwork_UpBridgeBeforeThePods(t *testing.T) {
	c, _ := newTestCNI(t)
	for range 2 { // twice: idempotent
		if err := c.UpBridge(); err != nil {
			t.Fatal(err)
		}
	}
	br, err := netlink.LinkByName(c.cfg.Bridge)
	if err != nil {
		t.Fatal(err)
	}
	addrs, _ := netlink.AddrList(br, netlink.FAMILY_V4)
	if len(addrs) != 1 || !addrs[0].IP.Equal(c.gateway) || br.Attrs().Flags&net.FlagUp == 0 {
		t.Fatalf("bridge %s: addresses %v, flags %v; want %s, up", c.cfg.Bridge, addrs, br.Attrs().Flags, c.gateway)
	}
	// A listener on the gateway answers from the host at once.
	l, err := ListenGateway(context.Background(), net.JoinHostPort(c.gateway.String(), "0"))
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		if conn, err := l.Accept(); err == nil {
			_, _ = conn.Write([]byte("hello"))
			conn.Close()
		}
	}()
	if err := dial(l.Addr().String()); err != nil {
		t.Errorf("the gateway before any pod: %v", err)
	}
	n := newNS(t)
	id := fmt.Sprintf("test-up-%d", os.Getpid())
	if _, err := c.Attach(context.Background(), id, n.Path(), nil); err != nil {
		t.Fatalf("attach on the bridge made before: %v", err)
	}
	if err := c.Detach(context.Background(), id, n.Path()); err != nil {
		t.Fatal(err)
	}
}

// An ADD cut short by a kill (the interface made, nothing cached) does not
// stop the next Attach: it is undone and made again, with one address.
func TestNetwork_AttachAfterCutShortAdd(t *testing.T) {
	c, _ := newTestCNI(t)
	n := newNS(t)
	ctx := context.Background()
	id := fmt.Sprintf("test-cut-%d", os.Getpid())
	if _, err := c.Attach(ctx, id, n.Path(), nil); err != nil {
		t.Fatal(err)
	}
	// What libcni writes after the plugins returned is lost.
	if err := os.RemoveAll(filepath.Join(c.cfg.Dir, "cache")); err != nil {
		t.Fatal(err)
	}
	ips, err := c.Attach(ctx, id, n.Path(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if got, veths := attached(t, c); len(got) != 1 || len(veths) != 1 || got[0] != ips[0].String() {
		t.Errorf("attached: ips %v veths %v, want %v and one veth", got, veths, ips)
	}
	if err := c.Detach(ctx, id, n.Path()); err != nil {
		t.Fatal(err)
	}
}

// Two pods' first portmap ADDs at once can each insert the entry rule
// (the plugin checks, then inserts): Remove takes every copy, else the
// shared chain stays busy.
func TestNetwork_RemoveTakesDuplicateEntryRules(t *testing.T) {
	c, tn := newTestCNI(t)
	n := newNS(t)
	ctx := context.Background()
	ipt, err := iptables.New()
	if err != nil {
		t.Fatal(err)
	}
	id := fmt.Sprintf("test-dup-%d", os.Getpid())
	if _, err := c.Attach(ctx, id, n.Path(), []PortMapping{{HostPort: int32(tn.HostPort(2)), ContainerPort: 80, Protocol: "tcp"}}); err != nil {
		t.Fatal(err)
	}
	entry := []string{"-m", "addrtype", "--dst-type", "LOCAL", "-j", "CNI-HOSTPORT-DNAT"}
	if err := ipt.Insert("nat", "PREROUTING", 1, entry...); err != nil { // the racing ADD's copy
		t.Fatal(err)
	}
	if err := c.Detach(ctx, id, n.Path()); err != nil {
		t.Fatal(err)
	}
	if rules, _ := ipt.List("nat", "CNI-HOSTPORT-DNAT"); len(rules) > 1 {
		t.Skipf("another network on this host has hostPorts, so the shared chains stay: %v", rules)
	}
	if err := c.Remove(ctx); err != nil {
		t.Fatalf("remove: %v", err)
	}
	if ok, err := ipt.ChainExists("nat", "CNI-HOSTPORT-DNAT"); err != nil || ok {
		t.Errorf("CNI-HOSTPORT-DNAT still exists (%v)", err)
	}
	if ok, _ := ipt.Exists("nat", "PREROUTING", entry...); ok {
		t.Errorf("PREROUTING still jumps to CNI-HOSTPORT-DNAT")
	}
}

// A sandbox whose namespace went away without Detach (peapod crashed, or
// an orphan was removed) is released by Reconcile: address, masquerade and
// hostPort chains.
func TestNetwork_Reconcile(t *testing.T) {
	c, tn := newTestCNI(t)
	ctx := context.Background()
	live, gone := newNS(t), newNS(t)
	liveID, goneID := fmt.Sprintf("test-live-%d", os.Getpid()), fmt.Sprintf("test-gone-%d", os.Getpid())
	liveIPs, err := c.Attach(ctx, liveID, live.Path(), nil)
	if err != nil {
		t.Fatal(err)
	}
	goneIPs, err := c.Attach(ctx, goneID, gone.Path(), []PortMapping{{HostPort: int32(tn.HostPort(1)), ContainerPort: 80, Protocol: "tcp"}})
	if err != nil {
		t.Fatal(err)
	}
	gone.Close()
	if err := testutils.UnmountNS(gone); err != nil {
		t.Fatal(err)
	}
	if err := c.Reconcile(ctx, []string{liveID}); err != nil {
		t.Fatal(err)
	}
	ips, veths := attached(t, c)
	if !slices.Equal(ips, []string{liveIPs[0].String()}) || len(veths) != 1 {
		t.Errorf("after reconcile: ips %v veths %v; want only %v", ips, veths, liveIPs)
	}
	if out, _ := exec.Command("iptables-save", "-t", "nat").Output(); strings.Contains(string(out), goneIPs[0].String()) {
		t.Errorf("nat rules for %s left:\n%s", goneIPs[0], out)
	}
	if err := c.Detach(ctx, liveID, live.Path()); err != nil {
		t.Fatal(err)
	}
}

// The cost per pod, reported: go test -tags integration -v -run Timing.
func TestNetwork_Timing(t *testing.T) {
	c, _ := newTestCNI(t)
	ctx := context.Background()
	n := newNS(t)
	var add, del []time.Duration
	for i := range 20 {
		id := fmt.Sprintf("test-timing-%d-%d", os.Getpid(), i)
		start := time.Now()
		if _, err := c.Attach(ctx, id, n.Path(), nil); err != nil {
			t.Fatal(err)
		}
		add = append(add, time.Since(start))
		start = time.Now()
		if err := c.Detach(ctx, id, n.Path()); err != nil {
			t.Fatal(err)
		}
		del = append(del, time.Since(start))
	}
	slices.Sort(add)
	slices.Sort(del)
	t.Logf("attach median %v (min %v max %v); detach median %v (min %v max %v)", add[10], add[0], add[19], del[10], del[0], del[19])
}

// A pod CIDR that another interface has an address in is refused, naming
// the interface; the bridge's own address is not a clash. In a network
// namespace of the test's own.
func TestIntegration_CheckOverlap(t *testing.T) {
	netns, err := testutils.NewNS()
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		_ = netns.Close()
		_ = testutils.UnmountNS(netns)
	}()
	err = netns.Do(func(ns.NetNS) error {
		for _, l := range []struct{ name, addr string }{{"other0", "10.97.3.1/24"}, {"br-own", "10.98.0.1/24"}} {
			link := &netlink.Bridge{LinkAttrs: netlink.LinkAttrs{Name: l.name}}
			if err := netlink.LinkAdd(link); err != nil {
				return err
			}
			a, err := netlink.ParseAddr(l.addr)
			if err != nil {
				return err
			}
			if err := netlink.AddrAdd(link, a); err != nil {
				return err
			}
		}
		for _, c := range []struct {
			name, cidr, want string // want: "" for no error, else a substring
		}{
			{"inside another's network", "10.97.3.0/25", "overlaps 10.97.3.1/24 on other0"},
			{"around another's network", "10.97.0.0/16", "on other0"},
			{"the bridge's own address", "10.98.0.0/24", ""},
			{"apart from every address", "10.96.0.0/24", ""},
		} {
			_, subnet, _ := net.ParseCIDR(c.cidr)
			err := checkOverlap(subnet, "br-own")
			switch {
			case c.want == "" && err != nil:
				t.Errorf("%s: %v", c.name, err)
			case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
				t.Errorf("%s: got %v, want an error with %q", c.name, err, c.want)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
