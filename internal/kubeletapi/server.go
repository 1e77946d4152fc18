// Package kubeletapi serves the kubelet's HTTPS API, what a cluster's
// kube-apiserver reaches on a node: pods' logs, exec, attach and
// port-forward (which it proxies for kubectl), /run, /pods, /metrics and
// /healthz.
// Only clients with a certificate of the configured CA get an answer, as
// a kubelet with anonymous auth off.
package kubeletapi

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	corelisters "k8s.io/client-go/listers/core/v1"
	certutil "k8s.io/client-go/util/cert"
	"k8s.io/client-go/util/keyutil"
	"k8s.io/component-base/metrics/legacyregistry"
	utilexec "k8s.io/utils/exec"

	"peapod/internal/network"
	"peapod/internal/podconnect"
	"peapod/internal/registry"
)

// Config is what the server needs.
type Config struct {
	// Addr is host:port to listen on (the kubelet's --address and --port).
	Addr string
	// ClientCA holds the PEM certificates a client's certificate must be
	// signed by (the kubelet's --client-ca-file).
	ClientCA []byte
	// CertDir keeps the self-signed serving certificate (kubelet.crt and
	// kubelet.key, as the kubelet's --cert-dir) made at the first start
	// for Hosts (IPs or names).
	CertDir string
	Hosts   []string
	// NodeName is this node's: pods bound elsewhere are not found here.
	NodeName string
	// Pods lists the pods bound to this node.
	Pods corelisters.PodLister
	// GetPod, if set, reads a pod where the lister may lag (the API,
	// whose status the node wrote a moment ago): a log asked for the
	// moment a pod ends needs its last container IDs.
	GetPod func(ctx context.Context, namespace, name string) (*corev1.Pod, error)
	// Streams moves the bytes: the same handler serve's API server uses.
	Streams podconnect.Handler
}

// Server is a running kubelet API.
type Server struct {
	cfg  Config
	srv  *http.Server
	addr net.Addr
}

// Start listens and serves until Shutdown.
func Start(cfg Config) (*Server, error) {
	cert, err := servingCert(cfg.CertDir, cfg.Hosts)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(cfg.ClientCA) {
		return nil, errors.New("kubelet API: no certificate in the client CA")
	}
	// The node's address may be the pod bridge's, there from the first pod.
	ln, err := network.ListenGateway(context.Background(), cfg.Addr)
	if err != nil {
		return nil, fmt.Errorf("kubelet API: %w", err)
	}
	s := &Server{cfg: cfg, addr: ln.Addr()}
	s.srv = &http.Server{
		Handler:           s.routes(),
		ReadHeaderTimeout: 30 * time.Second,
		TLSConfig: &tls.Config{
			MinVersion:   tls.VersionTLS12,
			Certificates: []tls.Certificate{cert},
			ClientAuth:   tls.RequireAndVerifyClientCert,
			ClientCAs:    pool,
		},
	}
	go func() { _ = s.srv.ServeTLS(ln, "", "") }()
	return s, nil
}

// Addr is where the server listens.
func (s *Server) Addr() net.Addr { return s.addr }

// Shutdown stops listening; streams still open are cut when ctx ends.
func (s *Server) Shutdown(ctx context.Context) {
	if err := s.srv.Shutdown(ctx); err != nil {
		_ = s.srv.Close()
	}
}

// servingCert loads the serving certificate from dir, or makes a
// self-signed one for hosts there, as the kubelet does without
// --tls-cert-file.
func servingCert(dir string, hosts []string) (tls.Certificate, error) {
	crt, key := filepath.Join(dir, "kubelet.crt"), filepath.Join(dir, "kubelet.key")
	if ok, _ := certutil.CanReadCertAndKey(crt, key); !ok {
		var ips []net.IP
		var names []string
		for _, h := range hosts {
			if ip := net.ParseIP(h); ip != nil {
				ips = append(ips, ip)
			} else {
				names = append(names, h)
			}
		}
		first := "localhost"
		if len(hosts) > 0 {
			first = hosts[0]
		}
		certPEM, keyPEM, err := certutil.GenerateSelfSignedCertKey(first, ips, names)
		if err != nil {
			return tls.Certificate{}, err
		}
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return tls.Certificate{}, err
		}
		if err := keyutil.WriteKey(key, keyPEM); err != nil {
			return tls.Certificate{}, err
		}
		if err := certutil.WriteCert(crt, certPEM); err != nil {
			return tls.Certificate{}, err
		}
	}
	return tls.LoadX509KeyPair(crt, key)
}

func (s *Server) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok")) })
	mux.HandleFunc("GET /pods", s.pods)
	// The node's metrics (kubelet_*, prober_*), as the kubelet's /metrics.
	mux.Handle("GET /metrics", legacyregistry.Handler())
	mux.HandleFunc("GET /containerLogs/{ns}/{pod}/{container}", s.connect("log"))
	for _, sub := range []string{"exec", "attach"} {
		mux.HandleFunc("/"+sub+"/{ns}/{pod}/{container}", s.connect(sub))
		mux.HandleFunc("/"+sub+"/{ns}/{pod}/{uid}/{container}", s.connect(sub))
	}
	mux.HandleFunc("/portForward/{ns}/{pod}", s.connect("portforward"))
	mux.HandleFunc("/portForward/{ns}/{pod}/{uid}", s.connect("portforward"))
	mux.HandleFunc("POST /run/{ns}/{pod}/{container}", s.run)
	mux.HandleFunc("POST /run/{ns}/{pod}/{uid}/{container}", s.run)
	return mux
}

// pod finds the pod a URL names (and its UID, when given) on this node.
func (s *Server) pod(r *http.Request) (*corev1.Pod, error) {
	ns, name, uid := r.PathValue("ns"), r.PathValue("pod"), types.UID(r.PathValue("uid"))
	var pod *corev1.Pod
	var err error
	if s.cfg.GetPod != nil {
		pod, err = s.cfg.GetPod(r.Context(), ns, name)
	} else {
		pod, err = s.cfg.Pods.Pods(ns).Get(name)
	}
	if err != nil || s.cfg.NodeName != "" && pod.Spec.NodeName != s.cfg.NodeName || uid != "" && pod.UID != uid {
		return nil, fmt.Errorf("pod %q not found", ns+"/"+name)
	}
	return pod, nil
}

func (s *Server) pods(w http.ResponseWriter, _ *http.Request) {
	pods, err := s.cfg.Pods.List(labels.Everything())
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	list := corev1.PodList{}
	list.APIVersion, list.Kind = "v1", "PodList"
	for _, p := range pods {
		list.Items = append(list.Items, *p)
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(&list)
}

// kubeletParams are the kubelet's names of the stream flags
// (kube-apiserver's streamParams) and what podconnect reads for them.
var kubeletParams = map[string]string{"input": "stdin", "output": "stdout", "error": "stderr"}

// connect serves a stream subresource: the kubelet's URL says the pod and
// container, its query the rest, in the kubelet's names.
func (s *Server) connect(subresource string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		pod, err := s.pod(r)
		if err != nil {
			http.Error(w, err.Error(), http.StatusNotFound)
			return
		}
		q := r.URL.Query()
		if c := r.PathValue("container"); c != "" {
			q.Set("container", c)
		}
		for kubelet, api := range kubeletParams {
			if v := q.Get(kubelet); v != "" {
				q.Set(api, v)
			}
		}
		u := *r.URL
		u.RawQuery = q.Encode()
		r2 := r.Clone(r.Context())
		r2.URL = &u
		if err := s.cfg.Streams.Connect(w, r2, pod, registry.ConnectRequest{Subresource: subresource}); err != nil {
			writeError(w, err)
		}
	}
}

// run runs the form's cmd in the container and answers with its output,
// as the kubelet's /run.
func (s *Server) run(w http.ResponseWriter, r *http.Request) {
	pod, err := s.pod(r)
	if err != nil {
		http.Error(w, err.Error(), http.StatusNotFound)
		return
	}
	cmd := strings.Fields(r.FormValue("cmd"))
	if len(cmd) == 0 {
		http.Error(w, "no cmd given", http.StatusBadRequest)
		return
	}
	var out bytes.Buffer
	err = s.cfg.Streams.Node.Exec(r.Context(), pod, r.PathValue("container"), cmd, nil, &out, &out, false, nil)
	var exit utilexec.ExitError
	if err != nil && !errors.As(err, &exit) {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	_, _ = w.Write(out.Bytes())
}

// writeError answers as the kubelet does: the message as text, with the
// status an API error carries.
func writeError(w http.ResponseWriter, err error) {
	code := http.StatusInternalServerError
	var st apierrors.APIStatus
	if errors.As(err, &st) {
		code = int(st.Status().Code)
	}
	http.Error(w, err.Error(), code)
}
