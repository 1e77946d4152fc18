package apiserver

import (
	"context"
	"net/http"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sync/errgroup"

	metainternalversionscheme "k8s.io/apimachinery/pkg/apis/meta/internalversion/scheme"
	metav1validation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/runtime/schema"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"peapod/internal/registry"
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
	if !deleted || q.res.ReturnDeleted {
		// Objects that stay (graceful, finalizers) come back whole; so do
		// deleted ones of kinds whose storage returns them (pods).
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
	} else if err := metainternalversionscheme.ParameterCodec.DecodeParameters(r.URL.Query(), metav1.SchemeGroupVersion, opts); err != nil {
		// As kube-apiserver: the query holds the options only when the
		// body does not.
		return nil, false, apierrors.NewBadRequest(err.Error())
	}
	if errs := metav1validation.ValidateDeleteOptions(opts); len(errs) > 0 {
		return nil, false, apierrors.NewInvalid(schema.GroupKind{Group: metav1.GroupName, Kind: "DeleteOptions"}, "", errs)
	}
	if opts.GracePeriodSeconds != nil && *opts.GracePeriodSeconds < 0 {
		z := int64(0)
		opts.GracePeriodSeconds = &z
	}
	return opts, len(opts.DryRun) > 0, nil
}

func (s *Server) deleteCollection(w http.ResponseWriter, r *http.Request, q *request) {
	pred, name, err := s.selectors(r, q.res)
	if err != nil {
		s.writeError(w, err)
		return
	}
	opts, dry, err := s.deleteOptions(r)
	if err != nil {
		s.writeError(w, err)
		return
	}
	list, err := s.store.List(r.Context(), q.listPrefix(name), store.ListOptions{Predicate: pred})
	if err != nil {
		s.writeError(w, err)
		return
	}
	// A few at once, as kube-apiserver's --delete-collection-workers lets
	// it: their writes then share the store's commits.
	var g errgroup.Group
	g.SetLimit(deleteCollectionWorkers)
	for _, obj := range list.Items {
		m, _ := meta.Accessor(obj)
		g.Go(func() error {
			if _, _, err := s.deleteObject(r.Context(), q.res, m.GetNamespace(), m.GetName(), opts, dry); err != nil && !apierrors.IsNotFound(err) {
				return err
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		s.writeError(w, err)
		return
	}
	// As kube-apiserver's registry: the list of what was deleted, as it
	// was listed.
	out, err := q.res.list(list.Items, metav1.ListMeta{ResourceVersion: strconv.FormatUint(list.ResourceVersion, 10)})
	if err != nil {
		s.writeError(w, err)
		return
	}
	s.writeJSON(w, http.StatusOK, out)
}

// deleteCollectionWorkers is how many objects of a collection are deleted
// at once.
const deleteCollectionWorkers = 8

// deleteObject deletes one object the API server's way: preconditions,
// then the kind's Deletion: objects that terminate (namespaces) are marked
// and emptied by their controller; objects with a grace period (pods on a
// node) get a deletionTimestamp and stay until deleted again with grace 0;
// objects with finalizers stay until those are removed. deleted reports
// whether the object is gone.
func (s *Server) deleteObject(ctx context.Context, res *resource, namespace, name string, opts *metav1.DeleteOptions, dry bool) (runtime.Object, bool, error) {
	gr := res.GroupVersionResource().GroupResource()
	key := res.key(namespace, name)
	precheck := func(cur runtime.Object) error {
		m, err := meta.Accessor(cur)
		if err != nil {
			return err
		}
		if p := opts.Preconditions; p != nil {
			if p.UID != nil && *p.UID != m.GetUID() {
				return apierrors.NewConflict(gr, name, preconditionFailed("UID in precondition: %v, UID in object meta: %v", *p.UID, m.GetUID()))
			}
			if p.ResourceVersion != nil && *p.ResourceVersion != m.GetResourceVersion() {
				return apierrors.NewConflict(gr, name, preconditionFailed("ResourceVersion in precondition: %v, ResourceVersion in object meta: %v", *p.ResourceVersion, m.GetResourceVersion()))
			}
		}
		return nil
	}
	cur, err := s.store.Get(ctx, key)
	if err != nil {
		return nil, false, storeErr(res, name, err)
	}
	if err := precheck(cur); err != nil {
		return nil, false, err
	}
	var d registry.Deletion
	if res.Delete != nil {
		if d, err = res.Delete(cur, opts); err != nil {
			return nil, false, err
		}
	}
	m, _ := meta.Accessor(cur)
	now := metav1.NewTime(s.cfg.Now().Truncate(time.Second))
	if d.Terminate && res.Terminate != nil {
		if dry {
			return cur, false, nil
		}
		out, err := s.internalUpdate(ctx, res, key, func(o runtime.Object) error {
			om, _ := meta.Accessor(o)
			if om.GetDeletionTimestamp() == nil {
				om.SetDeletionTimestamp(&now)
				z := int64(0)
				om.SetDeletionGracePeriodSeconds(&z)
			}
			res.Terminate(o)
			return nil
		})
		return out, false, err
	}
	grace := d.Grace
	finalizers, gcChanged := gcFinalizers(res, m, opts)
	switch {
	case grace > 0 || len(finalizers) > 0:
		if dry {
			return cur, false, nil
		}
		out, err := s.internalUpdate(ctx, res, key, func(o runtime.Object) error {
			om, _ := meta.Accessor(o)
			if err := precheck(o); err != nil {
				return err
			}
			if gcChanged {
				om.SetFinalizers(finalizers)
			}
			// A second delete may shorten the grace period, never extend it.
			if g := om.GetDeletionGracePeriodSeconds(); g != nil && *g <= grace {
				return nil
			}
			// As the API server's markAsDeleting: a kind that counts
			// generations sees the deletion as one.
			if om.GetDeletionTimestamp() == nil && om.GetGeneration() > 0 {
				om.SetGeneration(om.GetGeneration() + 1)
			}
			ts := metav1.NewTime(now.Add(time.Duration(grace) * time.Second))
			om.SetDeletionTimestamp(&ts)
			om.SetDeletionGracePeriodSeconds(&grace)
			return nil
		})
		if err != nil {
			return nil, false, err
		}
		if om, _ := meta.Accessor(out); grace == 0 && len(om.GetFinalizers()) == 0 {
			break // the finalizers went meanwhile
		}
		return out, false, nil
	}
	if dry {
		return cur, true, nil
	}
	out, err := s.store.Delete(ctx, key, precheck)
	if err != nil {
		return nil, false, storeErr(res, name, err)
	}
	return out, true, nil
}

// internalUpdate changes an object on the server's own behalf.
func (s *Server) internalUpdate(ctx context.Context, res *resource, key string, mutate func(runtime.Object) error) (runtime.Object, error) {
	out, err := s.store.Update(ctx, key, func(cur runtime.Object) (runtime.Object, error) {
		if err := mutate(cur); err != nil {
			return nil, err
		}
		return cur, nil
	})
	if err != nil {
		return nil, storeErr(res, path.Base(key), err)
	}
	return out, nil
}

// gcFinalizers are the object's finalizers once a delete with opts asked
// the garbage collector to orphan its dependents ("orphan") or delete them
// first ("foregroundDeletion"), as the API server's store decides it: an
// explicit orphanDependents or propagationPolicy, else a finalizer
// already there, else the kind's default. changed reports a difference.
func gcFinalizers(res *resource, m metav1.Object, opts *metav1.DeleteOptions) (finalizers []string, changed bool) {
	if res.Terminate != nil {
		return m.GetFinalizers(), false // namespaces empty themselves
	}
	orphan, foreground := res.OrphanByDefault, false
	for _, f := range m.GetFinalizers() {
		switch f {
		case metav1.FinalizerOrphanDependents:
			orphan, foreground = true, false
		case metav1.FinalizerDeleteDependents:
			orphan, foreground = false, true
		}
	}
	//lint:ignore SA1019 deprecated, but the API server still honours it
	explicitOrphan := opts.OrphanDependents
	switch {
	case explicitOrphan != nil:
		orphan, foreground = *explicitOrphan, false
	case opts.PropagationPolicy != nil:
		switch *opts.PropagationPolicy {
		case metav1.DeletePropagationOrphan:
			orphan, foreground = true, false
		case metav1.DeletePropagationForeground:
			orphan, foreground = false, true
		case metav1.DeletePropagationBackground:
			orphan, foreground = false, false
		}
	}
	for _, f := range m.GetFinalizers() {
		if f != metav1.FinalizerOrphanDependents && f != metav1.FinalizerDeleteDependents {
			finalizers = append(finalizers, f)
		}
	}
	if orphan {
		finalizers = append(finalizers, metav1.FinalizerOrphanDependents)
	}
	if foreground {
		finalizers = append(finalizers, metav1.FinalizerDeleteDependents)
	}
	return finalizers, !slices.Equal(slices.Sorted(slices.Values(finalizers)), slices.Sorted(slices.Values(m.GetFinalizers())))
}
