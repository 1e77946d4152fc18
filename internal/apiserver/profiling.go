package apiserver

import (
	"errors"
	"fmt"
	"net/http"
	"net/http/pprof"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apiserver/pkg/authentication/user"
)

// serveProfiling serves Go's profiles under /debug/pprof/, as
// kube-apiserver does with --profiling (its default): to the admin only,
// anyone else gets RBAC's answer for a non-resource URL.
func (s *Server) serveProfiling(w http.ResponseWriter, r *http.Request) {
	if u, _ := r.Context().Value(userKey{}).(user.Info); u != nil && !privileged(u) {
		msg := fmt.Sprintf("User %q cannot %s path %q", u.GetName(), strings.ToLower(r.Method), r.URL.Path)
		s.writeError(w, apierrors.NewForbidden(schema.GroupResource{}, "", errors.New(msg)))
		return
	}
	switch strings.TrimPrefix(r.URL.Path, "/debug/pprof/") {
	case "cmdline":
		pprof.Cmdline(w, r)
	case "profile":
		pprof.Profile(w, r)
	case "symbol":
		pprof.Symbol(w, r)
	case "trace":
		pprof.Trace(w, r)
	default:
		pprof.Index(w, r)
	}
}

// privileged: a member of system:masters, who may do anything.
func privileged(u user.Info) bool {
	for _, g := range u.GetGroups() {
		if g == user.SystemPrivilegedGroup {
			return true
		}
	}
	return false
}
