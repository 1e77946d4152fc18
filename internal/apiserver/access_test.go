package apiserver

import (
	"crypto/tls"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"peapod/internal/testenv"
)

// A client certificate from another CA, even one naming the admin, is
// unauthenticated: 401 with a Status, as kube-apiserver answers.
func TestServer_ForeignCAIsUnauthorized(t *testing.T) {
	srv, _ := startServer(t)
	foreign, err := testenv.ForeignAdmin()
	if err != nil {
		t.Fatal(err)
	}
	c := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{
		InsecureSkipVerify: true,
		Certificates:       []tls.Certificate{foreign},
	}}}
	for _, path := range []string{"/api/v1/namespaces/kube-system/secrets", "/debug/pprof/"} {
		resp, err := c.Get(srv.URL() + path)
		if err != nil {
			t.Fatal(err)
		}
		var st metav1.Status
		json.NewDecoder(resp.Body).Decode(&st)
		resp.Body.Close()
		if resp.StatusCode != 401 || st.Reason != metav1.StatusReasonUnauthorized {
			t.Errorf("%s with a foreign CA's certificate: %d %+v", path, resp.StatusCode, st)
		}
	}
}

// The keys and the admin kubeconfig are readable by their owner only.
func TestServer_SecretsAreOwnerOnly(t *testing.T) {
	srv, _ := startServer(t)
	kubeconfig := filepath.Join(t.TempDir(), "sub", "kubeconfig")
	if err := srv.WriteKubeconfig(kubeconfig); err != nil {
		t.Fatal(err)
	}
	keys, _ := filepath.Glob(filepath.Join(srv.cfg.PKIDir, "*.key"))
	if len(keys) == 0 {
		t.Fatal("no keys under", srv.cfg.PKIDir)
	}
	for _, p := range append(keys, kubeconfig, srv.cfg.PKIDir) {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		want := os.FileMode(0o600)
		if fi.IsDir() {
			want = 0o700
		}
		if fi.Mode().Perm() != want {
			t.Errorf("%s: mode %v, want %v", p, fi.Mode().Perm(), want)
		}
	}
}
