package registry

import (
	"context"
	"k8s.io/apimachinery/pkg/api/meta"
	apimachineryvalidation "k8s.io/apimachinery/pkg/api/validation"
	"k8s.io/apimachinery/pkg/api/validation/path"
	genericapirequest "k8s.io/apiserver/pkg/endpoints/request"
	"reflect"
	"sync"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/kubernetes/pkg/api/legacyscheme"
	_ "k8s.io/kubernetes/pkg/apis/apps/install" // internal apps types, defaults, conversions
	_ "k8s.io/kubernetes/pkg/apis/batch/install"
	_ "k8s.io/kubernetes/pkg/apis/core/install"
	"k8s.io/kubernetes/pkg/capabilities"
	"k8s.io/kubernetes/pkg/printers"
	printersinternal "k8s.io/kubernetes/pkg/printers/internalversion"
)

// strategy is a kube-apiserver registry strategy (its create and update
// halves); it works on the internal types.
type strategy interface {
	PrepareForCreate(ctx context.Context, obj runtime.Object)
	PrepareForUpdate(ctx context.Context, obj, old runtime.Object)
	Validate(ctx context.Context, obj runtime.Object) field.ErrorList
	ValidateUpdate(ctx context.Context, obj, old runtime.Object) field.ErrorList
	Canonicalize(obj runtime.Object)
}

// subStrategy is the strategy of a write through a subresource (status,
// ephemeralcontainers).
type subStrategy interface {
	PrepareForUpdate(ctx context.Context, obj, old runtime.Object)
	ValidateUpdate(ctx context.Context, obj, old runtime.Object) field.ErrorList
}

// upstream runs kube-apiserver's own rules for a kind: the defaulting
// registered for its version, and its strategy and table printer on the
// internal type, converting there and back as the API server does.
type upstream struct {
	gvk         schema.GroupVersionKind
	newInternal func() runtime.Object
	main        strategy
	sub         map[string]subStrategy // by subresource
}

func init() {
	// kube-apiserver --allow-privileged=true, as kubeadm, kind and the
	// conformance suite run it: privileged containers are the node's
	// business (peapod's own security context support runs them).
	capabilities.Setup(true, 0)
}

var tables = sync.OnceValue(func() *printers.HumanReadableGenerator {
	return printers.NewTableGenerator().With(printersinternal.AddHandlers)
})

func (u upstream) internal(obj runtime.Object) (runtime.Object, error) {
	in := u.newInternal()
	if err := legacyscheme.Scheme.Convert(obj, in, nil); err != nil {
		return nil, apierrors.NewBadRequest(err.Error())
	}
	return in, nil
}

// back converts in into the external obj in place. It converts into a
// fresh object first: some conversions leave fields alone that the
// internal type lacks (a pod's status.podIP), which must not survive
// from obj's old contents.
func (u upstream) back(in, obj runtime.Object) {
	v := reflect.ValueOf(obj)
	if v.Kind() != reflect.Pointer || v.IsNil() {
		return
	}
	fresh := reflect.New(v.Elem().Type())
	if err := legacyscheme.Scheme.Convert(in, fresh.Interface(), nil); err == nil {
		v.Elem().Set(fresh.Elem())
		obj.GetObjectKind().SetGroupVersionKind(u.gvk)
	}
}

// context is what the strategies are called with: the request's
// group-version, which they may read (an event's validation differs
// between core/v1 and events.k8s.io/v1).
func (u upstream) context() context.Context {
	return genericapirequest.WithRequestInfo(context.Background(), &genericapirequest.RequestInfo{
		IsResourceRequest: true, APIGroup: u.gvk.Group, APIVersion: u.gvk.Version,
	})
}

// apply fills r's rule hooks from upstream's.
func (u upstream) apply(r *Resource) {
	ctx := u.context()
	// kube-apiserver defaults as it decodes, before the strategy runs;
	// the strategies count on it (a Job's manualSelector).
	r.Default = func(obj runtime.Object) { legacyscheme.Scheme.Default(obj) }
	r.PrepareForCreate = func(obj runtime.Object, _ time.Time) {
		r.Default(obj)
		if in, err := u.internal(obj); err == nil {
			u.main.PrepareForCreate(ctx, in)
			u.back(in, obj)
		}
	}
	r.PrepareForUpdate = func(obj, old runtime.Object, subresource string) {
		r.Default(obj)
		u.prepareForUpdate(obj, old, subresource)
	}
	r.Validate = func(obj runtime.Object) error {
		in, err := u.internal(obj)
		if err != nil {
			return err
		}
		errs := u.main.Validate(ctx, in)
		if m, err := meta.Accessor(obj); err == nil && len(errs) == 0 {
			// As the generic registry's BeforeCreate, after the kind's
			// own checks: every name must be a path segment.
			errs = apimachineryvalidation.ValidateObjectMetaAccessor(m, r.Namespaced, path.ValidatePathSegmentName, field.NewPath("metadata"))
		}
		u.main.Canonicalize(in)
		u.back(in, obj)
		return invalid(r.GroupKind(), nameOf(obj), errs)
	}
	r.ValidateUpdate = func(obj, old runtime.Object, subresource string) error {
		in, err := u.internal(obj)
		if err != nil {
			return err
		}
		oldIn, err := u.internal(old)
		if err != nil {
			return err
		}
		var errs field.ErrorList
		if st, ok := u.sub[subresource]; ok {
			errs = st.ValidateUpdate(ctx, in, oldIn)
		} else {
			errs = u.main.ValidateUpdate(ctx, in, oldIn)
		}
		u.main.Canonicalize(in)
		u.back(in, obj)
		return invalid(r.GroupKind(), nameOf(obj), errs)
	}
	if t, err := u.table(r.New()); err == nil {
		r.Columns = t.ColumnDefinitions
	}
	// The printers take their ages from the wall clock; the Age cell is
	// made again from the server's.
	ageAt := -1
	for i, c := range r.Columns {
		if c.Name == "Age" {
			ageAt = i
		}
	}
	r.Row = func(obj runtime.Object, now time.Time) []any {
		t, err := u.table(obj)
		if err != nil || len(t.Rows) == 0 {
			return nil
		}
		cells := t.Rows[0].Cells
		if m, ok := obj.(metav1.Object); ok && ageAt >= 0 && ageAt < len(cells) {
			cells[ageAt] = age(m.GetCreationTimestamp(), now)
		}
		return cells
	}
}

// prepareForUpdate runs the strategy's PrepareForUpdate (the
// subresource's own for a write through one) on obj, updating old.
func (u upstream) prepareForUpdate(obj, old runtime.Object, subresource string) {
	ctx := u.context()
	in, err := u.internal(obj)
	if err != nil {
		return
	}
	oldIn, err := u.internal(old)
	if err != nil {
		return
	}
	if st, ok := u.sub[subresource]; ok {
		st.PrepareForUpdate(ctx, in, oldIn)
	} else {
		u.main.PrepareForUpdate(ctx, in, oldIn)
	}
	u.back(in, obj)
}

// table prints obj as kube-apiserver does: every column, wide ones too.
func (u upstream) table(obj runtime.Object) (*metav1.Table, error) {
	in, err := u.internal(obj)
	if err != nil {
		return nil, err
	}
	return tables().GenerateTable(in, printers.GenerateOptions{Wide: true})
}

func nameOf(obj runtime.Object) string {
	if o, ok := obj.(metav1.Object); ok {
		return o.GetName()
	}
	return ""
}
