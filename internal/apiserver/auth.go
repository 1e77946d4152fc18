package apiserver

import (
	"context"
	"crypto/sha256"
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apiserver/pkg/authentication/serviceaccount"
	"k8s.io/apiserver/pkg/authentication/user"
)

type userKey struct{}

// authenticate lets through requests with a client certificate signed by
// our CA, or a service-account token the token authenticator accepts;
// the health and version endpoints are public, as upstream's
// system:public-info-viewer makes them.
func (s *Server) authenticate(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/version", "/healthz", "/livez", "/readyz":
			next.ServeHTTP(w, r)
			return
		}
		u := s.user(r)
		if u == nil {
			s.writeError(w, unauthorized())
			return
		}
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), userKey{}, u)))
	})
}

// user is who the request comes from, or nil.
func (s *Server) user(r *http.Request) user.Info {
	if c := s.clientCert(r); c != nil {
		return &user.DefaultInfo{Name: c.Subject.CommonName, Groups: append(append([]string{}, c.Subject.Organization...), user.AllAuthenticated)}
	}
	h := r.Header.Get("Authorization")
	tok, ok := strings.CutPrefix(h, "Bearer ")
	if !ok || s.tokens == nil {
		return nil
	}
	resp, ok, err := s.tokens.AuthenticateToken(r.Context(), strings.TrimSpace(tok))
	if err != nil || !ok {
		return nil
	}
	return resp.User
}

// clientCert is the request's client certificate if our CA signed it for
// client use, else nil. As kube-apiserver, the TLS handshake only asks for
// a certificate: one from another CA is not a handshake failure but an
// unauthenticated request (401), after a token was tried.
func (s *Server) clientCert(r *http.Request) *x509.Certificate {
	if r.TLS == nil || len(r.TLS.PeerCertificates) == 0 || s.pki == nil {
		return nil
	}
	certs := r.TLS.PeerCertificates
	key := chainKey(certs)
	if until, ok := s.pki.verified.Load(key); ok && time.Now().Before(until.(time.Time)) {
		return certs[0]
	}
	opts := x509.VerifyOptions{Roots: s.pki.pool, Intermediates: x509.NewCertPool(), KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
	for _, c := range certs[1:] {
		opts.Intermediates.AddCert(c)
	}
	chains, err := certs[0].Verify(opts)
	if err != nil {
		return nil
	}
	until := certs[0].NotAfter
	for _, c := range chains[0] {
		if c.NotAfter.Before(until) {
			until = c.NotAfter
		}
	}
	s.pki.verified.Store(key, until)
	return certs[0]
}

// chainKey identifies a presented certificate chain.
func chainKey(certs []*x509.Certificate) [sha256.Size]byte {
	h := sha256.New()
	for _, c := range certs {
		h.Write(c.Raw)
	}
	var k [sha256.Size]byte
	h.Sum(k[:0])
	return k
}

// verb is the authorization verb of a request on q.
func verb(r *http.Request, q *request) string {
	switch r.Method {
	case http.MethodGet, http.MethodHead:
		switch {
		case isTrue(r.URL.Query().Get("watch")):
			return "watch"
		case q.name == "":
			return "list"
		}
		return "get"
	case http.MethodPost:
		return "create"
	case http.MethodPut:
		return "update"
	case http.MethodPatch:
		return "patch"
	case http.MethodDelete:
		if q.name == "" {
			return "deletecollection"
		}
		return "delete"
	}
	return strings.ToLower(r.Method)
}

// authorize is the server's authorizer. The admin and the node agent
// (certificates in system:masters) may do anything. A service account
// may read in its own namespace what the view ClusterRole grants: not
// secrets, not what reaches into pods (log, exec, proxy...). Anything
// else is refused as RBAC refuses it. A request with no user came
// through Handler, which tests wrap themselves.
func authorize(r *http.Request, q *request) error {
	u, _ := r.Context().Value(userKey{}).(user.Info)
	if u == nil {
		return nil
	}
	if privileged(u) {
		return nil
	}
	v := verb(r, q)
	ns, _, err := serviceaccount.SplitUsername(u.GetName())
	read := v == "get" || v == "list" || v == "watch"
	if err == nil && read && q.namespace == ns && q.res.Namespaced && !q.res.Credentials && (q.subresource == "" || q.subresource == "status") {
		return nil
	}
	gr := schema.GroupResource{Group: q.res.GroupVersion.Group, Resource: q.res.Resource.Resource}
	if q.subresource != "" {
		gr.Resource += "/" + q.subresource
	}
	msg := fmt.Sprintf("User %q cannot %s resource %q in API group %q", u.GetName(), v, gr.Resource, gr.Group)
	if q.namespace != "" {
		msg += fmt.Sprintf(" in the namespace %q", q.namespace)
	} else {
		msg += " at the cluster scope"
	}
	return apierrors.NewForbidden(gr, q.name, errors.New(msg))
}
