// Package plan is the node agent's decision step, kept pure: Compute turns a
// pod spec and what was observed of its containers into the actions to take,
// and Status turns the same inputs into the pod's API status. No I/O, no
// clock (now is an argument), no globals, no logging.
//
// The rules are the kubelet's (computePodActions, getPhase); see
// shared/design/kubelet-semantics.md. Init containers and native sidecars
// plug into Compute before the regular-container step.
package plan

import (
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"

	"peapod/internal/runtime"
)

// Backoff constants of the kubelet's CrashLoopBackOff.
const (
	InitialBackoff = 10 * time.Second
	MaxBackoff     = 300 * time.Second
	// A container that ran this long after its last restart starts over at
	// InitialBackoff (the kubelet expires entries after 2 × MaxBackoff).
	BackoffReset = 2 * MaxBackoff
)

// Observed is what the agent knows of a pod's containers, by name.
type Observed struct {
	Containers map[string]*Container
	// Terminating is set once the pod is asked to stop (Ctrl-C, delete).
	Terminating bool
	// StartTime is when the node took the pod (status.startTime).
	StartTime time.Time
	// Failed, once set, is why the node failed the whole pod
	// (DeadlineExceeded): it is killed and stays Failed with that reason.
	Failed *Waiting
}

// Failure reasons of a whole pod, as the kubelet words them.
const (
	DeadlineExceeded        = "DeadlineExceeded"
	deadlineExceededMessage = "Pod was active on the node longer than the specified deadline"
)

// Container is the observed history of one container name.
type Container struct {
	Current      *runtime.ContainerStatus // newest instance; nil if none yet
	Previous     *runtime.ContainerStatus // the instance before it (lastState)
	RestartCount int32
	Backoff      Backoff
	// Waiting, when set, is why the last attempt to create or start this
	// container failed (ErrImagePull, CreateContainerConfigError, ...).
	Waiting *Waiting
	// Probes are the results of the current instance's probes.
	Probes Probes
	// StartFailures counts the attempts in a row to pull, create or
	// start this container that failed, the last at LastStartFailure.
	StartFailures    int
	LastStartFailure time.Time
}

// ProbeResult is the published result of one probe of a container
// instance: Unknown until the thresholds decided it.
type ProbeResult int8

const (
	ProbeUnknown ProbeResult = iota
	ProbeSuccess
	ProbeFailure
)

// Probes are the probe results of a container instance.
type Probes struct {
	Startup, Liveness, Readiness ProbeResult
}

// Backoff is the CrashLoopBackOff state of a container: Period is the wait
// owed before the next restart, counted from the last exit.
type Backoff struct {
	Period      time.Duration
	LastRestart time.Time
}

// Waiting is a container's waiting reason and message.
type Waiting struct {
	Reason  string
	Message string
}

// Plan is what the executor must do, in order: kill, then start.
type Plan struct {
	// KillPod stops every container (the regular ones, then the sidecars
	// in reverse order; preStop hooks all at once) and ends the pod: it
	// was asked to stop or has completed.
	KillPod bool
	Kill    []Kill
	Start   []Start
	// Waiting holds containers that must not start yet, with the reason
	// (CrashLoopBackOff) to show in their status.
	Waiting map[string]Waiting
	// WakeAt is when to compute again even if nothing happens (a backoff
	// expiring); zero for never.
	WakeAt time.Time
	// Fail, with KillPod, fails the pod for this reason (set it as
	// Observed.Failed).
	Fail *Waiting
}

// Kill stops one container (running its preStop hook first).
type Kill struct {
	Name string
	ID   string
	// Reason is the kubelet's reason for the kill (the "Killing" event's
	// message).
	Reason string
	// Grace overrides the pod's grace period: a probe's
	// terminationGracePeriodSeconds. Zero means the pod's.
	Grace time.Duration
}

// Start creates and starts a new instance of a container.
type Start struct {
	Name string
	// Reason says why it starts: its first run, or the exit (or the
	// probe) and the rule that restart it.
	Reason string
	// Backoff is the state to record for this container once started.
	Backoff Backoff
}

// Done reports whether the plan has nothing left to run: the pod is over.
func (p Plan) Done() bool { return p.KillPod }

// Compute decides the next actions for pod given obs at time now, as the
// kubelet's computePodActions: init containers one at a time in spec order
// (a native sidecar only has to be started, not finished, before the next
// one), then the regular containers; sidecars are restarted on any exit; the
// pod is killed once no regular container runs or will run again.
func Compute(pod *corev1.Pod, obs *Observed, now time.Time) (p Plan) {
	if obs.Terminating || obs.Failed != nil {
		p.KillPod = true
		return p
	}
	// The kubelet's activeDeadlineHandler: a pod active on the node for
	// longer than spec.activeDeadlineSeconds fails (the field may be set
	// or shortened on a running pod).
	if d := pod.Spec.ActiveDeadlineSeconds; d != nil && !obs.StartTime.IsZero() {
		deadline := obs.StartTime.Add(time.Duration(*d) * time.Second)
		if !now.Before(deadline) {
			return Plan{KillPod: true, Fail: &Waiting{Reason: DeadlineExceeded, Message: deadlineExceededMessage}}
		}
		defer func() { p.WakeAt = earliest(p.WakeAt, deadline) }()
	}
	// Ephemeral containers start whatever the init containers' progress,
	// once: never restarted, only retried while they have no instance.
	for i := range pod.Spec.EphemeralContainers {
		if name := pod.Spec.EphemeralContainers[i].Name; obs.container(name).Current == nil {
			p.addStart(pod, obs.container(name), Start{Name: name, Reason: fmt.Sprintf("ephemeral container %s has not run yet", name)}, now)
		}
	}
	if !Initialized(pod, obs) {
		if computeInit(pod, obs, now, &p) {
			p.KillPod = true
			p.Start = nil
			return p
		}
		if !initDone(pod, obs) {
			return p
		}
	} else {
		// Once initialized only sidecars are looked at among init
		// containers: they are restarted whatever their exit code.
		for i := range pod.Spec.InitContainers {
			c := &pod.Spec.InitContainers[i]
			if !IsSidecar(c) {
				continue
			}
			if !p.killUnhealthy(pod, c, obs.container(c.Name), true) {
				p.restart(pod, c.Name, obs.container(c.Name), roleSidecar, now)
			}
		}
	}
	keep := 0
	for i := range pod.Spec.Containers {
		c := &pod.Spec.Containers[i]
		o := obs.container(c.Name)
		if state(o) == runtime.StateRunning {
			if !p.killUnhealthy(pod, c, o, false) {
				keep++
			}
			continue
		}
		p.restart(pod, c.Name, o, roleContainer, now)
	}
	regularPending := false
	for i := range pod.Spec.Containers {
		name := pod.Spec.Containers[i].Name
		if _, ok := p.Waiting[name]; ok || p.starts(name) {
			regularPending = true
		}
	}
	if keep == 0 && !regularPending {
		// Job-style completion: sidecars are not restarted but stopped.
		p = Plan{KillPod: true}
	}
	return p
}

// computeInit walks the init containers in spec order, adding to p what the
// first unfinished one needs. It reports whether the pod has failed (a
// regular init container failed under restartPolicy Never).
func computeInit(pod *corev1.Pod, obs *Observed, now time.Time, p *Plan) (failed bool) {
	for i := range pod.Spec.InitContainers {
		c := &pod.Spec.InitContainers[i]
		o := obs.container(c.Name)
		sidecar := IsSidecar(c)
		switch st := state(o); {
		case st == runtime.StateRunning && sidecar:
			if p.killUnhealthy(pod, c, o, true) {
				return false
			}
			if !startupSucceeded(c, o) {
				return false // not started yet: the next one waits
			}
			continue // started: the next one may go
		case st == runtime.StateRunning:
			return false // wait for it to finish
		case st == runtime.StateExited && !sidecar && o.Current.ExitCode == 0:
			continue
		case (st == runtime.StateExited || st == runtime.StateUnknown) && !sidecar &&
			pod.Spec.RestartPolicy == corev1.RestartPolicyNever:
			return true
		}
		role := roleInit
		if sidecar {
			role = roleSidecar
		}
		p.restart(pod, c.Name, o, role, now)
		return false
	}
	return false
}

// A container's role decides its restarts: a sidecar restarts on any exit,
// the others by the pod's restartPolicy.
type role string

const (
	roleInit      role = "init container"
	roleSidecar   role = "sidecar"
	roleContainer role = "container"
)

// startReason says why a container that is not running is started.
func startReason(pod *corev1.Pod, name string, o *Container, r role) string {
	switch {
	case o.Current == nil:
		return fmt.Sprintf("%s %s has not run yet", r, name)
	case o.Current.State == runtime.StateCreated:
		return fmt.Sprintf("%s %s was created but never started", r, name)
	case o.Current.State == runtime.StateUnknown:
		return fmt.Sprintf("%s %s is in unknown state", r, name)
	case r == roleSidecar:
		return fmt.Sprintf("sidecar %s exited with %d: a sidecar restarts on any exit", name, o.Current.ExitCode)
	}
	return fmt.Sprintf("%s %s exited with %d: restartPolicy %s", r, name, o.Current.ExitCode, pod.Spec.RestartPolicy)
}

// restart adds a (re)start of a container that is not running to p, unless
// it must not restart (by policy) or is held back by backoff.
func (p *Plan) restart(pod *corev1.Pod, name string, o *Container, r role, now time.Time) {
	sidecar := r == roleSidecar
	switch state(o) {
	case runtime.StateRunning:
		return
	case runtime.StateUnknown:
		p.Kill = append(p.Kill, Kill{Name: name, ID: o.Current.ID, Reason: "container is in unknown state, will be restarted"})
	case runtime.StateExited:
		if !sidecar && !shouldRestart(pod.Spec.RestartPolicy, o.Current.ExitCode) {
			return
		}
	}
	start, wait, wakeAt := backoff(pod, name, o, now)
	if wait != nil {
		if p.Waiting == nil {
			p.Waiting = map[string]Waiting{}
		}
		p.Waiting[name] = *wait
		p.WakeAt = earliest(p.WakeAt, wakeAt)
		return
	}
	start.Reason = startReason(pod, name, o, r)
	p.addStart(pod, o, start, now)
}

// addStart adds s to p unless the container's last attempts to start
// failed and the kubelet's back-off for them (10 s doubling to 300 s from
// the last failure) runs: then it waits, as ImagePullBackOff after a
// failed pull, or with the failure's own reason, and p wakes at its end.
func (p *Plan) addStart(pod *corev1.Pod, o *Container, s Start, now time.Time) {
	if o.StartFailures > 0 {
		if until := o.LastStartFailure.Add(BackoffAfter(o.StartFailures)); now.Before(until) {
			var wait Waiting
			switch {
			case o.Waiting != nil && (o.Waiting.Reason == "ErrImagePull" || o.Waiting.Reason == "ImagePullBackOff"):
				wait = Waiting{Reason: "ImagePullBackOff", Message: fmt.Sprintf("Back-off pulling image %q", containerImage(pod, s.Name))}
			case o.Waiting != nil:
				wait = *o.Waiting
			default:
				wait = Waiting{Reason: "ContainerCreating"}
			}
			if p.Waiting == nil {
				p.Waiting = map[string]Waiting{}
			}
			p.Waiting[s.Name] = wait
			p.WakeAt = earliest(p.WakeAt, until)
			return
		}
	}
	p.Start = append(p.Start, s)
}

// containerImage is the image of the pod's container (any kind) name.
func containerImage(pod *corev1.Pod, name string) string {
	for _, list := range [][]corev1.Container{pod.Spec.InitContainers, pod.Spec.Containers} {
		for i := range list {
			if list[i].Name == name {
				return list[i].Image
			}
		}
	}
	for i := range pod.Spec.EphemeralContainers {
		if pod.Spec.EphemeralContainers[i].Name == name {
			return pod.Spec.EphemeralContainers[i].Image
		}
	}
	return ""
}

// killUnhealthy adds a kill of a running container whose liveness or
// startup probe failed, and its restart unless the pod's restartPolicy is
// Never (sidecars always restart), as the kubelet's computePodActions. It
// reports whether it did.
func (p *Plan) killUnhealthy(pod *corev1.Pod, c *corev1.Container, o *Container, sidecar bool) bool {
	var msg string
	var probe *corev1.Probe
	switch {
	case c.LivenessProbe != nil && o.Probes.Liveness == ProbeFailure:
		msg, probe = fmt.Sprintf("Container %s failed liveness probe", c.Name), c.LivenessProbe
	case c.StartupProbe != nil && o.Probes.Startup == ProbeFailure:
		msg, probe = fmt.Sprintf("Container %s failed startup probe", c.Name), c.StartupProbe
	default:
		return false
	}
	restart := sidecar || pod.Spec.RestartPolicy != corev1.RestartPolicyNever
	if restart {
		msg += ", will be restarted"
	}
	k := Kill{Name: c.Name, ID: o.Current.ID, Reason: msg}
	if g := probe.TerminationGracePeriodSeconds; g != nil {
		k.Grace = time.Duration(*g) * time.Second
	}
	p.Kill = append(p.Kill, k)
	if restart {
		// Started again in the same sync, without backoff: the kubelet
		// checks backoff against the status seen before the kill.
		p.Start = append(p.Start, Start{Name: c.Name, Reason: msg, Backoff: o.Backoff})
	}
	return true
}

// startupSucceeded reports whether a running container counts as started:
// it has no startup probe, or the probe succeeded.
func startupSucceeded(c *corev1.Container, o *Container) bool {
	return c.StartupProbe == nil || o.Probes.Startup == ProbeSuccess
}

func (p *Plan) starts(name string) bool {
	for _, s := range p.Start {
		if s.Name == name {
			return true
		}
	}
	return false
}

// Initialized reports whether the pod got past its init containers: some
// regular container has been created.
func Initialized(pod *corev1.Pod, obs *Observed) bool {
	for i := range pod.Spec.Containers {
		if obs.container(pod.Spec.Containers[i].Name).Current != nil {
			return true
		}
	}
	return false
}

// initDone reports whether every regular init container exited 0 and every
// sidecar is started.
func initDone(pod *corev1.Pod, obs *Observed) bool {
	return len(incompleteInit(pod, obs)) == 0
}

func incompleteInit(pod *corev1.Pod, obs *Observed) []string {
	var names []string
	for i := range pod.Spec.InitContainers {
		c := &pod.Spec.InitContainers[i]
		o := obs.container(c.Name)
		switch {
		case IsSidecar(c) && state(o) == runtime.StateRunning && startupSucceeded(c, o):
		case !IsSidecar(c) && state(o) == runtime.StateExited && o.Current.ExitCode == 0:
		default:
			names = append(names, c.Name)
		}
	}
	return names
}

// IsSidecar reports whether an init container is a native sidecar
// (restartPolicy: Always).
func IsSidecar(c *corev1.Container) bool {
	return c.RestartPolicy != nil && *c.RestartPolicy == corev1.ContainerRestartPolicyAlways
}

// container returns the observation of name, empty if there is none.
func (obs *Observed) container(name string) *Container {
	if o := obs.Containers[name]; o != nil {
		return o
	}
	return &Container{}
}

// state is the container's state, with "never created" reported as Created
// so it is started.
func state(o *Container) runtime.State {
	if o.Current == nil {
		return runtime.StateCreated
	}
	return o.Current.State
}

func shouldRestart(policy corev1.RestartPolicy, exitCode int32) bool {
	switch policy {
	case corev1.RestartPolicyNever:
		return false
	case corev1.RestartPolicyOnFailure:
		return exitCode != 0
	}
	return true
}

// BackoffAfter is the kubelet's wait after the n-th failure in a row
// (n >= 1) of a start or an image pull: 10 s doubling to 300 s.
func BackoffAfter(n int) time.Duration {
	return min(InitialBackoff<<min(max(n, 1)-1, 5), MaxBackoff)
}

// Volume set-up retries back off as the kubelet's volume operations do
// (nestedpendingoperations): 500 ms doubling to 2 min 2 s.
const (
	InitialMountBackoff = 500 * time.Millisecond
	MaxMountBackoff     = 2*time.Minute + 2*time.Second
)

// MountRetryAt is when the pod's volumes are set up again after failures
// in a row (none: at once), the last at last.
func MountRetryAt(failures int, last time.Time) time.Time {
	if failures == 0 {
		return time.Time{}
	}
	return last.Add(min(InitialMountBackoff<<min(failures-1, 8), MaxMountBackoff))
}

// backoff applies CrashLoopBackOff to a container about to be (re)started.
// The first start and the first restart are immediate; after that the wait
// from the last exit is 10 s, doubling to 300 s; a container that ran
// BackoffReset since its last restart starts over.
func backoff(pod *corev1.Pod, name string, o *Container, now time.Time) (Start, *Waiting, time.Time) {
	if o.Current == nil || o.Current.State != runtime.StateExited {
		return Start{Name: name, Backoff: o.Backoff}, nil, time.Time{}
	}
	finished := o.Current.FinishedAt
	if o.Backoff.Period == 0 || finished.Sub(o.Backoff.LastRestart) > BackoffReset {
		return Start{Name: name, Backoff: Backoff{Period: InitialBackoff, LastRestart: now}}, nil, time.Time{}
	}
	if until := finished.Add(o.Backoff.Period); now.Before(until) {
		return Start{}, &Waiting{
			Reason:  "CrashLoopBackOff",
			Message: fmt.Sprintf("back-off %s restarting failed container=%s pod=%s_%s(%s)", o.Backoff.Period, name, pod.Name, pod.Namespace, pod.UID),
		}, until
	}
	return Start{Name: name, Backoff: Backoff{Period: min(2*o.Backoff.Period, MaxBackoff), LastRestart: now}}, nil, time.Time{}
}

func earliest(a, b time.Time) time.Time {
	if a.IsZero() || b.Before(a) {
		return b
	}
	return a
}
