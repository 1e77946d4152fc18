package volume

import (
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
)

var tsDirRE = regexp.MustCompile(`^\.\.\d{4}_\d{2}_\d{2}_\d{2}_\d{2}_\d{2}\.\d+$`)

// checkLayout checks dir against the atomic writer's layout for files (path
// -> content) and modes (path -> perm, 0644 if absent), and returns the
// version dir ..data points to.
func checkLayout(t *testing.T, dir string, files map[string]string, modes map[string]os.FileMode) string {
	t.Helper()
	ts, err := os.Readlink(filepath.Join(dir, "..data"))
	if err != nil {
		t.Fatalf("..data: %v", err)
	}
	if !tsDirRE.MatchString(ts) {
		t.Errorf("..data -> %q, want a ..YYYY_MM_DD_HH_MM_SS.<random> name", ts)
	}
	if info, err := os.Stat(filepath.Join(dir, ts)); err != nil || info.Mode().Perm() != 0o755 {
		t.Errorf("version dir %s: %v, %v; want mode 0755", ts, info.Mode(), err)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range entries {
		got = append(got, e.Name())
	}
	want := []string{"..data", ts}
	for p := range files {
		top, _, _ := strings.Cut(p, "/")
		if !contains(want, top) {
			want = append(want, top)
		}
	}
	sort.Strings(got)
	sort.Strings(want)
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("entries of %s = %v, want %v", dir, got, want)
	}
	for p, content := range files {
		top, _, _ := strings.Cut(p, "/")
		if link, err := os.Readlink(filepath.Join(dir, top)); err != nil || link != "..data/"+top {
			t.Errorf("%s -> %q (%v), want ..data/%s", top, link, err, top)
		}
		data, err := os.ReadFile(filepath.Join(dir, p))
		if err != nil || string(data) != content {
			t.Errorf("%s = %q (%v), want %q", p, data, err, content)
		}
		mode, ok := modes[p]
		if !ok {
			mode = 0o644
		}
		if info, err := os.Stat(filepath.Join(dir, p)); err != nil || info.Mode() != mode {
			t.Errorf("%s mode = %v (%v), want %v", p, info.Mode(), err, mode)
		}
	}
	return ts
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func TestWriteAtomic(t *testing.T) {
	dir := t.TempDir()
	v1 := payload{
		"a":          {data: []byte("one"), mode: 0o644},
		"b":          {data: []byte("two"), mode: 0o400},
		"nested/x/y": {data: []byte("deep"), mode: 0o644},
	}
	if err := writeAtomic(dir, v1, nil); err != nil {
		t.Fatal(err)
	}
	ts1 := checkLayout(t, dir, map[string]string{"a": "one", "b": "two", "nested/x/y": "deep"}, map[string]os.FileMode{"b": 0o400})

	// Same payload: nothing is rewritten.
	if err := writeAtomic(dir, v1, nil); err != nil {
		t.Fatal(err)
	}
	if ts := checkLayout(t, dir, map[string]string{"a": "one", "b": "two", "nested/x/y": "deep"}, map[string]os.FileMode{"b": 0o400}); ts != ts1 {
		t.Errorf("unchanged payload swapped ..data to %s", ts)
	}

	// Changed content, a mode change, a removed key and nested dir, a new key.
	v2 := payload{
		"a": {data: []byte("ONE"), mode: 0o644},
		"b": {data: []byte("two"), mode: 0o600},
		"c": {data: []byte("new"), mode: 0o644},
	}
	if err := writeAtomic(dir, v2, nil); err != nil {
		t.Fatal(err)
	}
	ts2 := checkLayout(t, dir, map[string]string{"a": "ONE", "b": "two", "c": "new"}, map[string]os.FileMode{"b": 0o600})
	if ts2 == ts1 {
		t.Fatal("changed payload kept the old version dir")
	}
	if _, err := os.Lstat(filepath.Join(dir, ts1)); !os.IsNotExist(err) {
		t.Errorf("old version dir %s still there: %v", ts1, err)
	}
	if _, err := os.Lstat(filepath.Join(dir, "nested")); !os.IsNotExist(err) {
		t.Errorf("link for removed key still there: %v", err)
	}

	// Empty payload (an optional object gone): only ..data and its dir.
	if err := writeAtomic(dir, payload{}, nil); err != nil {
		t.Fatal(err)
	}
	checkLayout(t, dir, nil, nil)
}

func TestWriteAtomic_Crash(t *testing.T) {
	dir := t.TempDir()
	if err := writeAtomic(dir, payload{"a": {data: []byte("1"), mode: 0o644}}, nil); err != nil {
		t.Fatal(err)
	}
	// What a crash mid-write leaves: a half-written version and ..data_tmp.
	if err := os.Mkdir(filepath.Join(dir, "..2001_01_01_00_00_00.1"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("..2001_01_01_00_00_00.1", filepath.Join(dir, "..data_tmp")); err != nil {
		t.Fatal(err)
	}
	if err := writeAtomic(dir, payload{"a": {data: []byte("2"), mode: 0o644}}, nil); err != nil {
		t.Fatal(err)
	}
	checkLayout(t, dir, map[string]string{"a": "2"}, nil)
}

func TestWriteAtomic_FSGroup(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("chown to another group needs root")
	}
	dir := t.TempDir()
	gid := int64(1234)
	if err := writeAtomic(dir, payload{"k": {data: []byte("v"), mode: 0o600}, "d/k": {data: []byte("v"), mode: 0o400}}, &gid); err != nil {
		t.Fatal(err)
	}
	ts := checkLayout(t, dir, map[string]string{"k": "v", "d/k": "v"}, map[string]os.FileMode{"k": 0o640, "d/k": 0o440})
	info, err := os.Stat(filepath.Join(dir, ts, "d"))
	if err != nil || info.Mode() != os.ModeDir|os.ModeSetgid|0o755 {
		t.Errorf("nested dir mode = %v (%v), want setgid 0755", info.Mode(), err)
	}
	// Rewriting the same payload is a no-op despite the added group bits.
	if err := writeAtomic(dir, payload{"k": {data: []byte("v"), mode: 0o600}, "d/k": {data: []byte("v"), mode: 0o400}}, &gid); err != nil {
		t.Fatal(err)
	}
	if ts2, _ := os.Readlink(filepath.Join(dir, "..data")); ts2 != ts {
		t.Errorf("unchanged payload with fsGroup rewritten: %s -> %s", ts, ts2)
	}
}

func TestWriteAtomic_BadPaths(t *testing.T) {
	for _, p := range []string{"", "/abs", "../up", "a/../../b", "..hidden", "..data", strings.Repeat("x", 256)} {
		t.Run(p, func(t *testing.T) {
			dir := t.TempDir()
			if err := writeAtomic(dir, payload{p: {data: []byte("x"), mode: 0o644}}, nil); err == nil {
				t.Errorf("path %q accepted", p)
			}
			if entries, _ := os.ReadDir(dir); len(entries) != 0 {
				t.Errorf("path %q left %d entries", p, len(entries))
			}
		})
	}
}
