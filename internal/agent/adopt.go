package agent

import (
	"context"
	"errors"
	"fmt"
	"slices"

	corev1 "k8s.io/api/core/v1"

	"peapod/internal/agent/plan"
	"peapod/internal/runtime"
)

// Restart safety. conmon outlives peapod and writes each container's exit
// file, so a restarted agent can take its pods over where it left them:
// adopt rebuilds what the worker observed from the runtime, detach lets a
// shutting-down agent leave its pods running, and TearDown removes what a
// pod that no longer exists left behind.

// adopt rebuilds the observed state of pod's containers from what the
// runtime still holds of them. The newest instance of each container name
// (by attempt, then creation) is Current and its attempt the restart count;
// the one before it gives Previous, the last state. Since the worker keeps
// only the current instance in the runtime, every older instance, and any
// container the spec does not name, is returned as stale, to be removed.
func adopt(pod *corev1.Pod, containers []*runtime.ContainerStatus) (plan.Observed, []string) {
	obs := plan.Observed{Containers: map[string]*plan.Container{}}
	byName := map[string][]*runtime.ContainerStatus{}
	var stale []string
	for _, c := range containers {
		if findContainer(pod, c.Name) == nil {
			stale = append(stale, c.ID)
			continue
		}
		byName[c.Name] = append(byName[c.Name], c)
	}
	for name, list := range byName {
		slices.SortFunc(list, func(a, b *runtime.ContainerStatus) int {
			if a.Attempt != b.Attempt {
				return b.Attempt - a.Attempt
			}
			return b.CreatedAt.Compare(a.CreatedAt)
		})
		cur := list[0]
		o := &plan.Container{Current: cur, RestartCount: int32(cur.Attempt)}
		if len(list) > 1 {
			o.Previous = list[1]
		}
		if cur.Attempt > 0 {
			// The backoff the last restart left owing, as the worker
			// doubles it: a crash-looping container must not get a
			// free restart out of an agent restart.
			since := cur.StartedAt
			if since.IsZero() {
				since = cur.CreatedAt
			}
			o.Backoff = plan.Backoff{Period: plan.BackoffAfter(cur.Attempt), LastRestart: since}
		}
		obs.Containers[name] = o
		for _, old := range list[1:] {
			stale = append(stale, old.ID)
		}
	}
	slices.Sort(stale)
	return obs, stale
}

// adopt takes over the containers a previous agent left in the worker's
// sandbox: it rebuilds the observed state, removes stale instances and
// watches the running ones. Exits that happened meanwhile are in their
// status (conmon's exit file), so the first plan reacts to them.
func (w *worker) adopt(ctx context.Context) error {
	list, err := w.cfg.Runtime.ListContainers(ctx, w.sandbox.ID)
	if err != nil {
		return fmt.Errorf("pod %s/%s: list containers: %w", w.pod.Namespace, w.pod.Name, err)
	}
	obs, stale := adopt(w.pod, list)
	for _, id := range stale {
		if err := w.cfg.Runtime.RemoveContainer(ctx, id); err != nil && !errors.Is(err, runtime.ErrNotFound) {
			return fmt.Errorf("pod %s/%s: remove stale container: %w", w.pod.Namespace, w.pod.Name, err)
		}
	}
	for name, o := range obs.Containers {
		w.obs.Containers[name] = o
		if o.Current.State != runtime.StateRunning {
			continue
		}
		if c := findContainer(w.pod, name); c != nil && w.cfg.Images != nil {
			if img, err := w.cfg.Images.Get(ctx, c.Image); err == nil {
				w.signals[name] = stopSignal(img.Config.StopSignal)
			}
		}
		w.watch(ctx, name, o.Current.ID, o.Current.LogPath)
	}
	return nil
}

// detachOn returns a context that ends when ctx does or cfg.Shutdown is
// closed, and a function telling, once the worker has returned, whether it
// is leaving because of the shutdown: then its pod must keep running.
// Otherwise the context lives until the log followers have drained, so that
// `up` still prints a container's last lines.
func (w *worker) detachOn(ctx context.Context) (context.Context, func() bool) {
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		select {
		case <-w.cfg.Shutdown: // a nil channel: never
			cancel()
		case <-done:
		}
	}()
	return ctx, func() bool {
		close(done)
		select {
		case <-w.cfg.Shutdown:
			cancel()
			return true
		default:
		}
		go func() {
			w.waitWG.Wait()
			w.followWG.Wait()
			cancel()
		}()
		return false
	}
}

// leave ends a worker without touching its containers: only the goroutines
// that wait for them and follow their logs are let go.
func (w *worker) leave() {
	w.waitWG.Wait()
	w.followWG.Wait()
}
