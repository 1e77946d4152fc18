package crilog

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

const ts = "2026-03-01T12:00:00.123456789Z"

var tsTime = time.Date(2026, 3, 1, 12, 0, 0, 123456789, time.UTC)

func TestParse(t *testing.T) {
	cases := []struct {
		name    string
		line    string
		want    Entry
		wantErr string
	}{
		{name: "full stdout line", line: ts + " stdout F hello world",
			want: Entry{Time: tsTime, Stream: "stdout", Content: []byte("hello world")}},
		{name: "partial", line: ts + " stdout P hel",
			want: Entry{Time: tsTime, Stream: "stdout", Partial: true, Content: []byte("hel")}},
		{name: "stderr", line: ts + " stderr F oops",
			want: Entry{Time: tsTime, Stream: "stderr", Content: []byte("oops")}},
		{name: "content keeps its spaces", line: ts + " stdout F  two  spaces ",
			want: Entry{Time: tsTime, Stream: "stdout", Content: []byte(" two  spaces ")}},
		{name: "empty content", line: ts + " stdout F ",
			want: Entry{Time: tsTime, Stream: "stdout", Content: []byte("")}},
		{name: "no content field", line: ts + " stdout F",
			want: Entry{Time: tsTime, Stream: "stdout"}},
		{name: "tag extension on F", line: ts + " stdout F:x full",
			want: Entry{Time: tsTime, Stream: "stdout", Content: []byte("full")}},
		{name: "tag extension on P", line: ts + " stderr P:a:b part",
			want: Entry{Time: tsTime, Stream: "stderr", Partial: true, Content: []byte("part")}},
		{name: "timezone offset", line: "2026-03-01T13:00:00+01:00 stdout F x",
			want: Entry{Time: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC), Stream: "stdout", Content: []byte("x")}},
		{name: "empty line", line: "", wantErr: "malformed line"},
		{name: "too few fields", line: ts + " stdout", wantErr: "malformed line"},
		{name: "bad timestamp", line: "yesterday stdout F x", wantErr: "bad timestamp"},
		{name: "bad stream", line: ts + " stdin F x", wantErr: `bad stream "stdin"`},
		{name: "bad tag", line: ts + " stdout X x", wantErr: `bad tag "X"`},
		{name: "lower-case tag", line: ts + " stdout f x", wantErr: `bad tag "f"`},
		{name: "empty tag", line: ts + " stdout  x", wantErr: `bad tag ""`},
		{name: "docker JSON is not CRI", line: `{"log":"x\n","stream":"stdout","time":"` + ts + `"}`, wantErr: "crilog:"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Parse([]byte(tc.line))
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("Parse(%q) error = %v, want one containing %q", tc.line, err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Parse(%q): %v", tc.line, err)
			}
			if !got.Time.Equal(tc.want.Time) {
				t.Errorf("Time = %v, want %v", got.Time, tc.want.Time)
			}
			got.Time = tc.want.Time
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("Parse(%q) = %+v, want %+v", tc.line, got, tc.want)
			}
		})
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{
		ts + " stdout F hello",
		ts + " stderr P part",
		ts + " stdout F:x ext",
		ts + " stdout F",
		"",
		"a b c d",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, line []byte) {
		e, err := Parse(line)
		if err != nil {
			return
		}
		if e.Stream != "stdout" && e.Stream != "stderr" {
			t.Errorf("Parse(%q) accepted stream %q", line, e.Stream)
		}
		if len(e.Content) > len(line) {
			t.Errorf("Parse(%q) content longer than the line", line)
		}
	})
}

// follower runs Follow in the background, delivering entries on a channel.
type follower struct {
	entries chan Entry
	done    chan struct{}
	result  chan error
	cancel  context.CancelFunc
}

func startFollow(t *testing.T, path string) *follower {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	f := &follower{entries: make(chan Entry, 100), done: make(chan struct{}), result: make(chan error, 1), cancel: cancel}
	go func() { f.result <- Follow(ctx, path, f.done, func(e Entry) { f.entries <- e }) }()
	t.Cleanup(func() {
		cancel()
		<-f.result // Follow must return on cancel; a hang fails the test run
	})
	return f
}

// next waits (with a deadline, never a sleep) for the next entry.
func (f *follower) next(t *testing.T) Entry {
	t.Helper()
	select {
	case e := <-f.entries:
		return e
	case err := <-f.result:
		t.Fatalf("Follow returned early: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("timed out waiting for a log entry")
	}
	return Entry{}
}

// finish closes done and waits for Follow to return, then returns every
// entry emitted but not yet taken.
func (f *follower) finish(t *testing.T) []Entry {
	t.Helper()
	close(f.done)
	select {
	case err := <-f.result:
		f.result <- err // for the cleanup
		if err != nil {
			t.Fatalf("Follow: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Follow did not return after done was closed")
	}
	var rest []Entry
	for {
		select {
		case e := <-f.entries:
			rest = append(rest, e)
		default:
			return rest
		}
	}
}

func appendFile(t *testing.T, path, data string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString(data); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

func contents(es []Entry) []string {
	var out []string
	for _, e := range es {
		p := ""
		if e.Partial {
			p = "(partial)"
		}
		out = append(out, e.Stream+":"+string(e.Content)+p)
	}
	return out
}

func TestFollow_ChunksAndPartials(t *testing.T) {
	path := filepath.Join(t.TempDir(), "0.log")
	appendFile(t, path, ts+" stdout F one\n")
	f := startFollow(t, path)
	if got := contents([]Entry{f.next(t)}); !reflect.DeepEqual(got, []string{"stdout:one"}) {
		t.Fatalf("first entry = %q", got)
	}

	// A line written without its newline is held back; the rest of the
	// line completes it.
	appendFile(t, path, ts+" stderr F two\n"+ts+" stdout F thr")
	if got := contents([]Entry{f.next(t)}); !reflect.DeepEqual(got, []string{"stderr:two"}) {
		t.Fatalf("second entry = %q", got)
	}
	appendFile(t, path, "ee\n")
	if got := contents([]Entry{f.next(t)}); !reflect.DeepEqual(got, []string{"stdout:three"}) {
		t.Fatalf("third entry = %q", got)
	}

	// P entries are joined with what follows up to the F, across writes.
	appendFile(t, path, ts+" stdout P fo")
	appendFile(t, path, "u\n"+ts+" stdout P r-")
	appendFile(t, path, "\n"+ts+" stdout F:x parts\n")
	e := f.next(t)
	if got := contents([]Entry{e}); !reflect.DeepEqual(got, []string{"stdout:four-parts"}) {
		t.Fatalf("joined entry = %q", got)
	}
	if !e.Time.Equal(tsTime) {
		t.Errorf("joined entry time = %v", e.Time)
	}

	// Torn or foreign lines are skipped, not fatal.
	appendFile(t, path, "garbage\n"+ts+" stdout F five\n")
	if got := contents([]Entry{f.next(t)}); !reflect.DeepEqual(got, []string{"stdout:five"}) {
		t.Fatalf("entry after garbage = %q", got)
	}
	if rest := f.finish(t); len(rest) != 0 {
		t.Errorf("unexpected entries after the last one: %q", contents(rest))
	}
}

// TestFollow_PartialsPerStream: conmon may interleave a stderr line between
// the partial pieces of a stdout line; each stream is joined on its own.
func TestFollow_PartialsPerStream(t *testing.T) {
	path := filepath.Join(t.TempDir(), "0.log")
	appendFile(t, path, ts+" stdout P hel\n"+ts+" stderr F err\n"+ts+" stdout F lo\n")
	f := startFollow(t, path)
	got := contents(f.finish(t))
	if want := []string{"stderr:err", "stdout:hello"}; !reflect.DeepEqual(got, want) {
		t.Errorf("entries = %q, want %q", got, want)
	}
}

// TestFollow_DrainsOnDone: everything written before done is closed is
// emitted, a line the container never ended as a partial entry (it is
// output the kubelet shows), and a torn CRI line not.
func TestFollow_DrainsOnDone(t *testing.T) {
	path := filepath.Join(t.TempDir(), "0.log")
	var want []string
	var b strings.Builder
	for _, s := range []string{"a", "b", "c", "d"} {
		b.WriteString(ts + " stdout F " + s + "\n")
		want = append(want, "stdout:"+s)
	}
	b.WriteString(ts + " stdout P dangling\n" + ts + " stdout F not-yet-termin")
	want = append(want, "stdout:dangling(partial)")
	appendFile(t, path, b.String())
	f := startFollow(t, path)
	if got := contents(f.finish(t)); !reflect.DeepEqual(got, want) {
		t.Errorf("entries = %q, want %q", got, want)
	}
}

// TestFollow_WaitsForFile: a log that does not exist yet is waited for.
func TestFollow_WaitsForFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "0.log")
	f := startFollow(t, path)
	appendFile(t, path, ts+" stdout F late\n")
	if got := contents([]Entry{f.next(t)}); !reflect.DeepEqual(got, []string{"stdout:late"}) {
		t.Fatalf("entry = %q", got)
	}
	if rest := f.finish(t); len(rest) != 0 {
		t.Errorf("unexpected entries: %q", contents(rest))
	}
}

// TestFollow_FileCreatedThenDone: a file that appears just before done is
// closed is still read to the end. Whether Follow is already waiting for the
// file when it appears is up to the scheduler, so the race is run often.
func TestFollow_FileCreatedThenDone(t *testing.T) {
	for i := range 20 {
		path := filepath.Join(t.TempDir(), "0.log")
		f := startFollow(t, path)
		appendFile(t, path, ts+" stdout F last words\n")
		if got := contents(f.finish(t)); !reflect.DeepEqual(got, []string{"stdout:last words"}) {
			t.Fatalf("round %d: entries = %q, want the line written before done", i, got)
		}
	}
}

func TestFollow_NoFileAndDone(t *testing.T) {
	f := startFollow(t, filepath.Join(t.TempDir(), "never.log"))
	if rest := f.finish(t); len(rest) != 0 {
		t.Errorf("entries = %q, want none", contents(rest))
	}
}

func TestFollow_ContextCancelled(t *testing.T) {
	for _, exists := range []bool{false, true} {
		path := filepath.Join(t.TempDir(), "0.log")
		if exists {
			appendFile(t, path, ts+" stdout F x\n")
		}
		ctx, cancel := context.WithCancel(context.Background())
		result := make(chan error, 1)
		go func() { result <- Follow(ctx, path, make(chan struct{}), func(Entry) {}) }()
		cancel()
		select {
		case err := <-result:
			if !errors.Is(err, context.Canceled) {
				t.Errorf("exists=%v: Follow = %v, want context.Canceled", exists, err)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("exists=%v: Follow did not return after cancel", exists)
		}
	}
}

func TestFollow_OpenError(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "file")
	appendFile(t, file, "")
	// A path under a regular file fails with ENOTDIR, not ENOENT: no waiting.
	err := Follow(context.Background(), filepath.Join(file, "0.log"), make(chan struct{}), func(Entry) {})
	if err == nil {
		t.Fatal("Follow on an unopenable path = nil, want an error")
	}
}

// TestFollow_AcrossRotation: the log is renamed and a new one made at its
// path (the kubelet's rotation, conmon's reopen): what was written to the
// old file before the switch is read, then the new file from its start.
func TestFollow_AcrossRotation(t *testing.T) {
	path := filepath.Join(t.TempDir(), "0.log")
	appendFile(t, path, ts+" stdout F one\n")
	f := startFollow(t, path)
	if got := contents([]Entry{f.next(t)}); !reflect.DeepEqual(got, []string{"stdout:one"}) {
		t.Fatalf("entry = %q", got)
	}
	appendFile(t, path, ts+" stdout F two\n")
	if err := os.Rename(path, path+".20261206-030405"); err != nil {
		t.Fatal(err)
	}
	appendFile(t, path, ts+" stdout F three\n")
	got := contents([]Entry{f.next(t), f.next(t)})
	if want := []string{"stdout:two", "stdout:three"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("entries = %q, want %q", got, want)
	}
	appendFile(t, path, ts+" stdout F four\n")
	if got, want := contents(f.finish(t)), []string{"stdout:four"}; !reflect.DeepEqual(got, want) {
		t.Errorf("entries = %q, want %q", got, want)
	}
}
