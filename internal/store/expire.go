package store

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"sync"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime"
)

// Expiring deletes the objects under a prefix a fixed time after their last
// write, as kube-apiserver's etcd leases do for events (--event-ttl, 1 h by
// default; a write renews the lease). Without it every event ever reported
// stays, and lists and watches of events grow with them. The deletions are
// ordinary ones: watchers see DELETED. The deadlines live in memory; an
// object found at start expires one TTL later.
type Expiring struct {
	Store
	prefix string
	ttl    time.Duration
	now    func() time.Time

	mu sync.Mutex
	// deadlines holds, per key, when it expires and the resourceVersion
	// whose write set that time (a newer write wins over the sweep).
	deadlines map[string]deadline
}

type deadline struct {
	at time.Time
	rv uint64
}

// NewExpiring wraps s so that objects under prefix expire ttl after their
// last write; now is the clock (nil: time.Now). Run does the deleting.
func NewExpiring(ctx context.Context, s Store, prefix string, ttl time.Duration, now func() time.Time) (*Expiring, error) {
	if now == nil {
		now = time.Now
	}
	e := &Expiring{Store: s, prefix: prefix, ttl: ttl, now: now, deadlines: map[string]deadline{}}
	list, err := s.List(ctx, prefix, ListOptions{})
	if err != nil {
		return nil, err
	}
	at := now().Add(ttl)
	for _, obj := range list.Items {
		if key, rv, ok := keyAndRV(prefix, obj); ok {
			e.deadlines[key] = deadline{at: at, rv: rv}
		}
	}
	return e, nil
}

// keyAndRV is a listed object's key under prefix ("/events/" +
// namespace/name) and its resourceVersion.
func keyAndRV(prefix string, obj runtime.Object) (string, uint64, bool) {
	m, err := meta.Accessor(obj)
	if err != nil {
		return "", 0, false
	}
	rv, err := strconv.ParseUint(m.GetResourceVersion(), 10, 64)
	if err != nil {
		return "", 0, false
	}
	name := m.GetName()
	if ns := m.GetNamespace(); ns != "" {
		name = ns + "/" + name
	}
	return prefix + name, rv, true
}

// written renews key's deadline after a write that stored obj.
func (e *Expiring) written(key string, obj runtime.Object) {
	if !strings.HasPrefix(key, e.prefix) {
		return
	}
	_, rv, ok := keyAndRV(e.prefix, obj)
	if !ok {
		return
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if d, ok := e.deadlines[key]; ok && d.rv >= rv {
		return // an unchanged update wrote nothing, or a newer write came first
	}
	e.deadlines[key] = deadline{at: e.now().Add(e.ttl), rv: rv}
}

// Create stores obj and starts its time.
func (e *Expiring) Create(ctx context.Context, key string, obj runtime.Object) (runtime.Object, error) {
	out, err := e.Store.Create(ctx, key, obj)
	if err == nil {
		e.written(key, out)
	}
	return out, err
}

// Update stores the update and renews the object's time.
func (e *Expiring) Update(ctx context.Context, key string, tryUpdate func(runtime.Object) (runtime.Object, error)) (runtime.Object, error) {
	out, err := e.Store.Update(ctx, key, tryUpdate)
	if err == nil {
		e.written(key, out)
	}
	return out, err
}

// Delete removes the object and forgets its time.
func (e *Expiring) Delete(ctx context.Context, key string, precheck func(runtime.Object) error) (runtime.Object, error) {
	out, err := e.Store.Delete(ctx, key, precheck)
	if err == nil || apierrors.IsNotFound(err) {
		e.mu.Lock()
		delete(e.deadlines, key)
		e.mu.Unlock()
	}
	return out, err
}

// Run deletes expired objects every interval until ctx ends (etcd, too,
// expires leases with some slack).
func (e *Expiring) Run(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			e.Sweep(ctx)
		}
	}
}

// Sweep deletes every object whose time is up and returns how many. An
// object written again since its deadline was read is left alone.
func (e *Expiring) Sweep(ctx context.Context) int {
	now := e.now()
	e.mu.Lock()
	due := map[string]uint64{}
	for key, d := range e.deadlines {
		if !now.Before(d.at) {
			due[key] = d.rv
		}
	}
	e.mu.Unlock()
	n := 0
	for key, rv := range due {
		_, err := e.Delete(ctx, key, func(cur runtime.Object) error {
			if _, curRV, ok := keyAndRV(e.prefix, cur); ok && curRV != rv {
				return errRewritten
			}
			return nil
		})
		if err == nil {
			n++
		}
	}
	return n
}

var errRewritten = errors.New("written again since its deadline was read")
