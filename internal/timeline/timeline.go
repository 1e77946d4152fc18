// Package timeline keeps what happened to each pod's containers, in
// order, for the picture of a pod's life: pulls, creates and starts (the
// kubelet's events), probe failures and kills, and what the status says
// changed (a container ready or not, its startup probe passed, an exit
// with its code and reason). A Recorder takes it from the node agent's
// reports; a Book keeps it per pod, bounded, in a file that survives a
// restart, and tells watchers what is added.
package timeline

import (
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"

	"peapod/internal/agent/plan"
)

// Entry is one thing that happened to a pod or one of its containers.
type Entry struct {
	Time time.Time `json:"time"`
	// Container is "" for the pod itself.
	Container string `json:"container,omitempty"`
	// Kind is the kubelet's event reason (Pulling, Created, Started,
	// Killing, Unhealthy, BackOff, ...) or one of the status changes
	// below.
	Kind   string `json:"kind"`
	Detail string `json:"detail,omitempty"`
	// Warning marks what went wrong (a Warning event, a non-zero exit).
	Warning bool `json:"warning,omitempty"`
}

// The changes of a container's status that no event tells.
const (
	Ready     = "Ready"
	NotReady  = "NotReady"
	Startup   = "StartupProbeSucceeded"
	Exited    = "Exited"
	PodPhase  = "Phase"
	Scheduled = "Scheduled"
)

// Container is one row of a pod's picture.
type Container struct {
	Name string `json:"name"`
	// Role is init, sidecar (a native one), main or ephemeral.
	Role string `json:"role"`
}

// Pod is a pod's picture: its rows in start order and what happened.
type Pod struct {
	Namespace  string      `json:"namespace"`
	Name       string      `json:"name"`
	UID        string      `json:"uid"`
	Containers []Container `json:"containers"`
	Entries    []Entry     `json:"entries"`
}

// Rows are pod's containers in the order the kubelet starts them: init
// containers and native sidecars in spec order, then the main ones, then
// the ephemeral ones.
func Rows(pod *corev1.Pod) []Container {
	var rows []Container
	for _, c := range pod.Spec.InitContainers {
		role := "init"
		if plan.IsSidecar(&c) {
			role = "sidecar"
		}
		rows = append(rows, Container{Name: c.Name, Role: role})
	}
	for _, c := range pod.Spec.Containers {
		rows = append(rows, Container{Name: c.Name, Role: "main"})
	}
	for _, c := range pod.Spec.EphemeralContainers {
		rows = append(rows, Container{Name: c.Name, Role: "ephemeral"})
	}
	return rows
}

// Changes are the entries that the step from status old to pod's status
// makes, at now: readiness flips, startup probes passed, exits, and the
// pod's phase.
func Changes(pod *corev1.Pod, old *corev1.PodStatus, now time.Time) []Entry {
	cur := &pod.Status
	probed := map[string]bool{}
	for _, list := range [][]corev1.Container{pod.Spec.InitContainers, pod.Spec.Containers} {
		for _, c := range list {
			probed[c.Name] = c.StartupProbe != nil
		}
	}
	var out []Entry
	if old.Phase != cur.Phase && cur.Phase != "" {
		out = append(out, Entry{Time: now, Kind: PodPhase, Detail: string(cur.Phase), Warning: cur.Phase == corev1.PodFailed})
	}
	before := map[string]corev1.ContainerStatus{}
	for _, list := range [][]corev1.ContainerStatus{old.InitContainerStatuses, old.ContainerStatuses, old.EphemeralContainerStatuses} {
		for _, s := range list {
			before[s.Name] = s
		}
	}
	for _, list := range [][]corev1.ContainerStatus{cur.InitContainerStatuses, cur.ContainerStatuses, cur.EphemeralContainerStatuses} {
		for _, s := range list {
			b := before[s.Name]
			if t := s.State.Terminated; t != nil && (b.State.Terminated == nil || !b.State.Terminated.FinishedAt.Equal(&t.FinishedAt)) {
				at := t.FinishedAt.Time
				if at.IsZero() {
					at = now
				}
				out = append(out, Entry{Time: at, Container: s.Name, Kind: Exited, Detail: exitDetail(t), Warning: t.ExitCode != 0})
			}
			if probed[s.Name] && started(s) && !started(b) && s.State.Running != nil {
				out = append(out, Entry{Time: now, Container: s.Name, Kind: Startup})
			}
			if s.Ready != b.Ready && (s.Ready || s.State.Running != nil) {
				kind := NotReady
				if s.Ready {
					kind = Ready
				}
				out = append(out, Entry{Time: now, Container: s.Name, Kind: kind})
			}
		}
	}
	return out
}

func started(s corev1.ContainerStatus) bool { return s.Started != nil && *s.Started }

func exitDetail(t *corev1.ContainerStateTerminated) string {
	d := fmt.Sprintf("exit %d", t.ExitCode)
	if t.Signal != 0 {
		d += fmt.Sprintf(", signal %d", t.Signal)
	}
	if t.Reason != "" {
		d += " (" + t.Reason + ")"
	}
	return d
}
