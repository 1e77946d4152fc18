package conmon

import (
	"context"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"
)

func TestOrphanZombie(t *testing.T) {
	for _, c := range []struct {
		name         string
		status       string
		depth        int
		anyNamespace bool
		want         bool
	}{
		{"zombie in a container's PID namespace", "Name:\tsleep\nState:\tZ (zombie)\nNSpid:\t4242\t7\n", 1, false, true},
		{"zombie in our own PID namespace, main thread busy (an os/exec child: its Wait reaps it)", "State:\tZ (zombie)\nNSpid:\t4242\n", 1, false, false},
		{"zombie in our own PID namespace, main thread idle (an orphan: nothing else reaps it)", "State:\tZ (zombie)\nNSpid:\t4242\n", 1, true, true},
		{"running in a container", "State:\tS (sleeping)\nNSpid:\t4242\t7\n", 1, false, false},
		{"running in our namespace, main thread idle", "State:\tS (sleeping)\nNSpid:\t4242\n", 1, true, false},
		{"peapod in a container: its own children are one level deep", "State:\tZ (zombie)\nNSpid:\t4242\t9\n", 2, false, false},
		{"peapod in a container: a pod's zombie is deeper", "State:\tZ (zombie)\nNSpid:\t4242\t9\t3\n", 2, false, true},
		{"no NSpid line (kernel before 4.1)", "State:\tZ (zombie)\n", 1, false, false},
		{"empty", "", 1, true, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			if got := orphanZombie([]byte(c.status), c.depth, c.anyNamespace); got != c.want {
				t.Errorf("orphanZombie = %v, want %v", got, c.want)
			}
		})
	}
}

func TestParsePids(t *testing.T) {
	for in, want := range map[string][]int{
		"":             nil,
		"12 345 6789 ": {12, 345, 6789},
		"7\n":          {7},
		"x 0 -1 8":     {8},
	} {
		if got := parsePids([]byte(in)); !reflect.DeepEqual(got, want) {
			t.Errorf("parsePids(%q) = %v, want %v", in, got, want)
		}
	}
}

// The watcher must wake a waiter when the file appears (by rename, as
// conmon writes its exit file, or by create and write) and when the
// directory goes, with inotify, not the polling fallback.
func TestDirWatch(t *testing.T) {
	var w dirWatch
	for _, c := range []struct {
		name  string
		write func(dir string) error
	}{
		{"renamed into place", func(dir string) error {
			tmp := filepath.Join(dir, ".tmp")
			if err := os.WriteFile(tmp, []byte("0"), 0o600); err != nil {
				return err
			}
			return os.Rename(tmp, filepath.Join(dir, "exit"))
		}},
		{"written in place", func(dir string) error { return os.WriteFile(filepath.Join(dir, "exit"), []byte("0"), 0o600) }},
		{"directory removed", os.RemoveAll},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			waiting := make(chan struct{})
			res := make(chan error, 1)
			go func() {
				res <- w.wait(ctx, dir, func() bool {
					select {
					case <-waiting:
					default:
						close(waiting) // the first check: the watch is in place
					}
					return exists(filepath.Join(dir, "exit")) || !exists(dir)
				}, nil)
			}()
			<-waiting
			if w.f == nil {
				t.Fatal("no inotify: the watcher fell back to polling")
			}
			if err := c.write(dir); err != nil {
				t.Fatal(err)
			}
			if err := <-res; err != nil {
				t.Fatalf("wait: %v", err)
			}
			w.mu.Lock()
			n := len(w.dirs)
			w.mu.Unlock()
			if n != 0 {
				t.Errorf("%d watches left after the last waiter", n)
			}
		})
	}
	t.Run("context ends", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		if err := w.wait(ctx, t.TempDir(), func() bool { return false }, nil); err != context.Canceled {
			t.Errorf("wait = %v, want context.Canceled", err)
		}
	})
}
