package apiserver

import (
	"mime"
	"net/http"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"

	"peapod/internal/registry"
)

// serveProjection serves a subresource that shows the object as another
// kind (a workload's scale): GET reads it, PUT and PATCH write it back
// through the main resource's update path.
func (s *Server) serveProjection(w http.ResponseWriter, r *http.Request, q *request, proj registry.Projection) {
	pres, err := s.projectionResource(q, proj)
	if err != nil {
		s.writeError(w, err)
		return
	}
	view := func(obj runtime.Object) {
		out, err := proj.Get(obj)
		if err != nil {
			s.writeError(w, err)
			return
		}
		s.writeJSON(w, http.StatusOK, out)
	}
	var mutate func(cur runtime.Object) (runtime.Object, error)
	switch r.Method {
	case http.MethodGet:
		obj, err := s.store.Get(r.Context(), q.key())
		if err != nil {
			s.writeError(w, storeErr(q.res, q.name, err))
			return
		}
		view(obj)
		return
	case http.MethodPut:
		in, ok := s.readObject(w, r, pres)
		if !ok {
			return
		}
		if m, err := meta.Accessor(in); err != nil || m.GetName() != q.name {
			s.writeError(w, badRequestf("the name of the object does not match the name on the URL (%s)", q.name))
			return
		}
		mutate = func(cur runtime.Object) (runtime.Object, error) { return cur, proj.Put(cur, in) }
	case http.MethodPatch:
		mediaType, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
		pt := types.PatchType(mediaType)
		if pt == types.ApplyYAMLPatchType {
			s.writeError(w, apierrors.NewMethodNotSupported(q.res.GroupVersionResource().GroupResource(), "apply "+q.subresource))
			return
		}
		body, err := readBody(r)
		if err != nil {
			s.writeError(w, err)
			return
		}
		mutate = func(cur runtime.Object) (runtime.Object, error) {
			p, err := proj.Get(cur)
			if err != nil {
				return nil, err
			}
			patched, err := applyPatch(pt, p, body, pres)
			if err != nil {
				return nil, err
			}
			in, _, err := s.decodeJSON(patched, pres)
			if err != nil {
				return nil, err
			}
			return cur, proj.Put(cur, in)
		}
	default:
		s.writeError(w, apierrors.NewMethodNotSupported(q.res.GroupVersionResource().GroupResource(), r.Method+" "+q.subresource))
		return
	}
	dry, err := dryRun(r)
	if err != nil {
		s.writeError(w, err)
		return
	}
	main := *q
	main.subresource = ""
	out, err := s.updateObject(r.Context(), &main, mutate, writeOptions{manager: fieldManager(r), dryRun: dry})
	if err != nil {
		s.writeError(w, err)
		return
	}
	view(out)
}

// projectionResource describes the projected kind for decoding and
// patching as if it were a resource of its own.
func (s *Server) projectionResource(q *request, proj registry.Projection) (*resource, error) {
	gvks, _, err := s.scheme.ObjectKinds(proj.New())
	if err != nil || len(gvks) == 0 {
		return nil, apierrors.NewInternalError(err)
	}
	gvk := gvks[0]
	return &resource{Resource: &registry.Resource{GroupVersion: gvk.GroupVersion(), Resource: q.res.Resource.Resource + "/" + q.subresource, Kind: gvk.Kind, New: proj.New}, gvk: gvk}, nil
}
