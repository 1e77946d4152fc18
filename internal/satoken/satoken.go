// Package satoken is the service-account token side of the control
// plane: the signing key, kept next to the server's certificates, and
// kube-apiserver's own JWT issuer and authenticator over it (the bound
// tokens the TokenRequest API issues and pods present as bearer tokens).
package satoken

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apiserver/pkg/authentication/authenticator"
	"k8s.io/kubernetes/pkg/api/legacyscheme"
	"k8s.io/kubernetes/pkg/apis/core"
	"k8s.io/kubernetes/pkg/serviceaccount"

	"peapod/internal/registry"
)

// Issuer is the tokens' iss claim and the audience a token gets when its
// request names none: kubeadm's default --service-account-issuer.
const Issuer = "https://kubernetes.default.svc.cluster.local"

// Keys signs and verifies service-account tokens.
type Keys struct {
	key *ecdsa.PrivateKey
	gen serviceaccount.TokenGenerator
}

// Load reads dir/sa.key, or makes it (an ECDSA P-256 key, ES256 tokens).
func Load(dir string) (*Keys, error) {
	path := filepath.Join(dir, "sa.key")
	key, err := readKey(path)
	if errors.Is(err, os.ErrNotExist) {
		key, err = writeKey(path)
	}
	if err != nil {
		return nil, fmt.Errorf("service-account key %s: %w", path, err)
	}
	gen, err := serviceaccount.JWTTokenGenerator(Issuer, key)
	if err != nil {
		return nil, err
	}
	return &Keys{key: key, gen: gen}, nil
}

func readKey(path string) (*ecdsa.PrivateKey, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	b, _ := pem.Decode(data)
	if b == nil {
		return nil, errors.New("not PEM")
	}
	return x509.ParseECPrivateKey(b.Bytes)
}

func writeKey(path string) (*ecdsa.PrivateKey, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, err
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	der, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return nil, err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der}), 0o600); err != nil {
		return nil, err
	}
	return key, os.Rename(tmp, path)
}

// Audiences are the API's own audiences, given to tokens whose request
// names none.
func (k *Keys) Audiences() []string { return []string{Issuer} }

// Issue signs a token for sa, bound to pod, secret or node (at most one
// besides a pod's node), valid for expirationSeconds, with upstream's
// claims.
func (k *Keys) Issue(sa *corev1.ServiceAccount, pod *corev1.Pod, secret *corev1.Secret, node *corev1.Node, expirationSeconds int64, audiences []string) (string, error) {
	var isa core.ServiceAccount
	if err := legacyscheme.Scheme.Convert(sa, &isa, nil); err != nil {
		return "", err
	}
	ipod, err := internal[core.Pod](pod)
	if err != nil {
		return "", err
	}
	isecret, err := internal[core.Secret](secret)
	if err != nil {
		return "", err
	}
	inode, err := internal[core.Node](node)
	if err != nil {
		return "", err
	}
	pub, priv, err := serviceaccount.Claims(isa, ipod, isecret, inode, expirationSeconds, 0, audiences)
	if err != nil {
		return "", err
	}
	return k.gen.GenerateToken(context.Background(), pub, priv)
}

// internal converts a v1 object to its internal type, nil to nil.
func internal[T any, P interface {
	*corev1.Pod | *corev1.Secret | *corev1.Node
}](obj P) (*T, error) {
	if obj == nil {
		return nil, nil
	}
	out := new(T)
	return out, legacyscheme.Scheme.Convert(obj, out, nil)
}

// Authenticator verifies bearer tokens as kube-apiserver does: signature,
// issuer, audience, expiry, and that what the token is bound to still
// exists (read through lookup) with the UID it names.
func (k *Keys) Authenticator(lookup registry.Lookup) (authenticator.Token, error) {
	keys, err := serviceaccount.StaticPublicKeysGetter([]any{&k.key.PublicKey})
	if err != nil {
		return nil, err
	}
	return serviceaccount.JWTTokenAuthenticator([]string{Issuer}, keys, k.Audiences(), serviceaccount.NewValidator(getter{lookup})), nil
}

// getter reads what a token is bound to, for upstream's validator.
type getter struct{ lookup registry.Lookup }

func getAs[T runtime.Object](g getter, resource, namespace, name string) (T, error) {
	var zero T
	obj, err := g.lookup(corev1.SchemeGroupVersion.WithResource(resource), namespace, name, 0)
	if err != nil {
		return zero, err
	}
	t, ok := obj.(T)
	if !ok {
		return zero, fmt.Errorf("%s %s/%s: stored as %T", resource, namespace, name, obj)
	}
	return t, nil
}

func (g getter) GetServiceAccount(namespace, name string) (*corev1.ServiceAccount, error) {
	return getAs[*corev1.ServiceAccount](g, "serviceaccounts", namespace, name)
}

func (g getter) GetPod(namespace, name string) (*corev1.Pod, error) {
	return getAs[*corev1.Pod](g, "pods", namespace, name)
}

func (g getter) GetSecret(namespace, name string) (*corev1.Secret, error) {
	return getAs[*corev1.Secret](g, "secrets", namespace, name)
}

func (g getter) GetNode(name string) (*corev1.Node, error) {
	return getAs[*corev1.Node](g, "nodes", "", name)
}
