package agent

import (
	"bufio"
	"bytes"
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
// bytes (the newest kept).
func logTail(path string, lines, max int) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	var tail [][]byte
	var partial []byte
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		e, err := crilog.Parse(sc.Bytes())
		if err != nil {
			continue
		}
		partial = append(partial, e.Content...)
		if e.Partial {
			continue
		}
		tail = append(tail, append(partial, '\n'))
		partial = nil
		if len(tail) > lines {
			tail = tail[1:]
		}
	}
	if len(partial) > 0 {
		// A last line the container never ended ("echo -n DONE").
		tail = append(tail, partial)
		if len(tail) > lines {
			tail = tail[1:]
		}
	}
	out := bytes.Join(tail, nil)
	if len(out) > max {
		out = out[len(out)-max:]
	}
	return string(out)
}
