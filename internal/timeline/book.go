package timeline

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"sync"
)

// MaxEntries is how many entries a pod keeps; older ones are dropped.
const MaxEntries = 1000

// Book keeps each pod's picture: in memory, and, with a directory, in a
// file per pod (<uid>.jsonl: a header line, then one line per entry,
// appended; rewritten with the newest MaxEntries when it holds twice
// that) that a restarted serve reads again. Watchers of a pod get
// what is added to it.
type Book struct {
	dir string // "" keeps nothing on disk

	mu       sync.Mutex
	pods     map[string]*Pod // by UID
	lines    map[string]int  // lines in each pod's file
	watchers map[string]map[chan Entry]bool
}

// NewBook keeps pictures in dir ("" for memory only) and reads those
// there.
func NewBook(dir string) (*Book, error) {
	b := &Book{dir: dir, pods: map[string]*Pod{}, lines: map[string]int{}, watchers: map[string]map[chan Entry]bool{}}
	if dir == "" {
		return b, nil
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	files, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	for _, f := range files {
		if filepath.Ext(f.Name()) != ".jsonl" {
			continue
		}
		p, n, err := readPod(filepath.Join(dir, f.Name()))
		if err != nil {
			continue // a damaged file starts over
		}
		b.pods[p.UID], b.lines[p.UID] = p, n
	}
	return b, nil
}

// readPod reads a pod's file; a torn last line (a crash mid-append) is
// left out.
func readPod(file string) (*Pod, int, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, 0, err
	}
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(nil, 1<<20)
	var p Pod
	n := 0
	for sc.Scan() {
		n++
		if n == 1 {
			if err := json.Unmarshal(sc.Bytes(), &p); err != nil {
				return nil, 0, err
			}
			p.Entries = nil
			continue
		}
		var e Entry
		if json.Unmarshal(sc.Bytes(), &e) == nil {
			p.Entries = append(p.Entries, e)
		}
	}
	if p.UID == "" {
		return nil, 0, errors.New("no header")
	}
	if over := len(p.Entries) - MaxEntries; over > 0 {
		p.Entries = p.Entries[over:]
	}
	if !bytes.HasSuffix(data, []byte("\n")) {
		n = 0 // torn: the next Add writes the file anew, not onto the tear
	}
	return &p, n, nil
}

// Add records entries for a pod (made with its rows the first time).
func (b *Book) Add(head Pod, entries ...Entry) {
	b.mu.Lock()
	defer b.mu.Unlock()
	p := b.pods[head.UID]
	fresh := p == nil
	if fresh {
		h := head
		h.Entries = nil
		p = &h
		b.pods[head.UID] = p
	} else if len(head.Containers) > len(p.Containers) {
		p.Containers = head.Containers // an ephemeral container was added
		fresh = true
	}
	p.Entries = append(p.Entries, entries...)
	if over := len(p.Entries) - MaxEntries; over > 0 {
		p.Entries = p.Entries[over:] // append copies it away in time
	}
	// The file is appended to and written anew only once it holds twice
	// what is kept (readPod keeps the newest), not at every entry.
	if b.lines[p.UID]+len(entries) > 2*MaxEntries+1 {
		fresh = true
	}
	b.persist(p, fresh, entries)
	for ch := range b.watchers[p.UID] {
		for _, e := range entries {
			select {
			case ch <- e:
			default: // a watcher that does not read loses entries, never blocks the node
			}
		}
	}
}

// persist appends entries to p's file, or writes it whole when fresh.
func (b *Book) persist(p *Pod, fresh bool, entries []Entry) {
	if b.dir == "" {
		return
	}
	file := filepath.Join(b.dir, p.UID+".jsonl")
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	flags := os.O_WRONLY | os.O_APPEND
	if fresh || b.lines[p.UID] == 0 {
		head := *p
		head.Entries = nil
		_ = enc.Encode(head)
		entries = p.Entries
		flags = os.O_WRONLY | os.O_CREATE | os.O_TRUNC
		b.lines[p.UID] = 1
	}
	for _, e := range entries {
		_ = enc.Encode(e)
	}
	b.lines[p.UID] += len(entries)
	f, err := os.OpenFile(file, flags, 0o600)
	if err != nil {
		return
	}
	defer f.Close()
	_, _ = f.Write(buf.Bytes())
}

// Get returns a copy of the pod's picture, nil if there is none.
func (b *Book) Get(uid string) *Pod {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.copyOf(uid)
}

func (b *Book) copyOf(uid string) *Pod {
	p := b.pods[uid]
	if p == nil {
		return nil
	}
	c := *p
	c.Containers = append([]Container(nil), p.Containers...)
	c.Entries = append([]Entry(nil), p.Entries...)
	return &c
}

// Watch returns the pod's picture so far (nil if none yet) and a channel
// of what is added after it; stop ends the watch.
func (b *Book) Watch(uid string) (so *Pod, added <-chan Entry, stop func()) {
	ch := make(chan Entry, 256)
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.watchers[uid] == nil {
		b.watchers[uid] = map[chan Entry]bool{}
	}
	b.watchers[uid][ch] = true
	return b.copyOf(uid), ch, func() {
		b.mu.Lock()
		defer b.mu.Unlock()
		delete(b.watchers[uid], ch)
		if len(b.watchers[uid]) == 0 {
			delete(b.watchers, uid)
		}
	}
}

// Forget drops a pod's picture (the pod is deleted).
func (b *Book) Forget(uid string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	delete(b.pods, uid)
	delete(b.lines, uid)
	if b.dir != "" {
		_ = os.Remove(filepath.Join(b.dir, uid+".jsonl"))
	}
}

// Keep forgets every pod whose UID keep does not report (deleted while
// serve was down).
func (b *Book) Keep(keep func(uid string) bool) {
	b.mu.Lock()
	var gone []string
	for uid := range b.pods {
		if !keep(uid) {
			gone = append(gone, uid)
		}
	}
	b.mu.Unlock()
	for _, uid := range gone {
		b.Forget(uid)
	}
}
