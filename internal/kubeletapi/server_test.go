package kubeletapi

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"io"
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
	"peapod/internal/testenv"
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

// newAuthority is a CA of the test's own, which signs API server clients.
func newAuthority(t *testing.T) *testenv.CA {
	t.Helper()
	ca, err := testenv.NewCA("ca")
	if err != nil {
		t.Fatal(err)
	}
	return ca
}

// client is a certificate of ca's for kube-apiserver's kubelet client.
func client(t *testing.T, ca *testenv.CA) tls.Certificate {
	t.Helper()
	c, err := ca.Issue("kube-apiserver-kubelet-client", nil)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func startServer(t *testing.T, ca *testenv.CA, st *streams) *Server {
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
	s, err := Start(Config{Addr: "127.0.0.1:0", ClientCA: ca.PEM(), CertDir: t.TempDir(), Hosts: []string{"127.0.0.1"},
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
		{"a certificate of another CA: refused", []tls.Certificate{client(t, newAuthority(t))}, false},
		{"the client CA's certificate: answered", []tls.Certificate{client(t, ca)}, true},
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
	c := httpsClient(client(t, ca))
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
