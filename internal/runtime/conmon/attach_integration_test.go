//go:build integration

package conmon_test

import (
	"bytes"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"peapod/internal/runtime"
)

// lockedBuffer is written by Attach's goroutines while the test reads it.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// attach attaches in the background; the channel gives Attach's result.
func (e *env) attach(t *testing.T, req runtime.AttachRequest) <-chan error {
	done := make(chan error, 1)
	go func() { done <- e.rt.Attach(ctxT(t), req) }()
	return done
}

func waitAttach(t *testing.T, done <-chan error) {
	t.Helper()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("attach: %v", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("attach did not end with the container")
	}
}

func TestIntegration_AttachStreams(t *testing.T) {
	e := newEnv(t)
	sb := e.sandbox(t, "att")
	spec := e.spec(sb.ID, "c", "sh", "-c", "read x; echo out-$x; echo err-$x >&2")
	spec.Stdin = true
	id := e.run(t, spec)
	var stdout, stderr lockedBuffer
	done := e.attach(t, runtime.AttachRequest{ID: id, Stdin: strings.NewReader("hi\n"), Stdout: &stdout, Stderr: &stderr})
	waitAttach(t, done)
	if stdout.String() != "out-hi\n" || stderr.String() != "err-hi\n" {
		t.Errorf("stdout %q, stderr %q", stdout.String(), stderr.String())
	}
}

// A terminal's output reaches the attached client, its input the
// container, and the client's size the terminal.
func TestIntegration_AttachTty(t *testing.T) {
	e := newEnv(t)
	sb := e.sandbox(t, "tty")
	spec := e.spec(sb.ID, "c", "sh", "-c", "while read x; do echo got-$x; stty size; done")
	spec.Tty, spec.Stdin = true, true
	id := e.run(t, spec)
	in, typed := io.Pipe()
	var out lockedBuffer
	resize := make(chan runtime.TerminalSize, 1)
	resize <- runtime.TerminalSize{Width: 77, Height: 22}
	done := e.attach(t, runtime.AttachRequest{ID: id, Stdin: in, Stdout: &out, Tty: true, Resize: resize})
	// The resize and the first line race; type until both arrived.
	for deadline := time.Now().Add(15 * time.Second); !strings.Contains(out.String(), "got-hi\r\n22 77\r\n"); {
		if time.Now().After(deadline) {
			t.Fatalf("attach -t: %q", out.String())
		}
		if _, err := typed.Write([]byte("hi\r")); err != nil {
			t.Fatal(err)
		}
		time.Sleep(200 * time.Millisecond)
	}
	// ^D ends the shell, and with it the attach.
	if _, err := typed.Write([]byte{4}); err != nil {
		t.Fatal(err)
	}
	waitAttach(t, done)
	_ = typed.Close()

	// A client whose stdin ends is done; the container keeps running.
	in, typed = io.Pipe()
	id = e.run(t, spec)
	done = e.attach(t, runtime.AttachRequest{ID: id, Stdin: in, Stdout: &out, Tty: true})
	_ = typed.Close()
	waitAttach(t, done)
	if st, err := e.rt.ContainerStatus(ctxT(t), id); err != nil || st.State != runtime.StateRunning {
		t.Errorf("after the client's stdin ended: %+v, %v", st, err)
	}
}
