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
	"path/filepath"
	"sync"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"peapod/internal/agent/nodemetrics"
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
	// Event is called for what the kubelet would record as an event
	// (type Normal or Warning, a CamelCase reason, a message); container
	// names the container it is about, "" for the pod itself.
	Event(pod *corev1.Pod, container, eventType, reason, message string)
}

// Lifecycle is what a Reporter may also take that the kubelet records no
// event of (the timeline draws it): a hook's run and the stop signal.
type Lifecycle interface {
	// Hook is a postStart or preStop hook's run: how long it took, and
	// its error.
	Hook(pod *corev1.Pod, container, hook string, took time.Duration, err error)
	// Signal is the stop signal sent to a container, SIGKILL after grace.
	Signal(pod *corev1.Pod, container string, sig syscall.Signal, grace time.Duration)
}

// lifecycle is the Reporter's Lifecycle, nil if it has none.
func (w *worker) lifecycle() Lifecycle {
	l, _ := w.cfg.Reporter.(Lifecycle)
	return l
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
	Objects Objects
	// Tokens issues service-account tokens for projected volumes (nil:
	// none, as under up).
	Tokens  volume.Tokens
	Runtime runtime.Runtime
	Images  Images
	PodsDir string // per-pod state: volumes, managed files
	LogsDir string // per-pod logs, kept while the pod exists
	// SeccompDir holds the Localhost seccomp profiles, as the kubelet's
	// <root-dir>/seccomp.
	SeccompDir string
	Pull       PullMode
	Reporter   Reporter
	// Logs, if set, is called for every line a container writes (up
	// prints them). Without it no one follows the logs: the API reads
	// them from the files.
	Logs func(pod *corev1.Pod, container string, e crilog.Entry)
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
	// Updates delivers the API's newer copy of the pod when what may
	// change on a running pod changed: labels and annotations (the
	// downward API volumes are rewritten), activeDeadlineSeconds,
	// ephemeral containers (kubectl debug adds them).
	Updates <-chan *corev1.Pod
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
	cfg     Config
	pod     *corev1.Pod
	sandbox *runtime.Sandbox
	volumes map[string]string
	files   podFiles
	obs     plan.Observed
	signals map[string]syscall.Signal // stop signal by container name
	// backedOff is the instance, or the pull failure, (by container name)
	// whose BackOff event is recorded.
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
	// attached delivers the network attachment setUp started, once;
	// nil when there is none in flight (networkReady). attachErr is why
	// it failed, if it did.
	attached  <-chan attachment
	attachErr error
	// seen is when the worker took the pod, for the pod start latency;
	// zero once observed, or for an adopted pod (it started long ago).
	seen time.Time
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
		backedOff: map[string]string{},
		exits:     make(chan string, 16),
		exited:    map[string]chan struct{}{},
		stop:      stop,
	}
	if pod.Status.StartTime == nil {
		w.seen = time.Now()
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
	nodemetrics.ForgetPod(pod.Namespace, pod.Name, string(pod.UID))
	return w.pod, err
}

func (w *worker) podDir() string { return filepath.Join(w.cfg.PodsDir, string(w.pod.UID)) }

func (w *worker) logDir() string {
	return filepath.Join(w.cfg.LogsDir, fmt.Sprintf("%s_%s_%s", w.pod.Namespace, w.pod.Name, w.pod.UID))
}

// run is the sync loop: set up the sandbox, then plan and execute until the
// plan kills the pod.
func (w *worker) run(ctx context.Context, stop <-chan struct{}) error {
	if f := plan.Admit(w.pod); f != nil {
		// Refused at admission: nothing of the pod runs, it fails.
		w.obs.Failed = f
		w.event(corev1.EventTypeWarning, f.Reason, f.Message)
		w.publish()
		return nil
	}
	if err := w.setUp(ctx); err != nil {
		nodemetrics.StartedPodsErrorsTotal.Inc()
		return err
	}
	nodemetrics.StartedPodsTotal.Inc()
	if err := w.adopt(ctx); err != nil {
		return err
	}
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	mountFailures, lastMountFailure := 0, time.Time{}
	// The kubelet's pod worker duration: one sync, by its kind.
	op := "create"
	for synced := time.Now(); ; op, synced = "sync", time.Now() {
		var wake time.Time
		if w.volumes == nil && !w.cfg.Now().Before(plan.MountRetryAt(mountFailures, lastMountFailure)) {
			// As the kubelet: no container starts before every volume is
			// set up; a failure (a missing ConfigMap) is retried as the
			// plan backs it off, and the pod waits in ContainerCreating.
			if err := w.mountVolumes(); err != nil {
				w.event(corev1.EventTypeWarning, "FailedMount", err.Error())
				mountFailures, lastMountFailure = mountFailures+1, w.cfg.Now()
			}
		}
		if w.volumes == nil {
			wake = plan.MountRetryAt(mountFailures, lastMountFailure)
		}
		if w.refresh && w.volumes != nil {
			w.refresh = false
			if err := volume.Update(w.podDir(), w.pod, w.volumeSource()); err != nil {
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
		if p.Fail != nil {
			w.obs.Failed = p.Fail
			w.event(corev1.EventTypeWarning, p.Fail.Reason, p.Fail.Message)
		}
		if p.KillPod {
			err := w.killPod(ctx)
			w.observe(ctx)
			w.publish()
			nodemetrics.PodWorkerDuration.WithLabelValues("kill").Observe(time.Since(synced).Seconds())
			return err
		}
		for name, wait := range p.Waiting {
			w.obs.Containers[name].Waiting = &wait
			w.backOffEvent(name, wait)
		}
		wake = p.WakeAt
		for _, s := range p.Start {
			w.start(ctx, s)
		}
		// Taken here when no start took it: a failed attachment ends the
		// worker (the node retries the pod), a good one gives the status
		// its IP.
		if err := w.networkReady(ctx); err != nil {
			return err
		}
		w.publish()
		if len(p.Start) > 0 {
			// Planned again at once: a started init container or sidecar
			// may let the next one go, a failure is backed off. A stop, an
			// exit or a probe result is still taken first.
			wake = w.cfg.Now()
		}
		nodemetrics.PodWorkerDuration.WithLabelValues(op).Observe(time.Since(synced).Seconds())
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
	case pod := <-w.cfg.Updates:
		w.pod.Labels, w.pod.Annotations = pod.Labels, pod.Annotations
		w.pod.Spec.ActiveDeadlineSeconds = pod.Spec.ActiveDeadlineSeconds
		w.pod.Spec.EphemeralContainers = pod.Spec.EphemeralContainers
		w.refresh = true // downward API volumes show labels and annotations
	case <-timer.C:
	}
	return true
}

// volumeSource is what the pod's volumes are made from.
func (w *worker) volumeSource() volume.Source {
	return volume.Source{Objects: w.cfg.Objects, Allocatable: nodeAllocatable(w.cfg.PodsDir), Tokens: w.cfg.Tokens}
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
		if st.State == runtime.StateExited {
			w.readTerminationMessage(name, o.RestartCount, st)
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

// readTerminationMessage fills an exited instance's message from its
// termination log (or its log's tail), as the kubelet reads it once the
// container is done. The instance's attempt is its restart count.
func (w *worker) readTerminationMessage(name string, attempt int32, st *runtime.ContainerStatus) {
	c := findContainer(w.pod, name)
	if c == nil {
		return
	}
	file := ""
	if c.TerminationMessagePath != "" {
		file = terminationLogFile(w.podDir(), name, int(attempt))
	}
	logPath := filepath.Join(w.logDir(), name, fmt.Sprintf("%d.log", attempt))
	if msg := terminationMessage(c, file, logPath, st.ExitCode); msg != "" {
		st.Message = msg
	}
}

// target is what probes and hooks of container c's instance id act on.
// As the kubelet's, network probes and hooks go to the pod IP from the
// node (a server on the pod's loopback only is not reached); a pod without
// an address is probed on its loopback, inside its network namespace.
func (w *worker) target(c *corev1.Container, id string) probe.Target {
	t := probe.Target{
		Runtime: w.cfg.Runtime, ContainerID: id, Ports: c.Ports,
		Container: c.Name, PodName: w.pod.Name, PodNamespace: w.pod.Namespace, PodUID: string(w.pod.UID),
	}
	if len(w.podIPs) > 0 {
		t.Host = w.podIPs[0]
	} else {
		t.NetNS = w.sandbox.NetNS
	}
	return t
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
	w.obs.StartTime = st.StartTime.Time
	if equality.Semantic.DeepEqual(st, w.pod.Status) {
		return
	}
	w.pod.Status = st
	if st.Phase == corev1.PodRunning && !w.seen.IsZero() {
		// From the node seeing the pod to it running, as the kubelet's
		// pod startup latency tracker has it.
		nodemetrics.PodStartDuration.Observe(time.Since(w.seen).Seconds())
		w.seen = time.Time{}
	}
	if w.cfg.Reporter != nil {
		w.cfg.Reporter.Status(w.pod.DeepCopy())
	}
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
