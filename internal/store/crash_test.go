package store

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
)

// A damaged store file is an error at open that names the file, never a
// panic at some later read, and the file is left as it was.
func TestOpenBolt_DamagedFile(t *testing.T) {
	dir := t.TempDir()
	// small: 500 small objects, its pages are the tree's own (bbolt keeps
	// no checksum of values, so only the tree's structure can be checked);
	// big: MiBs, half of it ends inside the mapped pages.
	build := func(name string, n, pad int) []byte {
		path := filepath.Join(dir, name)
		s := openTest(t, path, 0)
		for i := range n {
			c := cm("a", strconv.Itoa(i))
			c.Data["pad"] = strings.Repeat("x", pad)
			if _, err := s.Create(context.Background(), key("a", strconv.Itoa(i)), c); err != nil {
				t.Fatal(err)
			}
		}
		s.Close()
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	small, big := build("small.db", 500, 0), build("big.db", 300, 20000)
	overwrite := func(b []byte, from, n int, v byte) []byte {
		c := append([]byte(nil), b...)
		for i := from; i < from+n; i++ {
			c[i] ^= v
		}
		return c
	}
	for _, tc := range []struct {
		name string
		data []byte
	}{
		{"truncated to 100 bytes", small[:100]},
		{"truncated to half", small[:len(small)/2]},
		{"a big one truncated to half", big[:len(big)/2]},
		{"not a store", make([]byte, 64<<10)},
		{"a tree page overwritten", overwrite(small, 3*4096, 200, 0xff)},
		{"a page in the middle inverted", overwrite(small, len(small)/2, 4096, 0xff)},
		{"both meta pages overwritten", overwrite(small, 0, 2*4096, 0x55)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(dir, strings.ReplaceAll(tc.name, " ", "-"))
			if err := os.WriteFile(path, tc.data, 0o600); err != nil {
				t.Fatal(err)
			}
			s, err := OpenBolt(path, BoltOptions{})
			if err == nil {
				s.Close()
				t.Fatal("opened")
			}
			if !errors.Is(err, errDamaged) || !strings.Contains(err.Error(), path) {
				t.Errorf("error %q: want errDamaged naming %s", err, path)
			}
			if after, _ := os.ReadFile(path); string(after) != string(tc.data) {
				t.Error("the damaged file was changed")
			}
		})
	}
}

// kill -9 in the middle of a burst of writes: every write the store
// acknowledged is there after reopening, whole.
func TestBolt_KillNineKeepsAcknowledgedWrites(t *testing.T) {
	if path := os.Getenv("PEAPOD_STORE_WRITER"); path != "" {
		writeUntilKilled(path)
		return
	}
	if testing.Short() {
		t.Skip("starts a writer process")
	}
	path := filepath.Join(t.TempDir(), "db")
	cmd := exec.Command(os.Args[0], "-test.run=^TestBolt_KillNineKeepsAcknowledgedWrites$")
	cmd.Env = append(os.Environ(), "PEAPOD_STORE_WRITER="+path)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	acked := map[string]bool{}
	sc := bufio.NewScanner(out)
	deadline := time.Now().Add(60 * time.Second)
	for sc.Scan() {
		if k, ok := strings.CutPrefix(sc.Text(), "ack "); ok {
			acked[k] = true
		}
		if len(acked) == 300 {
			// Killed while writes are in flight: the writers do not wait
			// for each other.
			if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
				t.Fatal(err)
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("only %d writes acknowledged in 60 s", len(acked))
		}
	}
	_ = cmd.Wait()
	if len(acked) < 300 {
		t.Fatalf("writer ended after %d acknowledged writes", len(acked))
	}
	s := openTest(t, path, 0)
	list, err := s.List(context.Background(), "/configmaps/", ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	stored := map[string]bool{}
	for _, o := range list.Items {
		c := o.(*corev1.ConfigMap)
		if c.Data["a"] != "1" {
			t.Errorf("%s stored half: %+v", c.Name, c.Data)
		}
		stored[c.Namespace+"/"+c.Name] = true
	}
	for k := range acked {
		if !stored[k] {
			t.Errorf("acknowledged write %s lost", k)
		}
	}
	t.Logf("%d acknowledged, %d stored", len(acked), len(stored))
}

// writeUntilKilled creates ConfigMaps from 8 goroutines and prints each one
// the store acknowledged.
func writeUntilKilled(path string) {
	s, err := OpenBolt(path, BoltOptions{})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	acks := make(chan string)
	for w := range 8 {
		go func() {
			for i := 0; ; i++ {
				name := fmt.Sprintf("w%d-%d", w, i)
				if _, err := s.Create(context.Background(), key("a", name), cm("a", name)); err != nil {
					fmt.Fprintln(os.Stderr, err)
					os.Exit(1)
				}
				acks <- "a/" + name
			}
		}()
	}
	for k := range acks {
		fmt.Println("ack " + k)
	}
}
