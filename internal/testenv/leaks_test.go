package testenv

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// recorder is a test that records its errors instead of failing.
type recorder struct {
	testing.TB
	mu     sync.Mutex
	errors []string
}

func (r *recorder) Helper() {}

func (r *recorder) Errorf(format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.errors = append(r.errors, fmt.Sprintf(format, args...))
}

func (r *recorder) failure() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return strings.Join(r.errors, "\n")
}

// A mount left under the run root, and a veth left on the bridge,
// fail the check with their names; once they are gone it passes.
func TestCheckNoLeaks_FailsOnLeak(t *testing.T) {
	RequireRoot(t)
	runRoot := t.TempDir()
	leaked := filepath.Join(runRoot, "sandboxes", "s1", "shm")
	if err := os.MkdirAll(leaked, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := unix.Mount("tmpfs", leaked, "tmpfs", 0, "size=64k"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = unix.Unmount(leaked, unix.MNT_DETACH) })

	bridge := &netlink.Bridge{LinkAttrs: netlink.LinkAttrs{Name: fmt.Sprintf("pplk%d", os.Getpid()%100000)}}
	if err := netlink.LinkAdd(bridge); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = netlink.LinkDel(bridge) })
	port := &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: fmt.Sprintf("ppld%d", os.Getpid()%100000), MasterIndex: bridge.Attrs().Index}, PeerName: fmt.Sprintf("pplp%d", os.Getpid()%100000)}
	if err := netlink.LinkAdd(port); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = netlink.LinkDel(port) })

	l := Leaks{RunRoot: runRoot, Bridge: bridge.Name}
	r := &recorder{TB: t}
	CheckNoLeaks(r, l)
	got := r.failure()
	for _, want := range []string{"left behind:", "mount " + leaked + " (tmpfs)", "veth " + port.Name + " on bridge " + bridge.Name} {
		if !strings.Contains(got, want) {
			t.Errorf("the check said %q, want it to name %q", got, want)
		}
	}

	if err := unix.Unmount(leaked, 0); err != nil {
		t.Fatal(err)
	}
	if err := netlink.LinkDel(port); err != nil {
		t.Fatal(err)
	}
	r = &recorder{TB: t}
	CheckNoLeaks(r, l)
	if got := r.failure(); got != "" {
		t.Errorf("nothing is left, yet the check said %q", got)
	}
}

// The links and nftables tables named must be gone; the bridge's
// absence is no leak of its ports.
func TestLeaks_FindLinks(t *testing.T) {
	RequireRoot(t)
	name := fmt.Sprintf("pplg%d", os.Getpid()%100000)
	l := Leaks{Links: []string{name}, Bridge: name}
	if leaks, err := l.Find(); err != nil || len(leaks) != 0 {
		t.Fatalf("before: %v %v", leaks, err)
	}
	link := &netlink.Bridge{LinkAttrs: netlink.LinkAttrs{Name: name}}
	if err := netlink.LinkAdd(link); err != nil {
		t.Fatal(err)
	}
	defer netlink.LinkDel(link)
	if leaks, err := l.Find(); err != nil || len(leaks) != 1 || leaks[0] != "bridge "+name {
		t.Errorf("with the link: %v %v", leaks, err)
	}
}

func TestMentions(t *testing.T) {
	for _, tc := range []struct {
		rule string
		want bool
	}{
		{"-A CNI-DN-1 -p tcp -m tcp --dport 20010 -j DNAT --to-destination 10.123.4.2:8080", true},
		{"-A CNI-HOSTPORT-SETMARK -s 10.123.4.0/24 -j MARK", true},
		{"-A CNI-DN-1 -j DNAT --to-destination 10.123.40.2:8080", false},
		{"-A POSTROUTING -m comment --comment \"CNI portfwd requiring masquerade\" -j CNI-HOSTPORT-MASQ", false},
	} {
		_, subnet, _ := net.ParseCIDR("10.123.4.0/24")
		if got := mentions(tc.rule, subnet); got != tc.want {
			t.Errorf("mentions(%q) = %v, want %v", tc.rule, got, tc.want)
		}
	}
}
