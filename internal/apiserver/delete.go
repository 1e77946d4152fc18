package apiserver

import (
	"net/http"
	"strconv"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"peapod/internal/store"
)

func (s *Server) delete(w http.ResponseWriter, r *http.Request, q *request) {
	opts, dry, err := s.deleteOptions(r)
	if err != nil {
		s.writeError(w, err)
		return
	}
	obj, deleted, err := s.deleteObject(r.Context(), q.res, q.namespace, q.name, opts, dry)
	if err != nil {
		s.writeError(w, err)
		return
	}
	if !deleted || q.res.Resource.Resource == "pods" {
		// Objects that stay (graceful, finalizers) come back whole; so do
		// deleted pods, as upstream's pod storage returns them.
		s.respond(w, r, q.res, http.StatusOK, obj)
		return
	}
	m, _ := meta.Accessor(obj)
	s.writeJSON(w, http.StatusOK, &metav1.Status{
		TypeMeta: metav1.TypeMeta{Kind: "Status", APIVersion: "v1"},
		Status:   metav1.StatusSuccess,
		Details:  &metav1.StatusDetails{Name: q.name, Group: q.res.gvk.Group, Kind: q.res.Resource.Resource, UID: m.GetUID()},
	})
}

func (s *Server) deleteOptions(r *http.Request) (*metav1.DeleteOptions, bool, error) {
	opts := &metav1.DeleteOptions{}
	body, err := readBody(r)
	if err != nil {
		return nil, false, err
	}
	if len(strings.TrimSpace(string(body))) > 0 {
		def := metav1.SchemeGroupVersion.WithKind("DeleteOptions")
		obj, _, err := s.codecs.UniversalDeserializer().Decode(body, &def, opts)
		if err != nil {
			return nil, false, badRequestf("invalid DeleteOptions: %v", err)
		}
		o, ok := obj.(*metav1.DeleteOptions)
		if !ok {
			return nil, false, badRequestf("expected DeleteOptions, got %T", obj)
		}
		opts = o
	}
	qv := r.URL.Query()
	if g := qv.Get("gracePeriodSeconds"); g != "" {
		v, err := strconv.ParseInt(g, 10, 64)
		if err != nil {
			return nil, false, badRequestf("invalid gracePeriodSeconds %q", g)
		}
		opts.GracePeriodSeconds = &v
	}
	if p := qv.Get("propagationPolicy"); p != "" {
		pp := metav1.DeletionPropagation(p)
		opts.PropagationPolicy = &pp
	}
	if len(qv["dryRun"]) > 0 {
		opts.DryRun = qv["dryRun"]
	}
	for _, v := range opts.DryRun {
		if v != metav1.DryRunAll {
			return nil, false, badRequestf("dryRun: Unsupported value: %q: supported values: \"All\"", v)
		}
	}
	if opts.GracePeriodSeconds != nil && *opts.GracePeriodSeconds < 0 {
		z := int64(0)
		opts.GracePeriodSeconds = &z
	}
	return opts, len(opts.DryRun) > 0, nil
}

func (s *Server) deleteCollection(w http.ResponseWriter, r *http.Request, q *request) {
	pred, err := s.selectors(r, q.res)
	if err != nil {
		s.writeError(w, err)
		return
	}
	opts, dry, err := s.deleteOptions(r)
	if err != nil {
		s.writeError(w, err)
		return
	}
	list, err := s.store.List(r.Context(), q.res.prefix(q.namespace), store.ListOptions{Predicate: pred})
	if err != nil {
		s.writeError(w, err)
		return
	}
	for _, obj := range list.Items {
		m, _ := meta.Accessor(obj)
		if _, _, err := s.deleteObject(r.Context(), q.res, m.GetNamespace(), m.GetName(), opts, dry); err != nil && !apierrors.IsNotFound(err) {
			s.writeError(w, err)
			return
		}
	}
	s.writeJSON(w, http.StatusOK, &metav1.Status{TypeMeta: metav1.TypeMeta{Kind: "Status", APIVersion: "v1"}, Status: metav1.StatusSuccess})
}
