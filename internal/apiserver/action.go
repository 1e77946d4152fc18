package apiserver

import (
	"net/http"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"peapod/internal/registry"
)

// act serves a POSTed subresource (pods/binding): the body, of the
// action's own kind, changes the stored object as the registry says.
func (s *Server) act(w http.ResponseWriter, r *http.Request, q *request, act registry.Action) {
	obj, _, err := s.decodeSubresource(r, q, act.In())
	if err != nil {
		s.writeError(w, err)
		return
	}
	if _, err := s.internalUpdate(r.Context(), q.res, q.key(), func(cur runtime.Object) error { return act.Apply(cur, obj) }); err != nil {
		s.writeError(w, err)
		return
	}
	s.writeJSON(w, http.StatusCreated, &metav1.Status{TypeMeta: metav1.TypeMeta{Kind: "Status", APIVersion: "v1"}, Status: metav1.StatusSuccess, Code: http.StatusCreated})
}

// decodeSubresource reads the body of a POST to a subresource into in,
// an object of the subresource's own kind.
func (s *Server) decodeSubresource(r *http.Request, q *request, in runtime.Object) (runtime.Object, schema.GroupVersionKind, error) {
	body, err := readBody(r)
	if err != nil {
		return nil, schema.GroupVersionKind{}, err
	}
	gvks, _, err := s.scheme.ObjectKinds(in)
	if err != nil || len(gvks) == 0 {
		return nil, schema.GroupVersionKind{}, badRequestf("%s: no kind for %T", q.subresource, in)
	}
	obj, _, err := s.codecs.UniversalDeserializer().Decode(body, &gvks[0], in)
	if err != nil {
		return nil, gvks[0], badRequestf("invalid %s: %v", gvks[0].Kind, err)
	}
	return obj, gvks[0], nil
}
