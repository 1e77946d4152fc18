package conmon

import (
	"context"
	"errors"
	"os"
	"sync"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// dirWatch wakes waiters when something is written into a directory, by
// inotify: it is how a restarted peapod learns that a conmon it did not
// start wrote its exit file. One inotify instance serves the whole runtime
// (fs.inotify.max_user_instances is 128 by default; watches are cheap).
type dirWatch struct {
	once sync.Once
	f    *os.File // nil when inotify is unavailable: waiters poll
	fd   int
	mu   sync.Mutex
	dirs map[string]*watched
	wds  map[int32]*watched
}

// watched is one directory's watch; ch is closed and replaced on every
// event in it.
type watched struct {
	dir  string
	wd   int32
	live bool // the kernel still has the watch (no IN_IGNORED yet)
	refs int
	ch   chan struct{}
}

const watchMask = unix.IN_CREATE | unix.IN_CLOSE_WRITE | unix.IN_MOVED_TO |
	unix.IN_DELETE_SELF | unix.IN_ONLYDIR

// pollFallback is how often a waiter looks when inotify cannot help.
const pollFallback = 50 * time.Millisecond

// wait returns once done() is true, checked at the start and after every
// event in dir, or when stop is closed (nil: never), or when the context
// ends.
func (w *dirWatch) wait(ctx context.Context, dir string, done func() bool, stop <-chan struct{}) error {
	w.once.Do(w.start)
	e := w.add(dir)
	if e == nil {
		tick := time.NewTicker(pollFallback)
		defer tick.Stop()
		for !done() {
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-stop:
				return nil
			case <-tick.C:
			}
		}
		return nil
	}
	defer w.release(e)
	for {
		w.mu.Lock()
		ch := e.ch // taken before the check, so no event falls between
		w.mu.Unlock()
		if done() {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-stop:
			return nil
		case <-ch:
		}
	}
}

func (w *dirWatch) start() {
	w.dirs, w.wds = map[string]*watched{}, map[int32]*watched{}
	fd, err := unix.InotifyInit1(unix.IN_NONBLOCK | unix.IN_CLOEXEC)
	if err != nil {
		return
	}
	w.fd, w.f = fd, os.NewFile(uintptr(fd), "inotify")
	go w.read()
}

// add returns the directory's watch with one more reference, nil if it
// cannot be watched (no inotify, watch limit, or the dir is gone).
func (w *dirWatch) add(dir string) *watched {
	if w.f == nil {
		return nil
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	e := w.dirs[dir]
	if e == nil || !e.live {
		wd, err := unix.InotifyAddWatch(w.fd, dir, watchMask)
		if err != nil {
			return nil
		}
		if e == nil {
			e = &watched{dir: dir, ch: make(chan struct{})}
			w.dirs[dir] = e
		}
		e.wd, e.live = int32(wd), true
		w.wds[e.wd] = e
	}
	e.refs++
	return e
}

func (w *dirWatch) release(e *watched) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if e.refs--; e.refs > 0 {
		return
	}
	delete(w.dirs, e.dir)
	if e.live {
		delete(w.wds, e.wd)
		_, _ = unix.InotifyRmWatch(w.fd, uint32(e.wd))
	}
}

// read wakes the waiters of every directory an event names. It runs for
// the life of the process, parked in the netpoller between events.
func (w *dirWatch) read() {
	buf := make([]byte, 64*1024)
	for {
		n, err := w.f.Read(buf)
		if err != nil {
			if errors.Is(err, os.ErrClosed) {
				return
			}
			time.Sleep(pollFallback) // not expected; do not spin
			continue
		}
		w.mu.Lock()
		for off := 0; off+unix.SizeofInotifyEvent <= n; {
			ev := (*unix.InotifyEvent)(unsafe.Pointer(&buf[off]))
			off += unix.SizeofInotifyEvent + int(ev.Len)
			if ev.Mask&unix.IN_Q_OVERFLOW != 0 {
				for _, e := range w.wds { // events were lost: everyone looks
					close(e.ch)
					e.ch = make(chan struct{})
				}
				continue
			}
			e := w.wds[ev.Wd]
			if e == nil {
				continue
			}
			close(e.ch)
			e.ch = make(chan struct{})
			if ev.Mask&unix.IN_IGNORED != 0 {
				// The directory is gone; a later add watches it anew.
				e.live = false
				delete(w.wds, ev.Wd)
			}
		}
		w.mu.Unlock()
	}
}
