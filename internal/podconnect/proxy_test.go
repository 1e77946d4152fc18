package podconnect

import (
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"peapod/internal/registry"
)

func TestProxy(t *testing.T) {
	var seen *http.Request
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen = r
		w.Header().Set("X-From", "pod")
		w.WriteHeader(http.StatusTeapot)
		io.WriteString(w, "results")
	}))
	defer backend.Close()
	host, port, _ := net.SplitHostPort(backend.Listener.Addr().String())
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "web"}, Spec: corev1.PodSpec{NodeName: "n"}, Status: corev1.PodStatus{PodIP: host}}

	req := httptest.NewRequest(http.MethodGet, "/api/v1/namespaces/default/pods/web:"+port+"/proxy/results/a?x=1", nil)
	req.Header.Set("Authorization", "Bearer secret")
	rec := httptest.NewRecorder()
	if err := (Handler{}).Connect(rec, req, pod, registry.ConnectRequest{Subresource: "proxy", Port: port, Path: "/results/a"}); err != nil {
		t.Fatal(err)
	}
	if rec.Code != http.StatusTeapot || rec.Body.String() != "results" || rec.Header().Get("X-From") != "pod" {
		t.Errorf("answer %d %q %v", rec.Code, rec.Body.String(), rec.Header())
	}
	if seen == nil || seen.URL.Path != "/results/a" || seen.URL.RawQuery != "x=1" || seen.Header.Get("Authorization") != "" {
		t.Errorf("the pod saw %+v", seen)
	}

	// No port in the name: the first container port.
	withPort := pod.DeepCopy()
	n, _ := strconv.Atoi(port)
	withPort.Spec.Containers = []corev1.Container{{Name: "c"}, {Name: "web", Ports: []corev1.ContainerPort{{ContainerPort: int32(n)}}}}
	rec = httptest.NewRecorder()
	seen = nil
	if err := (Handler{}).Connect(rec, req, withPort, registry.ConnectRequest{Subresource: "proxy", Path: "/read"}); err != nil || seen == nil || seen.URL.Path != "/read" {
		t.Errorf("proxy to the first container port: %v, %d, saw %v", err, rec.Code, seen)
	}

	// Nothing listening: 503 with the API server's words.
	backend.Close()
	rec = httptest.NewRecorder()
	if err := (Handler{}).Connect(rec, req, pod, registry.ConnectRequest{Subresource: "proxy", Port: port, Path: "/"}); err != nil {
		t.Fatal(err)
	}
	if rec.Code != http.StatusServiceUnavailable || !strings.Contains(rec.Body.String(), "error trying to reach service") {
		t.Errorf("unreachable pod: %d %q", rec.Code, rec.Body.String())
	}

	// No IP yet, or a scheme that is not HTTP: refused before anything is sent.
	noIP := pod.DeepCopy()
	noIP.Status.PodIP = ""
	if err := (Handler{}).Connect(httptest.NewRecorder(), req, noIP, registry.ConnectRequest{Subresource: "proxy"}); !apierrors.IsServiceUnavailable(err) {
		t.Errorf("pod without an IP: %v", err)
	}
	if err := (Handler{}).Connect(httptest.NewRecorder(), req, pod, registry.ConnectRequest{Subresource: "proxy", Scheme: "ftp"}); !apierrors.IsBadRequest(err) {
		t.Errorf("ftp scheme: %v", err)
	}
}
