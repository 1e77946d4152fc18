package probe

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"

	"peapod/internal/runtime"
)

// ErrContainerExited interrupts a sleep hook whose container exited.
var ErrContainerExited = errors.New("container terminated before sleep hook finished")

// Hook runs a postStart or preStop handler until it finishes or ctx ends;
// exited, if not nil, closes when the container exits. The error carries
// the kubelet's message for the FailedPostStartHook/FailedPreStopHook
// event.
func Hook(ctx context.Context, t Target, h *corev1.LifecycleHandler, exited <-chan struct{}) error {
	switch {
	case h.Exec != nil:
		var out cappedBuffer
		code, err := t.Runtime.Exec(ctx, runtime.ExecRequest{ID: t.ContainerID, Cmd: h.Exec.Command, Stdout: &out, Stderr: &out})
		if err == nil && code != 0 {
			err = fmt.Errorf("command '%s' exited with %d: %s", strings.Join(h.Exec.Command, " "), code, out.String())
		}
		if err != nil {
			//lint:ignore ST1005 the kubelet's message
			return fmt.Errorf("Exec lifecycle hook (%v) for Container %q in Pod %q failed - error: %v, message: %q", h.Exec.Command, t.Container, t.pod(), err, out.String())
		}
		return nil
	case h.HTTPGet != nil:
		// Only a failed request fails a hook; the status code does not
		// matter to the kubelet.
		req, err := t.httpRequest(ctx, h.HTTPGet)
		if err == nil {
			var res *http.Response
			res, err = t.httpClient(0).Do(req)
			if err == nil {
				_, _ = io.Copy(io.Discard, io.LimitReader(res.Body, maxBody))
				res.Body.Close()
			}
		}
		if err != nil {
			return fmt.Errorf("HTTP lifecycle hook (%s) for Container %q in Pod %q failed - error: %v", h.HTTPGet.Path, t.Container, t.pod(), err)
		}
		return nil
	case h.Sleep != nil:
		timer := time.NewTimer(time.Duration(h.Sleep.Seconds) * time.Second)
		defer timer.Stop()
		var err error
		select {
		case <-timer.C:
			return nil
		case <-exited:
			err = ErrContainerExited
		case <-ctx.Done():
			err = ctx.Err()
		}
		//lint:ignore ST1005 the kubelet's message
		return fmt.Errorf("Sleep lifecycle hook (%d) for Container %q in Pod %q failed - error: %v", h.Sleep.Seconds, t.Container, t.pod(), err)
	}
	//lint:ignore ST1005 the kubelet's message
	return errors.New("Cannot run handler: unknown/unsupported handler")
}
