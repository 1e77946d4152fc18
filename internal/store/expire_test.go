package store

import (
	"context"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
)

type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *fakeClock) step(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func ev(ns, name, msg string) *corev1.Event {
	return &corev1.Event{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}, Message: msg}
}

func evKey(ns, name string) string { return "/events/" + ns + "/" + name }

// Events expire an hour after their last write, as with kube-apiserver's
// --event-ttl; an update renews the hour, other objects never expire, the
// deletions reach watchers, and events found at start get a full hour.
func TestExpiring_EventsExpireAfterLastWrite(t *testing.T) {
	ctx := context.Background()
	path := t.TempDir() + "/db"
	b := openTest(t, path, 0)
	if _, err := b.Create(ctx, evKey("a", "old"), ev("a", "old", "stored before start")); err != nil {
		t.Fatal(err)
	}
	clock := &fakeClock{t: time.Unix(1_000_000, 0)}
	s, err := NewExpiring(ctx, b, "/events/", time.Hour, clock.now)
	if err != nil {
		t.Fatal(err)
	}
	w, err := s.Watch(ctx, "/events/", s.ResourceVersion())
	if err != nil {
		t.Fatal(err)
	}
	clock.step(30 * time.Minute)
	for _, name := range []string{"x", "y"} {
		if _, err := s.Create(ctx, evKey("a", name), ev("a", name, "first")); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.Create(ctx, key("a", "cm"), cm("a", "cm")); err != nil {
		t.Fatal(err)
	}
	clock.step(45 * time.Minute) // old: 75 min, x and y: 45 min
	if _, err := s.Update(ctx, evKey("a", "y"), func(cur runtime.Object) (runtime.Object, error) {
		e := cur.(*corev1.Event)
		e.Count++
		return e, nil
	}); err != nil {
		t.Fatal(err)
	}
	// Unchanged: nothing written, nothing renewed.
	if _, err := s.Update(ctx, evKey("a", "x"), func(cur runtime.Object) (runtime.Object, error) { return cur, nil }); err != nil {
		t.Fatal(err)
	}
	if n := s.Sweep(ctx); n != 1 {
		t.Fatalf("first sweep deleted %d, want 1 (old)", n)
	}
	clock.step(15 * time.Minute) // x: 60 min, y: 15 min since its update
	if n := s.Sweep(ctx); n != 1 {
		t.Fatalf("second sweep deleted %d, want 1 (x)", n)
	}
	for k, want := range map[string]bool{evKey("a", "old"): false, evKey("a", "x"): false, evKey("a", "y"): true, key("a", "cm"): true} {
		_, err := s.Get(ctx, k)
		if got := err == nil; got != want || (err != nil && !apierrors.IsNotFound(err)) {
			t.Errorf("%s present = %v (%v), want %v", k, got, err, want)
		}
	}
	var deleted []string
	for len(deleted) < 2 {
		select {
		case e := <-w:
			if e.Type == watch.Deleted {
				deleted = append(deleted, e.Object.(*corev1.Event).Name)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("watch saw deletions %v, want old and x", deleted)
		}
	}
	if deleted[0] != "old" || deleted[1] != "x" {
		t.Errorf("deleted %v, want [old x]", deleted)
	}
	clock.step(time.Hour)
	if n := s.Sweep(ctx); n != 1 {
		t.Fatalf("last sweep deleted %d, want 1 (y)", n)
	}
	if len(s.deadlines) != 0 {
		t.Errorf("deadlines left: %v", s.deadlines)
	}
}

// An event written again between the sweep's reading of its deadline and
// its delete is not deleted.
func TestExpiring_RewrittenEventSurvivesSweep(t *testing.T) {
	ctx := context.Background()
	clock := &fakeClock{t: time.Unix(1_000_000, 0)}
	s, err := NewExpiring(ctx, openTest(t, "", 0), "/events/", time.Hour, clock.now)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Create(ctx, evKey("a", "x"), ev("a", "x", "first")); err != nil {
		t.Fatal(err)
	}
	clock.step(time.Hour)
	// Written behind the wrapper's back: the deadline still names the
	// first write's resourceVersion.
	if _, err := s.Store.Update(ctx, evKey("a", "x"), func(cur runtime.Object) (runtime.Object, error) {
		e := cur.(*corev1.Event)
		e.Message = "again"
		return e, nil
	}); err != nil {
		t.Fatal(err)
	}
	if n := s.Sweep(ctx); n != 0 {
		t.Fatalf("sweep deleted %d, want 0", n)
	}
	if _, err := s.Get(ctx, evKey("a", "x")); err != nil {
		t.Fatal(err)
	}
}
