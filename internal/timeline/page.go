package timeline

import (
	"context"
	_ "embed"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strings"
)

// page draws pods: embedded ones (a file written by `peapod up
// --timeline`), or, served, those of the Book it reads through api/pods
// and api/watch (server-sent events: the picture, then each entry).
//
//go:embed page.html
var page string

const dataMark = "/*DATA*/"

// WritePage writes the self-contained page of pods: no fetch, no network.
func WritePage(w io.Writer, pods []*Pod) error {
	data, err := json.Marshal(pods) // escapes <, > and &: safe inside <script>
	if err != nil {
		return err
	}
	_, err = io.WriteString(w, strings.Replace(page, dataMark, string(data), 1))
	return err
}

// Explain says what a pod waits for (peapod why's paragraph).
type Explain func(ctx context.Context, namespace, name string) (string, error)

// Handler serves the live page of the Book's pods under its mount point:
// "" the page, "api/pods" the list, "api/watch?uid=" the stream,
// "api/why?uid=" what the pod waits for, from explain.
func Handler(b *Book, explain Explain) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case strings.HasSuffix(r.URL.Path, "/api/pods"):
			w.Header().Set("Content-Type", "application/json")
			_ = json.NewEncoder(w).Encode(b.List())
		case strings.HasSuffix(r.URL.Path, "/api/watch"):
			watch(w, r, b)
		case strings.HasSuffix(r.URL.Path, "/api/why"):
			p := b.Get(r.URL.Query().Get("uid"))
			if p == nil {
				http.Error(w, "no such pod", http.StatusNotFound)
				return
			}
			text, err := explain(r.Context(), p.Namespace, p.Name)
			if err != nil {
				text = err.Error()
			}
			w.Header().Set("Content-Type", "text/plain; charset=utf-8")
			_, _ = io.WriteString(w, text)
		default:
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			_, _ = io.WriteString(w, strings.Replace(page, dataMark, "null", 1))
		}
	})
}

// watch streams a pod's picture, then what is added to it, as server-sent
// events until the client goes.
func watch(w http.ResponseWriter, r *http.Request, b *Book) {
	flusher, ok := w.(http.Flusher)
	if !ok {
		http.Error(w, "streaming unsupported", http.StatusInternalServerError)
		return
	}
	uid := r.URL.Query().Get("uid")
	so, added, stop := b.Watch(uid)
	defer stop()
	if so == nil {
		http.Error(w, fmt.Sprintf("no timeline of pod %q", uid), http.StatusNotFound)
		return
	}
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	send := func(event string, v any) error {
		data, err := json.Marshal(v)
		if err == nil {
			_, err = fmt.Fprintf(w, "event: %s\ndata: %s\n\n", event, data)
		}
		flusher.Flush()
		return err
	}
	if send("pod", so) != nil {
		return
	}
	for {
		select {
		case <-r.Context().Done():
			return
		case e := <-added:
			if send("entry", e) != nil {
				return
			}
		}
	}
}

// List is the Book's pods without their entries, newest first.
func (b *Book) List() []Pod {
	b.mu.Lock()
	defer b.mu.Unlock()
	out := make([]Pod, 0, len(b.pods))
	for _, p := range b.pods {
		h := *p
		h.Entries = nil
		if len(p.Entries) > 0 {
			h.Entries = p.Entries[:1] // when it began, for the order
		}
		out = append(out, h)
	}
	sort.Slice(out, func(i, j int) bool {
		return len(out[j].Entries) == 0 || len(out[i].Entries) > 0 && out[i].Entries[0].Time.After(out[j].Entries[0].Time)
	})
	return out
}

// All is every pod's picture, oldest first (up's file).
func (b *Book) All() []*Pod {
	list := b.List()
	out := make([]*Pod, 0, len(list))
	for i := len(list) - 1; i >= 0; i-- {
		out = append(out, b.Get(list[i].UID))
	}
	return out
}
