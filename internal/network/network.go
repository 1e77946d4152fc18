// Package network puts pod sandboxes on the pod network through CNI: libcni
// runs Debian's bridge, host-local and portmap plugins with a network list
// peapod writes into its own directory, so nothing under /etc/cni or
// /var/lib/cni is read or changed.
//
// All state (the conflist, libcni's result cache, host-local's address
// reservations) lives under one directory in peapod's run root: it is
// valid exactly as long as the namespaces, veths and iptables rules it
// describes, which a reboot ends too.
package network

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/containernetworking/cni/libcni"
	"github.com/containernetworking/cni/pkg/invoke"
	cnitypes "github.com/containernetworking/cni/pkg/types"
	cni100 "github.com/containernetworking/cni/pkg/types/100"
	"github.com/containernetworking/plugins/pkg/ns"
	"github.com/coreos/go-iptables/iptables"
	"github.com/vishvananda/netlink"
	corev1 "k8s.io/api/core/v1"
)

// Defaults of Config.
const (
	DefaultBridge    = "peapod0"
	DefaultPodCIDR   = "10.88.0.0/16"
	DefaultPluginDir = "/usr/lib/cni"
	// NetworkName names the CNI network: it is part of libcni's cache file
	// names, host-local's data directory and the plugins' chain names.
	NetworkName = "peapod"
	// ifName is the pod's interface, as every CNI runtime names it.
	ifName = "eth0"
)

// Config says where the pod network lives.
type Config struct {
	// Dir holds peapod's CNI state: net.d/ (the conflist), cache/ (libcni's
	// results) and networks/ (host-local's reservations).
	Dir        string
	PluginDirs []string // default DefaultPluginDir
	Bridge     string   // default DefaultBridge
	PodCIDR    string   // IPv4; default DefaultPodCIDR
}

// PortMapping is a hostPort, in the portmap plugin's runtimeConfig form.
type PortMapping struct {
	HostPort      int32  `json:"hostPort"`
	ContainerPort int32  `json:"containerPort"`
	Protocol      string `json:"protocol"`
	HostIP        string `json:"hostIP,omitempty"` // "" (or 0.0.0.0): every host address
}

// CNI attaches sandboxes to the pod network. It is safe for concurrent use:
// the plugins lock what they share (host-local its store, iptables its
// tables with --wait).
type CNI struct {
	cfg  Config
	cni  *libcni.CNIConfig
	list *libcni.NetworkConfigList
	// noPorts is list without portmap, for pods without hostPorts: a
	// plugin run is a process (~15 ms of CPU here), and portmap has
	// nothing to do for them.
	noPorts *libcni.NetworkConfigList
	subnet  *net.IPNet
	gateway net.IP
}

// New checks cfg, writes the conflist and returns the network. The bridge
// appears with the first attachment.
func New(cfg Config) (*CNI, error) {
	if cfg.Bridge == "" {
		cfg.Bridge = DefaultBridge
	}
	if cfg.PodCIDR == "" {
		cfg.PodCIDR = DefaultPodCIDR
	}
	if len(cfg.PluginDirs) == 0 {
		cfg.PluginDirs = []string{DefaultPluginDir}
	}
	if len(cfg.Bridge) > 15 || strings.ContainsAny(cfg.Bridge, "/ \t") {
		return nil, fmt.Errorf("pod network: bad bridge name %q", cfg.Bridge)
	}
	subnet, gateway, err := parseCIDR(cfg.PodCIDR)
	if err != nil {
		return nil, err
	}
	// Found, not run: asking each plugin its version costs an exec apiece
	// on every start.
	for _, p := range []string{"bridge", "host-local", "portmap"} {
		if _, err := invoke.FindInPath(p, cfg.PluginDirs); err != nil {
			return nil, fmt.Errorf("pod network: CNI plugin %s in %v: %w (install containernetworking-plugins)", p, cfg.PluginDirs, err)
		}
	}
	if err := checkOverlap(subnet, cfg.Bridge); err != nil {
		return nil, err
	}
	data, err := Conflist(cfg.Bridge, subnet, gateway, filepath.Join(cfg.Dir, "networks"))
	if err != nil {
		return nil, err
	}
	netd := filepath.Join(cfg.Dir, "net.d")
	if err := os.MkdirAll(netd, 0o700); err != nil {
		return nil, fmt.Errorf("pod network: %w", err)
	}
	if err := os.WriteFile(filepath.Join(netd, NetworkName+".conflist"), data, 0o600); err != nil {
		return nil, fmt.Errorf("pod network: %w", err)
	}
	list, err := libcni.ConfListFromBytes(data)
	if err != nil {
		return nil, fmt.Errorf("pod network: %w", err)
	}
	noPorts, err := withoutPortmap(data)
	if err != nil {
		return nil, fmt.Errorf("pod network: %w", err)
	}
	return &CNI{
		cfg:     cfg,
		cni:     libcni.NewCNIConfigWithCacheDir(cfg.PluginDirs, filepath.Join(cfg.Dir, "cache"), nil),
		list:    list,
		noPorts: noPorts,
		subnet:  subnet,
		gateway: gateway,
	}, nil
}

// Gateway is the bridge's address in the pod network cidr: the address
// pods reach the node on.
func Gateway(cidr string) (netip.Addr, error) {
	_, gw, err := parseCIDR(cidr)
	if err != nil {
		return netip.Addr{}, err
	}
	a, _ := netip.AddrFromSlice(gw)
	return a, nil
}

// parseCIDR takes an IPv4 network with room for a gateway and a pod; the
// gateway, the bridge's address, is its first host address.
func parseCIDR(s string) (*net.IPNet, net.IP, error) {
	_, subnet, err := net.ParseCIDR(s)
	if err != nil {
		return nil, nil, fmt.Errorf("pod network: --pod-cidr: %w", err)
	}
	ones, bits := subnet.Mask.Size()
	if subnet.IP.To4() == nil || bits-ones < 2 {
		return nil, nil, fmt.Errorf("pod network: --pod-cidr %s: want an IPv4 network of at least 4 addresses", s)
	}
	gw := slices.Clone(subnet.IP.To4())
	gw[3]++
	return subnet, gw, nil
}

// checkOverlap refuses a pod CIDR that an interface other than the bridge
// already has an address in (podman's cni-podman0 uses 10.88.0.0/16 too):
// the kernel would route pod traffic to whichever it met first. One dump
// of every address, not one per link: a node with a hundred pods has a
// hundred host-side veths.
func checkOverlap(subnet *net.IPNet, bridge string) error {
	addrs, err := netlink.AddrList(nil, netlink.FAMILY_V4)
	if err != nil {
		return fmt.Errorf("pod network: %w", err)
	}
	own := -1
	if l, err := netlink.LinkByName(bridge); err == nil {
		own = l.Attrs().Index
	}
	for _, a := range addrs {
		if a.LinkIndex == own || !(subnet.Contains(a.IP) || a.IPNet.Contains(subnet.IP)) {
			continue
		}
		name := fmt.Sprintf("interface %d", a.LinkIndex)
		if l, err := netlink.LinkByIndex(a.LinkIndex); err == nil {
			name = l.Attrs().Name
		}
		return fmt.Errorf("pod network: pod CIDR %s overlaps %s on %s; choose another with --pod-cidr", subnet, a.IPNet, name)
	}
	return nil
}

// Conflist is the network list: a bridge that is the pods' gateway, with
// hairpin so a pod reaches itself through its own hostPort; host-local
// addresses; portmap for hostPorts. No loopback plugin: the runtime brings
// lo up itself. No ipMasq: the services table masquerades what leaves the
// pod network with one rule (internal/network/services).
func Conflist(bridge string, subnet *net.IPNet, gateway net.IP, dataDir string) ([]byte, error) {
	type obj = map[string]any
	list := obj{
		"cniVersion": "1.0.0",
		"name":       NetworkName,
		"plugins": []obj{
			{
				"type":        "bridge",
				"bridge":      bridge,
				"isGateway":   true,
				"ipMasq":      false,
				"hairpinMode": true,
				"ipam": obj{
					"type":    "host-local",
					"dataDir": dataDir,
					"ranges":  [][]obj{{{"subnet": subnet.String(), "gateway": gateway.String()}}},
					"routes":  []obj{{"dst": "0.0.0.0/0"}},
				},
			},
			{"type": "portmap", "capabilities": obj{"portMappings": true}},
		},
	}
	return json.MarshalIndent(list, "", "  ")
}

// withoutPortmap is the network list conflist holds without its portmap
// plugin (the last).
func withoutPortmap(conflist []byte) (*libcni.NetworkConfigList, error) {
	var raw map[string]any
	if err := json.Unmarshal(conflist, &raw); err != nil {
		return nil, err
	}
	plugins, _ := raw["plugins"].([]any)
	if len(plugins) == 0 {
		return nil, errors.New("network list without plugins")
	}
	raw["plugins"] = plugins[:len(plugins)-1]
	b, err := json.Marshal(raw)
	if err != nil {
		return nil, err
	}
	return libcni.ConfListFromBytes(b)
}

// listFor is the network list a sandbox with ports is attached with.
func (c *CNI) listFor(ports []PortMapping) *libcni.NetworkConfigList {
	if len(ports) == 0 {
		return c.noPorts
	}
	return c.list
}

// HostIP is the node's address as pods see it, the bridge's: status.hostIP.
func (c *CNI) HostIP() net.IP { return c.gateway }

func (c *CNI) runtimeConf(sandboxID, netns string, ports []PortMapping) *libcni.RuntimeConf {
	rt := &libcni.RuntimeConf{ContainerID: sandboxID, NetNS: netns, IfName: ifName}
	if len(ports) > 0 {
		rt.CapabilityArgs = map[string]any{"portMappings": ports}
	}
	return rt
}

// Attach gives sandbox its interface and address in netns and its
// hostPorts, and returns its IPs. A sandbox attached before (by an earlier
// peapod: the sandbox was adopted) keeps its cached address.
func (c *CNI) Attach(ctx context.Context, sandboxID, netns string, ports []PortMapping) ([]net.IP, error) {
	rt := c.runtimeConf(sandboxID, netns, ports)
	list := c.listFor(ports)
	if att := c.cached(sandboxID); att != nil && att.NetNS == netns {
		if res, err := c.cni.GetNetworkListCachedResult(list, rt); err == nil && res != nil {
			if ips, err := resultIPs(res); err == nil && len(ips) > 0 {
				return ips, nil
			}
		}
	}
	// A second try follows the DEL of a failed one: an ADD cut short by a
	// kill of peapod leaves the interface in the netns, unknown to the
	// cache, and the bridge plugin refuses to make it again.
	var err error
	for try := 0; try < 2 && ctx.Err() == nil; try++ {
		var res cnitypes.Result
		res, err = c.cni.AddNetworkList(ctx, list, rt)
		if err == nil {
			var ips []net.IP
			if ips, err = resultIPs(res); err == nil && len(ips) > 0 {
				return ips, nil
			}
			if err == nil {
				err = errors.New("no address in the CNI result")
			}
		}
		// libcni leaves what the plugins before the failing one made.
		if derr := c.cni.DelNetworkList(context.WithoutCancel(ctx), list, rt); derr != nil {
			err = errors.Join(err, derr)
			break
		}
	}
	if err == nil {
		err = ctx.Err()
	}
	return nil, fmt.Errorf("sandbox %s: attach to the pod network: %w", sandboxID, err)
}

func resultIPs(r cnitypes.Result) ([]net.IP, error) {
	res, err := cni100.NewResultFromResult(r)
	if err != nil {
		return nil, err
	}
	var ips []net.IP
	for _, ipc := range res.IPs {
		ips = append(ips, ipc.Address.IP)
	}
	return ips, nil
}

// Detach removes sandbox's interface, address reservation and hostPort
// rules. netns may be gone already: the interface went with it, and the
// plugins release the rest (the list has no ipMasq, whose rule the bridge
// plugin could find only through the interface). Detaching twice, or a
// sandbox never attached, is fine.
func (c *CNI) Detach(ctx context.Context, sandboxID, netns string) error {
	if err := c.del(ctx, c.runtimeConf(sandboxID, netns, nil)); err != nil {
		return fmt.Errorf("sandbox %s: detach from the pod network: %w", sandboxID, err)
	}
	return nil
}

// cached is libcni's record of sandbox's attachment, or nil.
func (c *CNI) cached(sandboxID string) *libcni.NetworkAttachment {
	atts, _ := c.cni.GetCachedAttachments(sandboxID)
	for _, a := range atts {
		if a.Network == NetworkName && a.IfName == ifName {
			return a
		}
	}
	return nil
}

// delPortMappings stands in for the mappings of a sandbox attached
// without a cache record: portmap skips DEL without any, yet removes
// the sandbox's chains by name whatever they are.
var delPortMappings = []PortMapping{{HostPort: 1, ContainerPort: 1, Protocol: "tcp"}}

// del runs DEL, also for a sandbox whose netns is gone: the plugins then
// release what they find by the sandbox's ID.
func (c *CNI) del(ctx context.Context, rt *libcni.RuntimeConf) error {
	list := c.list
	if att := c.cached(rt.ContainerID); att != nil {
		rt.CapabilityArgs = att.CapabilityArgs
		rt.NetNS = cmpOr(rt.NetNS, att.NetNS)
		if att.CapabilityArgs["portMappings"] == nil {
			list = c.noPorts // attached without portmap
		}
	} else {
		rt.CapabilityArgs = map[string]any{"portMappings": delPortMappings}
	}
	if rt.NetNS != "" {
		if n, err := ns.GetNS(rt.NetNS); err != nil {
			rt.NetNS = ""
		} else {
			n.Close()
		}
	}
	return c.cni.DelNetworkList(ctx, list, rt)
}

// Reconcile detaches every sandbox the network knows (from libcni's cache
// and host-local's reservations) that is not in live: what a crash, or a
// sandbox removed without Detach, left behind. Entries newer than the call
// are left alone: another peapod on the same root may be attaching them.
func (c *CNI) Reconcile(ctx context.Context, live []string) error {
	start := time.Now()
	type stale struct{ netns, ifName string }
	found := map[string]*stale{}
	keep := func(id string, file string) bool {
		fi, err := os.Stat(file)
		return slices.Contains(live, id) || err != nil || fi.ModTime().After(start)
	}
	atts, err := c.cni.GetCachedAttachments("")
	if err != nil {
		return fmt.Errorf("pod network: reconcile: %w", err)
	}
	for _, a := range atts {
		file := filepath.Join(c.cfg.Dir, "cache", "results", fmt.Sprintf("%s-%s-%s", a.Network, a.ContainerID, a.IfName))
		if a.Network != NetworkName || keep(a.ContainerID, file) {
			continue
		}
		found[a.ContainerID] = &stale{netns: a.NetNS, ifName: a.IfName}
	}
	dir := filepath.Join(c.cfg.Dir, "networks", NetworkName)
	entries, err := os.ReadDir(dir)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("pod network: reconcile: %w", err)
	}
	for _, e := range entries {
		addr := net.ParseIP(e.Name())
		if addr == nil {
			continue // last_reserved_ip.0, lock
		}
		data, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			continue
		}
		id, ifn, _ := strings.Cut(string(data), "\r\n")
		id = strings.TrimSpace(id)
		if id == "" || keep(id, filepath.Join(dir, e.Name())) {
			continue
		}
		if found[id] == nil {
			found[id] = &stale{ifName: cmpOr(ifn, ifName)}
		}
	}
	var errs []error
	for id, s := range found {
		rt := &libcni.RuntimeConf{ContainerID: id, NetNS: s.netns, IfName: s.ifName}
		if err := c.del(ctx, rt); err != nil {
			errs = append(errs, fmt.Errorf("sandbox %s: release from the pod network: %w", id, err))
		}
	}
	return errors.Join(errs...)
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// Top-level chains of the portmap plugin, shared by every CNI network on
// the host, and the rules that jump to them.
var portmapEntries = []struct{ chain, target string }{
	{"PREROUTING", "CNI-HOSTPORT-DNAT"},
	{"OUTPUT", "CNI-HOSTPORT-DNAT"},
	{"POSTROUTING", "CNI-HOSTPORT-MASQ"},
}

var portmapEntryRules = map[string][]string{
	"CNI-HOSTPORT-DNAT": {"-m", "addrtype", "--dst-type", "LOCAL"},
	"CNI-HOSTPORT-MASQ": {"-m", "comment", "--comment", "CNI portfwd requiring masquerade"},
}

// Remove takes the whole network away: every attachment, the bridge, and
// the portmap plugin's shared chains if no other network has a hostPort
// in them. peapod keeps its bridge while it runs; tests and uninstalls
// call this.
func (c *CNI) Remove(ctx context.Context) error {
	var errs []error
	if err := c.Reconcile(ctx, nil); err != nil {
		errs = append(errs, err)
	}
	if l, err := netlink.LinkByName(c.cfg.Bridge); err == nil {
		if err := netlink.LinkDel(l); err != nil {
			errs = append(errs, fmt.Errorf("pod network: remove bridge %s: %w", c.cfg.Bridge, err))
		}
	}
	ipt, err := iptables.NewWithProtocol(iptables.ProtocolIPv4)
	if err != nil {
		return errors.Join(append(errs, err)...)
	}
	if rules, err := ipt.List("nat", "CNI-HOSTPORT-DNAT"); err == nil && len(rules) <= 1 { // only "-N CNI-HOSTPORT-DNAT"
		for _, e := range portmapEntries {
			rule := append(slices.Clone(portmapEntryRules[e.target]), "-j", e.target)
			if err := deleteEvery(ipt, "nat", e.chain, rule); err != nil {
				errs = append(errs, err)
			}
		}
		for _, ch := range []string{"CNI-HOSTPORT-DNAT", "CNI-HOSTPORT-SETMARK", "CNI-HOSTPORT-MASQ"} {
			if err := ipt.ClearAndDeleteChain("nat", ch); err != nil {
				errs = append(errs, err)
			}
		}
	}
	return errors.Join(errs...)
}

// deleteEvery deletes every copy of rule from chain. The portmap plugin
// checks for its entry rule and then inserts it, two iptables calls, so
// two pods' first ADDs at once can both insert it.
func deleteEvery(ipt *iptables.IPTables, table, chain string, rule []string) error {
	for {
		ok, err := ipt.Exists(table, chain, rule...)
		if err != nil || !ok {
			return err
		}
		if err := ipt.Delete(table, chain, rule...); err != nil {
			return fmt.Errorf("pod network: delete %s rule %v: %w", chain, rule, err)
		}
	}
}

// PortMappings are the pod's hostPorts, as the kubelet's MakePortMappings
// takes them from its containers: protocol TCP by default, each
// (protocol, hostIP, hostPort) once.
func PortMappings(pod *corev1.Pod) []PortMapping {
	var out []PortMapping
	seen := map[string]bool{}
	for _, c := range pod.Spec.Containers {
		for _, p := range c.Ports {
			if p.HostPort == 0 {
				continue
			}
			proto := strings.ToLower(cmpOr(string(p.Protocol), string(corev1.ProtocolTCP)))
			key := fmt.Sprintf("%s/%s/%d", proto, p.HostIP, p.HostPort)
			if seen[key] {
				continue
			}
			seen[key] = true
			out = append(out, PortMapping{HostPort: p.HostPort, ContainerPort: p.ContainerPort, Protocol: proto, HostIP: p.HostIP})
		}
	}
	return out
}
