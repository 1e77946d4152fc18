package apiserver

import (
	"net/http"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"peapod/internal/registry"
)

// act serves a POSTed subresource (pods/binding): the body, of the
// action's own kind, changes the stored object as the registry says.
func (s *Server) act(w http.ResponseWriter, r *http.Request, q *request, act registry.Action) {
	body, err := readBody(r)
	if err != nil {
		s.writeError(w, err)
		return
	}
	in := act.In()
	gvks, _, err := s.scheme.ObjectKinds(in)
	if err != nil || len(gvks) == 0 {
		s.writeError(w, badRequestf("%s: no kind for %T", q.subresource, in))
		return
	}
	obj, _, err := s.codecs.UniversalDeserializer().Decode(body, &gvks[0], in)
	if err != nil {
		s.writeError(w, badRequestf("invalid %s: %v", gvks[0].Kind, err))
		return
	}
	if _, err := s.internalUpdate(r.Context(), q.res, q.key(), func(cur runtime.Object) error { return act.Apply(cur, obj) }); err != nil {
		s.writeError(w, err)
		return
	}
	s.writeJSON(w, http.StatusCreated, &metav1.Status{TypeMeta: metav1.TypeMeta{Kind: "Status", APIVersion: "v1"}, Status: metav1.StatusSuccess, Code: http.StatusCreated})
}
