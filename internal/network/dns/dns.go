// Package dns is the cluster DNS: it answers for the cluster domain the way
// CoreDNS's kubernetes plugin does (Services, their endpoints and ports,
// pods by address) and forwards every other name to the host's resolvers.
// Pods reach it on the node's address on the pod network.
package dns

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/miekg/dns"
	"golang.org/x/sys/unix"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
)

// Defaults of Config.
const (
	DefaultDomain          = "cluster.local"
	DefaultUpstreamTimeout = 2 * time.Second
	// DefaultTTL is CoreDNS's kubernetes plugin default.
	DefaultTTL = 5
)

// Source is what the server knows of the cluster. Absent objects are nil
// or false; implementations answer from memory (informer caches, the
// files given to `peapod up`) and must not block.
type Source interface {
	Service(namespace, name string) *corev1.Service
	// Services lists the Services of every namespace (reverse lookups).
	Services() []*corev1.Service
	// EndpointSlices are those of the named Service.
	EndpointSlices(namespace, service string) []*discoveryv1.EndpointSlice
	// PodIP reports whether a pod of the namespace has the address.
	PodIP(namespace, ip string) bool
}

// Config says where the server listens and what it answers.
type Config struct {
	// Addr is host:port for both UDP and TCP, e.g. the bridge gateway's
	// "10.88.0.1:53"; port 0 picks a free one (tests). The address need
	// not exist yet: the bridge appears with the first pod.
	Addr   string
	Domain string // DefaultDomain if empty
	Source Source
	// Upstreams (host:port) get every name outside the cluster domain;
	// none: such names are answered SERVFAIL.
	Upstreams       []string
	UpstreamTimeout time.Duration // DefaultUpstreamTimeout if 0
	TTL             uint32        // DefaultTTL if 0
}

// Server serves the cluster DNS on UDP and TCP.
type Server struct {
	cfg      Config
	zone     string // the domain, fully qualified and lower case
	udp, tcp *dns.Server
	addr     string
	wg       sync.WaitGroup
}

// Start listens and serves until Close.
func Start(cfg Config) (*Server, error) {
	if cfg.Source == nil {
		return nil, errors.New("cluster DNS: no source")
	}
	if cfg.Domain == "" {
		cfg.Domain = DefaultDomain
	}
	if cfg.UpstreamTimeout == 0 {
		cfg.UpstreamTimeout = DefaultUpstreamTimeout
	}
	if cfg.TTL == 0 {
		cfg.TTL = DefaultTTL
	}
	s := &Server{cfg: cfg, zone: dns.Fqdn(strings.ToLower(cfg.Domain))}
	// IP_FREEBIND: the gateway address is the bridge's, which the CNI
	// plugin creates with the first pod; until then the sockets wait.
	lc := net.ListenConfig{Control: func(_, _ string, c syscall.RawConn) error {
		var serr error
		if err := c.Control(func(fd uintptr) {
			serr = unix.SetsockoptInt(int(fd), unix.SOL_IP, unix.IP_FREEBIND, 1)
		}); err != nil {
			return err
		}
		return serr
	}}
	pc, err := lc.ListenPacket(context.Background(), "udp", cfg.Addr)
	if err != nil {
		return nil, fmt.Errorf("cluster DNS: %w", err)
	}
	// TCP on the port UDP got, so that port 0 means one port for both.
	l, err := lc.Listen(context.Background(), "tcp", pc.LocalAddr().String())
	if err != nil {
		pc.Close()
		return nil, fmt.Errorf("cluster DNS: %w", err)
	}
	s.addr = pc.LocalAddr().String()
	s.udp = &dns.Server{PacketConn: pc, Handler: s}
	s.tcp = &dns.Server{Listener: l, Handler: s}
	for _, srv := range []*dns.Server{s.udp, s.tcp} {
		started := make(chan struct{})
		srv.NotifyStartedFunc = func() { close(started) }
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			_ = srv.ActivateAndServe() // returns once Shutdown closes the socket
		}()
		<-started
	}
	return s, nil
}

// Addr is the address the server listens on (host:port).
func (s *Server) Addr() string { return s.addr }

// Close stops serving and waits for the serving goroutines.
func (s *Server) Close() error {
	err := errors.Join(s.udp.Shutdown(), s.tcp.Shutdown())
	s.wg.Wait()
	return err
}

// Upstreams are the nameservers of a resolv.conf as host:port, without
// self (the server's own address, which would loop).
func Upstreams(resolvConf string, self string) []string {
	cc, err := dns.ClientConfigFromFile(resolvConf)
	if err != nil {
		return nil
	}
	var out []string
	for _, ns := range cc.Servers {
		hp := net.JoinHostPort(ns, cc.Port)
		if hp != self && !slices.Contains(out, hp) {
			out = append(out, hp)
		}
	}
	return out
}

// ServeDNS implements dns.Handler.
func (s *Server) ServeDNS(w dns.ResponseWriter, r *dns.Msg) {
	if len(r.Question) != 1 || r.Opcode != dns.OpcodeQuery {
		m := new(dns.Msg)
		m.SetRcode(r, dns.RcodeFormatError)
		_ = w.WriteMsg(m)
		return
	}
	q := r.Question[0]
	name := strings.ToLower(q.Name)
	if q.Qclass == dns.ClassINET || q.Qclass == dns.ClassANY {
		if dns.IsSubDomain(s.zone, name) {
			_ = w.WriteMsg(s.answer(r, name, q.Qtype))
			return
		}
		if q.Qtype == dns.TypePTR {
			if target := s.reverse(name); target != "" {
				m := s.reply(r, dns.RcodeSuccess)
				m.Answer = []dns.RR{&dns.PTR{Hdr: s.hdr(q.Name, dns.TypePTR), Ptr: target}}
				_ = w.WriteMsg(m)
				return
			}
		}
	}
	s.forward(w, r)
}

func (s *Server) reply(r *dns.Msg, rcode int) *dns.Msg {
	m := new(dns.Msg)
	m.SetRcode(r, rcode)
	m.Authoritative = true
	m.RecursionAvailable = true
	return m
}

func (s *Server) hdr(name string, t uint16) dns.RR_Header {
	return dns.RR_Header{Name: name, Rrtype: t, Class: dns.ClassINET, Ttl: s.cfg.TTL}
}

// soa is the zone's SOA as CoreDNS builds it; NXDOMAIN and NODATA answers
// carry it in the authority section, so resolvers cache the negative answer.
func (s *Server) soa() dns.RR {
	return &dns.SOA{
		Hdr: s.hdr(s.zone, dns.TypeSOA),
		Ns:  "ns.dns." + s.zone, Mbox: "hostmaster." + s.zone,
		Serial: uint32(time.Now().Unix()), Refresh: 7200, Retry: 1800, Expire: 86400, Minttl: s.cfg.TTL,
	}
}

// forward asks the upstreams in turn within UpstreamTimeout, over the
// protocol the question came by; no answer in time is SERVFAIL.
func (s *Server) forward(w dns.ResponseWriter, r *dns.Msg) {
	proto := "udp"
	if _, ok := w.RemoteAddr().(*net.TCPAddr); ok {
		proto = "tcp"
	}
	ctx, cancel := context.WithTimeout(context.Background(), s.cfg.UpstreamTimeout)
	defer cancel()
	for _, up := range s.cfg.Upstreams {
		c := &dns.Client{Net: proto, Timeout: s.cfg.UpstreamTimeout}
		resp, _, err := c.ExchangeContext(ctx, r, up)
		if err == nil && resp != nil {
			resp.Id = r.Id
			_ = w.WriteMsg(resp)
			return
		}
		if ctx.Err() != nil {
			break
		}
	}
	m := new(dns.Msg)
	m.SetRcode(r, dns.RcodeServerFailure)
	m.RecursionAvailable = true
	_ = w.WriteMsg(m)
}
