package kubecluster

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"os"
	"path/filepath"

	"peapod/internal/testenv"
)

// newAuthority makes the cluster's one CA, which signs the API server's
// serving certificate and every client's (kubeadm's ca.crt), and writes
// it to <dir>/ca.crt and ca.key.
func newAuthority(dir string) (*testenv.CA, error) {
	ca, err := testenv.NewCA("peapod-test-cluster-ca")
	if err != nil {
		return nil, err
	}
	return ca, writePair(dir, "ca", ca.Cert.Raw, ca.Key)
}

// issue writes <dir>/<name>.crt and .key: a client certificate for cn in
// groups, or a serving one for hosts when any are given.
func issue(ca *testenv.CA, dir, name, cn string, groups []string, hosts ...string) error {
	c, err := ca.Issue(cn, groups, hosts...)
	if err != nil {
		return err
	}
	return writePair(dir, name, c.Certificate[0], c.PrivateKey.(crypto.Signer))
}

func writePair(dir, name string, der []byte, key crypto.Signer) error {
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, name+".crt"), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, name+".key"), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600)
}

// serviceAccountKeys writes sa.key and sa.pub, the key pair the API
// server signs service-account tokens with (RSA, as kubeadm's).
func serviceAccountKeys(dir string) error {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return err
	}
	pub, err := x509.MarshalPKIXPublicKey(key.Public())
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "sa.key"), pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)}), 0o600); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, "sa.pub"), pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pub}), 0o644)
}
