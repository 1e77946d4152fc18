package agent

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
	corev1 "k8s.io/api/core/v1"

	"peapod/internal/agent/plan"
	"peapod/internal/agent/probe"
	"peapod/internal/runtime"
)

// killContainer is the kubelet's killContainer: the preStop hook of a
// running container first, bounded by grace; then, for a sidecar, its turn
// (every container in after closed), bounded by what is left; then the stop
// signal, with SIGKILL after what is left of grace but at least
// MinGracePeriod. Time is counted in whole seconds, as the kubelet does, so
// a hung preStop costs grace + 2 s. It measures with the wall clock, not
// cfg.Now: what it spends is real time on real timers.
func (w *worker) killContainer(ctx context.Context, name, id string, grace time.Duration, after []chan struct{}) error {
	left := int64(grace / time.Second)
	if c := findContainer(w.pod, name); c != nil && c.Lifecycle != nil && c.Lifecycle.PreStop != nil && left > 0 {
		start := time.Now()
		hctx, cancel := context.WithTimeout(ctx, time.Duration(left)*time.Second)
		err := probe.Hook(hctx, w.target(c, id), c.Lifecycle.PreStop, w.exited[id])
		if l := w.lifecycle(); l != nil {
			l.Hook(w.pod, name, "PreStop", time.Since(start), err)
		}
		if err != nil && hctx.Err() == nil {
			w.containerEvent(name, corev1.EventTypeWarning, "FailedPreStopHook", err.Error())
		}
		cancel()
		left -= int64(time.Since(start).Seconds())
	}
	if len(after) > 0 && left > 0 {
		start := time.Now()
		timer := time.NewTimer(time.Duration(left) * time.Second)
	wait:
		for _, ch := range after {
			select {
			case <-ch:
			case <-timer.C:
				break wait
			case <-ctx.Done():
				break wait
			}
		}
		timer.Stop()
		left -= int64(time.Since(start).Seconds())
	}
	timeout := max(time.Duration(left)*time.Second, MinGracePeriod)
	if l := w.lifecycle(); l != nil {
		sig := w.signals[name]
		if sig == 0 {
			sig = syscall.SIGTERM
		}
		l.Signal(w.pod, name, sig, timeout)
	}
	err := w.cfg.Runtime.StopContainer(ctx, runtime.StopRequest{ID: id, Signal: w.signals[name], Timeout: timeout})
	if err != nil && !errors.Is(err, runtime.ErrNotFound) {
		return fmt.Errorf("pod %s/%s: stop container %s: %w", w.pod.Namespace, w.pod.Name, name, err)
	}
	return nil
}

// killPod stops every running container in the plan's StopOrder: all
// preStop hooks at once, a sidecar's stop signal after what it waits for.
func (w *worker) killPod(ctx context.Context) error {
	grace := w.gracePeriod()
	ids := map[string]string{}
	var running []string
	for name, o := range w.obs.Containers {
		if o != nil && o.Current != nil && o.Current.State != runtime.StateExited {
			ids[name] = o.Current.ID
			running = append(running, name)
		}
	}
	order := plan.StopOrder(w.pod, running)
	stopped := make(map[string]chan struct{}, len(running))
	for _, name := range running {
		stopped[name] = make(chan struct{})
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var errs []error
	for name, done := range stopped {
		id := ids[name]
		var deps []chan struct{}
		for _, dep := range order[name] {
			deps = append(deps, stopped[dep])
		}
		w.containerEvent(name, corev1.EventTypeNormal, "Killing", "Stopping container "+name)
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer close(done)
			if err := w.killContainer(ctx, name, id, grace, deps); err != nil {
				mu.Lock()
				errs = append(errs, err)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

func (w *worker) gracePeriod() time.Duration {
	if w.cfg.StopGrace != nil && w.obs.Terminating {
		if g := w.cfg.StopGrace(); g != nil {
			return time.Duration(*g) * time.Second
		}
	}
	return time.Duration(*w.pod.Spec.TerminationGracePeriodSeconds) * time.Second
}

// stopSignal parses an image's STOPSIGNAL ("SIGQUIT", "QUIT" or "3");
// anything else means SIGTERM.
func stopSignal(s string) syscall.Signal {
	if s == "" {
		return syscall.SIGTERM
	}
	if n, err := strconv.Atoi(s); err == nil && n > 0 && n < 65 {
		return syscall.Signal(n)
	}
	name := strings.ToUpper(s)
	if !strings.HasPrefix(name, "SIG") {
		name = "SIG" + name
	}
	if sig := unix.SignalNum(name); sig != 0 {
		return sig
	}
	return syscall.SIGTERM
}
