package apiserver

import (
	"net/http"
	"strconv"

	metainternalversion "k8s.io/apimachinery/pkg/apis/meta/internalversion"
	metainternalversionscheme "k8s.io/apimachinery/pkg/apis/meta/internalversion/scheme"
	metainternalversionvalidation "k8s.io/apimachinery/pkg/apis/meta/internalversion/validation"
	"k8s.io/apimachinery/pkg/runtime/schema"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"

	"peapod/internal/store"
)

func (s *Server) fields(res *resource, obj runtime.Object) fields.Set {
	if res.Fields != nil {
		return res.Fields(obj)
	}
	m, err := meta.Accessor(obj)
	if err != nil {
		return fields.Set{}
	}
	set := fields.Set{"metadata.name": m.GetName()}
	if res.Namespaced {
		set["metadata.namespace"] = m.GetNamespace()
	}
	return set
}

// selectors parses labelSelector and fieldSelector into a predicate, and
// the one name the field selector asks for, if it asks for one.
func (s *Server) selectors(r *http.Request, res *resource) (pred func(runtime.Object) bool, name string, err error) {
	q := r.URL.Query()
	ls, err := labels.Parse(q.Get("labelSelector"))
	if err != nil {
		return nil, "", apierrors.NewBadRequest(err.Error())
	}
	fs, err := fields.ParseSelector(q.Get("fieldSelector"))
	if err != nil {
		return nil, "", apierrors.NewBadRequest(err.Error())
	}
	for _, req := range fs.Requirements() {
		if !res.SupportsField(req.Field) {
			return nil, "", badRequestf("field label not supported: %s", req.Field)
		}
	}
	name, _ = fs.RequiresExactMatch("metadata.name")
	if ls.Empty() && fs.Empty() {
		return nil, name, nil
	}
	return func(obj runtime.Object) bool {
		m, err := meta.Accessor(obj)
		if err != nil {
			return false
		}
		return ls.Matches(labels.Set(m.GetLabels())) && fs.Matches(s.fields(res, obj))
	}, name, nil
}

// listPrefix is where a list of the objects named name ("" for any)
// reads: with one name, as kube-apiserver's registry does, from that
// object's key on, not every object of the namespace (kubectl wait lists
// each object it waits for). The keys it also meets (of names it is a
// prefix of) the predicate drops.
func (q *request) listPrefix(name string) string {
	if name != "" && (!q.res.Namespaced || q.namespace != "") {
		return q.res.key(q.namespace, name)
	}
	return q.res.prefix(q.namespace)
}

func (s *Server) get(w http.ResponseWriter, r *http.Request, q *request) {
	obj, err := s.store.Get(r.Context(), q.key())
	if err != nil {
		s.writeError(w, storeErr(q.res, q.name, err))
		return
	}
	s.respond(w, r, q.res, http.StatusOK, obj)
}

// respond writes one object, as a Table or PartialObjectMetadata when the
// client asks for that.
func (s *Server) respond(w http.ResponseWriter, r *http.Request, res *resource, code int, obj runtime.Object) {
	switch {
	case wantsAs(r, "Table", "meta.k8s.io", "v1"):
		t, err := s.table(r, res, []runtime.Object{obj}, true)
		if err != nil {
			s.writeError(w, err)
			return
		}
		s.writeJSON(w, code, t)
	case wantsAs(r, "PartialObjectMetadata", "meta.k8s.io", "v1"):
		s.writeJSON(w, code, partial(obj))
	default:
		s.writeJSON(w, code, obj)
	}
}

func partial(obj runtime.Object) *metav1.PartialObjectMetadata {
	p := &metav1.PartialObjectMetadata{TypeMeta: metav1.TypeMeta{APIVersion: "meta.k8s.io/v1", Kind: "PartialObjectMetadata"}}
	if a, ok := obj.(metav1.ObjectMetaAccessor); ok {
		if om, ok := a.GetObjectMeta().(*metav1.ObjectMeta); ok {
			p.ObjectMeta = *om.DeepCopy()
		}
	}
	return p
}

// listOptions checks a list or watch's query as kube-apiserver decodes
// and validates it: 400 for what does not parse, 422 on ListOptions for
// a combination it refuses (resourceVersionMatch without a version).
func listOptions(r *http.Request) error {
	var opts metainternalversion.ListOptions
	if err := metainternalversionscheme.ParameterCodec.DecodeParameters(r.URL.Query(), metav1.SchemeGroupVersion, &opts); err != nil {
		return apierrors.NewBadRequest(err.Error())
	}
	if errs := metainternalversionvalidation.ValidateListOptions(&opts, false); len(errs) > 0 {
		return apierrors.NewInvalid(schema.GroupKind{Group: metav1.GroupName, Kind: "ListOptions"}, "", errs)
	}
	return nil
}

func (s *Server) list(w http.ResponseWriter, r *http.Request, q *request) {
	if err := listOptions(r); err != nil {
		s.writeError(w, err)
		return
	}
	pred, name, err := s.selectors(r, q.res)
	if err != nil {
		s.writeError(w, err)
		return
	}
	var limit int64
	if l := r.URL.Query().Get("limit"); l != "" {
		if limit, err = strconv.ParseInt(l, 10, 64); err != nil || limit < 0 {
			s.writeError(w, badRequestf("invalid limit %q", l))
			return
		}
	}
	res, err := s.store.List(r.Context(), q.listPrefix(name), store.ListOptions{Limit: limit, Continue: r.URL.Query().Get("continue"), Predicate: pred})
	if err != nil {
		s.writeError(w, err)
		return
	}
	lm := metav1.ListMeta{ResourceVersion: strconv.FormatUint(res.ResourceVersion, 10), Continue: res.Continue}
	if res.RemainingItemCount > 0 {
		n := res.RemainingItemCount
		lm.RemainingItemCount = &n
	}
	switch {
	case wantsAs(r, "Table", "meta.k8s.io", "v1"):
		t, err := s.table(r, q.res, res.Items, true)
		if err != nil {
			s.writeError(w, err)
			return
		}
		t.ListMeta = lm
		s.writeJSON(w, http.StatusOK, t)
	case wantsAs(r, "PartialObjectMetadataList", "meta.k8s.io", "v1"):
		pl := &metav1.PartialObjectMetadataList{TypeMeta: metav1.TypeMeta{APIVersion: "meta.k8s.io/v1", Kind: "PartialObjectMetadataList"}, ListMeta: lm}
		for _, o := range res.Items {
			pl.Items = append(pl.Items, *partial(o))
		}
		s.writeJSON(w, http.StatusOK, pl)
	default:
		list, err := q.res.list(res.Items, lm)
		if err != nil {
			s.writeError(w, err)
			return
		}
		s.writeJSON(w, http.StatusOK, list)
	}
}

// list is the resource's typed list (PodList…) of items, with lm.
func (res *resource) list(items []runtime.Object, lm metav1.ListMeta) (runtime.Object, error) {
	list := res.NewList()
	if err := meta.SetList(list, items); err != nil {
		return nil, err
	}
	if la, err := meta.ListAccessor(list); err == nil {
		la.SetResourceVersion(lm.ResourceVersion)
		la.SetContinue(lm.Continue)
		la.SetRemainingItemCount(lm.RemainingItemCount)
	}
	list.GetObjectKind().SetGroupVersionKind(res.gvk.GroupVersion().WithKind(res.Kind + "List"))
	return list, nil
}
