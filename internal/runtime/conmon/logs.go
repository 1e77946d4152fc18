package conmon

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"peapod/internal/runtime"
)

var _ runtime.LogReopener = (*Runtime)(nil)

// ReopenContainerLog asks the container's conmon, through its control
// FIFO ("2 0 0", conmon's reopen message), to write its log anew at its
// path, and waits until the new file is there (CRI-O does the same for
// the kubelet's log rotation).
func (r *Runtime) ReopenContainerLog(ctx context.Context, id string) error {
	m, err := r.loadMeta(id)
	if err != nil {
		return err
	}
	ctl, err := r.openCtl(id)
	if err != nil {
		return fmt.Errorf("reopen the log of container %s: %w", id, err)
	}
	_, err = ctl.WriteString("2 0 0\n")
	ctl.Close()
	if err != nil {
		return fmt.Errorf("reopen the log of container %s: %w", id, err)
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	for {
		if _, err := os.Stat(m.Spec.LogPath); err == nil {
			return nil
		} else if !errors.Is(err, os.ErrNotExist) {
			return err
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("reopen the log of container %s: no new %s: %w", id, m.Spec.LogPath, ctx.Err())
		case <-time.After(10 * time.Millisecond):
		}
	}
}
