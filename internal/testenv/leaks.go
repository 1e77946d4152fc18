package testenv

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/moby/sys/mountinfo"
	"github.com/vishvananda/netlink"
)

// Leaks names what a test's runtime owns. Empty fields are not checked.
type Leaks struct {
	Root       string // no mounts under it, no process mentioning it
	RunRoot    string // ditto
	CgroupRoot string // no cgroup dir below it, in any hierarchy
	// EmptyDirs must be empty or absent: per-container and per-pod state
	// that removal must not leave behind.
	EmptyDirs []string
	// NetNS are network namespace files (a pinned or `ip netns` path) that
	// must not be mounted any more.
	NetNS []string
	// Bridge may have no port left: a veth on it is a pod's interface that
	// outlived the pod.
	Bridge string
	// IPAMDir is host-local's data dir of the network: no address may stay
	// reserved in it.
	IPAMDir string
	// Subnet (a CIDR) may appear in no iptables nat rule: the portmap
	// plugin's DNAT and masquerade rules for a pod's hostPorts.
	Subnet string
	// Links must not exist (a bridge after its network was removed).
	Links []string
	// NFTables are nftables tables of family ip that must not exist.
	NFTables []string
}

// NoLeaks checks l when t ends, after the cleanups registered later than
// this call (LIFO): register it before what tears the test's objects down.
func NoLeaks(t testing.TB, l Leaks) {
	t.Helper()
	t.Cleanup(func() { CheckNoLeaks(t, l) })
}

// Find lists what is left: mounts under Root/RunRoot and at NetNS, cgroup
// dirs under CgroupRoot, processes whose argv names Root/RunRoot or whose
// cgroup is under CgroupRoot, zombie children of this process, ports of
// Bridge, reservations in IPAMDir, nat rules of Subnet, Links and NFTables.
func (l Leaks) Find() ([]string, error) {
	var out []string
	roots := slices.DeleteFunc([]string{l.Root, l.RunRoot}, func(s string) bool { return s == "" })
	mounts, err := mountinfo.GetMounts(nil)
	if err != nil {
		return nil, err
	}
	for _, m := range mounts {
		for _, r := range roots {
			if m.Mountpoint == r || strings.HasPrefix(m.Mountpoint, r+"/") {
				out = append(out, "mount "+m.Mountpoint+" ("+m.FSType+")")
			}
		}
		if slices.Contains(l.NetNS, m.Mountpoint) {
			out = append(out, "network namespace "+m.Mountpoint)
		}
		if l.CgroupRoot != "" && (m.FSType == "cgroup" || m.FSType == "cgroup2") {
			entries, _ := os.ReadDir(filepath.Join(m.Mountpoint, l.CgroupRoot))
			for _, e := range entries {
				if e.IsDir() {
					out = append(out, "cgroup "+filepath.Join(m.Mountpoint, l.CgroupRoot, e.Name()))
				}
			}
		}
	}
	for _, d := range l.EmptyDirs {
		entries, _ := os.ReadDir(d)
		for _, e := range entries {
			out = append(out, "left in "+d+": "+e.Name())
		}
	}
	procs, err := os.ReadDir("/proc")
	if err != nil {
		return nil, err
	}
	self := os.Getpid()
	for _, p := range procs {
		pid, err := strconv.Atoi(p.Name())
		if err != nil || pid == self {
			continue
		}
		if why := leakedProcess(pid, self, roots, l.CgroupRoot); why != "" {
			out = append(out, fmt.Sprintf("process %d: %s", pid, why))
		}
	}
	netLeaks, err := l.findNetwork()
	if err != nil {
		return nil, err
	}
	return append(out, netLeaks...), nil
}

// findNetwork lists the network objects of l that are left.
func (l Leaks) findNetwork() ([]string, error) {
	var out []string
	if l.Bridge != "" {
		if br, err := netlink.LinkByName(l.Bridge); err == nil {
			links, err := netlink.LinkList()
			if err != nil {
				return nil, err
			}
			for _, link := range links {
				if link.Attrs().MasterIndex == br.Attrs().Index {
					out = append(out, fmt.Sprintf("%s %s on bridge %s", link.Type(), link.Attrs().Name, l.Bridge))
				}
			}
		}
	}
	if l.IPAMDir != "" {
		entries, _ := os.ReadDir(l.IPAMDir)
		for _, e := range entries {
			if net.ParseIP(e.Name()) != nil {
				out = append(out, "address "+e.Name()+" reserved in "+l.IPAMDir)
			}
		}
	}
	if l.Subnet != "" {
		_, subnet, err := net.ParseCIDR(l.Subnet)
		if err != nil {
			return nil, err
		}
		rules, err := exec.Command("iptables-save", "-t", "nat").Output()
		if err != nil {
			return nil, fmt.Errorf("iptables-save: %w", err)
		}
		for _, r := range strings.Split(string(rules), "\n") {
			if mentions(r, subnet) {
				out = append(out, "iptables nat rule: "+r)
			}
		}
	}
	for _, name := range l.Links {
		if link, err := netlink.LinkByName(name); err == nil {
			out = append(out, link.Type()+" "+name)
		}
	}
	if len(l.NFTables) > 0 {
		tables, err := exec.Command("nft", "list", "tables", "ip").Output()
		if err != nil {
			return nil, fmt.Errorf("nft list tables: %w", err)
		}
		for _, line := range strings.Split(string(tables), "\n") {
			if name, ok := strings.CutPrefix(strings.TrimSpace(line), "table ip "); ok && slices.Contains(l.NFTables, name) {
				out = append(out, "nftables table ip "+name)
			}
		}
	}
	return out, nil
}

// mentions tells whether an iptables rule names an address of subnet.
func mentions(rule string, subnet *net.IPNet) bool {
	for _, f := range strings.FieldsFunc(rule, func(r rune) bool { return r == ' ' || r == '/' || r == ':' }) {
		if ip := net.ParseIP(f); ip != nil && subnet.Contains(ip) {
			return true
		}
	}
	return false
}

func leakedProcess(pid, self int, roots []string, cgroupRoot string) string {
	dir := "/proc/" + strconv.Itoa(pid)
	stat, err := os.ReadFile(dir + "/stat")
	if err != nil {
		return "" // gone
	}
	// After the ")" of the command name: state, ppid.
	if i := bytes.LastIndexByte(stat, ')'); i > 0 {
		f := strings.Fields(string(stat[i+1:]))
		if len(f) > 1 && f[0] == "Z" && f[1] == strconv.Itoa(self) {
			return "unreaped zombie child " + string(stat[:i+1])
		}
	}
	cmdline, _ := os.ReadFile(dir + "/cmdline")
	cmd := strings.ReplaceAll(string(bytes.TrimRight(cmdline, "\x00")), "\x00", " ")
	for _, r := range roots {
		if strings.Contains(cmd, r) {
			return cmd
		}
	}
	if cgroupRoot != "" {
		cg, _ := os.ReadFile(dir + "/cgroup")
		if bytes.Contains(cg, []byte(":/"+cgroupRoot+"/")) {
			return "in cgroup /" + cgroupRoot + ": " + cmd
		}
	}
	return ""
}

// settle is how long CheckNoLeaks waits for what a runtime releases
// asynchronously (a conmon exiting after its container).
const settle = 3 * time.Second

// CheckNoLeaks fails t, listing what is left, if anything of l is. It
// polls for a short while before reporting.
func CheckNoLeaks(t testing.TB, l Leaks) {
	t.Helper()
	deadline := time.Now().Add(settle)
	for {
		leaks, err := l.Find()
		if err != nil {
			t.Errorf("leak check: %v", err)
			return
		}
		if len(leaks) == 0 {
			if err := l.removeCgroupRoot(); err != nil {
				t.Errorf("leak check: %v", err)
			}
			return
		}
		if time.Now().After(deadline) {
			t.Errorf("left behind:\n  %s", strings.Join(leaks, "\n  "))
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// removeCgroupRoot removes the test's own (now empty) cgroup root from every
// hierarchy: the runtime creates it on first use and, as the node's cgroup,
// never removes it.
func (l Leaks) removeCgroupRoot() error {
	if l.CgroupRoot == "" {
		return nil
	}
	mounts, err := mountinfo.GetMounts(func(m *mountinfo.Info) (skip, stop bool) {
		return m.FSType != "cgroup" && m.FSType != "cgroup2", false
	})
	if err != nil {
		return err
	}
	var errs []error
	for _, m := range mounts {
		dir := filepath.Join(m.Mountpoint, l.CgroupRoot)
		if err := os.Remove(dir); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
