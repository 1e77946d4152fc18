package apiserver

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"sync"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// pki is the server's certificates: a CA, the serving certificate and the
// admin client certificate (CN=peapod-admin, O=system:masters), kept in
// a directory and reused across restarts.
type pki struct {
	caPEM                     []byte
	pool                      *x509.CertPool
	serving                   tls.Certificate
	adminCertPEM, adminKeyPEM []byte
	// verified holds the client certificate chains that verified, by
	// chainKey, until the first certificate of the chain expires. A
	// connection presents the same chain on every request, and a
	// verification per request was 2 % of serve's CPU; only chains our CA
	// signed are kept, so the map stays small.
	verified sync.Map
}

const certValidity = 10 * 365 * 24 * time.Hour

func unauthorized() error { return apierrors.NewUnauthorized("Unauthorized") }

// loadPKI loads or makes the certificates in dir; the serving one covers
// host and ips (the kubernetes Service's address and the one advertised
// to pods).
func loadPKI(dir, host string, ips ...net.IP) (*pki, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	caCert, caKey, caPEM, err := loadOrCreate(dir, "ca", func() (*x509.Certificate, *x509.Certificate, *ecdsa.PrivateKey) {
		return &x509.Certificate{
			Subject:               pkix.Name{CommonName: "peapod-ca"},
			IsCA:                  true,
			BasicConstraintsValid: true,
			KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		}, nil, nil
	}, nil)
	if err != nil {
		return nil, err
	}
	p := &pki{caPEM: caPEM, pool: x509.NewCertPool()}
	p.pool.AddCert(caCert)
	servingTmpl := func() (*x509.Certificate, *x509.Certificate, *ecdsa.PrivateKey) {
		t := &x509.Certificate{
			Subject:     pkix.Name{CommonName: "peapod-apiserver"},
			KeyUsage:    x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
			ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
			DNSNames:    []string{"localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc", "kubernetes.default.svc.cluster.local"},
			IPAddresses: append([]net.IP{net.ParseIP("127.0.0.1"), net.IPv6loopback}, ips...),
		}
		if ip := net.ParseIP(host); ip != nil && !ip.IsUnspecified() && !ip.IsLoopback() {
			t.IPAddresses = append(t.IPAddresses, ip)
		} else if ip == nil && host != "" && host != "localhost" {
			t.DNSNames = append(t.DNSNames, host)
		}
		return t, caCert, caKey
	}
	// A serving certificate that does not cover the listen host (or the
	// service address) is made again rather than failing every client's
	// verification.
	check := func(c *x509.Certificate) bool {
		h := host
		if h == "" || net.ParseIP(h) != nil && net.ParseIP(h).IsUnspecified() {
			h = "127.0.0.1"
		}
		if c.VerifyHostname(h) != nil {
			return false
		}
		for _, ip := range ips {
			if c.VerifyHostname(ip.String()) != nil {
				return false
			}
		}
		return true
	}
	if _, _, _, err = loadOrCreate(dir, "apiserver", servingTmpl, check); err != nil {
		return nil, err
	}
	if p.serving, err = tls.LoadX509KeyPair(filepath.Join(dir, "apiserver.crt"), filepath.Join(dir, "apiserver.key")); err != nil {
		return nil, err
	}
	adminTmpl := func() (*x509.Certificate, *x509.Certificate, *ecdsa.PrivateKey) {
		return &x509.Certificate{
			Subject:     pkix.Name{CommonName: "peapod-admin", Organization: []string{"system:masters"}},
			KeyUsage:    x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
			ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
		}, caCert, caKey
	}
	if _, _, p.adminCertPEM, err = loadOrCreate(dir, "admin", adminTmpl, nil); err != nil {
		return nil, err
	}
	if p.adminKeyPEM, err = os.ReadFile(filepath.Join(dir, "admin.key")); err != nil {
		return nil, err
	}
	return p, nil
}

// loadOrCreate reads name.crt/name.key from dir, or makes them from the
// template, signed by parent (self-signed when parent is nil).
func loadOrCreate(dir, name string, tmpl func() (*x509.Certificate, *x509.Certificate, *ecdsa.PrivateKey), ok func(*x509.Certificate) bool) (*x509.Certificate, *ecdsa.PrivateKey, []byte, error) {
	certPath, keyPath := filepath.Join(dir, name+".crt"), filepath.Join(dir, name+".key")
	if cert, key, certPEM, err := readPair(certPath, keyPath); err == nil && (ok == nil || ok(cert)) && time.Now().Before(cert.NotAfter) {
		return cert, key, certPEM, nil
	} else if err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, nil, nil, fmt.Errorf("pki %s: %w", name, err)
	}
	t, parent, parentKey := tmpl()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, nil, err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 126))
	if err != nil {
		return nil, nil, nil, err
	}
	t.SerialNumber = serial
	t.NotBefore = time.Now().Add(-time.Hour)
	t.NotAfter = time.Now().Add(certValidity)
	if parent == nil {
		parent, parentKey = t, key
	}
	der, err := x509.CreateCertificate(rand.Reader, t, parent, &key.PublicKey, parentKey)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("pki %s: %w", name, err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return nil, nil, nil, err
	}
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	keyPEM := pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER})
	if err := writeFileAtomic(keyPath, keyPEM, 0o600); err != nil {
		return nil, nil, nil, err
	}
	if err := writeFileAtomic(certPath, certPEM, 0o644); err != nil {
		return nil, nil, nil, err
	}
	cert, err := x509.ParseCertificate(der)
	return cert, key, certPEM, err
}

func readPair(certPath, keyPath string) (*x509.Certificate, *ecdsa.PrivateKey, []byte, error) {
	certPEM, err := os.ReadFile(certPath)
	if err != nil {
		return nil, nil, nil, err
	}
	keyPEM, err := os.ReadFile(keyPath)
	if err != nil {
		return nil, nil, nil, err
	}
	cb, _ := pem.Decode(certPEM)
	kb, _ := pem.Decode(keyPEM)
	if cb == nil || kb == nil {
		return nil, nil, nil, fmt.Errorf("%s: not PEM", certPath)
	}
	cert, err := x509.ParseCertificate(cb.Bytes)
	if err != nil {
		return nil, nil, nil, err
	}
	key, err := x509.ParseECPrivateKey(kb.Bytes)
	if err != nil {
		return nil, nil, nil, err
	}
	return cert, key, certPEM, nil
}

func writeFileAtomic(path string, data []byte, mode os.FileMode) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, mode); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// WriteKubeconfig writes a kubeconfig for the admin user to path, with
// client-go's own writer.
func (s *Server) WriteKubeconfig(path string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["peapod"] = &clientcmdapi.Cluster{Server: s.url, CertificateAuthorityData: s.pki.caPEM}
	cfg.AuthInfos["peapod-admin"] = &clientcmdapi.AuthInfo{ClientCertificateData: s.pki.adminCertPEM, ClientKeyData: s.pki.adminKeyPEM}
	cfg.Contexts["peapod"] = &clientcmdapi.Context{Cluster: "peapod", AuthInfo: "peapod-admin", Namespace: "default"}
	cfg.CurrentContext = "peapod"
	data, err := clientcmd.Write(*cfg)
	if err != nil {
		return err
	}
	return writeFileAtomic(path, data, 0o600)
}

// CACert is the cluster CA certificate (PEM), as kube-root-ca.crt holds it.
func (s *Server) CACert() []byte { return s.pki.caPEM }
