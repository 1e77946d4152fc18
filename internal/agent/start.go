package agent

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"time"

	corev1 "k8s.io/api/core/v1"

	"peapod/internal/agent/nodemetrics"
	"peapod/internal/agent/plan"
	"peapod/internal/agent/probe"
	"peapod/internal/crilog"
	"peapod/internal/image"
	"peapod/internal/runtime"
)

// start creates and starts a new instance of container s.Name. A failure
// is recorded as the container's waiting reason, as the kubelet does, and
// counted: the plan holds the next attempt back.
func (w *worker) start(ctx context.Context, s plan.Start) {
	c := findContainer(w.pod, s.Name)
	o := w.obs.Containers[s.Name]
	if o == nil {
		o = &plan.Container{}
		w.obs.Containers[s.Name] = o
	}
	kind := containerType(w.pod, s.Name)
	nodemetrics.StartedContainersTotal.WithLabelValues(kind).Inc()
	if w.tryStart(ctx, c, s, o) {
		o.StartFailures, o.LastStartFailure = 0, time.Time{}
		return
	}
	if o.Waiting != nil {
		nodemetrics.StartedContainersErrorsTotal.WithLabelValues(kind, o.Waiting.Reason).Inc()
	}
	o.StartFailures++
	o.LastStartFailure = w.cfg.Now()
}

// containerType is the kubelet's container_type metric label of a
// container of pod.
func containerType(pod *corev1.Pod, name string) string {
	for _, c := range pod.Spec.InitContainers {
		if c.Name == name {
			return "init_container"
		}
	}
	for _, c := range pod.Spec.EphemeralContainers {
		if c.Name == name {
			return "ephemeral_container"
		}
	}
	return "container"
}

// backOffEvent records the kubelet's BackOff event once per exited
// instance that waits in CrashLoopBackOff, and once per failed pull that
// waits in ImagePullBackOff, not on every sync.
func (w *worker) backOffEvent(name string, wait plan.Waiting) {
	o := w.obs.Containers[name]
	switch {
	case wait.Reason == "CrashLoopBackOff" && o.Current != nil && w.backedOff[name] != o.Current.ID:
		w.backedOff[name] = o.Current.ID
		w.containerEvent(name, corev1.EventTypeWarning, "BackOff",
			fmt.Sprintf("Back-off restarting failed container %s in pod %s_%s(%s)", name, w.pod.Name, w.pod.Namespace, w.pod.UID))
	case wait.Reason == "ImagePullBackOff" && w.backedOff[name] != fmt.Sprint("pull-", o.StartFailures):
		w.backedOff[name] = fmt.Sprint("pull-", o.StartFailures)
		w.containerEvent(name, corev1.EventTypeNormal, "BackOff", wait.Message)
	}
}

func (w *worker) tryStart(ctx context.Context, c *corev1.Container, s plan.Start, o *plan.Container) bool {
	img, layers, err := w.ensureImage(ctx, c)
	if err != nil {
		reason, event := "ErrImagePull", "Failed"
		if errors.As(err, new(neverPullError)) {
			reason, event = "ErrImageNeverPull", "ErrImageNeverPull"
		}
		o.Waiting = &plan.Waiting{Reason: reason, Message: err.Error()}
		w.containerEvent(c.Name, corev1.EventTypeWarning, event, err.Error())
		w.containerEvent(c.Name, corev1.EventTypeWarning, "Failed", "Error: "+reason)
		return false
	}

	if usesPodIP(c) && w.networkReady(ctx) != nil {
		return false // its environment holds the IP: the worker ends
	}
	attempt := 0
	if o.Current != nil {
		attempt = int(o.RestartCount) + 1
	}
	user, err := resolveUser(w.pod, c, img.Config.User, layers)
	termLog := ""
	if err == nil && c.TerminationMessagePath != "" {
		termLog = terminationLogFile(w.podDir(), c.Name, attempt)
		err = makeTerminationLog(termLog)
	}
	var spec runtime.ContainerSpec
	if err == nil {
		spec, err = containerSpec(containerInput{
			Pod: w.pod, Container: c, Sandbox: w.sandbox, Image: img.ID, Config: img.Config, Layers: layers,
			User: user, Volumes: w.volumes, PodFiles: w.files, Attempt: attempt, TerminationLog: termLog,
			LogPath: filepath.Join(w.logDir(), c.Name, fmt.Sprintf("%d.log", attempt)),
			Objects: w.cfg.Objects, NodeAllocatable: nodeAllocatable(w.cfg.PodsDir),
			PodIPs: w.podIPs, HostIPs: w.hostIPs, SeccompDir: w.cfg.SeccompDir,
		})
	}
	if err == nil {
		spec.Security.PIDNamespaceOf, err = w.targetPIDNamespace(ctx, c.Name)
	}
	if err != nil {
		o.Waiting = &plan.Waiting{Reason: "CreateContainerConfigError", Message: err.Error()}
		w.containerEvent(c.Name, corev1.EventTypeWarning, "Failed", "Error: "+err.Error())
		return false
	}
	id, err := w.cfg.Runtime.CreateContainer(ctx, spec)
	if err != nil {
		o.Waiting = &plan.Waiting{Reason: "CreateContainerError", Message: err.Error()}
		w.containerEvent(c.Name, corev1.EventTypeWarning, "Failed", "Error: "+err.Error())
		return false
	}
	w.containerEvent(c.Name, corev1.EventTypeNormal, "Created", "Created container "+c.Name)
	// Created while the network was attached, it starts once the pod has
	// its address (setUp).
	if w.networkReady(ctx) != nil {
		_ = w.cfg.Runtime.RemoveContainer(ctx, id)
		return false // the worker ends
	}
	if err := w.cfg.Runtime.StartContainer(ctx, id); err != nil {
		o.Waiting = &plan.Waiting{Reason: "RunContainerError", Message: err.Error()}
		w.containerEvent(c.Name, corev1.EventTypeWarning, "Failed", "Error: "+err.Error())
		_ = w.cfg.Runtime.RemoveContainer(ctx, id)
		return false
	}
	w.containerEvent(c.Name, corev1.EventTypeNormal, "Started", "Started container "+c.Name)
	w.signals[c.Name] = stopSignal(img.Config.StopSignal)
	if o.Current != nil {
		o.Previous = o.Current
		o.RestartCount++
		_ = w.cfg.Runtime.RemoveContainer(ctx, o.Previous.ID) // only its status is kept
	}
	o.Waiting = nil
	o.Backoff = s.Backoff
	o.Current = &runtime.ContainerStatus{ID: id, Name: c.Name, State: runtime.StateRunning, StartedAt: w.cfg.Now()}
	w.watch(ctx, c.Name, id, spec.LogPath)
	if c.Lifecycle != nil && c.Lifecycle.PostStart != nil {
		w.postStart(ctx, c, o)
	}
	return true
}

// postStart runs the container's postStart hook and waits for it, as the
// kubelet's startContainer: nothing else starts and the container is not
// reported Running before it returns. A failed hook kills the container
// (its preStop runs) and is recorded as its last failure; the plan
// restarts it by policy. A stop request interrupts the hook.
func (w *worker) postStart(ctx context.Context, c *corev1.Container, o *plan.Container) {
	id := o.Current.ID
	hctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		select {
		case <-w.stop:
			cancel()
		case <-hctx.Done():
		}
	}()
	began := time.Now()
	err := probe.Hook(hctx, w.target(c, id), c.Lifecycle.PostStart, w.exited[id])
	if l := w.lifecycle(); l != nil {
		l.Hook(w.pod, c.Name, "PostStart", time.Since(began), err)
	}
	if err == nil || hctx.Err() != nil {
		return
	}
	w.containerEvent(c.Name, corev1.EventTypeWarning, "FailedPostStartHook", err.Error())
	if kerr := w.killContainer(ctx, c.Name, id, w.gracePeriod(), nil); kerr != nil {
		w.event(corev1.EventTypeWarning, "FailedKillPod", kerr.Error())
	}
	w.observe(ctx)
	o.Waiting = &plan.Waiting{Reason: plan.PostStartHookError, Message: err.Error()}
}

// watch follows a started container's log and wakes the loop when it exits.
func (w *worker) watch(ctx context.Context, name, id, logPath string) {
	exited := make(chan struct{})
	w.exited[id] = exited
	w.waitWG.Add(1)
	go func() {
		defer w.waitWG.Done()
		defer close(exited)
		if _, err := w.cfg.Runtime.WaitContainer(ctx, id); err != nil && ctx.Err() != nil {
			return
		}
		select {
		case w.exits <- id:
		case <-ctx.Done():
		}
	}()
	if w.cfg.Logs == nil {
		return
	}
	pod := w.pod.DeepCopy()
	w.followWG.Add(1)
	go func() {
		defer w.followWG.Done()
		_ = crilog.Follow(ctx, logPath, exited, func(e crilog.Entry) { w.cfg.Logs(pod, name, e) })
	}()
}

// neverPullError is the kubelet's ErrImageNeverPull, with its message: the
// image is not stored and may not be pulled.
type neverPullError struct{ image string }

func (e neverPullError) Error() string {
	return fmt.Sprintf("Container image %q is not present with pull policy of Never", e.image)
}

// ensureImage finds or pulls the container's image by the node's pull mode
// and the container's imagePullPolicy, and unpacks its layers.
func (w *worker) ensureImage(ctx context.Context, c *corev1.Container) (*image.Image, []string, error) {
	policy := c.ImagePullPolicy
	switch w.cfg.Pull {
	case PullNever:
		policy = corev1.PullNever
	case PullMissing:
		policy = corev1.PullIfNotPresent
	}
	var img *image.Image
	var err error
	if policy != corev1.PullAlways {
		img, err = w.cfg.Images.Get(ctx, c.Image)
		if err != nil && !errors.Is(err, image.ErrNotFound) {
			return nil, nil, err
		}
	}
	if img == nil {
		if policy == corev1.PullNever {
			return nil, nil, neverPullError{c.Image}
		}
		w.containerEvent(c.Name, corev1.EventTypeNormal, "Pulling", fmt.Sprintf("Pulling image %q", c.Image))
		began := w.cfg.Now()
		img, err = w.cfg.Images.Pull(ctx, c.Image, image.PullOptions{})
		if err != nil {
			return nil, nil, fmt.Errorf("failed to pull image %q: %w", c.Image, err)
		}
		w.containerEvent(c.Name, corev1.EventTypeNormal, "Pulled", fmt.Sprintf("Successfully pulled image %q in %s", c.Image, w.cfg.Now().Sub(began).Round(time.Millisecond)))
	} else {
		w.containerEvent(c.Name, corev1.EventTypeNormal, "Pulled", fmt.Sprintf("Container image %q already present on machine", c.Image))
	}
	layers, err := w.cfg.Images.Layers(ctx, img)
	if err != nil {
		return nil, nil, fmt.Errorf("unpack image %q: %w", c.Image, err)
	}
	return img, layers, nil
}

// targetPIDNamespace is the PID namespace an ephemeral container joins:
// its target's (kubectl debug --target), "" for none. The target must be
// running.
func (w *worker) targetPIDNamespace(ctx context.Context, name string) (string, error) {
	var target string
	for i := range w.pod.Spec.EphemeralContainers {
		if ec := &w.pod.Spec.EphemeralContainers[i]; ec.Name == name {
			target = ec.TargetContainerName
		}
	}
	if target == "" {
		return "", nil
	}
	o := w.obs.Containers[target]
	if o == nil || o.Current == nil || o.Current.State != runtime.StateRunning {
		return "", fmt.Errorf("target container %q is not running", target)
	}
	st, err := w.cfg.Runtime.ContainerStatus(ctx, o.Current.ID)
	if err != nil {
		return "", fmt.Errorf("target container %q: %w", target, err)
	}
	if st.State != runtime.StateRunning || st.Pid <= 0 {
		return "", fmt.Errorf("target container %q is not running", target)
	}
	return fmt.Sprintf("/proc/%d/ns/pid", st.Pid), nil
}

// usesPodIP says whether the container's environment takes the pod's IP
// from the downward API, so it cannot be created before the IP is known.
func usesPodIP(c *corev1.Container) bool {
	for _, e := range c.Env {
		if f := e.ValueFrom; f != nil && f.FieldRef != nil && (f.FieldRef.FieldPath == "status.podIP" || f.FieldRef.FieldPath == "status.podIPs") {
			return true
		}
	}
	return false
}
