package agent

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"strconv"

	corev1 "k8s.io/api/core/v1"

	"peapod/internal/crilog"
)

// The kubelet's bounds on a termination message: what the file may give,
// and the tail of the log FallbackToLogsOnError takes.
const (
	maxTerminationMessage = 4 * 1024
	maxFallbackLines      = 80
	maxFallbackBytes      = 2 * 1024
)

// terminationLogFile is the host file mounted at a container instance's
// terminationMessagePath, under the pod's directory as the kubelet keeps
// it (pods/<uid>/containers/<name>/<attempt>).
func terminationLogFile(podDir, container string, attempt int) string {
	return filepath.Join(podDir, "containers", container, strconv.Itoa(attempt))
}

// makeTerminationLog creates the empty file, writable by whatever user the
// container runs as (the kubelet makes it 0666).
func makeTerminationLog(path string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		return err
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	f.Close()
	return os.Chmod(path, 0o666)
}

// terminationMessage is an exited instance's status message, as the
// kubelet's: the file's first 4 KiB; with FallbackToLogsOnError, an empty
// file and a failure, the last 80 lines (at most 2 KiB) of its log.
func terminationMessage(c *corev1.Container, file, logPath string, exitCode int32) string {
	if file != "" {
		if f, err := os.Open(file); err == nil {
			data, _ := io.ReadAll(io.LimitReader(f, maxTerminationMessage))
			f.Close()
			if len(data) > 0 {
				return string(data)
			}
		}
	}
	if c.TerminationMessagePolicy != corev1.TerminationMessageFallbackToLogsOnError || exitCode == 0 {
		return ""
	}
	return logTail(logPath, maxFallbackLines, maxFallbackBytes)
}

// logTail is the content of the last lines of a CRI log, at most max
// bytes (the newest kept), read as kubectl logs reads it (crilog.Follow:
// partial lines joined, a last unended line kept as it is).
func logTail(path string, lines, max int) string {
	ended := make(chan struct{})
	close(ended)
	var tail [][]byte
	_ = crilog.Follow(context.Background(), path, ended, func(e crilog.Entry) {
		line := e.Content
		if !e.Partial {
			line = append(line, '\n')
		}
		if tail = append(tail, line); len(tail) > lines {
			tail = tail[1:]
		}
	})
	out := bytes.Join(tail, nil)
	if len(out) > max {
		out = out[len(out)-max:]
	}
	return string(out)
}
