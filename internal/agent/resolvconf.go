package agent

import (
	"bufio"
	"bytes"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
)

// DNS limits the kubelet applies to a pod's resolv.conf.
const (
	maxNameservers   = 3
	maxSearches      = 32
	maxSearchListLen = 2048
)

// dnsConfig is a parsed or generated resolv.conf.
type dnsConfig struct {
	nameservers, searches, options []string
}

// parseResolvConf reads the nameserver, search/domain and options lines of
// a resolv.conf.
func parseResolvConf(data []byte) dnsConfig {
	var c dnsConfig
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 2 || strings.HasPrefix(f[0], "#") || strings.HasPrefix(f[0], ";") {
			continue
		}
		switch f[0] {
		case "nameserver":
			c.nameservers = append(c.nameservers, f[1])
		case "search", "domain": // the last of them wins, as in the resolver
			c.searches = append([]string{}, f[1:]...)
		case "options":
			c.options = append(c.options, f[1:]...)
		}
	}
	return c
}

// resolvConf is the pod's /etc/resolv.conf by its dnsPolicy and dnsConfig,
// as the kubelet builds it (pkg/kubelet/network/dns). hostResolv is the
// node's resolv.conf; clusterDNS the cluster DNS server IPs (none until
// cluster DNS exists, in which case ClusterFirst falls back to Default).
func resolvConf(pod *corev1.Pod, hostResolv []byte, clusterDNS []string, clusterDomain string) []byte {
	host := parseResolvConf(hostResolv)
	policy := pod.Spec.DNSPolicy
	if policy == "" {
		policy = corev1.DNSClusterFirst
	}
	if policy == corev1.DNSClusterFirst && pod.Spec.HostNetwork {
		policy = corev1.DNSDefault
	}
	if (policy == corev1.DNSClusterFirst || policy == corev1.DNSClusterFirstWithHostNet) && len(clusterDNS) == 0 {
		policy = corev1.DNSDefault
	}
	var c dnsConfig
	switch policy {
	case corev1.DNSClusterFirst, corev1.DNSClusterFirstWithHostNet:
		ns := pod.Namespace
		c.nameservers = append([]string{}, clusterDNS...)
		c.searches = appendUnique(nil, ns+".svc."+clusterDomain, "svc."+clusterDomain, clusterDomain)
		c.searches = appendUnique(c.searches, host.searches...)
		c.options = []string{"ndots:5"}
	case corev1.DNSDefault:
		c = host
	case corev1.DNSNone:
	}
	if dc := pod.Spec.DNSConfig; dc != nil {
		c.nameservers = appendUnique(c.nameservers, dc.Nameservers...)
		c.searches = appendUnique(c.searches, dc.Searches...)
		for _, o := range dc.Options {
			opt := o.Name
			if o.Value != nil {
				opt += ":" + *o.Value
			}
			c.options = mergeOption(c.options, opt)
		}
	}
	c.nameservers = c.nameservers[:min(len(c.nameservers), maxNameservers)]
	c.searches = limitSearches(c.searches)

	var b strings.Builder
	if len(c.searches) > 0 {
		b.WriteString("search " + strings.Join(c.searches, " ") + "\n")
	}
	for _, s := range c.nameservers {
		b.WriteString("nameserver " + s + "\n")
	}
	if len(c.options) > 0 {
		b.WriteString("options " + strings.Join(c.options, " ") + "\n")
	}
	return []byte(b.String())
}

func appendUnique(list []string, more ...string) []string {
	for _, m := range more {
		if m != "" && !slices.Contains(list, m) {
			list = append(list, m)
		}
	}
	return list
}

// mergeOption adds opt ("name" or "name:value"), replacing an option of
// the same name: the pod's value wins.
func mergeOption(opts []string, opt string) []string {
	name, _, _ := strings.Cut(opt, ":")
	for i, o := range opts {
		if n, _, _ := strings.Cut(o, ":"); n == name {
			opts[i] = opt
			return opts
		}
	}
	return append(opts, opt)
}

// limitSearches drops search domains over 253 characters, then keeps at
// most maxSearches of them within maxSearchListLen characters.
func limitSearches(searches []string) []string {
	var out []string
	n := 0
	for _, s := range searches {
		if len(s) > 253 {
			continue
		}
		if len(out) == maxSearches || n+len(s)+len(out) > maxSearchListLen {
			break
		}
		out = append(out, s)
		n += len(s)
	}
	return out
}
