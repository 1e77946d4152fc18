package agent

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
)

// writeLog shows a log as kubectl logs does: one line per entry, partial
// lines joined, and a last line the container never ended as it is.
func TestWriteLog_UnendedLastLine(t *testing.T) {
	path := filepath.Join(t.TempDir(), "0.log")
	const ts = "2026-12-03T10:00:00.000000000Z"
	data := ts + " stdout F first\n" + ts + " stdout P pod" + "\n" + ts + " stdout P name\n"
	if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	close(done)
	var out bytes.Buffer
	if err := writeLog(context.Background(), path, done, &corev1.PodLogOptions{}, time.Now(), &out); err != nil {
		t.Fatal(err)
	}
	if got, want := out.String(), "first\npodname"; got != want {
		t.Errorf("log %q, want %q", got, want)
	}
}
