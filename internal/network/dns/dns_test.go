package dns

import (
	"net"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

func testSource() *Static {
	svc := func(name, ip string, ports ...corev1.ServicePort) *corev1.Service {
		return &corev1.Service{
			ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default"},
			Spec:       corev1.ServiceSpec{ClusterIP: ip, ClusterIPs: []string{ip}, Ports: ports, Selector: map[string]string{"app": name}},
		}
	}
	http := corev1.ServicePort{Name: "http", Port: 80, Protocol: corev1.ProtocolTCP, TargetPort: intstr.FromInt32(8080)}
	dnsPort := corev1.ServicePort{Name: "dns", Port: 53, Protocol: corev1.ProtocolUDP}
	headless := svc("web", "None", http)
	headless.Spec.ClusterIPs = nil
	ext := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "ext", Namespace: "default"},
		Spec:       corev1.ServiceSpec{Type: corev1.ServiceTypeExternalName, ExternalName: "example.org"},
	}
	other := svc("db", "10.96.0.20", corev1.ServicePort{Port: 5432, Protocol: corev1.ProtocolTCP})
	other.Namespace = "prod"
	src := NewStatic([]*corev1.Service{
		svc("myservice", "10.96.0.10", http, dnsPort),
		svc("noports", "10.96.0.11"),
		headless, ext, other,
		svc("empty", "None"),
	})
	pod := func(name, ip string, ready bool, hostname string) *corev1.Pod {
		st := corev1.ConditionFalse
		if ready {
			st = corev1.ConditionTrue
		}
		return &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default", Labels: map[string]string{"app": "web"}},
			Spec:       corev1.PodSpec{Hostname: hostname, Subdomain: "web"},
			Status: corev1.PodStatus{
				Phase: corev1.PodRunning, PodIP: ip, PodIPs: []corev1.PodIP{{IP: ip}},
				Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: st}},
			},
		}
	}
	src.SetPod(pod("web-0", "10.88.0.5", true, "web-0"))
	src.SetPod(pod("web-1", "10.88.0.6", true, ""))
	src.SetPod(pod("web-2", "10.88.0.7", false, "web-2"))
	return src
}

// startServer serves src on a free loopback port; upstreams as given.
func startServer(t *testing.T, src Source, upstreams []string, timeout time.Duration) *Server {
	t.Helper()
	s, err := Start(Config{Addr: "127.0.0.1:0", Source: src, Upstreams: upstreams, UpstreamTimeout: timeout})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Error(err)
		}
	})
	return s
}

func query(t *testing.T, addr, proto, name string, qtype uint16) *dns.Msg {
	t.Helper()
	m := new(dns.Msg)
	m.SetQuestion(name, qtype)
	c := &dns.Client{Net: proto, Timeout: 5 * time.Second}
	r, _, err := c.Exchange(m, addr)
	if err != nil {
		t.Fatalf("%s %s: %v", name, dns.TypeToString[qtype], err)
	}
	return r
}

// rrs renders a section without TTLs, sorted.
func rrs(section []dns.RR) []string {
	var out []string
	for _, rr := range section {
		f := strings.Fields(rr.String())
		out = append(out, strings.Join(append([]string{f[0]}, f[3:]...), " "))
	}
	slices.Sort(out)
	return out
}

func TestRecords(t *testing.T) {
	s := startServer(t, testSource(), nil, time.Second)
	nx, ok := dns.RcodeNameError, dns.RcodeSuccess
	for _, tc := range []struct {
		name   string
		qtype  uint16
		rcode  int
		answer []string
		extra  []string
	}{
		{"myservice.default.svc.cluster.local.", dns.TypeA, ok, []string{"myservice.default.svc.cluster.local. A 10.96.0.10"}, nil},
		{"MyService.Default.svc.Cluster.Local.", dns.TypeA, ok, []string{"MyService.Default.svc.Cluster.Local. A 10.96.0.10"}, nil},
		{"myservice.default.svc.cluster.local.", dns.TypeAAAA, ok, nil, nil},
		{"myservice.default.svc.cluster.local.", dns.TypeTXT, ok, nil, nil},
		// the search domains busybox nslookup tries after the first
		{"myservice.svc.cluster.local.", dns.TypeA, ok, nil, nil},
		{"myservice.svc.cluster.local.", dns.TypeAAAA, ok, nil, nil},
		{"myservice.cluster.local.", dns.TypeA, ok, nil, nil},
		{"myservice.cluster.local.", dns.TypeAAAA, ok, nil, nil},
		{"a.myservice.cluster.local.", dns.TypeA, nx, nil, nil},
		{"nothere.default.svc.cluster.local.", dns.TypeAAAA, nx, nil, nil},
		{"google.com.svc.cluster.local.", dns.TypeA, nx, nil, nil},
		{"missing.default.svc.cluster.local.", dns.TypeA, nx, nil, nil},
		{"db.default.svc.cluster.local.", dns.TypeA, nx, nil, nil},
		{"db.prod.svc.cluster.local.", dns.TypeA, ok, []string{"db.prod.svc.cluster.local. A 10.96.0.20"}, nil},
		{"noports.default.svc.cluster.local.", dns.TypeA, nx, nil, nil},
		{"default.svc.cluster.local.", dns.TypeA, ok, nil, nil},
		{"nope.svc.cluster.local.", dns.TypeA, ok, nil, nil},
		{"svc.nope.svc.cluster.local.", dns.TypeA, nx, nil, nil},
		{"svc.cluster.local.", dns.TypeA, ok, nil, nil},
		{"cluster.local.", dns.TypeA, ok, nil, nil},
		{"a.b.c.d.e.myservice.default.svc.cluster.local.", dns.TypeA, nx, nil, nil},
		{"_http._tcp.myservice.default.svc.cluster.local.", dns.TypeSRV, ok,
			[]string{"_http._tcp.myservice.default.svc.cluster.local. SRV 0 100 80 myservice.default.svc.cluster.local."},
			[]string{"myservice.default.svc.cluster.local. A 10.96.0.10"}},
		{"_dns._udp.myservice.default.svc.cluster.local.", dns.TypeSRV, ok,
			[]string{"_dns._udp.myservice.default.svc.cluster.local. SRV 0 100 53 myservice.default.svc.cluster.local."},
			[]string{"myservice.default.svc.cluster.local. A 10.96.0.10"}},
		{"_dns._tcp.myservice.default.svc.cluster.local.", dns.TypeSRV, nx, nil, nil},
		{"myservice.default.svc.cluster.local.", dns.TypeSRV, ok, []string{
			"myservice.default.svc.cluster.local. SRV 0 50 53 myservice.default.svc.cluster.local.",
			"myservice.default.svc.cluster.local. SRV 0 50 80 myservice.default.svc.cluster.local.",
		}, []string{"myservice.default.svc.cluster.local. A 10.96.0.10"}},
		// headless: the ready endpoints
		{"web.default.svc.cluster.local.", dns.TypeA, ok, []string{
			"web.default.svc.cluster.local. A 10.88.0.5", "web.default.svc.cluster.local. A 10.88.0.6",
		}, nil},
		{"web-0.web.default.svc.cluster.local.", dns.TypeA, ok, []string{"web-0.web.default.svc.cluster.local. A 10.88.0.5"}, nil},
		{"10-88-0-6.web.default.svc.cluster.local.", dns.TypeA, ok, []string{"10-88-0-6.web.default.svc.cluster.local. A 10.88.0.6"}, nil},
		{"web-2.web.default.svc.cluster.local.", dns.TypeA, nx, nil, nil},
		{"_http._tcp.web.default.svc.cluster.local.", dns.TypeSRV, ok, []string{
			"_http._tcp.web.default.svc.cluster.local. SRV 0 50 8080 10-88-0-6.web.default.svc.cluster.local.",
			"_http._tcp.web.default.svc.cluster.local. SRV 0 50 8080 web-0.web.default.svc.cluster.local.",
		}, []string{"10-88-0-6.web.default.svc.cluster.local. A 10.88.0.6", "web-0.web.default.svc.cluster.local. A 10.88.0.5"}},
		{"empty.default.svc.cluster.local.", dns.TypeA, nx, nil, nil},
		{"ext.default.svc.cluster.local.", dns.TypeA, ok, []string{"ext.default.svc.cluster.local. CNAME example.org."}, nil},
		// pods
		{"10-88-0-5.default.pod.cluster.local.", dns.TypeA, ok, []string{"10-88-0-5.default.pod.cluster.local. A 10.88.0.5"}, nil},
		{"10-88-0-5.default.pod.cluster.local.", dns.TypeAAAA, ok, nil, nil},
		{"10-88-0-99.default.pod.cluster.local.", dns.TypeA, nx, nil, nil},
		{"10-88-0-5.prod.pod.cluster.local.", dns.TypeA, nx, nil, nil},
		{"not-an-ip.default.pod.cluster.local.", dns.TypeA, nx, nil, nil},
		// reverse
		{"10.0.96.10.in-addr.arpa.", dns.TypePTR, ok, []string{"10.0.96.10.in-addr.arpa. PTR myservice.default.svc.cluster.local."}, nil},
		{"5.0.88.10.in-addr.arpa.", dns.TypePTR, ok, []string{"5.0.88.10.in-addr.arpa. PTR web-0.web.default.svc.cluster.local."}, nil},
	} {
		t.Run(tc.name+"/"+dns.TypeToString[tc.qtype], func(t *testing.T) {
			r := query(t, s.Addr(), "udp", tc.name, tc.qtype)
			if r.Rcode != tc.rcode {
				t.Fatalf("rcode %s, want %s", dns.RcodeToString[r.Rcode], dns.RcodeToString[tc.rcode])
			}
			if !r.Authoritative {
				t.Error("not authoritative")
			}
			if got := rrs(r.Answer); !slices.Equal(got, tc.answer) {
				t.Errorf("answer\n %q\nwant\n %q", got, tc.answer)
			}
			if got := rrs(r.Extra); !slices.Equal(got, tc.extra) {
				t.Errorf("extra\n %q\nwant\n %q", got, tc.extra)
			}
			// NXDOMAIN and NODATA carry the SOA, as CoreDNS's do.
			if len(r.Answer) == 0 && (len(r.Ns) != 1 || r.Ns[0].Header().Rrtype != dns.TypeSOA) {
				t.Errorf("authority %v, want the zone's SOA", r.Ns)
			}
		})
	}
}

func TestTCP(t *testing.T) {
	s := startServer(t, testSource(), nil, time.Second)
	r := query(t, s.Addr(), "tcp", "myservice.default.svc.cluster.local.", dns.TypeA)
	if got := rrs(r.Answer); !slices.Equal(got, []string{"myservice.default.svc.cluster.local. A 10.96.0.10"}) {
		t.Errorf("answer %q", got)
	}
}

// fakeUpstream answers every question with 192.0.2.1 on 127.0.0.1.
func fakeUpstream(t *testing.T) string {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &dns.Server{PacketConn: pc, Handler: dns.HandlerFunc(func(w dns.ResponseWriter, r *dns.Msg) {
		m := new(dns.Msg)
		m.SetReply(r)
		m.Answer = []dns.RR{&dns.A{Hdr: dns.RR_Header{Name: r.Question[0].Name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 60}, A: net.IPv4(192, 0, 2, 1)}}
		_ = w.WriteMsg(m)
	})}
	started := make(chan struct{})
	srv.NotifyStartedFunc = func() { close(started) }
	done := make(chan struct{})
	go func() { defer close(done); _ = srv.ActivateAndServe() }()
	<-started
	t.Cleanup(func() { _ = srv.Shutdown(); <-done })
	return pc.LocalAddr().String()
}

// blackhole reads questions and never answers: an offline upstream.
// blackhole is an upstream that never answers; got receives once per
// query it swallowed.
func blackhole(t *testing.T) (addr string, got <-chan struct{}) {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close() })
	ch := make(chan struct{}, 16)
	go func() {
		buf := make([]byte, 512)
		for {
			if _, _, err := pc.ReadFrom(buf); err != nil {
				return
			}
			select {
			case ch <- struct{}{}:
			default:
			}
		}
	}()
	return pc.LocalAddr().String(), ch
}

func TestForward(t *testing.T) {
	s := startServer(t, testSource(), []string{fakeUpstream(t)}, time.Second)
	r := query(t, s.Addr(), "udp", "example.org.", dns.TypeA)
	if r.Rcode != dns.RcodeSuccess || len(r.Answer) != 1 || r.Answer[0].(*dns.A).A.String() != "192.0.2.1" {
		t.Fatalf("forwarded answer %v", r)
	}
	// A reverse name outside the cluster's addresses goes upstream too.
	if r := query(t, s.Addr(), "udp", "1.2.0.192.in-addr.arpa.", dns.TypePTR); r.Rcode != dns.RcodeSuccess || len(r.Answer) != 1 {
		t.Fatalf("forwarded reverse %v", r)
	}
}

func TestForwardTimeout(t *testing.T) {
	timeout := 3 * time.Second
	upstream, got := blackhole(t)
	s := startServer(t, testSource(), []string{upstream}, timeout)
	type result struct {
		r    *dns.Msg
		took time.Duration
	}
	slow := make(chan result, 1)
	go func() {
		start := time.Now()
		m := new(dns.Msg)
		m.SetQuestion("example.org.", dns.TypeA)
		r, _, err := (&dns.Client{Timeout: 10 * time.Second}).Exchange(m, s.Addr())
		if err != nil {
			t.Error(err)
		}
		slow <- result{r, time.Since(start)}
	}()
	// Cluster names never wait on the upstream: answered while the
	// forwarded query hangs there.
	select {
	case <-got:
	case <-time.After(10 * time.Second):
		t.Fatal("the query was not forwarded")
	}
	query(t, s.Addr(), "udp", "myservice.default.svc.cluster.local.", dns.TypeA)
	select {
	case res := <-slow:
		t.Fatalf("the cluster name was answered only after the upstream gave up (%v)", res.took)
	default:
	}
	res := <-slow
	if res.r == nil || res.r.Rcode != dns.RcodeServerFailure {
		t.Fatalf("answer %v, want SERVFAIL", res.r)
	}
	if res.took < timeout || res.took > timeout+2*time.Second {
		t.Errorf("SERVFAIL after %v, want about %v", res.took, timeout)
	}
}

func TestNoUpstream(t *testing.T) {
	s := startServer(t, testSource(), nil, time.Second)
	if r := query(t, s.Addr(), "udp", "example.org.", dns.TypeA); r.Rcode != dns.RcodeServerFailure {
		t.Fatalf("rcode %s, want SERVFAIL", dns.RcodeToString[r.Rcode])
	}
}

func TestUpstreams(t *testing.T) {
	dir := t.TempDir()
	path := dir + "/resolv.conf"
	if err := os.WriteFile(path, []byte("search example.org\nnameserver 10.255.255.53\nnameserver 10.88.0.1\nnameserver 10.255.255.53\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if got, want := Upstreams(path, "10.88.0.1:53"), []string{"10.255.255.53:53"}; !slices.Equal(got, want) {
		t.Errorf("Upstreams = %q, want %q", got, want)
	}
	if got := Upstreams(dir+"/missing", ""); got != nil {
		t.Errorf("Upstreams of a missing file = %q", got)
	}
}
