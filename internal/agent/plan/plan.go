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
}

// Container is the observed history of one container name.
type Container struct {
	Current      *runtime.ContainerStatus // newest instance; nil if none yet
	Previous     *runtime.ContainerStatus // the instance before it (lastState)
	RestartCount int32
	Backoff      Backoff
	// Waiting, when set, is why the last attempt to create or start this
	// container failed (ErrImagePull, CreateContainerConfigError, ...).
	Waiting *Waiting
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
	// KillPod stops every container (regular first, then sidecars in reverse
	// order) and ends the pod: it was asked to stop or has completed.
	KillPod bool
	Kill    []Kill
	Start   []Start
	// Waiting holds containers that must not start yet, with the reason
	// (CrashLoopBackOff) to show in their status.
	Waiting map[string]Waiting
	// WakeAt is when to compute again even if nothing happens (a backoff
	// expiring); zero for never.
	WakeAt time.Time
}

// Kill stops one container.
type Kill struct {
	Name   string
	ID     string
	Reason string
}

// Start creates and starts a new instance of a container.
type Start struct {
	Name string
	// Backoff is the state to record for this container once started.
	Backoff Backoff
}

// Done reports whether the plan has nothing left to run: the pod is over.
func (p Plan) Done() bool { return p.KillPod }

// Compute decides the next actions for pod given obs at time now.
func Compute(pod *corev1.Pod, obs *Observed, now time.Time) Plan {
	var p Plan
	if obs.Terminating {
		p.KillPod = true
		return p
	}
	keep := 0
	for i := range pod.Spec.Containers {
		c := &pod.Spec.Containers[i]
		o := obs.Containers[c.Name]
		if o == nil {
			o = &Container{}
		}
		switch state(o) {
		case runtime.StateRunning:
			keep++
			continue
		case runtime.StateUnknown:
			p.Kill = append(p.Kill, Kill{Name: c.Name, ID: o.Current.ID, Reason: "container is in unknown state, will be restarted"})
		case runtime.StateExited:
			if !shouldRestart(pod.Spec.RestartPolicy, o.Current.ExitCode) {
				continue
			}
		}
		start, wait, wakeAt := backoff(pod, c.Name, o, now)
		if wait != nil {
			if p.Waiting == nil {
				p.Waiting = map[string]Waiting{}
			}
			p.Waiting[c.Name] = *wait
			p.WakeAt = earliest(p.WakeAt, wakeAt)
			continue
		}
		p.Start = append(p.Start, start)
	}
	if keep == 0 && len(p.Start) == 0 && len(p.Waiting) == 0 {
		p.KillPod = true
	}
	return p
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
