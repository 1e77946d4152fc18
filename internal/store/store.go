// Package store is the API server's object store: objects by key, one
// global resourceVersion, optimistic concurrency and watch. It knows
// metav1 object metadata (to stamp resourceVersions) but nothing about any
// kind: rules live in internal/registry, HTTP in internal/apiserver.
//
// The interface is deliberately close to k8s.io/apiserver's storage.Interface
// so its semantics are familiar; Bolt is the implementation (bbolt, one file,
// crash-safe), and another backend can be added behind the same interface.
package store

import (
	"context"

	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
)

// Keys are "/<resource>/<namespace>/<name>" for namespaced objects and
// "/<resource>/<name>" for cluster-scoped ones; a List or Watch prefix ends
// in "/" ("/pods/" for all namespaces, "/pods/default/" for one).

// Store holds API objects.
type Store interface {
	// Create stores obj under key, which must not exist (else an
	// apierrors AlreadyExists error), stamps the new resourceVersion on it
	// and returns it.
	Create(ctx context.Context, key string, obj runtime.Object) (runtime.Object, error)
	// Get returns the object at key, or an apierrors NotFound error.
	Get(ctx context.Context, key string) (runtime.Object, error)
	// List returns the objects under prefix in key order, and the store's
	// resourceVersion at the time of the read. Paging with limit/continue
	// is done by the caller over the ordered result or by opts.
	List(ctx context.Context, prefix string, opts ListOptions) (*ListResult, error)
	// Update reads the object at key, calls tryUpdate with it and stores
	// the result if the object did not change meanwhile (retrying
	// tryUpdate otherwise). tryUpdate may return an error to abort (it is
	// returned as is). Returns the stored object, with its new
	// resourceVersion. If tryUpdate returns the object unchanged, nothing
	// is written and no event is sent.
	Update(ctx context.Context, key string, tryUpdate func(current runtime.Object) (runtime.Object, error)) (runtime.Object, error)
	// Delete removes the object at key after precheck (may be nil)
	// accepted the current object; returns the deleted object with the
	// resourceVersion of the deletion.
	Delete(ctx context.Context, key string, precheck func(current runtime.Object) error) (runtime.Object, error)
	// Watch streams changes under prefix after resourceVersion rv (0:
	// from now, after a synthetic ADDED event for every existing object,
	// as the API server does for rv "0"/unset on a watch). An rv older
	// than the kept history gives an apierrors Gone (410 Expired) error.
	// The channel closes when ctx ends or the watcher falls too far
	// behind.
	Watch(ctx context.Context, prefix string, rv uint64) (<-chan watch.Event, error)
	// ResourceVersion is the store's current resourceVersion.
	ResourceVersion() uint64
	// Close releases the store.
	Close() error
}

// ListOptions narrow a List.
type ListOptions struct {
	// Limit caps the items returned (0: no limit); Continue resumes after
	// the key a previous List returned in ListResult.Continue.
	Limit    int64
	Continue string
	// Predicate, if set, keeps only the objects it accepts; Limit
	// counts accepted objects, so pages stay full under selectors.
	Predicate func(runtime.Object) bool
}

// ListResult is a page of objects.
type ListResult struct {
	Items           []runtime.Object
	ResourceVersion uint64
	// Continue is the token for the next page, "" when this was the last.
	Continue string
	// RemainingItemCount counts the objects after this page.
	RemainingItemCount int64
}
