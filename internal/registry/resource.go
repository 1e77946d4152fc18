package registry

import (
	"fmt"
	"strconv"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/duration"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// Resource is everything the API server needs to serve one kind: its
// names, how to make empty objects, and its rules. The server is generic
// over Resources; every kind-specific rule is here. Every hook is
// optional (nil: nothing to do) and safe on an object of the wrong type
// (no-op, or a BadRequest error), so bad input never panics the server.
type Resource struct {
	GroupVersion schema.GroupVersion
	Resource     string // plural, lower case: "pods"
	Kind         string // "Pod"
	SingularName string // "pod"
	ShortNames   []string
	Categories   []string // "all" for kubectl get all
	Namespaced   bool
	// Subresources served besides the main resource ("status", "log",
	// "exec", ...).
	Subresources []string

	New     func() runtime.Object
	NewList func() runtime.Object

	// Default fills defaults before create and update (nil: none).
	Default func(obj runtime.Object)
	// Validate checks an object to create; ValidateUpdate an update of
	// old to obj through subresource ("" for the main resource). They return an apierrors Invalid error or nil (nil
	// funcs accept everything).
	Validate       func(obj runtime.Object) error
	ValidateUpdate func(obj, old runtime.Object, subresource string) error

	// PrepareForCreate resets what a client may not set on create, as
	// the API server's strategies do (a new pod's or service's status),
	// and stamps creation-time values that need the clock (event
	// timestamps). Call it before Default and Validate.
	PrepareForCreate func(obj runtime.Object, now time.Time)
	// PrepareForUpdate copies from old what a write through subresource
	// may not change: "" (the main resource) keeps the status (and a
	// service's allocated clusterIP and nodePorts when the new spec
	// leaves them empty), "status" keeps everything but the status,
	// "finalize" (namespaces) keeps everything but spec.finalizers. Call
	// it before Default and ValidateUpdate.
	PrepareForUpdate func(obj, old runtime.Object, subresource string)

	// Fields are the object's field-selector fields (the API server's
	// GetAttrs): metadata.name, metadata.namespace for namespaced kinds,
	// and the kind's own. Every supported key is present, empty or not,
	// so SupportsField can answer from an empty object.
	Fields func(obj runtime.Object) fields.Set

	// Columns and Row render `kubectl get` tables. Columns with Priority
	// 1 are the `-o wide` ones; Row returns one cell per column, wide
	// ones included, as the API server always does (kubectl hides
	// Priority > 0 columns itself). Row is nil for an object of the
	// wrong type.
	Columns []metav1.TableColumnDefinition
	Row     func(obj runtime.Object, now time.Time) []any

	// Allocate gives obj what it takes from a pool its kind shares (a
	// Service's cluster IP and node ports), reading what is taken from
	// the others of its kind. The server serialises the kind's writes
	// and calls it, after Default, in each create and update.
	Allocate func(obj runtime.Object, others []runtime.Object) error

	// Delete decides how a delete of obj proceeds; an error refuses it
	// (nil: at once, or kept while finalizers remain).
	Delete func(obj runtime.Object, opts *metav1.DeleteOptions) (Deletion, error)
	// Terminate marks an object its own controller must empty before it
	// goes (a namespace's phase Terminating). Kinds with Terminate are
	// never removed by an update that drops their last finalizer: their
	// controller deletes them again once finalized.
	Terminate func(obj runtime.Object)
	// OrphanByDefault: a delete that names no propagation policy orphans
	// the object's dependents (the back-compatible default of core/v1
	// ReplicationControllers and batch/v1 Jobs); otherwise the garbage
	// collector deletes them in the background.
	OrphanByDefault bool
	// ReturnDeleted: a delete answers with the deleted object, as pod
	// storage does, instead of a Status.
	ReturnDeleted bool

	// Views are the subresources besides status that are the object
	// itself, read and written through (a namespace's finalize, a pod's
	// ephemeralcontainers); PrepareForUpdate says what a write through
	// each may change.
	Views []string
	// Projections are the subresources that show the object as another
	// kind and write back through it (a workload's scale).
	Projections map[string]Projection
	// Proxy lists the Connect subresources that proxy HTTP to the object
	// (pods/proxy): their URL name may be [scheme:]name[:port] and a path
	// follows them.
	Proxy []string
	// Connect lists the subresources the node serves (a pod's log,
	// exec, attach and portforward).
	Connect []string
	// Actions are the subresources a client POSTs an object of another
	// kind to, which change the stored object (pods/binding).
	Actions map[string]Action
	// Requests are the subresources a client POSTs an object of another
	// kind to and gets one back, made from the stored object, which
	// stays as it is (serviceaccounts/token).
	Requests map[string]Request
	// Admit is the kind's mutating admission on create (a pod's service
	// account and token volume): after the namespace check, before the
	// strategy, as kube-apiserver's admission chain runs; lookup reads
	// what it depends on.
	Admit func(obj runtime.Object, lookup Lookup) error
	// Credentials marks a kind that holds credentials (Secrets): the view
	// role, all that service accounts get, does not read it.
	Credentials bool
	// Scope marks the kind namespaced objects live in: creating one in a
	// missing or terminating namespace is refused, as the API server's
	// NamespaceLifecycle admission does.
	Scope bool
}

// ConnectRequest is what a request to a Connect subresource asks of the
// object.
type ConnectRequest struct {
	Subresource string
	// Proxy requests: the scheme and port of the URL name
	// ([scheme:]name[:port], "" when absent) and the path after it.
	Scheme, Port, Path string
}

// Deletion is how one delete proceeds.
type Deletion struct {
	// Grace > 0 keeps the object that long with a deletionTimestamp;
	// whoever runs it deletes it again with grace 0 (a pod on a node).
	Grace int64
	// Terminate: the object stays, marked by Resource.Terminate, until
	// its controller has emptied it.
	Terminate bool
}

// Projection is a subresource of another kind over the object: Get makes
// it from obj; Put writes proj into obj (a copy of the stored object,
// which then takes the main resource's update path).
type Projection struct {
	New func() runtime.Object
	Get func(obj runtime.Object) (runtime.Object, error)
	Put func(obj, proj runtime.Object) error
}

// Action is a POSTed subresource: In makes the object posted, Apply
// changes the stored object cur by in, or returns an API error.
type Action struct {
	In    func() runtime.Object
	Apply func(cur, in runtime.Object) error
}

// Request is a POSTed subresource answered with an object: In makes the
// object posted, Serve makes the answer from the stored object cur.
type Request struct {
	In    func() runtime.Object
	Serve func(cur, in runtime.Object, lookup Lookup, now time.Time) (runtime.Object, error)
}

// GroupVersionResource names the resource.
func (r *Resource) GroupVersionResource() schema.GroupVersionResource {
	return r.GroupVersion.WithResource(r.Resource)
}

// GroupKind names the kind, as Invalid errors do.
func (r *Resource) GroupKind() schema.GroupKind {
	return schema.GroupKind{Group: r.GroupVersion.Group, Kind: r.Kind}
}

// SupportsField reports whether label may be used in a field selector;
// the API server answers any other with 400 BadRequest
// (`field label not supported: <label>`).
func (r *Resource) SupportsField(label string) bool {
	if r.Fields == nil {
		return label == "metadata.name" || (r.Namespaced && label == "metadata.namespace")
	}
	_, ok := r.Fields(r.New())[label]
	return ok
}

// Resources are the kinds peapod serves; services allocate from alloc,
// service accounts' tokens are signed by tokens (nil: no
// serviceaccounts/token).
func Resources(alloc ServiceAllocator, tokens TokenIssuer) []*Resource {
	return []*Resource{
		podResource(),
		configMapResource(),
		secretResource(),
		serviceResource(alloc),
		endpointsResource(),
		namespaceResource(),
		nodeResource(),
		eventResource(),
		serviceAccountResource(tokens),
		endpointSliceResource(),
		replicationControllerResource(),
		replicaSetResource(),
		deploymentResource(),
		jobResource(),
	}
}

// object is what every served kind is: a runtime.Object with ObjectMeta.
type object interface {
	runtime.Object
	metav1.Object
}

// The adapters below turn typed rule functions into Resource hooks. A
// wrong type is a BadRequest or a no-op: objects reach the hooks from
// the server, which decodes whatever a client sent.

func itoa(n int32) string { return strconv.Itoa(int(n)) }

func wrongType(kind string, obj runtime.Object) error {
	return apierrors.NewBadRequest(fmt.Sprintf("expected a %s, got %T", kind, obj))
}

func invalid(gk schema.GroupKind, name string, errs field.ErrorList) error {
	if len(errs) == 0 {
		return nil
	}
	return apierrors.NewInvalid(gk, name, errs)
}

func defaulter[T object](f func(T)) func(runtime.Object) {
	return func(obj runtime.Object) {
		if o, ok := obj.(T); ok {
			f(o)
		}
	}
}

func updater[T object](f func(obj, old T, subresource string)) func(obj, old runtime.Object, subresource string) {
	return func(obj, old runtime.Object, subresource string) {
		o, ok := obj.(T)
		p, ok2 := old.(T)
		if ok && ok2 {
			f(o, p, subresource)
		}
	}
}

// fielder builds the field set: the metadata fields every kind has
// (DefaultNamespaceScopedAttr / DefaultClusterScopedAttr) plus the
// kind's own from f (nil: none).
func fielder[T object](namespaced bool, f func(T, fields.Set)) func(runtime.Object) fields.Set {
	return func(obj runtime.Object) fields.Set {
		set := fields.Set{"metadata.name": ""}
		if namespaced {
			set["metadata.namespace"] = ""
		}
		o, ok := obj.(T)
		if !ok {
			return set
		}
		set["metadata.name"] = o.GetName()
		if namespaced {
			set["metadata.namespace"] = o.GetNamespace()
		}
		if f != nil {
			f(o, set)
		}
		return set
	}
}

// age is the AGE cell: how long before now t was, "<unknown>" if unset.
func age(t metav1.Time, now time.Time) string {
	if t.IsZero() {
		return "<unknown>"
	}
	return duration.HumanDuration(now.Sub(t.Time))
}
