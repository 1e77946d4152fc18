// Package agent is the node agent: it runs each pod with a level-triggered
// worker that observes the pod's containers, asks plan.Compute what to do,
// and carries the plan out against a runtime. `peapod up` feeds it pods from
// files; under `peapod serve`, RunNode feeds it from the API.
package agent

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"peapod/internal/agent/plan"
	"peapod/internal/agent/probe"
	"peapod/internal/crilog"
	"peapod/internal/image"
	"peapod/internal/network"
	"peapod/internal/runtime"
	"peapod/internal/volume"
)

// Images is what the agent needs of the image store.
type Images interface {
	Get(ctx context.Context, ref string) (*image.Image, error)
	Pull(ctx context.Context, ref string, opts image.PullOptions) (*image.Image, error)
	Layers(ctx context.Context, img *image.Image) ([]string, error)
}

// PullMode is the node-level image pull switch.
type PullMode string

const (
	PullNever   PullMode = "never"   // only locally stored images
	PullMissing PullMode = "missing" // pull what is not stored
	PullPolicy  PullMode = "policy"  // follow each container's imagePullPolicy
)

// Reporter receives what a worker observes. Calls come from the worker's
// goroutines and must not block for long.
type Reporter interface {
	// Status is called with a copy of the pod each time its status changes.
	Status(pod *corev1.Pod)
	// Log is called for every line a container writes.
	Log(pod *corev1.Pod, container string, e crilog.Entry)
	// Event is called for what the kubelet would record as an event
	// (type Normal or Warning, a CamelCase reason, a message); container
	// names the container it is about, "" for the pod itself.
	Event(pod *corev1.Pod, container, eventType, reason, message string)
}

// Objects gives the agent the API objects pods refer to: from the files
// given to `peapod up`, or from informers under `peapod serve`. A missing
// object is an apierrors NotFound error.
type Objects interface {
	ConfigMap(namespace, name string) (*corev1.ConfigMap, error)
	Secret(namespace, name string) (*corev1.Secret, error)
	// Services lists a namespace's Services, for the service links.
	ServicesIn(namespace string) ([]*corev1.Service, error)
}

// Config wires a worker to the node's mechanisms.
type Config struct {
	Objects  Objects
	Runtime  runtime.Runtime
	Images   Images
	PodsDir  string // per-pod state: volumes, managed files
	LogsDir  string // per-pod logs, kept after the pod is gone
	Pull     PullMode
	Reporter Reporter
	// Now is the clock; tests may replace it. Defaults to time.Now.
	Now func() time.Time
	// Shutdown, when closed, makes the worker return at once and leave its
	// containers running, for a restarted agent to adopt (serve's stop).
	Shutdown <-chan struct{}
	// StopGrace, if set and not nil when the pod is killed, replaces its
	// terminationGracePeriodSeconds (the API's deletionGracePeriodSeconds).
	StopGrace func() *int64
	// Refresh, when it delivers, makes the worker rewrite its ConfigMap,
	// Secret and projected volumes from Objects (the kubelet's volume
	// remount on an object change and on its periodic sync).
	Refresh <-chan struct{}
	// Ephemeral delivers the pod's ephemeral containers when they change
	// (kubectl debug adds them to the running pod).
	Ephemeral <-chan []corev1.EphemeralContainer
	// Network, if set, gives each pod without hostNetwork its address
	// (network.CNI); without it pods have only loopback and no IPs.
	Network Network
	// ClusterDNS are the cluster DNS server addresses pods with dnsPolicy
	// ClusterFirst get as nameservers; none: the host's resolvers.
	ClusterDNS []string
}

// Network is what the agent needs of the pod network.
type Network interface {
	Attach(ctx context.Context, sandboxID, netns string, ports []network.PortMapping) ([]net.IP, error)
	Detach(ctx context.Context, sandboxID, netns string) error
	// HostIP is the node's address on the pod network: status.hostIP.
	HostIP() net.IP
}

// MinGracePeriod is the kubelet's minimum grace per container on a kill.
const MinGracePeriod = 2 * time.Second

// worker runs one pod. Only its Run goroutine touches its fields, except
// exits, which the per-container waiters feed.
type worker struct {
	cfg      Config
	pod      *corev1.Pod
	sandbox  *runtime.Sandbox
	volumes  map[string]string
	files    podFiles
	obs      plan.Observed
	signals  map[string]syscall.Signal // stop signal by container name
	failures map[string]int            // consecutive start failures by container name
	retryAt  map[string]time.Time      // no new start attempt before this
	// backedOff is the instance (by container name) whose BackOff event
	// is recorded.
	backedOff map[string]string
	exits     chan string
	followWG  sync.WaitGroup
	waitWG    sync.WaitGroup
	// probes runs the probes of the running containers.
	probes *probe.Manager
	// exited closes when a container instance (by ID) exits.
	exited map[string]chan struct{}
	// stop is the pod's stop request, which interrupts a postStart hook.
	stop <-chan struct{}
	// refresh is set when Config.Refresh delivered.
	refresh bool
	// podIPs and hostIPs are the pod's and the node's addresses, primary
	// first; empty without a Network.
	podIPs, hostIPs []string
}

// Run runs pod until it completes or stop is closed, then terminates it the
// kubelet's way and removes everything but its logs. It returns the pod with
// its final status. ctx cancels everything at once (no graceful stop).
func Run(ctx context.Context, cfg Config, pod *corev1.Pod, stop <-chan struct{}) (*corev1.Pod, error) {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	w := &worker{
		cfg:       cfg,
		pod:       pod.DeepCopy(),
		obs:       plan.Observed{Containers: map[string]*plan.Container{}},
		signals:   map[string]syscall.Signal{},
		failures:  map[string]int{},
		retryAt:   map[string]time.Time{},
		backedOff: map[string]string{},
		exits:     make(chan string, 16),
		exited:    map[string]chan struct{}{},
		stop:      stop,
	}
	evPod := pod.DeepCopy() // probe events come from other goroutines
	w.probes = probe.NewManager(func(container, eventType, reason, message string) {
		if cfg.Reporter != nil {
			cfg.Reporter.Event(evPod, container, eventType, reason, message)
		}
	})
	// An adopted pod keeps its start time.
	w.pod.Status = corev1.PodStatus{Phase: corev1.PodPending, StartTime: pod.Status.StartTime}
	ctx, detached := w.detachOn(ctx)
	err := w.run(ctx, stop)
	if detached() {
		w.leave()
		return w.pod, nil
	}
	if cerr := w.cleanup(); cerr != nil {
		err = errors.Join(err, cerr)
	}
	return w.pod, err
}

func (w *worker) podDir() string { return filepath.Join(w.cfg.PodsDir, string(w.pod.UID)) }

func (w *worker) logDir() string {
	return filepath.Join(w.cfg.LogsDir, fmt.Sprintf("%s_%s_%s", w.pod.Namespace, w.pod.Name, w.pod.UID))
}

// run is the sync loop: set up the sandbox, then plan and execute until the
// plan kills the pod.
func (w *worker) run(ctx context.Context, stop <-chan struct{}) error {
	if err := w.setUp(ctx); err != nil {
		return err
	}
	if err := w.adopt(ctx); err != nil {
		return err
	}
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	mountFailures := 0
	for {
		var wake time.Time
		if w.volumes == nil {
			// As the kubelet: no container starts before every volume is
			// set up; a failure (a missing ConfigMap) is retried, and the
			// pod waits in ContainerCreating.
			if err := w.mountVolumes(); err != nil {
				w.event(corev1.EventTypeWarning, "FailedMount", err.Error())
				mountFailures++
				wake = w.cfg.Now().Add(plan.BackoffAfter(mountFailures))
			}
		}
		if w.refresh && w.volumes != nil {
			w.refresh = false
			if err := volume.Update(w.podDir(), w.pod, volume.Source{Objects: w.cfg.Objects, Allocatable: nodeAllocatable(w.cfg.PodsDir)}); err != nil {
				w.event(corev1.EventTypeWarning, "FailedMount", "MountVolume.SetUp failed: "+err.Error())
			}
		}
		if w.volumes == nil && !w.obs.Terminating {
			w.publish()
			if !w.sleep(ctx, timer, wake, &stop) {
				return ctx.Err()
			}
			continue
		}
		w.observe(ctx)
		w.publish() // exits are reported before the plan reacts to them
		now := w.cfg.Now()
		p := plan.Compute(w.pod, &w.obs, now)
		for _, k := range p.Kill {
			w.containerEvent(k.Name, corev1.EventTypeNormal, "Killing", k.Reason)
			grace := k.Grace
			if grace == 0 {
				grace = w.gracePeriod()
			}
			if err := w.killContainer(ctx, k.Name, k.ID, grace, nil); err != nil {
				return err
			}
			w.observe(ctx) // a restart in this plan keeps the exit as lastState
		}
		if p.KillPod {
			err := w.killPod(ctx)
			w.observe(ctx)
			w.publish()
			return err
		}
		for name, wait := range p.Waiting {
			w.obs.Containers[name].Waiting = &wait
			w.backOffEvent(name, wait)
		}
		wake = p.WakeAt
		started := false
		for _, s := range p.Start {
			if w.start(ctx, s) {
				started = true
			}
			if at := w.retryAt[s.Name]; !at.IsZero() && (wake.IsZero() || at.Before(wake)) {
				wake = at
			}
		}
		w.publish()
		if started {
			continue // a started init container or sidecar may let the next one go
		}

		if !w.sleep(ctx, timer, wake, &stop) {
			return ctx.Err()
		}
	}
}

// sleep waits for something to re-plan on: a container exit, the wake
// time (if any), or the stop request, which marks the pod terminating. It
// returns false if ctx ended.
func (w *worker) sleep(ctx context.Context, timer *time.Timer, wake time.Time, stop *<-chan struct{}) bool {
	if !timer.Stop() {
		select {
		case <-timer.C:
		default:
		}
	}
	if !wake.IsZero() {
		timer.Reset(max(wake.Sub(w.cfg.Now()), 0))
	}
	select {
	case <-ctx.Done():
		return false
	case <-*stop:
		w.obs.Terminating = true
		*stop = nil
		w.probes.StopLiveness() // readiness goes on while the pod stops
	case <-w.exits:
	case <-w.probes.Updates():
	case <-w.cfg.Refresh:
		w.refresh = true
	case eph := <-w.cfg.Ephemeral:
		w.pod.Spec.EphemeralContainers = eph
	case <-timer.C:
	}
	return true
}

// event reports something that happened to the pod, as a kubelet event.
func (w *worker) event(eventType, reason, message string) {
	w.containerEvent("", eventType, reason, message)
}

// containerEvent reports something that happened to one container.
func (w *worker) containerEvent(container, eventType, reason, message string) {
	if w.cfg.Reporter != nil {
		w.cfg.Reporter.Event(w.pod.DeepCopy(), container, eventType, reason, message)
	}
}

// setUp creates the sandbox, the volumes and the managed files.
func (w *worker) setUp(ctx context.Context) error {
	spec := w.pod.Spec
	hostname, domain := podHostname(w.pod)
	kernelName, err := kernelHostname(w.pod, hostname, domain)
	if err != nil {
		return err
	}
	sb, err := w.cfg.Runtime.CreateSandbox(ctx, runtime.SandboxSpec{
		ID: string(w.pod.UID), Name: w.pod.Name, Namespace: w.pod.Namespace, UID: string(w.pod.UID), Hostname: kernelName,
		SharePID:    spec.ShareProcessNamespace != nil && *spec.ShareProcessNamespace,
		HostNetwork: spec.HostNetwork, HostIPC: spec.HostIPC, HostPID: spec.HostPID,
	})
	if err != nil {
		return fmt.Errorf("pod %s/%s: create sandbox: %w", w.pod.Namespace, w.pod.Name, err)
	}
	w.sandbox = sb
	if err := os.MkdirAll(w.podDir(), 0o750); err != nil {
		return err
	}
	if n := w.cfg.Network; n != nil {
		// With hostNetwork the pod's IP is the node's, as the kubelet has it.
		w.hostIPs = []string{n.HostIP().String()}
		w.podIPs = w.hostIPs
		if !sb.HostNetwork {
			ips, err := n.Attach(ctx, sb.ID, sb.NetNS, network.PortMappings(w.pod))
			if err != nil {
				return fmt.Errorf("pod %s/%s: %w", w.pod.Namespace, w.pod.Name, err)
			}
			w.podIPs = nil
			for _, ip := range ips {
				w.podIPs = append(w.podIPs, ip.String())
			}
		}
	}
	w.files, err = writePodFiles(w.podDir(), w.pod, sb.Hostname, w.podIPs, w.cfg.ClusterDNS)
	return err
}

// mountVolumes sets up the pod's volumes; w.volumes stays nil on failure.
func (w *worker) mountVolumes() error {
	// A nil Objects converts to a nil volume.Objects, which finds nothing.
	vols, err := volume.SetUp(w.podDir(), w.pod, volume.Source{Objects: w.cfg.Objects, Allocatable: nodeAllocatable(w.cfg.PodsDir)})
	if err != nil {
		return fmt.Errorf("MountVolume.SetUp failed: %w", err)
	}
	w.volumes = vols
	return nil
}

// observe refreshes the state of every current container from the runtime,
// and its probe results: probes run while a container does.
func (w *worker) observe(ctx context.Context) {
	for name, o := range w.obs.Containers {
		if o.Current == nil || o.Current.State == runtime.StateExited {
			continue
		}
		st, err := w.cfg.Runtime.ContainerStatus(ctx, o.Current.ID)
		if err != nil {
			st = &runtime.ContainerStatus{ID: o.Current.ID, Name: o.Current.Name, State: runtime.StateUnknown, Message: err.Error()}
		}
		o.Current = st
		if st.State != runtime.StateRunning {
			w.probes.Remove(st.ID)
			o.Probes = plan.Probes{}
			continue
		}
		if c := findContainer(w.pod, name); c != nil && !w.obs.Terminating {
			// Adds once per instance, also for adopted ones.
			w.probes.Add(ctx, c, w.target(c, st.ID), st.StartedAt)
		}
		o.Probes = w.probes.Results(st.ID)
	}
}

// target is what probes and hooks of container c's instance id act on.
func (w *worker) target(c *corev1.Container, id string) probe.Target {
	return probe.Target{
		Runtime: w.cfg.Runtime, ContainerID: id, NetNS: w.sandbox.NetNS, Ports: c.Ports,
		Container: c.Name, Pod: fmt.Sprintf("%s_%s(%s)", w.pod.Name, w.pod.Namespace, w.pod.UID),
	}
}

// publish recomputes the pod status and reports it if it changed.
func (w *worker) publish() {
	st := plan.Status(w.pod, &w.obs, w.sandbox != nil)
	if len(w.podIPs) > 0 {
		st.PodIP, st.HostIP = w.podIPs[0], w.hostIPs[0]
		for _, ip := range w.podIPs {
			st.PodIPs = append(st.PodIPs, corev1.PodIP{IP: ip})
		}
		st.HostIPs = []corev1.HostIP{{IP: w.hostIPs[0]}}
	}
	now := metav1.NewTime(w.cfg.Now())
	for i := range st.Conditions {
		c := &st.Conditions[i]
		c.LastTransitionTime = now
		for _, old := range w.pod.Status.Conditions {
			if old.Type == c.Type && old.Status == c.Status {
				c.LastTransitionTime = old.LastTransitionTime
			}
		}
	}
	st.StartTime = w.pod.Status.StartTime
	if st.StartTime == nil {
		st.StartTime = &now
	}
	if equality.Semantic.DeepEqual(st, w.pod.Status) {
		return
	}
	w.pod.Status = st
	if w.cfg.Reporter != nil {
		w.cfg.Reporter.Status(w.pod.DeepCopy())
	}
}

// start creates and starts a new instance of container s.Name and reports
// whether it did. A failure is recorded as the container's waiting reason,
// as the kubelet does, and the next attempt waits 10 s, doubling to 300 s.
func (w *worker) start(ctx context.Context, s plan.Start) bool {
	c := findContainer(w.pod, s.Name)
	o := w.obs.Containers[s.Name]
	if o == nil {
		o = &plan.Container{}
		w.obs.Containers[s.Name] = o
	}
	if at := w.retryAt[s.Name]; w.cfg.Now().Before(at) {
		if o.Waiting != nil && o.Waiting.Reason == "ErrImagePull" {
			o.Waiting = &plan.Waiting{Reason: "ImagePullBackOff", Message: fmt.Sprintf("Back-off pulling image %q", c.Image)}
			w.containerEvent(c.Name, corev1.EventTypeNormal, "BackOff", o.Waiting.Message)
		}
		return false
	}
	if w.tryStart(ctx, c, s, o) {
		delete(w.failures, s.Name)
		delete(w.retryAt, s.Name)
		return true
	}
	w.failures[s.Name]++
	w.retryAt[s.Name] = w.cfg.Now().Add(plan.BackoffAfter(w.failures[s.Name]))
	return false
}

// backOffEvent records the kubelet's BackOff event once per exited
// instance that waits in CrashLoopBackOff, not on every sync.
func (w *worker) backOffEvent(name string, wait plan.Waiting) {
	o := w.obs.Containers[name]
	if wait.Reason != "CrashLoopBackOff" || o.Current == nil || w.backedOff[name] == o.Current.ID {
		return
	}
	w.backedOff[name] = o.Current.ID
	w.containerEvent(name, corev1.EventTypeWarning, "BackOff",
		fmt.Sprintf("Back-off restarting failed container %s in pod %s_%s(%s)", name, w.pod.Name, w.pod.Namespace, w.pod.UID))
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

	attempt := 0
	if o.Current != nil {
		attempt = int(o.RestartCount) + 1
	}
	user, err := resolveUser(w.pod, c, img.Config.User, layers)
	var spec runtime.ContainerSpec
	if err == nil {
		spec, err = containerSpec(containerInput{
			Pod: w.pod, Container: c, Sandbox: w.sandbox, Image: img.ID, Config: img.Config, Layers: layers,
			User: user, Volumes: w.volumes, PodFiles: w.files, Attempt: attempt,
			LogPath: filepath.Join(w.logDir(), c.Name, fmt.Sprintf("%d.log", attempt)),
			Objects: w.cfg.Objects, NodeAllocatable: nodeAllocatable(w.cfg.PodsDir),
			PodIPs: w.podIPs, HostIPs: w.hostIPs,
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
// (its preStop runs), which then restarts by policy with the reason
// PostStartHookError. A stop request interrupts the hook.
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
	err := probe.Hook(hctx, w.target(c, id), c.Lifecycle.PostStart, w.exited[id])
	if err == nil || hctx.Err() != nil {
		return
	}
	w.containerEvent(c.Name, corev1.EventTypeWarning, "FailedPostStartHook", err.Error())
	if kerr := w.killContainer(ctx, c.Name, id, w.gracePeriod(), nil); kerr != nil {
		w.event(corev1.EventTypeWarning, "FailedKillPod", kerr.Error())
	}
	w.observe(ctx)
	if plan.IsSidecar(c) || w.pod.Spec.RestartPolicy != corev1.RestartPolicyNever {
		o.Waiting = &plan.Waiting{Reason: "PostStartHookError", Message: err.Error()}
	}
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
	if w.cfg.Reporter == nil {
		return
	}
	pod := w.pod.DeepCopy()
	w.followWG.Add(1)
	go func() {
		defer w.followWG.Done()
		_ = crilog.Follow(ctx, logPath, exited, func(e crilog.Entry) { w.cfg.Reporter.Log(pod, name, e) })
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
	err := w.cfg.Runtime.StopContainer(ctx, runtime.StopRequest{ID: id, Signal: w.signals[name], Timeout: timeout})
	if err != nil && !errors.Is(err, runtime.ErrNotFound) {
		return fmt.Errorf("pod %s/%s: stop container %s: %w", w.pod.Namespace, w.pod.Name, name, err)
	}
	return nil
}

// killPod stops every running container at once, as the kubelet: preStop
// hooks all start now, but a sidecar's stop signal waits until the regular
// containers and the sidecars after it have stopped (reverse spec order),
// within the grace period.
func (w *worker) killPod(ctx context.Context) error {
	grace := w.gracePeriod()
	running := func(name string) *runtime.ContainerStatus {
		if o := w.obs.Containers[name]; o != nil && o.Current != nil && o.Current.State != runtime.StateExited {
			return o.Current
		}
		return nil
	}
	stopped := map[string]chan struct{}{}
	for name := range w.obs.Containers {
		if running(name) != nil {
			stopped[name] = make(chan struct{})
		}
	}
	// after lists what a container waits for before its stop signal.
	after := func(name string) []chan struct{} {
		c := findContainer(w.pod, name)
		if c == nil || !plan.IsSidecar(c) {
			return nil
		}
		var chans []chan struct{}
		for i := range w.pod.Spec.Containers {
			if ch := stopped[w.pod.Spec.Containers[i].Name]; ch != nil {
				chans = append(chans, ch)
			}
		}
		later := false
		for i := range w.pod.Spec.InitContainers {
			ic := &w.pod.Spec.InitContainers[i]
			if ch := stopped[ic.Name]; later && ch != nil && plan.IsSidecar(ic) {
				chans = append(chans, ch)
			}
			later = later || ic.Name == name
		}
		return chans
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var errs []error
	for name, done := range stopped {
		id := running(name).ID
		deps := after(name)
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

// cleanup removes the pod's containers, network attachment, sandbox and
// volumes (TearDown, as for a pod collected by the node); logs stay.
func (w *worker) cleanup() error {
	w.probes.Close()
	w.waitWG.Wait()
	w.followWG.Wait()
	if w.sandbox == nil {
		return removePodDir(w.podDir())
	}
	if err := TearDown(context.Background(), w.cfg, w.sandbox); err != nil {
		return fmt.Errorf("pod %s/%s: %w", w.pod.Namespace, w.pod.Name, err)
	}
	return nil
}

// findContainer finds a container of the pod by name; an ephemeral one
// comes back as a copy of its common fields.
func findContainer(pod *corev1.Pod, name string) *corev1.Container {
	for _, list := range [][]corev1.Container{pod.Spec.InitContainers, pod.Spec.Containers} {
		for i := range list {
			if list[i].Name == name {
				return &list[i]
			}
		}
	}
	for i := range pod.Spec.EphemeralContainers {
		if ec := &pod.Spec.EphemeralContainers[i]; ec.Name == name {
			c := corev1.Container(ec.EphemeralContainerCommon)
			return &c
		}
	}
	return nil
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
