package apiserver

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"mime"
	"net/http"
	"reflect"
	"strings"

	metainternalversionscheme "k8s.io/apimachinery/pkg/apis/meta/internalversion/scheme"
	metav1validation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/runtime/schema"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/uuid"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"peapod/internal/store"
)

// maxBody is the API server's request body limit (3 MiB).
const maxBody = 3 << 20

func readBody(r *http.Request) ([]byte, error) {
	data, err := io.ReadAll(io.LimitReader(r.Body, maxBody+1))
	if err != nil {
		return nil, apierrors.NewBadRequest(err.Error())
	}
	if len(data) > maxBody {
		return nil, apierrors.NewRequestEntityTooLargeError("limit is 3145728")
	}
	return data, nil
}

// storeErr names the resource with its group in store errors, which only
// know the key.
func storeErr(res *resource, name string, err error) error {
	switch {
	case apierrors.IsNotFound(err):
		if se, ok := err.(apierrors.APIStatus); ok && se.Status().Details != nil && se.Status().Details.Kind != res.Resource.Resource {
			return err
		}
		return apierrors.NewNotFound(res.GroupVersionResource().GroupResource(), name)
	case apierrors.IsAlreadyExists(err):
		return apierrors.NewAlreadyExists(res.GroupVersionResource().GroupResource(), name)
	}
	return err
}

func fieldManager(r *http.Request) string {
	if m := r.URL.Query().Get("fieldManager"); m != "" {
		return m
	}
	// As the API server: the user agent up to its first "/".
	ua, _, _ := strings.Cut(r.UserAgent(), "/")
	if len(ua) > 128 {
		ua = ua[:128]
	}
	return ua
}

func dryRun(r *http.Request) (bool, error) {
	q := r.URL.Query()
	var (
		opts runtime.Object
		errs func() field.ErrorList
		kind string
	)
	switch r.Method {
	case http.MethodPut:
		o := &metav1.UpdateOptions{}
		opts, kind, errs = o, "UpdateOptions", func() field.ErrorList { return metav1validation.ValidateUpdateOptions(o) }
	case http.MethodPatch:
		o := &metav1.PatchOptions{}
		mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
		pt := types.PatchType(mt)
		opts, kind, errs = o, "PatchOptions", func() field.ErrorList { return metav1validation.ValidatePatchOptions(o, pt) }
	default: // POST; a delete's options are deleteOptions'
		o := &metav1.CreateOptions{}
		opts, kind, errs = o, "CreateOptions", func() field.ErrorList { return metav1validation.ValidateCreateOptions(o) }
	}
	// As kube-apiserver: the options are decoded from the query, then
	// validated (an unknown dryRun or fieldValidation is a 422 on them).
	if err := metainternalversionscheme.ParameterCodec.DecodeParameters(q, metav1.SchemeGroupVersion, opts); err != nil {
		return false, apierrors.NewBadRequest(err.Error())
	}
	if e := errs(); len(e) > 0 {
		return false, apierrors.NewInvalid(schema.GroupKind{Group: metav1.GroupName, Kind: kind}, "", e)
	}
	return len(q["dryRun"]) > 0, nil
}

// generateName appends five random characters, as the API server's
// SimpleNameGenerator does.
func generateName(base string) string {
	const alphabet = "bcdfghjklmnpqrstvwxz2456789"
	const maxGeneratedNameLength = 63 - 5
	if len(base) > maxGeneratedNameLength {
		base = base[:maxGeneratedNameLength]
	}
	b := make([]byte, 5)
	for i := range b {
		b[i] = alphabet[rand.IntN(len(alphabet))]
	}
	return base + string(b)
}

type writeOptions struct {
	manager string
	dryRun  bool
	// managed: the object's managedFields are already computed (apply).
	managed bool
}

// readObject reads and decodes the body of a create or update as res's
// kind and applies fieldValidation to it; on failure it has written the
// error and ok is false.
func (s *Server) readObject(w http.ResponseWriter, r *http.Request, res *resource) (obj runtime.Object, ok bool) {
	body, err := readBody(r)
	if err == nil {
		var strictErr error
		obj, strictErr, err = s.decodeBody(r, body, res)
		if err == nil {
			err = fieldValidation(w, r, res, strictErr)
		}
	}
	if err != nil {
		s.writeError(w, err)
		return nil, false
	}
	return obj, true
}

func (s *Server) create(w http.ResponseWriter, r *http.Request, q *request) {
	obj, ok := s.readObject(w, r, q.res)
	if !ok {
		return
	}
	dry, err := dryRun(r)
	if err != nil {
		s.writeError(w, err)
		return
	}
	out, err := s.createObject(r.Context(), q.res, q.namespace, obj, writeOptions{manager: fieldManager(r), dryRun: dry})
	if err != nil {
		s.writeError(w, err)
		return
	}
	s.respond(w, r, q.res, http.StatusCreated, out)
}

// createObject runs the create path: names, metadata, strategy, defaults,
// validation, managedFields, then the store.
func (s *Server) createObject(ctx context.Context, res *resource, namespace string, obj runtime.Object, o writeOptions) (runtime.Object, error) {
	m, err := meta.Accessor(obj)
	if err != nil {
		return nil, apierrors.NewBadRequest(err.Error())
	}
	if res.Namespaced {
		switch {
		case m.GetNamespace() == "":
			m.SetNamespace(namespace)
		case namespace != "" && m.GetNamespace() != namespace:
			return nil, apierrors.NewBadRequest("the namespace of the provided object does not match the namespace sent on the request")
		}
	} else {
		m.SetNamespace("")
	}
	if m.GetName() == "" && m.GetGenerateName() != "" {
		m.SetName(generateName(m.GetGenerateName()))
	}
	if m.GetName() == "" {
		return nil, apierrors.NewInvalid(res.GroupKind(), "", field.ErrorList{field.Required(field.NewPath("metadata", "name"), "name or generateName is required")})
	}
	if res.Namespaced {
		if err := s.checkNamespace(ctx, m.GetNamespace(), res, m.GetName()); err != nil {
			return nil, err
		}
	}
	now := s.cfg.Now()
	m.SetUID(types.UID(uuid.NewUUID()))
	m.SetCreationTimestamp(metav1.NewTime(now.Truncate(1e9)))
	m.SetResourceVersion("")
	m.SetDeletionTimestamp(nil)
	m.SetDeletionGracePeriodSeconds(nil)
	m.SetGeneration(0)
	// As kube-apiserver: the fields the client sent (defaulted, as its
	// decoder does) are the manager's; what admission and the strategy
	// add is nobody's, so a later apply cannot drop it.
	if res.Default != nil {
		res.Default(obj)
	}
	if res.fm != nil && !o.managed {
		live := res.New()
		live.GetObjectKind().SetGroupVersionKind(res.gvk)
		obj = res.fm.UpdateNoErrors(live, obj, o.manager)
		if m, err = meta.Accessor(obj); err != nil {
			return nil, apierrors.NewBadRequest(err.Error())
		}
	}
	if res.Admit != nil {
		if err := res.Admit(obj, s.lookupFor(ctx)); err != nil {
			return nil, err
		}
	}
	if res.PrepareForCreate != nil {
		res.PrepareForCreate(obj, now)
	}
	if res.Default != nil {
		res.Default(obj)
	}
	if res.Allocate != nil {
		res.allocMu.Lock()
		defer res.allocMu.Unlock()
		if err := s.allocate(ctx, res, obj); err != nil {
			return nil, err
		}
	}
	if res.Validate != nil {
		if err := res.Validate(obj); err != nil {
			return nil, err
		}
	}
	if o.dryRun {
		return obj, nil
	}
	out, err := s.store.Create(ctx, res.key(m.GetNamespace(), m.GetName()), obj)
	if err != nil {
		return nil, storeErr(res, m.GetName(), err)
	}
	return out, nil
}

// checkNamespace refuses objects in a missing or terminating namespace.
func (s *Server) checkNamespace(ctx context.Context, ns string, res *resource, name string) error {
	nsRes := s.scope
	if nsRes == nil {
		return nil
	}
	obj, err := s.store.Get(ctx, nsRes.key("", ns))
	if err != nil {
		return storeErr(nsRes, ns, err)
	}
	if m, err := meta.Accessor(obj); err == nil && m.GetDeletionTimestamp() != nil {
		return apierrors.NewForbidden(res.GroupVersionResource().GroupResource(), name,
			fmt.Errorf("unable to create new content in namespace %s because it is being terminated", ns))
	}
	return nil
}

func (s *Server) update(w http.ResponseWriter, r *http.Request, q *request) {
	obj, ok := s.readObject(w, r, q.res)
	if !ok {
		return
	}
	m, _ := meta.Accessor(obj)
	if m.GetName() != q.name {
		s.writeError(w, badRequestf("the name of the object (%s) does not match the name on the URL (%s)", m.GetName(), q.name))
		return
	}
	if q.res.Namespaced && m.GetNamespace() != "" && m.GetNamespace() != q.namespace {
		s.writeError(w, apierrors.NewBadRequest("the namespace of the provided object does not match the namespace sent on the request"))
		return
	}
	dry, err := dryRun(r)
	if err != nil {
		s.writeError(w, err)
		return
	}
	out, err := s.updateObject(r.Context(), q, func(runtime.Object) (runtime.Object, error) { return obj.DeepCopyObject(), nil },
		writeOptions{manager: fieldManager(r), dryRun: dry})
	if err != nil {
		s.writeError(w, err)
		return
	}
	s.respond(w, r, q.res, http.StatusOK, out)
}

// dryRunResult aborts a store update after everything but the write.
type dryRunResult struct{ obj runtime.Object }

func (dryRunResult) Error() string { return "dry run" }

// updateObject runs the update path on the object at q: mutate computes
// the new object from the current one, then preconditions, preserved
// metadata, the subresource split, defaults, validation and managedFields.
func (s *Server) updateObject(ctx context.Context, q *request, mutate func(cur runtime.Object) (runtime.Object, error), o writeOptions) (runtime.Object, error) {
	res := q.res
	gr := res.GroupVersionResource().GroupResource()
	if res.Allocate != nil {
		res.allocMu.Lock()
		defer res.allocMu.Unlock()
	}
	out, err := s.store.Update(ctx, q.key(), func(cur runtime.Object) (runtime.Object, error) {
		obj, err := mutate(cur.DeepCopyObject())
		if err != nil {
			return nil, err
		}
		nm, err := meta.Accessor(obj)
		if err != nil {
			return nil, apierrors.NewBadRequest(err.Error())
		}
		cm, _ := meta.Accessor(cur)
		if rv := nm.GetResourceVersion(); rv != "" && rv != cm.GetResourceVersion() {
			return nil, apierrors.NewConflict(gr, q.name, errors.New(registryOptimisticLockMsg))
		}
		if uid := nm.GetUID(); uid != "" && uid != cm.GetUID() {
			return nil, apierrors.NewConflict(gr, q.name, preconditionFailed("UID in precondition: %v, UID in object meta: %v", uid, cm.GetUID()))
		}
		nm.SetName(cm.GetName())
		nm.SetNamespace(cm.GetNamespace())
		nm.SetUID(cm.GetUID())
		nm.SetCreationTimestamp(cm.GetCreationTimestamp())
		nm.SetDeletionTimestamp(cm.GetDeletionTimestamp())
		nm.SetDeletionGracePeriodSeconds(cm.GetDeletionGracePeriodSeconds())
		nm.SetGeneration(cm.GetGeneration())
		nm.SetResourceVersion(cm.GetResourceVersion())
		obj.GetObjectKind().SetGroupVersionKind(res.gvk)
		if res.PrepareForUpdate != nil {
			res.PrepareForUpdate(obj, cur, q.subresource)
			// As rest.BeforeUpdate after the strategy: an update never
			// changes these, whatever the strategy did to the object.
			nm.SetUID(cm.GetUID())
			nm.SetCreationTimestamp(cm.GetCreationTimestamp())
			nm.SetDeletionTimestamp(cm.GetDeletionTimestamp())
			nm.SetDeletionGracePeriodSeconds(cm.GetDeletionGracePeriodSeconds())
		} else {
			splitSubresource(obj, cur, q.subresource, res.hasStatus)
		}
		if res.Default != nil {
			res.Default(obj)
		}
		if res.Allocate != nil {
			if err := s.allocate(ctx, res, obj); err != nil {
				return nil, err
			}
		}
		if res.ValidateUpdate != nil {
			if err := res.ValidateUpdate(obj, cur, q.subresource); err != nil {
				return nil, err
			}
		}
		if fm := res.manager(q.subresource); fm != nil && !o.managed {
			obj = fm.UpdateNoErrors(cur, obj, o.manager)
		}
		if o.dryRun {
			return nil, dryRunResult{obj}
		}
		return obj, nil
	})
	var dr dryRunResult
	if errors.As(err, &dr) {
		return dr.obj, nil
	}
	if err != nil {
		return nil, storeErr(res, q.name, err)
	}
	// An object being deleted goes once its last finalizer is removed
	// (kinds that terminate wait for their own controller instead).
	if m, _ := meta.Accessor(out); m != nil && m.GetDeletionTimestamp() != nil && len(m.GetFinalizers()) == 0 &&
		res.Terminate == nil && (m.GetDeletionGracePeriodSeconds() == nil || *m.GetDeletionGracePeriodSeconds() == 0) {
		if del, err := s.store.Delete(ctx, q.key(), nil); err == nil {
			return del, nil
		}
	}
	return out, nil
}

// allocate lets res's Allocate take obj's share from what the others of
// its kind hold. The caller holds res.allocMu until obj is written, so
// that two writes never take the same.
func (s *Server) allocate(ctx context.Context, res *resource, obj runtime.Object) error {
	list, err := s.store.List(ctx, res.prefix(""), store.ListOptions{})
	if err != nil {
		return apierrors.NewInternalError(err)
	}
	return res.Allocate(obj, list.Items)
}

// preconditionError is the storage layer's precondition text, which
// starts with a capital as upstream's does.
type preconditionError string

func (e preconditionError) Error() string { return string(e) }

func preconditionFailed(format string, args ...any) error {
	return preconditionError("Precondition failed: " + fmt.Sprintf(format, args...))
}

// registryOptimisticLockMsg is the API server's conflict text.
const registryOptimisticLockMsg = "the object has been modified; please apply your changes to the latest version and try again"

func (r *resource) manager(subresource string) interface {
	UpdateNoErrors(live, obj runtime.Object, manager string) runtime.Object
} {
	switch {
	case subresource == "status" && r.statusFM != nil:
		return r.statusFM
	case subresource == "" && r.fm != nil:
		return r.fm
	}
	return nil
}

// splitSubresource is the fallback when a Resource has no
// PrepareForUpdate: writes to the main resource keep the status, writes to
// status keep everything else.
func splitSubresource(obj, old runtime.Object, subresource string, hasStatus bool) {
	nv, ov := reflect.ValueOf(obj).Elem(), reflect.ValueOf(old).Elem()
	if nv.Type() != ov.Type() {
		return
	}
	switch {
	case subresource == "" && hasStatus:
		if f := nv.FieldByName("Status"); f.IsValid() && f.CanSet() {
			f.Set(ov.FieldByName("Status"))
		}
	case subresource == "status":
		for i := 0; i < nv.NumField(); i++ {
			switch nv.Type().Field(i).Name {
			case "Status", "TypeMeta", "ObjectMeta":
			default:
				nv.Field(i).Set(ov.Field(i))
			}
		}
	}
}
