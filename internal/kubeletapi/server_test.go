package kubeletapi

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"io"
	"math/big"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/remotecommand"

	"peapod/internal/podconnect"
)

// streams answers from memory: a log per container, an echo for exec.
type streams struct{ logsAsked []string }

func (s *streams) ContainerLogs(_ context.Context, pod *corev1.Pod, c string, opts *corev1.PodLogOptions) (io.ReadCloser, error) {
	s.logsAsked = append(s.logsAsked, pod.Name+"/"+c)
	return io.NopCloser(strings.NewReader("log of " + c + "\n")), nil
}

func (s *streams) Exec(_ context.Context, _ *corev1.Pod, c string, cmd []string, _ io.Reader, stdout, _ io.Writer, _ bool, _ <-chan remotecommand.TerminalSize) error {
	_, err := io.WriteString(stdout, c+" ran "+strings.Join(cmd, " "))
	return err
}

func (s *streams) Attach(context.Context, *corev1.Pod, string, io.Reader, io.Writer, io.Writer, bool, <-chan remotecommand.TerminalSize) error {
	return nil
}

func (s *streams) PortForward(context.Context, *corev1.Pod, int32, io.ReadWriteCloser) error {
	return nil
}

// authority makes a CA and client certificates it signs.
type authority struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pem  []byte
}

func newAuthority(t *testing.T) *authority {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "ca"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	return &authority{cert: cert, key: key, pem: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})}
}

func (a *authority) client(t *testing.T) tls.Certificate {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "kube-apiserver-kubelet-client"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, a.cert, &key.PublicKey, a.key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

func startServer(t *testing.T, ca *authority, st *streams) *Server {
	t.Helper()
	idx := cache.NewIndexer(cache.MetaNamespaceKeyFunc, cache.Indexers{cache.NamespaceIndex: cache.MetaNamespaceIndexFunc})
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "ns", UID: "uid-1"},
		Spec: corev1.PodSpec{NodeName: "n", Containers: []corev1.Container{{Name: "app"}, {Name: "side"}}}}
	if err := idx.Add(pod); err != nil {
		t.Fatal(err)
	}
	elsewhere := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "elsewhere", Namespace: "ns"},
		Spec: corev1.PodSpec{NodeName: "other", Containers: []corev1.Container{{Name: "app"}}}}
	// The API's copy: newer than the lister's, and every node's pods.
	get := func(_ context.Context, ns, name string) (*corev1.Pod, error) {
		if name == elsewhere.Name {
			return elsewhere, nil
		}
		return corelisters.NewPodLister(idx).Pods(ns).Get(name)
	}
	s, err := Start(Config{Addr: "127.0.0.1:0", ClientCA: ca.pem, CertDir: t.TempDir(), Hosts: []string{"127.0.0.1"},
		NodeName: "n", Pods: corelisters.NewPodLister(idx), GetPod: get, Streams: podconnect.Handler{Node: st}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Shutdown(context.Background()) })
	return s
}

func httpsClient(certs ...tls.Certificate) *http.Client {
	// The serving certificate is self-signed, as the kubelet's: the API
	// server does not verify it without --kubelet-certificate-authority.
	return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{InsecureSkipVerify: true, Certificates: certs}}}
}

func TestServer_OnlyTheClientCAsCertificates(t *testing.T) {
	ca := newAuthority(t)
	s := startServer(t, ca, &streams{})
	u := "https://" + s.Addr().String() + "/healthz"
	for _, tc := range []struct {
		name  string
		certs []tls.Certificate
		ok    bool
	}{
		{"no certificate: refused", nil, false},
		{"a certificate of another CA: refused", []tls.Certificate{newAuthority(t).client(t)}, false},
		{"the client CA's certificate: answered", []tls.Certificate{ca.client(t)}, true},
	} {
		resp, err := httpsClient(tc.certs...).Get(u)
		if err == nil {
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 || string(body) != "ok" {
				err = &url.Error{Op: "GET", URL: u, Err: io.ErrUnexpectedEOF}
			}
		}
		if (err == nil) != tc.ok {
			t.Errorf("%s: err = %v", tc.name, err)
		}
	}
}

func TestServer_KubeletURLs(t *testing.T) {
	ca := newAuthority(t)
	st := &streams{}
	s := startServer(t, ca, st)
	c := httpsClient(ca.client(t))
	base := "https://" + s.Addr().String()
	for _, tc := range []struct {
		name, method, path string
		code               int
		body               string
	}{
		{"a container's log, as kube-apiserver asks for it", "GET", "/containerLogs/ns/web/side?follow=false&tailLines=10", 200, "log of side\n"},
		{"run: the form's command, its output", "POST", "/run/ns/web/app?cmd=echo+hi", 200, "app ran echo hi"},
		{"run with the pod's UID", "POST", "/run/ns/web/uid-1/app?cmd=true", 200, "app ran true"},
		{"run with another UID: not this pod", "POST", "/run/ns/web/uid-2/app?cmd=true", 404, `pod "ns/web" not found`},
		{"a pod that is not", "GET", "/containerLogs/ns/gone/app", 404, `pod "ns/gone" not found`},
		{"a pod bound to another node", "GET", "/containerLogs/ns/elsewhere/app", 404, `pod "ns/elsewhere" not found`},
		{"a container not in the pod", "GET", "/containerLogs/ns/web/nope", 400, "container nope is not valid for pod web"},
		{"exec without an upgrade", "POST", "/exec/ns/web/app?command=ls&output=1", 400, "exec requires a WebSocket or SPDY/3.1 upgrade"},
	} {
		req, _ := http.NewRequest(tc.method, base+tc.path, nil)
		resp, err := c.Do(req)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tc.code || strings.TrimSpace(string(body)) != strings.TrimSpace(tc.body) {
			t.Errorf("%s: %s %s = %d %q, want %d %q", tc.name, tc.method, tc.path, resp.StatusCode, body, tc.code, tc.body)
		}
	}
	resp, err := c.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	metrics, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(metrics), "# TYPE ") {
		t.Errorf("/metrics: %d %.200s", resp.StatusCode, metrics)
	}
	resp, err = c.Get(base + "/pods")
	if err != nil {
		t.Fatal(err)
	}
	var list corev1.PodList
	err = json.NewDecoder(resp.Body).Decode(&list)
	resp.Body.Close()
	if err != nil || len(list.Items) != 1 || list.Items[0].Name != "web" || list.Kind != "PodList" {
		t.Errorf("/pods: %v %+v", err, list)
	}
}
