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
	if !s.allowNonResource(w, r) {
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

// allowNonResource reports whether the request's user is the admin (in
// system:masters) or in one of groups; if not, it answers with RBAC's
// refusal of a non-resource URL.
func (s *Server) allowNonResource(w http.ResponseWriter, r *http.Request, groups ...string) bool {
	u, _ := r.Context().Value(userKey{}).(user.Info)
	if u == nil || privileged(u) {
		return true
	}
	for _, g := range groups {
		if inGroup(u, g) {
			return true
		}
	}
	msg := fmt.Sprintf("User %q cannot %s path %q", u.GetName(), strings.ToLower(r.Method), r.URL.Path)
	s.writeError(w, apierrors.NewForbidden(schema.GroupResource{}, "", errors.New(msg)))
	return false
}

// privileged: a member of system:masters, who may do anything.
func privileged(u user.Info) bool { return inGroup(u, user.SystemPrivilegedGroup) }

func inGroup(u user.Info, group string) bool {
	for _, g := range u.GetGroups() {
		if g == group {
			return true
		}
	}
	return false
}
