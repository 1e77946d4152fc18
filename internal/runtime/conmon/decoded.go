package conmon

import (
	"encoding/json"
	"fmt"
	"os"
	"sync"
	"syscall"
	"time"
)

// decodedFiles keeps JSON files decoded, each while the file is the one
// it was read from (same inode, size and modification time; writeJSON
// replaces a file by a rename). A container's meta.json is read on every
// status, stop and listing of it, its config.json by every exec (probes):
// decoding them again each time was most of that work's CPU.
type decodedFiles[T any] struct {
	m sync.Map // path → decodedFile[T]
}

type decodedFile[T any] struct {
	ino, size int64
	mtime     time.Time
	v         *T
}

// read returns the file's value, shared with other readers: a caller
// copies before it changes anything.
func (c *decodedFiles[T]) read(path string) (*T, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	var ino int64
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		ino = int64(st.Ino)
	}
	if e, ok := c.m.Load(path); ok {
		if f := e.(decodedFile[T]); f.ino == ino && f.size == fi.Size() && f.mtime.Equal(fi.ModTime()) {
			return f.v, nil
		}
	}
	// Read after the stat: what is kept is at least as new as the stat
	// it is kept under, so a change in between only costs a decode.
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	v := new(T)
	if err := json.Unmarshal(b, v); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	c.m.Store(path, decodedFile[T]{ino: ino, size: fi.Size(), mtime: fi.ModTime(), v: v})
	return v, nil
}

// forget drops what is kept of path.
func (c *decodedFiles[T]) forget(path string) { c.m.Delete(path) }
