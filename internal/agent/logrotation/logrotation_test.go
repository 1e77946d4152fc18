package logrotation

import (
	"compress/gzip"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

var now = time.Date(2026, 12, 6, 3, 4, 5, 0, time.UTC)

func TestDecide(t *testing.T) {
	const live = "/l/c/0.log"
	r := func(ts string) string { return live + "." + ts }
	for _, tc := range []struct {
		name          string
		rotated       []string
		size, maxSize int64
		maxFiles      int
		want          Decision
	}{
		{name: "under the size: nothing", size: 99, maxSize: 100, maxFiles: 5},
		{name: "at the size: rotated with the kubelet's timestamp", size: 100, maxSize: 100, maxFiles: 5,
			want: Decision{RotateTo: r("20261206-030405")}},
		{name: "the newest rotated file is compressed when another comes", size: 100, maxSize: 100, maxFiles: 5,
			rotated: []string{r("20261206-010000.gz"), r("20261206-020000")},
			want:    Decision{Compress: []string{r("20261206-020000")}, RotateTo: r("20261206-030405")}},
		{name: "max files counts the live file and the one rotated now", size: 100, maxSize: 100, maxFiles: 3,
			rotated: []string{r("20261206-020000"), r("20261206-000000.gz"), r("20261206-010000.gz")},
			want: Decision{
				Remove:   []string{r("20261206-000000.gz"), r("20261206-010000.gz")},
				Compress: []string{r("20261206-020000")},
				RotateTo: r("20261206-030405"),
			}},
		{name: "max files 2 keeps no rotated file but the new one", size: 100, maxSize: 100, maxFiles: 2,
			rotated: []string{r("20261206-020000")},
			want:    Decision{Remove: []string{r("20261206-020000")}, RotateTo: r("20261206-030405")}},
		{name: "an unfinished compression and a compressed original are removed", size: 100, maxSize: 100, maxFiles: 5,
			rotated: []string{r("20261206-010000"), r("20261206-010000.gz"), r("20261206-020000.gz.tmp"), r("20261206-020000")},
			want: Decision{
				Remove:   []string{r("20261206-010000"), r("20261206-020000.gz.tmp")},
				Compress: []string{r("20261206-020000")},
				RotateTo: r("20261206-030405"),
			}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := Decide(live, tc.rotated, tc.size, tc.maxSize, tc.maxFiles, now)
			if !slices.Equal(got.Remove, tc.want.Remove) || !slices.Equal(got.Compress, tc.want.Compress) || got.RotateTo != tc.want.RotateTo {
				t.Errorf("got %+v\nwant %+v", got, tc.want)
			}
		})
	}
}

// Rotations over time keep max files, the newest rotated one plain and
// the others gzipped with their content; a failed reopen puts the file
// back.
func TestRotate(t *testing.T) {
	dir := t.TempDir()
	live := filepath.Join(dir, "0.log")
	reopens := 0
	reopen := func(context.Context) error {
		reopens++
		return os.WriteFile(live, nil, 0o640) // what conmon does: a new file
	}
	write := func(s string) {
		if err := os.WriteFile(live, []byte(s), 0o640); err != nil {
			t.Fatal(err)
		}
	}
	for i, content := range []string{"one\n", "two\n", "three\n", "four\n", "five\n"} {
		write(content)
		if err := Rotate(context.Background(), live, 4, 3, now.Add(time.Duration(i)*time.Second), reopen); err != nil {
			t.Fatal(err)
		}
	}
	if reopens != 5 {
		t.Errorf("%d reopens, want 5", reopens)
	}
	files, _ := filepath.Glob(live + "*")
	want := []string{live, live + ".20261206-030408.gz", live + ".20261206-030409"}
	if !slices.Equal(files, want) {
		t.Fatalf("files %q, want %q", files, want)
	}
	if b, _ := os.ReadFile(want[2]); string(b) != "five\n" {
		t.Errorf("newest rotated: %q", b)
	}
	f, err := os.Open(want[1])
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	if b, _ := io.ReadAll(zr); string(b) != "four\n" {
		t.Errorf("compressed: %q", b)
	}

	write("six\n")
	failed := errors.New("no monitor")
	if err := Rotate(context.Background(), live, 4, 3, now.Add(time.Minute), func(context.Context) error { return failed }); !errors.Is(err, failed) {
		t.Fatalf("rotate with a failing reopen: %v", err)
	}
	if b, _ := os.ReadFile(live); string(b) != "six\n" {
		t.Errorf("live log after a failed reopen: %q", b)
	}
}
