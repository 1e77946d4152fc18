// Package apiserver is the HTTP side of peapod's Kubernetes API: discovery,
// OpenAPI stubs, the REST verbs with watch, Table output and patches, TLS
// with client certificates, and the kubeconfig that goes with them. Kind
// rules come from internal/registry, persistence from internal/store.
package apiserver

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	"k8s.io/apimachinery/pkg/util/managedfields"
	"k8s.io/apiserver/pkg/authentication/authenticator"
	endpointsmetrics "k8s.io/apiserver/pkg/endpoints/metrics"
	"k8s.io/client-go/applyconfigurations"
	"k8s.io/client-go/rest"

	"peapod/internal/apiserver/openapi"
	"peapod/internal/network"
	"peapod/internal/registry"
	"peapod/internal/store"
)

// Config configures a Server.
type Config struct {
	Store     store.Store
	Resources []*registry.Resource
	// PKIDir keeps the CA, serving and admin certificates across restarts.
	PKIDir string
	// Listen is host:port (port 0: a free one).
	Listen string
	// Now is the clock (nil: time.Now).
	Now func() time.Time
	// BookmarkInterval is how often watches that allow bookmarks get one
	// (0: a minute, as the API server).
	BookmarkInterval time.Duration
	// KubernetesIP is the default/kubernetes Service's address, which
	// the serving certificate names (zero: 10.96.0.1).
	KubernetesIP netip.Addr
	// Connect serves the Connect subresources the registry names (a
	// pod's log, exec, attach, portforward; nil: 503).
	Connect Connecter
	// Timeline, if set, serves the pods' timeline page under /timeline/
	// to the admin (in a browser through kubectl proxy).
	Timeline http.Handler
	// Tokens makes the authenticator of bearer tokens (service
	// accounts'), which reads the objects they are bound to through
	// lookup (nil: no bearer tokens).
	Tokens interface {
		Authenticator(lookup registry.Lookup) (authenticator.Token, error)
	}
	// Advertise is the address pods reach the API on (the pod bridge's
	// gateway, the node's InternalIP): the server listens there too, on
	// the same port, and its certificate names it (zero: loopback only).
	Advertise netip.Addr
}

// Connecter serves a Connect subresource of obj: what kube-apiserver
// proxies to the kubelet. It returns an API error to answer with, having
// written nothing, or nil once it has served the request.
type Connecter interface {
	Connect(w http.ResponseWriter, r *http.Request, obj runtime.Object, c registry.ConnectRequest) error
}

// Server serves the Kubernetes API for Config.Resources.
type Server struct {
	cfg       Config
	store     store.Store
	scheme    *runtime.Scheme
	codecs    serializer.CodecFactory
	resources []*resource
	byGVR     map[schema.GroupVersionResource]*resource
	scope     *resource // the kind namespaced objects live in
	pki       *pki
	tokens    authenticator.Token
	handler   http.Handler
	openapi   map[string][]byte // group-version path ("api/v1") -> gzipped v3 document

	ln   net.Listener
	http *http.Server
	url  string
	wg   sync.WaitGroup
	stop context.CancelFunc
}

type resource struct {
	*registry.Resource
	gvk       schema.GroupVersionKind
	hasStatus bool
	// fm and statusFM keep managedFields and do server-side apply; nil
	// when the type has no schema in client-go.
	fm, statusFM *managedfields.FieldManager
	// allocMu serialises the writes of a kind that allocates: each
	// takes from what the others hold.
	allocMu sync.Mutex
}

// New builds a Server; Start listens.
func New(cfg Config) (*Server, error) {
	endpointsmetrics.Register() // once per process
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.BookmarkInterval == 0 {
		cfg.BookmarkInterval = time.Minute
	}
	if !cfg.KubernetesIP.IsValid() {
		cfg.KubernetesIP = registry.DefaultServiceAllocator().KubernetesIP()
	}
	sch, err := newScheme()
	if err != nil {
		return nil, err
	}
	s := &Server{
		cfg:    cfg,
		store:  cfg.Store,
		scheme: sch,
		codecs: newCodecs(sch),
		byGVR:  map[schema.GroupVersionResource]*resource{},
	}
	// Parsing client-go's embedded schema takes ~0.3 s; do it once here.
	tc := applyconfigurations.NewTypeConverter(sch)
	for _, r := range cfg.Resources {
		res := &resource{Resource: r, gvk: r.GroupVersion.WithKind(r.Kind)}
		for _, sub := range r.Subresources {
			if sub == "status" {
				res.hasStatus = true
			}
		}
		def := defaulter{r}
		if fm, err := managedfields.NewDefaultFieldManager(tc, sch, def, sch, res.gvk, res.gvk.GroupVersion(), "", nil); err == nil {
			res.fm = fm
			res.statusFM, _ = managedfields.NewDefaultFieldManager(tc, sch, def, sch, res.gvk, res.gvk.GroupVersion(), "status", nil)
		}
		s.resources = append(s.resources, res)
		s.byGVR[r.GroupVersionResource()] = res
		if r.Scope {
			s.scope = res
		}
	}
	if cfg.Tokens != nil {
		if s.tokens, err = cfg.Tokens.Authenticator(s.lookupFor(context.Background())); err != nil {
			return nil, err
		}
	}
	s.openapi = openapi.V3()
	s.handler = s.routes()
	return s, nil
}

// defaulter lets the field manager default applied objects as a create
// or update would.
type defaulter struct{ r *registry.Resource }

func (d defaulter) Default(obj runtime.Object) {
	if d.r.Default != nil {
		d.r.Default(obj)
	}
}

// Handler is the API without TLS or authentication (for tests that wrap
// it themselves).
func (s *Server) Handler() http.Handler { return s.handler }

// Start listens with TLS on cfg.Listen.
func (s *Server) Start(ctx context.Context) error {
	host, _, err := net.SplitHostPort(s.cfg.Listen)
	if err != nil {
		return fmt.Errorf("listen address %q: %w", s.cfg.Listen, err)
	}
	ips := []net.IP{net.IP(s.cfg.KubernetesIP.AsSlice())}
	if s.cfg.Advertise.IsValid() {
		ips = append(ips, net.IP(s.cfg.Advertise.AsSlice()))
	}
	if s.pki, err = loadPKI(s.cfg.PKIDir, host, ips...); err != nil {
		return err
	}
	ln, err := net.Listen("tcp", s.cfg.Listen)
	if err != nil {
		return err
	}
	port := ln.Addr().(*net.TCPAddr).Port
	lns := []net.Listener{ln}
	if ip := net.ParseIP(host); s.cfg.Advertise.IsValid() && ip != nil && !ip.IsUnspecified() && !ip.Equal(net.IP(s.cfg.Advertise.AsSlice())) {
		adv, err := network.ListenGateway(ctx, net.JoinHostPort(s.cfg.Advertise.String(), fmt.Sprint(port)))
		if err != nil {
			ln.Close()
			return fmt.Errorf("listen on the advertised address: %w", err)
		}
		lns = append(lns, adv)
	}
	s.ln = ln
	if host == "" || host == "0.0.0.0" || host == "::" {
		host = "127.0.0.1"
	}
	s.url = "https://" + net.JoinHostPort(host, fmt.Sprint(port))
	ctx, s.stop = context.WithCancel(ctx)
	s.http = &http.Server{
		Handler:           s.authenticate(s.handler),
		ReadHeaderTimeout: 30 * time.Second,
		TLSConfig: &tls.Config{
			Certificates: []tls.Certificate{s.pki.serving},
			ClientAuth:   tls.RequestClientCert, // verified by clientCert
			ClientCAs:    s.pki.pool,
			MinVersion:   tls.VersionTLS12,
		},
		BaseContext: func(net.Listener) context.Context { return ctx },
	}
	for _, l := range lns {
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			if err := s.http.ServeTLS(l, "", ""); err != nil && !errors.Is(err, http.ErrServerClosed) {
				fmt.Println("peapod: API server:", err)
			}
		}()
	}
	return nil
}

// URL is where the server listens (https://host:port).
func (s *Server) URL() string { return s.url }

// LoopbackConfig is a client config for in-process clients (the node
// agent), authenticated as the admin.
func (s *Server) LoopbackConfig() *rest.Config {
	return &rest.Config{
		Host: s.url,
		TLSClientConfig: rest.TLSClientConfig{
			CAData:   s.pki.caPEM,
			CertData: s.pki.adminCertPEM,
			KeyData:  s.pki.adminKeyPEM,
		},
		QPS:   50,
		Burst: 100,
	}
}

// Shutdown stops serving; open watches end.
func (s *Server) Shutdown(ctx context.Context) error {
	if s.stop != nil {
		s.stop()
	}
	var err error
	if s.http != nil {
		err = s.http.Shutdown(ctx)
	}
	s.wg.Wait()
	return err
}

func isTrue(v string) bool { return v == "1" || strings.EqualFold(v, "true") }
