package agent

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"

	"peapod/internal/agent/logrotation"
	"peapod/internal/runtime"
)

// The node's housekeeping, as the kubelet's: what pods that are gone left
// (sandboxes, logs) is collected, and container logs are rotated. A pod's
// logs live while the pod exists in the API, as the kubelet keeps them: a
// finished pod's `kubectl logs` still works, a deleted pod leaves nothing
// behind under <root>/logs.

// removePodLogs removes the pod's log directory and its timeline.
func (n *Node) removePodLogs(pod *corev1.Pod) {
	dir := podLogDir(n.cfg.Worker.LogsDir, pod)
	if err := os.RemoveAll(dir); err != nil {
		n.log.Warn("pod logs not removed", "pod", klogName(pod), "dir", dir, "err", err)
	}
	if n.cfg.Timeline != nil {
		n.cfg.Timeline.Forget(string(pod.UID))
	}
}

// collectLogs removes the log directories (<namespace>_<name>_<uid>) of
// pods that are no longer in the API: deleted while the agent was down.
func (n *Node) collectLogs(known map[types.UID]bool) {
	dir := n.cfg.Worker.LogsDir
	entries, err := os.ReadDir(dir)
	if err != nil {
		if !os.IsNotExist(err) {
			n.log.Warn("reading the logs directory failed", "dir", dir, "err", err)
		}
		return
	}
	for _, e := range entries {
		i := strings.LastIndexByte(e.Name(), '_')
		if !e.IsDir() || i < 0 || known[types.UID(e.Name()[i+1:])] {
			continue
		}
		if err := os.RemoveAll(filepath.Join(dir, e.Name())); err != nil {
			n.log.Warn("logs of a deleted pod not removed", "dir", e.Name(), "err", err)
		}
	}
}

// rotateLogs rotates the logs of running containers that reached the
// maximum size, as the kubelet's container log manager does every 10 s.
func (n *Node) rotateLogs(ctx context.Context) {
	rt := n.cfg.Worker.Runtime
	reopener, ok := rt.(runtime.LogReopener)
	if !ok {
		return
	}
	containers, err := rt.ListContainers(ctx, "")
	if err != nil {
		n.log.Warn("listing containers for log rotation failed", "err", err)
		return
	}
	for _, c := range containers {
		if c.State != runtime.StateRunning || c.LogPath == "" {
			continue
		}
		reopen := func(ctx context.Context) error { return reopener.ReopenContainerLog(ctx, c.ID) }
		err := logrotation.Rotate(ctx, c.LogPath, n.cfg.ContainerLogMaxSize, n.cfg.ContainerLogMaxFiles, time.Now(), reopen)
		if err != nil && !errors.Is(err, os.ErrNotExist) && ctx.Err() == nil {
			n.log.Warn("log rotation failed", "container", c.ID, "log", c.LogPath, "err", err)
		}
	}
}

// collect is the garbage collection at start: sandboxes (named by pod UID)
// of pods the API no longer binds here, or that already ended, are torn
// down, and the logs of pods no longer in the API removed. Pods that still
// run are adopted by their workers instead.
func (n *Node) collect(ctx context.Context) {
	rt := n.cfg.Worker.Runtime
	sandboxes, err := rt.ListSandboxes(ctx)
	if err != nil {
		n.log.Warn("listing sandboxes failed", "err", err)
		return
	}
	pods, err := n.pods.List(labels.Everything())
	if err != nil {
		n.log.Warn("listing pods failed", "err", err)
		return
	}
	live := map[string]bool{}
	known := map[types.UID]bool{}
	for _, p := range pods {
		known[p.UID] = true
		if p.Spec.NodeName == n.cfg.Name && !terminal(p) {
			live[string(p.UID)] = true
		}
	}
	n.mu.Lock()
	for uid := range n.workers {
		live[string(uid)] = true
		known[uid] = true
	}
	n.mu.Unlock()
	n.collectLogs(known)
	if n.cfg.Timeline != nil {
		n.cfg.Timeline.Keep(func(uid string) bool { return known[types.UID(uid)] })
	}
	for _, sb := range sandboxes {
		if live[sb.ID] {
			continue
		}
		n.log.Info("removing the sandbox of a pod that no longer runs here", "sandbox", sb.ID, "pod", sb.Namespace+"/"+sb.Name)
		if err := TearDown(ctx, n.cfg.Worker, sb); err != nil && !errors.Is(err, context.Canceled) {
			n.log.Warn("sandbox not removed", "sandbox", sb.ID, "err", err)
		}
	}
}
