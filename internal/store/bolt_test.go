package store

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
)

func openTest(t testing.TB, path string, history int) *Bolt {
	t.Helper()
	if path == "" {
		path = filepath.Join(t.TempDir(), "db")
	}
	s, err := OpenBolt(path, BoltOptions{History: history})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func cm(ns, name string) *corev1.ConfigMap {
	return &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}, Data: map[string]string{"a": "1"}}
}

func key(ns, name string) string { return "/configmaps/" + ns + "/" + name }

func TestBolt_CRUDAndRVAcrossReopen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "db")
	s, err := OpenBolt(path, BoltOptions{})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, err := s.Create(ctx, key("a", "x"), cm("a", "x")); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Create(ctx, key("a", "x"), cm("a", "x")); !apierrors.IsAlreadyExists(err) {
		t.Fatalf("second create: %v", err)
	}
	got, err := s.Get(ctx, key("a", "x"))
	if err != nil {
		t.Fatal(err)
	}
	c := got.(*corev1.ConfigMap)
	if c.ResourceVersion != "1" || c.Data["a"] != "1" || c.Kind != "ConfigMap" {
		t.Fatalf("got %+v", c)
	}
	if _, err := s.Delete(ctx, key("a", "x"), nil); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Get(ctx, key("a", "x")); !apierrors.IsNotFound(err) {
		t.Fatalf("get after delete: %v", err)
	}
	if s.ResourceVersion() != 2 {
		t.Fatalf("rv %d", s.ResourceVersion())
	}
	s.Close()
	s = openTest(t, path, 0)
	if s.ResourceVersion() != 2 {
		t.Fatalf("rv after reopen %d", s.ResourceVersion())
	}
	obj, err := s.Create(ctx, key("a", "y"), cm("a", "y"))
	if err != nil {
		t.Fatal(err)
	}
	if rv := obj.(*corev1.ConfigMap).ResourceVersion; rv != "3" {
		t.Fatalf("rv after reopen create %s", rv)
	}
}

func TestBolt_UpdateUnchangedWritesNothing(t *testing.T) {
	s := openTest(t, "", 0)
	ctx := context.Background()
	s.Create(ctx, key("a", "x"), cm("a", "x"))
	out, err := s.Update(ctx, key("a", "x"), func(cur runtime.Object) (runtime.Object, error) { return cur, nil })
	if err != nil {
		t.Fatal(err)
	}
	if out.(*corev1.ConfigMap).ResourceVersion != "1" || s.ResourceVersion() != 1 {
		t.Fatalf("no-op update wrote: %v", s.ResourceVersion())
	}
}

func TestBolt_ConcurrentUpdatesRetry(t *testing.T) {
	s := openTest(t, "", 0)
	ctx := context.Background()
	s.Create(ctx, key("a", "x"), cm("a", "x"))
	const n = 20
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := s.Update(ctx, key("a", "x"), func(cur runtime.Object) (runtime.Object, error) {
				c := cur.(*corev1.ConfigMap)
				c.Data[fmt.Sprint("k", i)] = "v"
				return c, nil
			})
			if err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	got, _ := s.Get(ctx, key("a", "x"))
	if l := len(got.(*corev1.ConfigMap).Data); l != n+1 {
		t.Fatalf("lost updates: %d keys", l)
	}
	if s.ResourceVersion() != n+1 {
		t.Fatalf("rv %d", s.ResourceVersion())
	}
}

func TestBolt_ListPrefixAndPaging(t *testing.T) {
	s := openTest(t, "", 0)
	ctx := context.Background()
	for _, k := range [][2]string{{"a", "1"}, {"a", "2"}, {"a", "3"}, {"ab", "1"}, {"b", "1"}} {
		s.Create(ctx, key(k[0], k[1]), cm(k[0], k[1]))
	}
	res, err := s.List(ctx, "/configmaps/a/", ListOptions{})
	if err != nil || len(res.Items) != 3 {
		t.Fatalf("prefix list: %v %d", err, len(res.Items))
	}
	var names []string
	opts := ListOptions{Limit: 2}
	for {
		res, err := s.List(ctx, "/configmaps/", opts)
		if err != nil {
			t.Fatal(err)
		}
		for _, o := range res.Items {
			c := o.(*corev1.ConfigMap)
			names = append(names, c.Namespace+"/"+c.Name)
		}
		if res.Continue == "" {
			break
		}
		opts.Continue = res.Continue
	}
	if fmt.Sprint(names) != "[a/1 a/2 a/3 ab/1 b/1]" {
		t.Fatalf("pages: %v", names)
	}
	if _, err := s.List(ctx, "/configmaps/", ListOptions{Continue: "garbage"}); !apierrors.IsBadRequest(err) {
		t.Fatalf("bad continue: %v", err)
	}
	res, _ = s.List(ctx, "/configmaps/", ListOptions{Limit: 1, Predicate: func(o runtime.Object) bool { return o.(*corev1.ConfigMap).Name == "1" }})
	if len(res.Items) != 1 || res.Continue == "" {
		t.Fatalf("predicate page: %d %q", len(res.Items), res.Continue)
	}
}

func next(t *testing.T, ch <-chan watch.Event) watch.Event {
	t.Helper()
	select {
	case ev, ok := <-ch:
		if !ok {
			t.Fatal("watch closed")
		}
		return ev
	case <-time.After(5 * time.Second):
		t.Fatal("no event")
	}
	return watch.Event{}
}

func TestBolt_WatchOrderingReplayAndGone(t *testing.T) {
	s := openTest(t, "", 4)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	s.Create(ctx, key("a", "x"), cm("a", "x")) // rv 1
	live, err := s.Watch(ctx, "/configmaps/a/", 0)
	if err != nil {
		t.Fatal(err)
	}
	if ev := next(t, live); ev.Type != watch.Added || ev.Object.(*corev1.ConfigMap).Name != "x" {
		t.Fatalf("initial: %v", ev)
	}
	s.Create(ctx, key("b", "y"), cm("b", "y")) // rv 2, other prefix
	s.Update(ctx, key("a", "x"), func(cur runtime.Object) (runtime.Object, error) {
		cur.(*corev1.ConfigMap).Data["b"] = "2"
		return cur, nil
	}) // rv 3
	s.Delete(ctx, key("a", "x"), nil) // rv 4
	ev := next(t, live)
	if ev.Type != watch.Modified || ev.Object.(*corev1.ConfigMap).ResourceVersion != "3" {
		t.Fatalf("modified: %v", ev)
	}
	ev = next(t, live)
	if ev.Type != watch.Deleted || ev.Object.(*corev1.ConfigMap).ResourceVersion != "4" {
		t.Fatalf("deleted: %v", ev)
	}
	replay, err := s.Watch(ctx, "/configmaps/", 2)
	if err != nil {
		t.Fatal(err)
	}
	if ev := next(t, replay); ev.Type != watch.Modified {
		t.Fatalf("replay: %v", ev)
	}
	if ev := next(t, replay); ev.Type != watch.Deleted {
		t.Fatalf("replay: %v", ev)
	}
	s.Create(ctx, key("a", "z"), cm("a", "z")) // rv 5; ring of 4 now holds 2..5
	if _, err := s.Watch(ctx, "/configmaps/", 1); err != nil {
		t.Fatalf("rv 1 still covered: %v", err)
	}
	s.Create(ctx, key("a", "w"), cm("a", "w")) // rv 6; ring holds 3..6
	if _, err := s.Watch(ctx, "/configmaps/", 1); !apierrors.IsResourceExpired(err) {
		t.Fatalf("expected 410: %v", err)
	}
	if _, err := s.Watch(ctx, "/configmaps/", 6); err != nil {
		t.Fatalf("current rv: %v", err)
	}
}

func TestBolt_SlowWatcherDropped(t *testing.T) {
	s := openTest(t, "", 0)
	ctx := context.Background()
	ch, _ := s.Watch(ctx, "/configmaps/", s.ResourceVersion())
	for i := range watcherBuffer + 5 {
		if _, err := s.Create(ctx, key("a", fmt.Sprint(i)), cm("a", fmt.Sprint(i))); err != nil {
			t.Fatal(err)
		}
	}
	n := 0
	for range ch {
		n++
	}
	if n != watcherBuffer {
		t.Fatalf("got %d events before close", n)
	}
}

func TestBolt_WatchEndsWithContext(t *testing.T) {
	s := openTest(t, "", 0)
	ctx, cancel := context.WithCancel(context.Background())
	ch, _ := s.Watch(ctx, "/", 0)
	cancel()
	select {
	case _, ok := <-ch:
		if ok {
			t.Fatal("unexpected event")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("watch not closed")
	}
}

// Writes that arrive while a transaction is under way go together in the
// next one; each gets its own resourceVersion, in the order of its event,
// and a write that fails (the name exists) fails alone.
func TestBolt_GroupCommit(t *testing.T) {
	s := openTest(t, "", 0)
	ctx := context.Background()
	if _, err := s.Create(ctx, key("a", "taken"), cm("a", "taken")); err != nil { // rv 1
		t.Fatal(err)
	}
	w, err := s.Watch(ctx, "/configmaps/", 1)
	if err != nil {
		t.Fatal(err)
	}
	release := make(chan struct{})
	var mu sync.Mutex
	var batches []int
	s.beforeBatch = func(n int) {
		mu.Lock()
		batches = append(batches, n)
		first := len(batches) == 1
		mu.Unlock()
		if first {
			<-release // hold the first transaction until the rest are queued
		}
	}
	const n = 50
	errs := make(chan error, n+1)
	go func() { _, err := s.Create(ctx, key("a", "first"), cm("a", "first")); errs <- err }()
	deadline := time.Now().Add(10 * time.Second)
	for {
		s.qmu.Lock()
		began := s.committing
		s.qmu.Unlock()
		if began {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the first write never began its transaction")
		}
		time.Sleep(time.Millisecond)
	}
	for i := range n - 1 {
		go func() { _, err := s.Create(ctx, key("a", fmt.Sprint(i)), cm("a", fmt.Sprint(i))); errs <- err }()
	}
	go func() { _, err := s.Create(ctx, key("a", "taken"), cm("a", "taken")); errs <- err }()
	for {
		s.qmu.Lock()
		queued := len(s.queue)
		s.qmu.Unlock()
		if queued == n {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d writes queued", queued, n)
		}
		time.Sleep(time.Millisecond)
	}
	close(release)
	exists := 0
	for range n + 1 {
		if err := <-errs; apierrors.IsAlreadyExists(err) {
			exists++
		} else if err != nil {
			t.Fatal(err)
		}
	}
	if exists != 1 {
		t.Errorf("%d writes failed with AlreadyExists, want the one", exists)
	}
	mu.Lock()
	if len(batches) != 2 || batches[0] != 1 || batches[1] != n {
		t.Errorf("transactions of %v writes, want [1 %d]", batches, n)
	}
	mu.Unlock()
	for rv := 2; rv <= n+1; rv++ {
		ev := next(t, w)
		if got := ev.Object.(*corev1.ConfigMap).ResourceVersion; got != fmt.Sprint(rv) {
			t.Fatalf("event %d has resourceVersion %s", rv, got)
		}
	}
	if got := s.rv.Load(); got != n+1 {
		t.Errorf("store rv %d, want %d", got, n+1)
	}
	l, err := s.List(ctx, "/configmaps/", ListOptions{})
	if err != nil || len(l.Items) != n+1 {
		t.Fatalf("list: %d items, %v; want %d", len(l.Items), err, n+1)
	}
}

// Reads after an update are served from the object the update kept, as
// copies: what a caller does to one never reaches the store, the next
// reader, the returned object or a watcher.
func TestBolt_ReadsAfterAnUpdateAreCopies(t *testing.T) {
	s := openTest(t, "", 0)
	ctx := context.Background()
	k := key("a", "x")
	if _, err := s.Create(ctx, k, cm("a", "x")); err != nil {
		t.Fatal(err)
	}
	ch, err := s.Watch(ctx, k, 1)
	if err != nil {
		t.Fatal(err)
	}
	out, err := s.Update(ctx, k, func(cur runtime.Object) (runtime.Object, error) {
		cur.(*corev1.ConfigMap).Data["a"] = "2"
		return cur, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	out.(*corev1.ConfigMap).Data["a"] = "returned"
	for i := range 2 {
		got, err := s.Get(ctx, k)
		if err != nil {
			t.Fatal(err)
		}
		c := got.(*corev1.ConfigMap)
		if c.Data["a"] != "2" || c.ResourceVersion != "2" {
			t.Fatalf("read %d: data %v rv %s, want a=2 at rv 2", i, c.Data, c.ResourceVersion)
		}
		c.Data["a"] = "changed by reader"
	}
	if ev := next(t, ch); ev.Object.(*corev1.ConfigMap).Data["a"] != "2" {
		t.Errorf("watcher got %v", ev.Object.(*corev1.ConfigMap).Data)
	}
	// A second update starts from the stored object, not a reader's copy.
	out, err = s.Update(ctx, k, func(cur runtime.Object) (runtime.Object, error) {
		if v := cur.(*corev1.ConfigMap).Data["a"]; v != "2" {
			t.Errorf("update read a=%s", v)
		}
		cur.(*corev1.ConfigMap).Data["b"] = "3"
		return cur, nil
	})
	if err != nil || out.(*corev1.ConfigMap).ResourceVersion != "3" {
		t.Fatalf("second update: %v %v", out, err)
	}
	if _, err := s.Delete(ctx, k, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Get(ctx, k); !apierrors.IsNotFound(err) {
		t.Errorf("read after delete: %v", err)
	}
	if len(s.decoded.m) != 0 {
		t.Errorf("a deleted object is still kept: %v", s.decoded.m)
	}
}
