// Package services is peapod's kube-proxy: it puts Services on the node as
// nftables rules in one table of its own, laid out as kube-proxy's
// nftables mode lays out its "kube-proxy" table (a verdict map from
// clusterIP . protocol . port, numgen random to pick an endpoint, a mark
// and masquerade for what must not keep its source, reject for services
// without endpoints). Rules is the pure part; Proxy applies it.
package services

import (
	"crypto/sha256"
	"encoding/base32"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"sigs.k8s.io/knftables"
)

// Fixed names in the table, kube-proxy's.
const (
	serviceIPsMap         = "service-ips"
	serviceNodePortsMap   = "service-nodeports"
	noEndpointServicesMap = "no-endpoint-services"
	noEndpointNodePorts   = "no-endpoint-nodeports"
	clusterIPsSet         = "cluster-ips"
	clusterIPsCheckChain  = "cluster-ips-check"
	servicesChain         = "services"
	endpointsCheckChain   = "endpoints-check"
	markMasqChain         = "mark-for-masquerade"
	masqueradingChain     = "masquerading"
	rejectChain           = "reject-chain"
	// masqMark is kube-proxy's default masquerade bit.
	masqMark = "0x4000"
)

// Input is what the rules are made of.
type Input struct {
	// PodCIDR is the pod network: traffic to a cluster IP from outside it
	// (the host, 127.0.0.1) is masqueraded so replies come back through
	// the node, as kube-proxy does with --cluster-cidr.
	PodCIDR   string
	Services  []*corev1.Service
	Endpoints []*discoveryv1.EndpointSlice
}

// endpoint is one ready backend of a service port.
type endpoint struct {
	ip   string
	port int32
}

// Rules returns the transaction that replaces the whole table with the
// rules for in: the table is added (so deleting it cannot fail), deleted
// and made anew, in one atomic nft run.
func Rules(tx *knftables.Transaction, in Input) {
	tx.Add(&knftables.Table{})
	tx.Delete(&knftables.Table{})
	tx.Add(&knftables.Table{Comment: knftables.PtrTo("peapod Services (kube-proxy nftables layout)")})

	base := func(name string, typ knftables.BaseChainType, hook knftables.BaseChainHook, prio knftables.BaseChainPriority, rules ...string) {
		tx.Add(&knftables.Chain{Name: name, Type: knftables.PtrTo(typ), Hook: knftables.PtrTo(hook), Priority: knftables.PtrTo(prio)})
		for _, r := range rules {
			tx.Add(&knftables.Rule{Chain: name, Rule: r})
		}
	}
	chain := func(name string, rules ...string) {
		tx.Add(&knftables.Chain{Name: name})
		for _, r := range rules {
			tx.Add(&knftables.Rule{Chain: name, Rule: r})
		}
	}
	chain(markMasqChain, "mark set mark or "+masqMark)
	chain(masqueradingChain,
		"mark and "+masqMark+" == 0 return",
		"mark set mark xor "+masqMark,
		"masquerade fully-random")
	chain(rejectChain, "reject")

	tx.Add(&knftables.Set{Name: clusterIPsSet, Type: "ipv4_addr"})
	for _, m := range []struct{ name, typ string }{
		{serviceIPsMap, "ipv4_addr . inet_proto . inet_service : verdict"},
		{serviceNodePortsMap, "inet_proto . inet_service : verdict"},
		{noEndpointServicesMap, "ipv4_addr . inet_proto . inet_service : verdict"},
		{noEndpointNodePorts, "inet_proto . inet_service : verdict"},
	} {
		tx.Add(&knftables.Map{Name: m.name, Type: m.typ})
	}
	// NodePorts on every local address, 127.0.0.1 included (kube-proxy's
	// iptables mode allowed that; route_localnet on the bridge lets the
	// DNATed packet leave with its loopback source until masquerade).
	chain(servicesChain,
		"ip daddr . meta l4proto . th dport vmap @"+serviceIPsMap,
		"fib daddr type local meta l4proto . th dport vmap @"+serviceNodePortsMap)
	chain(endpointsCheckChain,
		"ip daddr . meta l4proto . th dport vmap @"+noEndpointServicesMap,
		"fib daddr type local meta l4proto . th dport vmap @"+noEndpointNodePorts)

	// Rejects come before DNAT could happen: a filter hook at -110 on
	// every path a new connection to a service takes.
	checkNew := knftables.Concat("ct state new jump", endpointsCheckChain)
	base("filter-input", knftables.FilterType, knftables.InputHook, "-110", checkNew)
	base("filter-forward", knftables.FilterType, knftables.ForwardHook, "-110", checkNew)
	base("filter-output", knftables.FilterType, knftables.OutputHook, "-110", checkNew)
	// What is still addressed to a cluster IP after DNAT matched no
	// service port: refused, as kube-proxy does, rather than routed on
	// (off the node, by the default route).
	chain(clusterIPsCheckChain, "ip daddr @"+clusterIPsSet+" reject")
	base("filter-forward-post-dnat", knftables.FilterType, knftables.ForwardHook, "-90", knftables.Concat("ct state new jump", clusterIPsCheckChain))
	base("filter-output-post-dnat", knftables.FilterType, knftables.OutputHook, "-90", knftables.Concat("ct state new jump", clusterIPsCheckChain))
	base("nat-prerouting", knftables.NATType, knftables.PreroutingHook, knftables.DNATPriority, knftables.Concat("jump", servicesChain))
	// Output too: the host (and 127.0.0.1, for NodePorts) reaches services.
	base("nat-output", knftables.NATType, knftables.OutputHook, knftables.DNATPriority, knftables.Concat("jump", servicesChain))
	postrouting := []string{knftables.Concat("jump", masqueradingChain)}
	if in.PodCIDR != "" {
		// What pods send off the pod network leaves with the node's
		// address, as the bridge plugin's ipMasq would do — one rule here
		// instead of an iptables chain per pod, which cost each pod start
		// and stop a dozen iptables runs.
		postrouting = append(postrouting, knftables.Concat(
			"ip saddr", in.PodCIDR, "ip daddr != {", in.PodCIDR, ", 224.0.0.0/4 } masquerade"))
	}
	base("nat-postrouting", knftables.NATType, knftables.PostroutingHook, knftables.SNATPriority, postrouting...)

	byService := slicesByService(in.Endpoints)
	svcs := slices.Clone(in.Services)
	sort.Slice(svcs, func(i, j int) bool {
		return svcs[i].Namespace+"/"+svcs[i].Name < svcs[j].Namespace+"/"+svcs[j].Name
	})
	for _, svc := range svcs {
		if !proxied(svc) {
			continue
		}
		tx.Add(&knftables.Element{Set: clusterIPsSet, Key: []string{svc.Spec.ClusterIP}})
		for i := range svc.Spec.Ports {
			servicePort(tx, in.PodCIDR, svc, &svc.Spec.Ports[i], byService[svc.Namespace+"/"+svc.Name])
		}
	}
}

// proxied: kube-proxy leaves headless and ExternalName services to DNS.
func proxied(svc *corev1.Service) bool {
	ip := svc.Spec.ClusterIP
	return svc.Spec.Type != corev1.ServiceTypeExternalName && ip != "" && ip != corev1.ClusterIPNone && !strings.Contains(ip, ":")
}

func slicesByService(all []*discoveryv1.EndpointSlice) map[string][]*discoveryv1.EndpointSlice {
	out := map[string][]*discoveryv1.EndpointSlice{}
	for _, s := range all {
		name := s.Labels[discoveryv1.LabelServiceName]
		if name == "" || s.AddressType != discoveryv1.AddressTypeIPv4 {
			continue
		}
		out[s.Namespace+"/"+name] = append(out[s.Namespace+"/"+name], s)
	}
	return out
}

// endpointsFor picks sp's backends from the service's slices: the ready
// ones, or if none is, the serving terminating ones (kube-proxy's
// fallback, so connections drain rather than fail).
func endpointsFor(sp *corev1.ServicePort, slices []*discoveryv1.EndpointSlice) []endpoint {
	var ready, terminating []endpoint
	seen := map[endpoint]bool{}
	for _, s := range slices {
		var port int32
		found := false
		for _, p := range s.Ports {
			name, proto := "", corev1.ProtocolTCP
			if p.Name != nil {
				name = *p.Name
			}
			if p.Protocol != nil {
				proto = *p.Protocol
			}
			if name == sp.Name && proto == sp.Protocol && p.Port != nil {
				port, found = *p.Port, true
				break
			}
		}
		if !found {
			continue
		}
		for _, ep := range s.Endpoints {
			if len(ep.Addresses) == 0 {
				continue
			}
			e := endpoint{ip: ep.Addresses[0], port: port}
			if seen[e] {
				continue
			}
			c := ep.Conditions
			switch {
			case c.Ready == nil || *c.Ready:
				ready = append(ready, e)
			case c.Serving != nil && *c.Serving && c.Terminating != nil && *c.Terminating:
				terminating = append(terminating, e)
			default:
				continue
			}
			seen[e] = true
		}
	}
	out := ready
	if len(out) == 0 {
		out = terminating
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].ip != out[j].ip {
			return out[i].ip < out[j].ip
		}
		return out[i].port < out[j].port
	})
	return out
}

// chainName is kube-proxy's: a hash for uniqueness, then something a
// human can read in `nft list table`.
func chainName(prefix, readable string) string {
	h := sha256.Sum256([]byte(readable))
	return prefix + "-" + base32.StdEncoding.EncodeToString(h[:])[:8] + "-" + readable
}

func servicePort(tx *knftables.Transaction, podCIDR string, svc *corev1.Service, sp *corev1.ServicePort, slices []*discoveryv1.EndpointSlice) {
	proto := strings.ToLower(string(sp.Protocol))
	if proto == "" {
		proto = "tcp"
	}
	portName := svc.Namespace + "/" + svc.Name + "/" + proto + "/" + sp.Name
	ip := svc.Spec.ClusterIP
	nodePort := sp.NodePort != 0 && (svc.Spec.Type == corev1.ServiceTypeNodePort || svc.Spec.Type == corev1.ServiceTypeLoadBalancer)
	eps := endpointsFor(sp, slices)
	if len(eps) == 0 {
		tx.Add(&knftables.Element{Map: noEndpointServicesMap, Key: []string{ip, proto, fmt.Sprint(sp.Port)}, Value: []string{"goto " + rejectChain}, Comment: &portName})
		if nodePort {
			tx.Add(&knftables.Element{Map: noEndpointNodePorts, Key: []string{proto, fmt.Sprint(sp.NodePort)}, Value: []string{"goto " + rejectChain}, Comment: &portName})
		}
		return
	}
	svcChain := chainName("service", portName)
	tx.Add(&knftables.Chain{Name: svcChain})
	masq := knftables.Concat("ip daddr", ip, proto, "dport", sp.Port)
	if podCIDR != "" {
		masq = knftables.Concat(masq, "ip saddr !=", podCIDR)
	}
	tx.Add(&knftables.Rule{Chain: svcChain, Rule: knftables.Concat(masq, "jump", markMasqChain)})
	affinity := affinityTimeout(svc)
	var vmap []string
	for i, e := range eps {
		readable := fmt.Sprintf("%s__%s/%d", portName, e.ip, e.port)
		epChain := chainName("endpoint", readable)
		tx.Add(&knftables.Chain{Name: epChain})
		// Hairpin: a pod reaching itself through the service must not
		// see its own address as the source, or it answers itself.
		tx.Add(&knftables.Rule{Chain: epChain, Rule: knftables.Concat("ip saddr", e.ip, "jump", markMasqChain)})
		if affinity > 0 {
			// ClientIP affinity, as kube-proxy's nftables mode keeps it: a
			// set of the clients this endpoint served, each for the
			// timeout, looked at before the random pick.
			set := chainName("affinity", readable)
			tx.Add(&knftables.Set{Name: set, Type: "ipv4_addr", Flags: []knftables.SetFlag{knftables.DynamicFlag, knftables.TimeoutFlag}, Timeout: &affinity})
			tx.Add(&knftables.Rule{Chain: epChain, Rule: knftables.Concat("update @"+set, "{ ip saddr }")})
			tx.Add(&knftables.Rule{Chain: svcChain, Rule: knftables.Concat("ip saddr @"+set, "goto", epChain)})
		}
		tx.Add(&knftables.Rule{Chain: epChain, Rule: knftables.Concat("meta l4proto", proto, "dnat to", fmt.Sprintf("%s:%d", e.ip, e.port))})
		vmap = append(vmap, fmt.Sprintf("%d : goto %s", i, epChain))
	}
	tx.Add(&knftables.Rule{Chain: svcChain, Rule: knftables.Concat("numgen random mod", len(eps), "vmap {", strings.Join(vmap, " , "), "}")})
	tx.Add(&knftables.Element{Map: serviceIPsMap, Key: []string{ip, proto, fmt.Sprint(sp.Port)}, Value: []string{"goto " + svcChain}, Comment: &portName})
	if nodePort {
		// externalTrafficPolicy Cluster: the node may forward to a pod
		// elsewhere, so the source is always rewritten.
		extChain := chainName("external", portName)
		tx.Add(&knftables.Chain{Name: extChain})
		tx.Add(&knftables.Rule{Chain: extChain, Rule: "jump " + markMasqChain})
		tx.Add(&knftables.Rule{Chain: extChain, Rule: "goto " + svcChain})
		tx.Add(&knftables.Element{Map: serviceNodePortsMap, Key: []string{proto, fmt.Sprint(sp.NodePort)}, Value: []string{"goto " + extChain}, Comment: &portName})
	}
}

// affinityTimeout is how long a ClientIP session sticks (0: no affinity).
func affinityTimeout(svc *corev1.Service) time.Duration {
	if svc.Spec.SessionAffinity != corev1.ServiceAffinityClientIP {
		return 0
	}
	secs := int32(corev1.DefaultClientIPServiceAffinitySeconds)
	if c := svc.Spec.SessionAffinityConfig; c != nil && c.ClientIP != nil && c.ClientIP.TimeoutSeconds != nil {
		secs = *c.ClientIP.TimeoutSeconds
	}
	return time.Duration(secs) * time.Second
}
