package apiserver

import (
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"peapod/internal/registry"
	"peapod/internal/store"
)

type recordConnect struct {
	got  registry.ConnectRequest
	name string
}

func (c *recordConnect) Connect(w http.ResponseWriter, _ *http.Request, obj runtime.Object, req registry.ConnectRequest) error {
	c.got = req
	c.name = nameOfObject(obj)
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func nameOfObject(obj runtime.Object) string {
	if o, ok := obj.(interface{ GetName() string }); ok {
		return o.GetName()
	}
	return ""
}

// The proxy URL's name may carry a scheme and a port; the path after
// proxy/ goes to the Connecter as written, trailing slash included.
func TestServer_ProxyRouting(t *testing.T) {
	st, err := store.OpenBolt(filepath.Join(t.TempDir(), "db"), store.BoltOptions{Scheme: registry.NewScheme()})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	rec := &recordConnect{}
	srv, err := New(Config{Store: st, Resources: registry.Resources(registry.DefaultServiceAllocator(), nil), Connect: rec})
	if err != nil {
		t.Fatal(err)
	}
	pod := testPod("web")
	pod.Namespace = "default"
	res := srv.byGVR[corev1.SchemeGroupVersion.WithResource("pods")]
	if _, err := st.Create(t.Context(), res.key("default", "web"), pod); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		path string
		want registry.ConnectRequest
	}{
		{"/api/v1/namespaces/default/pods/web/proxy", registry.ConnectRequest{Subresource: "proxy", Path: "/"}},
		{"/api/v1/namespaces/default/pods/web/proxy/", registry.ConnectRequest{Subresource: "proxy", Path: "/"}},
		{"/api/v1/namespaces/default/pods/web:8080/proxy/results/a", registry.ConnectRequest{Subresource: "proxy", Port: "8080", Path: "/results/a"}},
		{"/api/v1/namespaces/default/pods/https:web:443/proxy/dir/", registry.ConnectRequest{Subresource: "proxy", Scheme: "https", Port: "443", Path: "/dir/"}},
		{"/api/v1/namespaces/default/pods/web/log", registry.ConnectRequest{Subresource: "log"}},
	} {
		rec.got, rec.name = registry.ConnectRequest{}, ""
		w := httptest.NewRecorder()
		srv.Handler().ServeHTTP(w, httptest.NewRequest(http.MethodGet, tc.path, nil))
		if w.Code != http.StatusNoContent || rec.got != tc.want || rec.name != "web" {
			t.Errorf("%s: %d, got %+v for %q, want %+v", tc.path, w.Code, rec.got, rec.name, tc.want)
		}
	}
	w := httptest.NewRecorder()
	srv.Handler().ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/api/v1/namespaces/default/pods/web/status/extra", nil))
	if w.Code != http.StatusNotFound {
		t.Errorf("a path after a subresource that is not a proxy: %d", w.Code)
	}
}
