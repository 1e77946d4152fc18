package conmon

import (
	"bytes"
	"context"
	"fmt"
	"strings"
)

// RunError is a failed external command with its argv and what it printed,
// so the message reaches the pod's events intact (kind's exec.RunError).
type RunError struct {
	Command []string
	Output  []byte
	Inner   error
}

func (e *RunError) Error() string {
	return fmt.Sprintf("command %q failed: %v: %s", strings.Join(e.Command, " "), e.Inner, bytes.TrimSpace(e.Output))
}

func (e *RunError) Unwrap() error { return e.Inner }

// ociCmd runs the OCI runtime with the global options and returns stdout.
func (r *Runtime) ociCmd(ctx context.Context, args ...string) ([]byte, error) {
	cmd := r.runtimeCommand(ctx, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.Bytes(), &RunError{Command: cmd.Args, Output: stderr.Bytes(), Inner: err}
	}
	return stdout.Bytes(), nil
}
