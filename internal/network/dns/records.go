package dns

import (
	"net"
	"net/netip"
	"strings"

	"github.com/miekg/dns"
	corev1 "k8s.io/api/core/v1"
)

// target is one answer before it becomes records, as CoreDNS's
// msg.Service: an address or, for ExternalName, a host name; the port
// (-1 for none) and the name SRV records point at.
type target struct {
	host string
	port int
	name string
}

// answer is the reply for a name in the cluster domain, following CoreDNS's
// kubernetes plugin (parseRequest, Records, findServices, findPods):
//
//	<svc>.<ns>.svc.<zone>                  the ClusterIPs, or the ready endpoints of a headless service
//	<endpoint>.<svc>.<ns>.svc.<zone>       an endpoint by hostname or dashed address
//	_<port>._<proto>.<svc>.<ns>.svc.<zone> SRV per matching port
//	<a-b-c-d>.<ns>.pod.<zone>              a pod's address
//
// A name that matches nothing is NXDOMAIN; one that exists without records
// of the asked type is NODATA; both carry the zone's SOA.
func (s *Server) answer(r *dns.Msg, name string, qtype uint16) *dns.Msg {
	qname := r.Question[0].Name
	targets, exists := s.lookup(name)
	if !exists {
		m := s.reply(r, dns.RcodeNameError)
		m.Ns = []dns.RR{s.soa()}
		return m
	}
	m := s.reply(r, dns.RcodeSuccess)
	if name == s.zone {
		switch qtype {
		case dns.TypeSOA:
			m.Answer = []dns.RR{s.soa()}
		case dns.TypeNS:
			m.Answer = []dns.RR{&dns.NS{Hdr: s.hdr(qname, dns.TypeNS), Ns: "ns.dns." + s.zone}}
		}
	}
	seen, seenExtra := map[string]bool{}, map[string]bool{}
	for _, t := range targets {
		addr, err := netip.ParseAddr(t.host)
		if err != nil { // ExternalName: a CNAME answers every type
			m.Answer = append(m.Answer, &dns.CNAME{Hdr: s.hdr(qname, dns.TypeCNAME), Target: dns.Fqdn(t.host)})
			break
		}
		switch {
		case qtype == dns.TypeA && addr.Is4() && !seen[t.host]:
			m.Answer = append(m.Answer, &dns.A{Hdr: s.hdr(qname, dns.TypeA), A: net.IP(addr.AsSlice())})
		case qtype == dns.TypeAAAA && addr.Is6() && !seen[t.host]:
			m.Answer = append(m.Answer, &dns.AAAA{Hdr: s.hdr(qname, dns.TypeAAAA), AAAA: net.IP(addr.AsSlice())})
		case qtype == dns.TypeSRV && t.port >= 0:
			m.Answer = append(m.Answer, &dns.SRV{Hdr: s.hdr(qname, dns.TypeSRV), Priority: 0, Port: uint16(t.port), Target: t.name})
			if seenExtra[t.name+" "+t.host] {
				break
			}
			seenExtra[t.name+" "+t.host] = true
			if addr.Is4() {
				m.Extra = append(m.Extra, &dns.A{Hdr: s.hdr(t.name, dns.TypeA), A: net.IP(addr.AsSlice())})
			} else {
				m.Extra = append(m.Extra, &dns.AAAA{Hdr: s.hdr(t.name, dns.TypeAAAA), AAAA: net.IP(addr.AsSlice())})
			}
		}
		seen[t.host] = true
	}
	// SRV weights share 100 among the records, as CoreDNS does within a
	// priority.
	for _, rr := range m.Answer {
		if srv, ok := rr.(*dns.SRV); ok {
			srv.Weight = uint16(max(100/len(m.Answer), 1))
		}
	}
	if len(m.Answer) == 0 {
		m.Ns = []dns.RR{s.soa()}
	}
	return m
}

// lookup finds what name (lower case, in the zone) stands for; exists is
// false for NXDOMAIN.
func (s *Server) lookup(name string) (targets []target, exists bool) {
	base := strings.TrimSuffix(strings.TrimSuffix(name, s.zone), ".")
	if base == "" {
		return nil, true
	}
	segs := dns.SplitDomainName(base)
	last := len(segs) - 1
	kind := segs[last]
	if kind != "svc" && kind != "pod" {
		// CoreDNS says NXDOMAIN to <name>.<zone>, but busybox's nslookup
		// asks it for every dotless name (the search list's last entry)
		// and exits 1 on an NXDOMAIN even when the first entry found the
		// Service: NODATA keeps `until nslookup myservice` working and
		// tells any resolver the same (no address).
		return nil, len(segs) == 1
	}
	if last == 0 {
		return nil, true
	}
	ns := segs[last-1]
	rest := segs[:last-1] // what is left of the namespace, leftmost first
	if len(rest) == 0 {
		// Any namespace is NODATA, as in CoreDNS since it stopped
		// watching namespaces: <name>.svc.<zone>, the search list's
		// middle entry, never fails a lookup.
		return nil, true
	}
	if kind == "pod" {
		if len(rest) != 1 {
			return nil, false
		}
		ip := podIP(rest[0])
		if ip == "" || !s.cfg.Source.PodIP(ns, ip) {
			return nil, false
		}
		return []target{{host: ip, port: -1}}, true
	}
	svc := s.cfg.Source.Service(ns, rest[len(rest)-1])
	if svc == nil {
		return nil, false
	}
	var endpoint, port, proto string
	switch len(rest) {
	case 1:
	case 2:
		endpoint = rest[0]
	case 3:
		port, proto = strings.TrimPrefix(rest[0], "_"), strings.TrimPrefix(rest[1], "_")
	default:
		return nil, false
	}
	targets = s.serviceTargets(svc, endpoint, port, proto)
	return targets, len(targets) > 0
}

// serviceTargets is CoreDNS's findServices for one Service: nothing found
// (no matching port, a headless service without ready endpoints) is
// NXDOMAIN there too.
func (s *Server) serviceTargets(svc *corev1.Service, endpoint, port, proto string) []target {
	svcName := svc.Name + "." + svc.Namespace + ".svc." + s.zone
	if svc.Spec.Type == corev1.ServiceTypeExternalName {
		if endpoint != "" || svc.Spec.ExternalName == "" {
			return nil
		}
		return []target{{host: svc.Spec.ExternalName, port: -1, name: svcName}}
	}
	var out []target
	if svc.Spec.ClusterIP == corev1.ClusterIPNone || endpoint != "" {
		for _, sl := range s.cfg.Source.EndpointSlices(svc.Namespace, svc.Name) {
			for _, ep := range sl.Endpoints {
				if ep.Conditions.Ready != nil && !*ep.Conditions.Ready {
					continue
				}
				for _, addr := range ep.Addresses {
					host := endpointHostname(ep.Hostname, addr)
					if endpoint != "" && !strings.EqualFold(endpoint, host) {
						continue
					}
					if len(sl.Ports) == 0 && port == "" && proto == "" {
						out = append(out, target{host: addr, port: -1, name: host + "." + svcName})
					}
					for _, p := range sl.Ports {
						pName, pProto, pNum := "", string(corev1.ProtocolTCP), -1
						if p.Name != nil {
							pName = *p.Name
						}
						if p.Protocol != nil {
							pProto = string(*p.Protocol)
						}
						if p.Port != nil {
							pNum = int(*p.Port)
						}
						if matchPort(port, pName, proto, pProto) {
							out = append(out, target{host: addr, port: pNum, name: host + "." + svcName})
						}
					}
				}
			}
		}
		return out
	}
	ips := svc.Spec.ClusterIPs
	if len(ips) == 0 && svc.Spec.ClusterIP != "" {
		ips = []string{svc.Spec.ClusterIP}
	}
	for _, p := range svc.Spec.Ports {
		pProto := string(p.Protocol)
		if pProto == "" {
			pProto = string(corev1.ProtocolTCP)
		}
		if !matchPort(port, p.Name, proto, pProto) {
			continue
		}
		for _, ip := range ips {
			out = append(out, target{host: ip, port: int(p.Port), name: svcName})
		}
	}
	return out
}

// matchPort is CoreDNS's matchPortAndProtocol: an empty, "*" or "any"
// query part matches everything, the rest compares without case.
func matchPort(qPort, port, qProto, proto string) bool {
	m := func(q, v string) bool { return q == "" || q == "*" || q == "any" || strings.EqualFold(q, v) }
	return m(qPort, port) && m(qProto, proto)
}

// endpointHostname is the endpoint's hostname, else its address with
// dashes (CoreDNS's endpointHostname).
func endpointHostname(hostname *string, addr string) string {
	if hostname != nil && *hostname != "" {
		return strings.ToLower(*hostname)
	}
	return strings.NewReplacer(".", "-", ":", "-").Replace(addr)
}

// podIP reads a pod label: a-b-c-d, or an IPv6 address with dashes for
// colons; "" if it is neither.
func podIP(label string) string {
	s := strings.ReplaceAll(label, "-", ".")
	if strings.Count(label, "-") != 3 || strings.Contains(label, "--") {
		s = strings.ReplaceAll(label, "-", ":")
	}
	addr, err := netip.ParseAddr(s)
	if err != nil {
		return ""
	}
	return addr.String()
}

// reverse is the name a reverse (PTR) question points at: a Service's
// ClusterIP or one of its endpoints, as CoreDNS serves in-addr.arpa and
// ip6.arpa; "" sends the question upstream.
func (s *Server) reverse(name string) string {
	ip := reverseAddr(name)
	if !ip.IsValid() {
		return ""
	}
	svcs := s.cfg.Source.Services()
	for _, svc := range svcs {
		for _, c := range append([]string{svc.Spec.ClusterIP}, svc.Spec.ClusterIPs...) {
			if a, err := netip.ParseAddr(c); err == nil && a == ip {
				return svc.Name + "." + svc.Namespace + ".svc." + s.zone
			}
		}
	}
	for _, svc := range svcs {
		for _, sl := range s.cfg.Source.EndpointSlices(svc.Namespace, svc.Name) {
			for _, ep := range sl.Endpoints {
				for _, addr := range ep.Addresses {
					if a, err := netip.ParseAddr(addr); err == nil && a == ip {
						return endpointHostname(ep.Hostname, addr) + "." + svc.Name + "." + svc.Namespace + ".svc." + s.zone
					}
				}
			}
		}
	}
	return ""
}

// reverseAddr is the address of an in-addr.arpa or ip6.arpa name.
func reverseAddr(name string) netip.Addr {
	if v4, ok := strings.CutSuffix(name, ".in-addr.arpa."); ok {
		l := strings.Split(v4, ".")
		if len(l) != 4 {
			return netip.Addr{}
		}
		a, _ := netip.ParseAddr(l[3] + "." + l[2] + "." + l[1] + "." + l[0])
		return a
	}
	if v6, ok := strings.CutSuffix(name, ".ip6.arpa."); ok {
		l := strings.Split(v6, ".")
		if len(l) != 32 {
			return netip.Addr{}
		}
		var b strings.Builder
		for i := 31; i >= 0; i-- {
			b.WriteString(l[i])
			if i%4 == 0 && i > 0 {
				b.WriteByte(':')
			}
		}
		a, _ := netip.ParseAddr(b.String())
		return a
	}
	return netip.Addr{}
}
