package apiserver

import (
	"context"
	"net/http"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"peapod/internal/registry"
)

// serveRequest answers a POSTed subresource that makes an object from the
// stored one (serviceaccounts/token), with 201 and that object.
func (s *Server) serveRequest(w http.ResponseWriter, r *http.Request, q *request, req registry.Request) {
	obj, gvk, err := s.decodeSubresource(r, q, req.In())
	if err != nil {
		s.writeError(w, err)
		return
	}
	cur, err := s.store.Get(r.Context(), q.key())
	if err != nil {
		s.writeError(w, storeErr(q.res, q.name, err))
		return
	}
	out, err := req.Serve(cur, obj, s.lookupFor(r.Context()), s.cfg.Now().Truncate(time.Second))
	if err != nil {
		s.writeError(w, err)
		return
	}
	out.GetObjectKind().SetGroupVersionKind(gvk)
	s.writeJSON(w, http.StatusCreated, out)
}

// lookupFor reads stored objects for the registry's admission rules and
// requests, as their API errors.
func (s *Server) lookupFor(ctx context.Context) registry.Lookup {
	return func(gvr schema.GroupVersionResource, namespace, name string, wait time.Duration) (runtime.Object, error) {
		res := s.byGVR[gvr]
		if res == nil {
			return nil, apierrors.NewNotFound(gvr.GroupResource(), name)
		}
		deadline := time.Now().Add(wait)
		for {
			obj, err := s.store.Get(ctx, res.key(namespace, name))
			if err == nil || !apierrors.IsNotFound(err) || !time.Now().Before(deadline) {
				return obj, storeErr(res, name, err)
			}
			select {
			case <-ctx.Done():
				return nil, storeErr(res, name, err)
			case <-time.After(100 * time.Millisecond):
			}
		}
	}
}
