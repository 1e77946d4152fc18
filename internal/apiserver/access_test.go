package apiserver

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"math/big"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// selfSignedAdmin is a client certificate claiming system:masters, signed
// by a CA of its own.
func selfSignedAdmin(t *testing.T) tls.Certificate {
	t.Helper()
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	ca := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "peapod-ca"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, ca, ca, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	caCert, _ := x509.ParseCertificate(caDER)
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	leaf := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "admin", Organization: []string{"system:masters"}},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, leaf, caCert, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

// A client certificate from another CA, even one naming the admin, is
// unauthenticated: 401 with a Status, as kube-apiserver answers.
func TestServer_ForeignCAIsUnauthorized(t *testing.T) {
	srv, _ := startServer(t)
	c := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{
		InsecureSkipVerify: true,
		Certificates:       []tls.Certificate{selfSignedAdmin(t)},
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
