package apiserver

import (
	"context"
	"encoding/json"
	"math/rand/v2"
	"net/http"
	"strconv"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
)

// minRequestTimeout is the API server's default; a watch without
// timeoutSeconds ends after a random time between it and twice it.
const minRequestTimeout = 30 * time.Minute

func (s *Server) watch(w http.ResponseWriter, r *http.Request, q *request) {
	if err := listOptions(r); err != nil {
		s.writeError(w, err)
		return
	}
	pred, _, err := s.selectors(r, q.res)
	if err != nil {
		s.writeError(w, err)
		return
	}
	qv := r.URL.Query()
	var rv uint64
	if v := qv.Get("resourceVersion"); v != "" {
		if rv, err = strconv.ParseUint(v, 10, 64); err != nil {
			s.writeError(w, apierrors.NewBadRequest("resourceVersion: Invalid value: "+strconv.Quote(v)+": must be a non-negative integer"))
			return
		}
	}
	timeout := minRequestTimeout + time.Duration(rand.Int64N(int64(minRequestTimeout)))
	if t := qv.Get("timeoutSeconds"); t != "" {
		n, err := strconv.ParseInt(t, 10, 64)
		if err != nil || n < 0 {
			s.writeError(w, badRequestf("invalid timeoutSeconds %q", t))
			return
		}
		if n > 0 {
			timeout = time.Duration(n) * time.Second
		}
	}
	ctx, cancel := context.WithTimeout(r.Context(), timeout)
	defer cancel()
	ch, err := s.store.Watch(ctx, q.res.prefix(q.namespace), rv)
	if err != nil && !apierrors.IsResourceExpired(err) && !apierrors.IsGone(err) {
		s.writeError(w, err)
		return
	}
	flusher, _ := w.(http.Flusher)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	enc := &watchEncoder{s: s, w: w, f: flusher, r: r, res: q.res, table: wantsAs(r, "Table", "meta.k8s.io", "v1")}
	if err != nil {
		// As the watch cache does: a 200 stream with one ERROR event, so
		// the client relists.
		st := err.(apierrors.APIStatus).Status()
		st.Kind, st.APIVersion = "Status", "v1"
		enc.send(watch.Error, &st)
		return
	}
	if flusher != nil {
		flusher.Flush()
	}
	var bookmarks <-chan time.Time
	if isTrue(qv.Get("allowWatchBookmarks")) {
		t := time.NewTicker(s.cfg.BookmarkInterval)
		defer t.Stop()
		bookmarks = t.C
	}
	for {
		select {
		case <-ctx.Done():
			return
		case ev, ok := <-ch:
			if !ok {
				return
			}
			if pred != nil && !pred(ev.Object) {
				continue
			}
			if !enc.send(ev.Type, ev.Object) {
				return
			}
		case <-bookmarks:
			// The store advances its rv only after queueing the events up
			// to it, so an empty queue means the client has them all.
			cur := s.store.ResourceVersion()
			if len(ch) > 0 {
				continue
			}
			if !enc.send(watch.Bookmark, s.bookmark(q.res, cur, enc.table)) {
				return
			}
		}
	}
}

func (s *Server) bookmark(res *resource, rv uint64, table bool) runtime.Object {
	v := strconv.FormatUint(rv, 10)
	if table {
		return &metav1.Table{TypeMeta: metav1.TypeMeta{APIVersion: "meta.k8s.io/v1", Kind: "Table"}, ListMeta: metav1.ListMeta{ResourceVersion: v}}
	}
	obj := res.New()
	obj.GetObjectKind().SetGroupVersionKind(res.gvk)
	if m, err := meta.Accessor(obj); err == nil {
		m.SetResourceVersion(v)
	}
	return obj
}

type watchEncoder struct {
	s          *Server
	w          http.ResponseWriter
	f          http.Flusher
	r          *http.Request
	res        *resource
	table      bool
	sentHeader bool
}

// send writes one event line and flushes; false when the client is gone.
func (e *watchEncoder) send(typ watch.EventType, obj runtime.Object) bool {
	if e.table && typ != watch.Error && typ != watch.Bookmark {
		// Column definitions go only with the first event, as upstream.
		t, err := e.s.table(e.r, e.res, []runtime.Object{obj}, !e.sentHeader)
		if err != nil {
			return false
		}
		e.sentHeader = true
		obj = t
	}
	e.s.setKind(obj)
	data, err := json.Marshal(obj)
	if err != nil {
		return false
	}
	line, _ := json.Marshal(struct {
		Type   watch.EventType `json:"type"`
		Object json.RawMessage `json:"object"`
	}{typ, data})
	if _, err := e.w.Write(append(line, '\n')); err != nil {
		return false
	}
	if e.f != nil {
		e.f.Flush()
	}
	return true
}
