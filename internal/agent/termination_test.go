package agent

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
)

func TestTerminationMessage(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	cri := func(lines ...string) string {
		var b strings.Builder
		for _, l := range lines {
			fmt.Fprintf(&b, "2026-12-03T10:00:00.000000000Z stdout F %s\n", l)
		}
		return b.String()
	}
	var many []string
	for i := 0; i < 100; i++ {
		many = append(many, fmt.Sprintf("line %02d", i))
	}
	file, fallback := corev1.TerminationMessageReadFile, corev1.TerminationMessageFallbackToLogsOnError
	log := write("log", cri("hello", "DONE"))
	empty := write("empty", "")
	for _, tc := range []struct {
		name   string
		policy corev1.TerminationMessagePolicy
		file   string
		log    string
		exit   int32
		want   string
	}{
		{"the file's content", file, write("msg", "DONE"), log, 0, "DONE"},
		{"the file wins over the log", fallback, write("msg2", "OK"), log, 1, "OK"},
		{"an empty file and a failure: the log's tail", fallback, empty, log, 1, "hello\nDONE\n"},
		{"an empty file and success: nothing", fallback, empty, log, 0, ""},
		{"File policy never reads the log", file, empty, log, 1, ""},
		{"no file at all (terminationMessagePath unset)", fallback, "", log, 2, "hello\nDONE\n"},
		{"the file is cut at 4 KiB", file, write("big", strings.Repeat("x", 5000)), log, 0, strings.Repeat("x", 4096)},
		{"the log's last 80 lines", fallback, empty, write("many", cri(many...)), 1, strings.Join(many[20:], "\n") + "\n"},
		{"partial lines are joined", fallback, empty, write("partial", "2026-12-03T10:00:00Z stdout P DO\n2026-12-03T10:00:00Z stdout F NE\n"), 1, "DONE\n"},
		{"a last line never ended (echo -n DONE) counts", fallback, empty, write("unended", "2026-12-03T10:00:00Z stdout P DONE\n"), 1, "DONE"},
	} {
		c := &corev1.Container{Name: "c", TerminationMessagePolicy: tc.policy}
		if got := terminationMessage(c, tc.file, tc.log, tc.exit); got != tc.want {
			t.Errorf("%s: %q, want %q", tc.name, got, tc.want)
		}
	}
	// At most 2 KiB of log, the newest kept.
	long := strings.Repeat("y", 100)
	var lines []string
	for i := 0; i < 50; i++ {
		lines = append(lines, long)
	}
	c := &corev1.Container{TerminationMessagePolicy: fallback}
	if got := terminationMessage(c, empty, write("long", cri(lines...)), 1); len(got) != 2048 || !strings.HasSuffix(got, long+"\n") {
		t.Errorf("log tail of %d bytes", len(got))
	}
}

func TestMakeTerminationLog(t *testing.T) {
	p := terminationLogFile(t.TempDir(), "c", 2)
	if err := makeTerminationLog(p); err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(p)
	if err != nil || st.Mode().Perm() != 0o666 || st.Size() != 0 || filepath.Base(p) != "2" || filepath.Base(filepath.Dir(p)) != "c" {
		t.Errorf("%s: %v %v", p, st, err)
	}
}
