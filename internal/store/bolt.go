package store

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	bolt "go.etcd.io/bbolt"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	"k8s.io/apimachinery/pkg/watch"
)

var (
	objectsBucket = []byte("objects")
	metaBucket    = []byte("meta")
	rvKey         = []byte("rv")
)

// DefaultHistory is how many events a Bolt store keeps for watches that
// resume from a resourceVersion.
const DefaultHistory = 1000

// watcherBuffer is how many undelivered events a watcher may have before
// it is dropped; writers never wait for readers.
const watcherBuffer = 256

// Bolt is a Store in one bbolt file. Objects are JSON (apiVersion and kind
// included); the global resourceVersion is written in the same transaction
// as each change, so it survives crashes and never goes back.
type Bolt struct {
	db     *bolt.DB
	scheme *runtime.Scheme
	codecs serializer.CodecFactory

	// mu serialises writes with their fan-out so events leave in
	// resourceVersion order, and registers watchers without missing any.
	mu sync.Mutex
	rv atomic.Uint64
	// qmu guards the writes waiting for the next transaction, and whether
	// a writer is committing.
	qmu        sync.Mutex
	queue      []*write
	committing bool
	// beforeBatch, if set (by tests), runs before each transaction with
	// the number of writes it holds.
	beforeBatch func(n int)
	history     []event // ring, oldest first once full
	histNext    int
	histFull    bool
	watchers    map[*watcher]struct{}
	decoded     decoded
}

type event struct {
	typ watch.EventType
	key string
	rv  uint64
	obj runtime.Object
}

type watcher struct {
	prefix string
	ch     chan watch.Event
	closed bool
}

// BoltOptions tune a Bolt store.
type BoltOptions struct {
	// History is the number of events kept for watch resumption
	// (0: DefaultHistory).
	History int
	// Scheme knows the stored types (nil: core/v1 and discovery/v1).
	Scheme *runtime.Scheme
}

// NewScheme is the scheme the store knows by default: core/v1 and
// discovery/v1 with the meta types.
func NewScheme() *runtime.Scheme {
	s := runtime.NewScheme()
	for _, add := range []func(*runtime.Scheme) error{corev1.AddToScheme, discoveryv1.AddToScheme, metav1.AddMetaToScheme} {
		if err := add(s); err != nil {
			panic(err) // static registration; cannot fail with these types
		}
	}
	metav1.AddToGroupVersion(s, metav1.SchemeGroupVersion)
	return s
}

// OpenBolt opens (creating if needed) the store at path.
func OpenBolt(path string, opts BoltOptions) (*Bolt, error) {
	db, err := openChecked(path, &bolt.Options{Timeout: 5 * time.Second})
	if err != nil {
		return nil, err
	}
	if opts.History <= 0 {
		opts.History = DefaultHistory
	}
	if opts.Scheme == nil {
		opts.Scheme = NewScheme()
	}
	s := &Bolt{
		db:       db,
		scheme:   opts.Scheme,
		codecs:   serializer.NewCodecFactory(opts.Scheme),
		history:  make([]event, opts.History),
		watchers: map[*watcher]struct{}{},
	}
	err = db.Update(func(tx *bolt.Tx) error {
		if _, err := tx.CreateBucketIfNotExists(objectsBucket); err != nil {
			return err
		}
		m, err := tx.CreateBucketIfNotExists(metaBucket)
		if err != nil {
			return err
		}
		if v := m.Get(rvKey); len(v) == 8 {
			s.rv.Store(binary.BigEndian.Uint64(v))
		}
		return nil
	})
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("open store %s: %w", path, err)
	}
	return s, nil
}

// Close closes the database and ends every watch.
func (s *Bolt) Close() error {
	s.mu.Lock()
	for w := range s.watchers {
		s.dropLocked(w)
	}
	s.mu.Unlock()
	return s.db.Close()
}

// ResourceVersion is the last resourceVersion written.
func (s *Bolt) ResourceVersion() uint64 { return s.rv.Load() }

func (s *Bolt) encode(obj runtime.Object) ([]byte, error) {
	gvks, _, err := s.scheme.ObjectKinds(obj)
	if err != nil {
		return nil, err
	}
	// Stored objects always carry apiVersion and kind so they decode alone.
	if obj.GetObjectKind().GroupVersionKind().Empty() {
		obj.GetObjectKind().SetGroupVersionKind(gvks[0])
	}
	return json.Marshal(obj)
}

func (s *Bolt) decode(data []byte) (runtime.Object, error) {
	obj, _, err := s.codecs.UniversalDeserializer().Decode(data, nil, nil)
	return obj, err
}

func setRV(obj runtime.Object, rv uint64) error {
	m, err := meta.Accessor(obj)
	if err != nil {
		return err
	}
	m.SetResourceVersion(strconv.FormatUint(rv, 10))
	return nil
}

// groupResource guesses the resource from the key for error messages.
func groupResource(key string) (schema.GroupResource, string) {
	parts := strings.Split(strings.Trim(key, "/"), "/")
	return schema.GroupResource{Resource: parts[0]}, parts[len(parts)-1]
}

func putRV(tx *bolt.Tx, rv uint64) error {
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], rv)
	return tx.Bucket(metaBucket).Put(rvKey, b[:])
}

// A write is one caller's change, waiting in the queue for a transaction.
type write struct {
	fn   func(tx *bolt.Tx, rv uint64) (*event, error)
	err  error
	done chan struct{}
}

// commit runs fn in a write transaction with the next resourceVersion and
// then publishes the event it returns, in resourceVersion order; it
// returns once the transaction is on disk. Writes that arrive while a
// transaction is being synced wait and go together in the next one (group
// commit): one fsync for many writers under load, none added for a lone
// write. fn must check everything before it changes the bucket: its error
// fails its own write only.
func (s *Bolt) commit(fn func(tx *bolt.Tx, rv uint64) (*event, error)) error {
	w := &write{fn: fn, done: make(chan struct{})}
	s.qmu.Lock()
	s.queue = append(s.queue, w)
	if s.committing {
		s.qmu.Unlock()
		<-w.done
		return w.err
	}
	// No transaction under way: this writer commits what is queued until
	// the queue is empty.
	s.committing = true
	for len(s.queue) > 0 {
		batch := s.queue
		s.queue = nil
		s.qmu.Unlock()
		s.commitBatch(batch)
		s.qmu.Lock()
	}
	s.committing = false
	s.qmu.Unlock()
	return w.err
}

// commitBatch runs the writes in one transaction, each with the next
// resourceVersion if it changes something, and then publishes their
// events, all under s.mu.
func (s *Bolt) commitBatch(batch []*write) {
	if s.beforeBatch != nil {
		s.beforeBatch(len(batch))
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	next := s.rv.Load()
	evs := make([]*event, len(batch))
	err := s.db.Update(func(tx *bolt.Tx) error {
		for i, w := range batch {
			ev, err := w.fn(tx, next+1)
			if err != nil {
				w.err = err
				continue
			}
			if ev != nil {
				next++
				ev.rv = next
				evs[i] = ev
			}
		}
		if next == s.rv.Load() {
			return nil
		}
		return putRV(tx, next)
	})
	for i, w := range batch {
		if err != nil {
			w.err = err
		} else if ev := evs[i]; ev != nil {
			s.publishLocked(*ev)
		}
	}
	if err == nil {
		// The rv is advanced after the fan-out: a reader that sees rv N
		// knows every event up to N is already queued to its watcher. And
		// before the writers return: one that reads after its write sees
		// at least its own rv.
		s.rv.Store(next)
	}
	for _, w := range batch {
		close(w.done)
	}
}

// Create stores a new object.
func (s *Bolt) Create(_ context.Context, key string, obj runtime.Object) (runtime.Object, error) {
	err := s.commit(func(tx *bolt.Tx, rv uint64) (*event, error) {
		b := tx.Bucket(objectsBucket)
		if b.Get([]byte(key)) != nil {
			gr, name := groupResource(key)
			return nil, apierrors.NewAlreadyExists(gr, name)
		}
		if err := setRV(obj, rv); err != nil {
			return nil, err
		}
		data, err := s.encode(obj)
		if err != nil {
			return nil, err
		}
		if err := b.Put([]byte(key), data); err != nil {
			return nil, err
		}
		return &event{typ: watch.Added, key: key, obj: obj.DeepCopyObject()}, nil
	})
	if err != nil {
		return nil, err
	}
	return obj, nil
}

// Get reads one object.
func (s *Bolt) Get(_ context.Context, key string) (runtime.Object, error) {
	obj, _, err := s.get(key)
	return obj, err
}

// get reads one object and the bytes it was stored as.
func (s *Bolt) get(key string) (runtime.Object, []byte, error) {
	var data []byte
	var obj runtime.Object
	err := s.db.View(func(tx *bolt.Tx) error {
		v := tx.Bucket(objectsBucket).Get([]byte(key))
		if obj, data = s.decoded.get(key, v); obj == nil {
			data = bytes.Clone(v)
		}
		return nil
	})
	if err != nil {
		return nil, nil, err
	}
	if data == nil {
		gr, name := groupResource(key)
		return nil, nil, apierrors.NewNotFound(gr, name)
	}
	if obj != nil {
		return obj, data, nil
	}
	obj, err = s.decode(data)
	return obj, data, err
}

// continueToken is the API server's continue format: the resourceVersion
// of the first page and the key to resume after.
type continueToken struct {
	APIVersion      string `json:"v"`
	ResourceVersion uint64 `json:"rv"`
	StartKey        string `json:"start"`
}

// List reads the objects under prefix in key order.
func (s *Bolt) List(_ context.Context, prefix string, opts ListOptions) (*ListResult, error) {
	start := prefix
	if opts.Continue != "" {
		raw, err := base64.RawURLEncoding.DecodeString(opts.Continue)
		var tok continueToken
		if err == nil {
			err = json.Unmarshal(raw, &tok)
		}
		if err != nil || !strings.HasPrefix(tok.StartKey, prefix) {
			return nil, apierrors.NewBadRequest("continue key is not valid: incorrect encoded start resourceVersion (version meta.k8s.io/v1)")
		}
		start = tok.StartKey + "\x00"
	}
	res := &ListResult{}
	err := s.db.View(func(tx *bolt.Tx) error {
		// The rv is read inside the transaction's snapshot: writes
		// persist it with the objects.
		if v := tx.Bucket(metaBucket).Get(rvKey); len(v) == 8 {
			res.ResourceVersion = binary.BigEndian.Uint64(v)
		}
		c := tx.Bucket(objectsBucket).Cursor()
		var last string
		for k, v := c.Seek([]byte(start)); k != nil && bytes.HasPrefix(k, []byte(prefix)); k, v = c.Next() {
			if opts.Limit > 0 && int64(len(res.Items)) >= opts.Limit {
				res.RemainingItemCount++
				continue
			}
			obj, err := s.decode(v)
			if err != nil {
				return fmt.Errorf("decode %s: %w", k, err)
			}
			if opts.Predicate != nil && !opts.Predicate(obj) {
				continue
			}
			res.Items = append(res.Items, obj)
			last = string(k)
		}
		if res.RemainingItemCount > 0 {
			tok, _ := json.Marshal(continueToken{APIVersion: "meta.k8s.io/v1", ResourceVersion: res.ResourceVersion, StartKey: last})
			res.Continue = base64.RawURLEncoding.EncodeToString(tok)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if opts.Predicate != nil && res.RemainingItemCount > 0 {
		// Unmatched objects after the page are not decoded, so the count
		// would be an overestimate; the API leaves it unset then.
		res.RemainingItemCount = -1
	}
	return res, nil
}

// Update changes an object with optimistic concurrency: tryUpdate runs
// outside the write lock on the object read, and the write happens only if
// the object still has that resourceVersion.
func (s *Bolt) Update(ctx context.Context, key string, tryUpdate func(current runtime.Object) (runtime.Object, error)) (runtime.Object, error) {
	for {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		cur, read, err := s.get(key)
		if err != nil {
			return nil, err
		}
		m, err := meta.Accessor(cur)
		if err != nil {
			return nil, err
		}
		curRV := m.GetResourceVersion()
		next, err := tryUpdate(cur.DeepCopyObject())
		if err != nil {
			return nil, err
		}
		if err := setRV(next, mustParseRV(curRV)); err != nil {
			return nil, err
		}
		data, err := s.encode(next)
		if err != nil {
			return nil, err
		}
		var out runtime.Object
		conflict := false
		err = s.commit(func(tx *bolt.Tx, rv uint64) (*event, error) {
			b := tx.Bucket(objectsBucket)
			stored := b.Get([]byte(key))
			if stored == nil {
				gr, name := groupResource(key)
				return nil, apierrors.NewNotFound(gr, name)
			}
			// Every write stores a new resourceVersion, so the object is
			// unchanged since it was read if and only if its bytes are.
			if !bytes.Equal(stored, read) {
				conflict = true
				return nil, nil
			}
			if bytes.Equal(stored, data) {
				out = cur
				return nil, nil
			}
			if err := setRV(next, rv); err != nil {
				return nil, err
			}
			if data, err = s.encode(next); err != nil {
				return nil, err
			}
			if err := b.Put([]byte(key), data); err != nil {
				return nil, err
			}
			out = next
			kept := next.DeepCopyObject() // the event's, and the next read's
			s.decoded.put(key, data, kept)
			return &event{typ: watch.Modified, key: key, obj: kept}, nil
		})
		if err != nil {
			return nil, err
		}
		if !conflict {
			return out, nil
		}
	}
}

func mustParseRV(s string) uint64 {
	v, _ := strconv.ParseUint(s, 10, 64)
	return v
}

// Delete removes an object; the returned object (and the DELETED event)
// carry the resourceVersion of the deletion.
func (s *Bolt) Delete(_ context.Context, key string, precheck func(current runtime.Object) error) (runtime.Object, error) {
	var out runtime.Object
	err := s.commit(func(tx *bolt.Tx, rv uint64) (*event, error) {
		b := tx.Bucket(objectsBucket)
		stored := b.Get([]byte(key))
		if stored == nil {
			gr, name := groupResource(key)
			return nil, apierrors.NewNotFound(gr, name)
		}
		cur, _ := s.decoded.get(key, stored)
		if cur == nil {
			var err error
			if cur, err = s.decode(stored); err != nil {
				return nil, err
			}
		}
		if precheck != nil {
			if err := precheck(cur.DeepCopyObject()); err != nil {
				return nil, err
			}
		}
		if err := b.Delete([]byte(key)); err != nil {
			return nil, err
		}
		s.decoded.forget(key)
		if err := setRV(cur, rv); err != nil {
			return nil, err
		}
		out = cur
		return &event{typ: watch.Deleted, key: key, obj: cur.DeepCopyObject()}, nil
	})
	return out, err
}

func (s *Bolt) publishLocked(ev event) {
	s.history[s.histNext] = ev
	s.histNext++
	if s.histNext == len(s.history) {
		s.histNext, s.histFull = 0, true
	}
	for w := range s.watchers {
		if !strings.HasPrefix(ev.key, w.prefix) {
			continue
		}
		select {
		case w.ch <- watch.Event{Type: ev.typ, Object: ev.obj.DeepCopyObject()}:
		default:
			// A watcher that cannot keep up is ended; its client
			// relists, as with the API server's watch cache.
			s.dropLocked(w)
		}
	}
}

func (s *Bolt) dropLocked(w *watcher) {
	if !w.closed {
		w.closed = true
		close(w.ch)
	}
	delete(s.watchers, w)
}

// historyLocked returns the kept events, oldest first.
func (s *Bolt) historyLocked() []event {
	if !s.histFull {
		return s.history[:s.histNext]
	}
	return append(append([]event(nil), s.history[s.histNext:]...), s.history[:s.histNext]...)
}

// Watch streams changes under prefix after rv.
func (s *Bolt) Watch(ctx context.Context, prefix string, rv uint64) (<-chan watch.Event, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var initial []watch.Event
	cur := s.rv.Load()
	if rv == 0 {
		res, err := s.List(ctx, prefix, ListOptions{})
		if err != nil {
			return nil, err
		}
		for _, obj := range res.Items {
			initial = append(initial, watch.Event{Type: watch.Added, Object: obj})
		}
	} else if rv < cur {
		hist := s.historyLocked()
		// History must hold every event after rv: its oldest event must
		// be rv+1 or earlier.
		if len(hist) == 0 || hist[0].rv > rv+1 {
			return nil, apierrors.NewResourceExpired(fmt.Sprintf("too old resource version: %d (%d)", rv, oldestRV(hist, cur)))
		}
		for _, ev := range hist {
			if ev.rv > rv && strings.HasPrefix(ev.key, prefix) {
				initial = append(initial, watch.Event{Type: ev.typ, Object: ev.obj.DeepCopyObject()})
			}
		}
	}
	w := &watcher{prefix: prefix, ch: make(chan watch.Event, len(initial)+watcherBuffer)}
	for _, ev := range initial {
		w.ch <- ev
	}
	s.watchers[w] = struct{}{}
	go func() {
		<-ctx.Done()
		s.mu.Lock()
		s.dropLocked(w)
		s.mu.Unlock()
	}()
	return w.ch, nil
}

func oldestRV(hist []event, cur uint64) uint64 {
	if len(hist) == 0 {
		return cur
	}
	return hist[0].rv - 1
}

var _ Store = (*Bolt)(nil)
