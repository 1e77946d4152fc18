// Package crilog reads container logs in the CRI format that conmon writes:
// "<RFC3339Nano timestamp> <stdout|stderr> <F|P> <content>", where P marks a
// partial line continued by the next entry.
package crilog

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"time"
)

// Entry is one log line; Partial lines are joined by Reader.
type Entry struct {
	Time    time.Time
	Stream  string // "stdout" or "stderr"
	Partial bool
	Content []byte
}

// Parse decodes one CRI log line (without its trailing newline).
func Parse(line []byte) (Entry, error) {
	var e Entry
	fields := bytes.SplitN(line, []byte(" "), 4)
	if len(fields) < 3 {
		return e, fmt.Errorf("crilog: malformed line %q", line)
	}
	t, err := time.Parse(time.RFC3339Nano, string(fields[0]))
	if err != nil {
		return e, fmt.Errorf("crilog: bad timestamp: %w", err)
	}
	e.Time = t
	switch s := string(fields[1]); s {
	case "stdout", "stderr":
		e.Stream = s
	default:
		return e, fmt.Errorf("crilog: bad stream %q", s)
	}
	// Tags may carry ":"-separated extensions; only the first is defined.
	tag, _, _ := bytes.Cut(fields[2], []byte(":"))
	switch string(tag) {
	case "F":
	case "P":
		e.Partial = true
	default:
		return e, fmt.Errorf("crilog: bad tag %q", fields[2])
	}
	if len(fields) == 4 {
		e.Content = fields[3]
	}
	return e, nil
}

// Follow reads the log at path from the start, calling fn for every full
// line (partials joined), and keeps reading as the file grows until done is
// closed and everything written so far has been read, or ctx ends. A file
// that does not exist yet is waited for.
func Follow(ctx context.Context, path string, done <-chan struct{}, fn func(Entry)) error {
	const poll = 50 * time.Millisecond
	var f *os.File
	for f == nil {
		var err error
		f, err = os.Open(path)
		if err == nil {
			break
		}
		if !errors.Is(err, os.ErrNotExist) {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-done:
			// The file may have appeared just before done: look once more.
			if f, err = os.Open(path); err != nil {
				if errors.Is(err, os.ErrNotExist) {
					return nil
				}
				return err
			}
		case <-time.After(poll):
		}
	}
	defer func() { f.Close() }()
	r := bufio.NewReader(f)
	var pending []byte            // an incomplete line at the end of the file
	joined := map[string]*Entry{} // partial entries waiting for their F, by stream
	finishing := false
	rotated := false // path names a new file: drain this one, then switch
	for {
		chunk, err := r.ReadBytes('\n')
		pending = append(pending, chunk...)
		if err == nil {
			line := bytes.TrimSuffix(pending, []byte("\n"))
			pending = nil
			e, perr := Parse(line)
			if perr != nil {
				continue // a torn or foreign line: skip it, as the kubelet does
			}
			if j := joined[e.Stream]; j != nil {
				j.Content = append(j.Content, e.Content...)
				j.Partial = e.Partial
				e = *j
				delete(joined, e.Stream)
			}
			if e.Partial {
				c := e
				c.Content = append([]byte(nil), e.Content...)
				joined[e.Stream] = &c
				continue
			}
			fn(e)
			continue
		}
		if !errors.Is(err, io.EOF) {
			return err
		}
		if rotated {
			// Log rotation (renamed, then reopened at path): what was
			// written to the old file before the reopen has been read.
			next, err := os.Open(path)
			if err != nil {
				return err
			}
			f.Close()
			f, rotated = next, false
			r.Reset(f)
			continue
		}
		if finishing {
			// A last line the container never ended (no newline before
			// it exited) is still its output: it goes out as partial.
			for _, stream := range []string{"stdout", "stderr"} {
				if j := joined[stream]; j != nil {
					fn(*j)
				}
			}
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-done:
			finishing = true // one more pass to drain what was written last
		case <-time.After(poll):
			rotated = replaced(f, path)
		}
	}
}

// replaced reports whether path now names another file than f.
func replaced(f *os.File, path string) bool {
	cur, err := os.Stat(path)
	if err != nil {
		return false // renamed, not reopened yet
	}
	open, err := f.Stat()
	return err == nil && !os.SameFile(open, cur)
}
