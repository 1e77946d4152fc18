package plan

import (
	"fmt"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"peapod/internal/runtime"
)

// Status computes the pod's status from its spec and what was observed, as
// the kubelet's generateAPIPodStatus does. Condition transition times are
// left zero: the caller carries them over from the previous status.
func Status(pod *corev1.Pod, obs *Observed, sandboxReady bool) corev1.PodStatus {
	st := corev1.PodStatus{QOSClass: qosClass(pod)}
	for i := range pod.Spec.InitContainers {
		c := &pod.Spec.InitContainers[i]
		cs := containerStatus(pod, c, obs.Containers[c.Name])
		if !IsSidecar(c) {
			// A regular init container is ready once it exited 0.
			cs.Ready = cs.State.Terminated != nil && cs.State.Terminated.ExitCode == 0
		}
		st.InitContainerStatuses = append(st.InitContainerStatuses, cs)
	}
	for i := range pod.Spec.Containers {
		c := &pod.Spec.Containers[i]
		st.ContainerStatuses = append(st.ContainerStatuses, containerStatus(pod, c, obs.Containers[c.Name]))
	}
	sort.Slice(st.ContainerStatuses, func(i, j int) bool {
		return st.ContainerStatuses[i].Name < st.ContainerStatuses[j].Name
	})
	// They count for neither the phase nor the conditions.
	for i := range pod.Spec.EphemeralContainers {
		c := corev1.Container(pod.Spec.EphemeralContainers[i].EphemeralContainerCommon)
		st.EphemeralContainerStatuses = append(st.EphemeralContainerStatuses, containerStatus(pod, &c, obs.Containers[c.Name]))
	}
	st.Phase = phase(pod, &st, obs.Terminating)
	if f := obs.Failed; f != nil {
		st.Phase, st.Reason, st.Message = corev1.PodFailed, f.Reason, f.Message
	}
	st.Conditions = conditions(pod, obs, &st, sandboxReady)
	return st
}

func containerStatus(pod *corev1.Pod, c *corev1.Container, o *Container) corev1.ContainerStatus {
	cs := corev1.ContainerStatus{Name: c.Name, Image: c.Image}
	if o == nil {
		o = &Container{}
	}
	cs.RestartCount = o.RestartCount
	if o.Previous != nil {
		cs.LastTerminationState = runtimeState(o.Previous)
	}
	if cur := o.Current; cur != nil {
		cs.ContainerID = "peapod://" + cur.ID
		cs.ImageID = cur.ImageID
		cs.State = runtimeState(cur)
		// As the kubelet's prober manager: started once the startup probe
		// (if any) succeeded; ready once started and the readiness probe
		// (if any) succeeded, which it has not before its first result.
		started := cur.State == runtime.StateRunning && startupSucceeded(c, o)
		cs.Started = &started
		cs.Ready = started && (c.ReadinessProbe == nil || o.Probes.Readiness == ProbeSuccess)
	}
	if w := waiting(pod, c, o); w != nil {
		// A container held back keeps its last run as lastState.
		if cs.State.Terminated != nil {
			cs.LastTerminationState = cs.State
		}
		cs.State = corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: w.Reason, Message: w.Message}}
		cs.Ready = false
	}
	if cs.State == (corev1.ContainerState{}) {
		reason := "ContainerCreating"
		if len(pod.Spec.InitContainers) > 0 {
			reason = "PodInitializing"
		}
		cs.State.Waiting = &corev1.ContainerStateWaiting{Reason: reason}
	}
	if cs.Started == nil {
		f := false
		cs.Started = &f
	}
	return cs
}

// waiting is why a container is held back, if it is: its last failure to
// start, except a failed postStart hook of a container that stays down
// (restartPolicy Never), which shows as the exit of the killed container.
func waiting(pod *corev1.Pod, c *corev1.Container, o *Container) *Waiting {
	if w := o.Waiting; w != nil && (w.Reason != PostStartHookError || IsSidecar(c) || pod.Spec.RestartPolicy != corev1.RestartPolicyNever) {
		return w
	}
	return nil
}

// PostStartHookError is the waiting reason of a container whose
// postStart hook failed, which was killed and restarts.
const PostStartHookError = "PostStartHookError"

func runtimeState(s *runtime.ContainerStatus) corev1.ContainerState {
	switch s.State {
	case runtime.StateRunning:
		return corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: metav1.NewTime(s.StartedAt)}}
	case runtime.StateExited:
		reason := "Completed"
		switch {
		case s.OOMKilled:
			reason = "OOMKilled"
		case s.ExitCode != 0:
			reason = "Error"
		}
		return corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{
			ExitCode:    s.ExitCode,
			Reason:      reason,
			Message:     s.Message,
			StartedAt:   metav1.NewTime(s.StartedAt),
			FinishedAt:  metav1.NewTime(s.FinishedAt),
			ContainerID: "peapod://" + s.ID,
		}}
	case runtime.StateUnknown:
		return corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "ContainerStatusUnknown"}}
	}
	return corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "ContainerCreating"}}
}

// phase is the kubelet's getPhase.
func phase(pod *corev1.Pod, st *corev1.PodStatus, terminating bool) corev1.PodPhase {
	var pendingInit, failedInit, running, waiting, stopped, succeeded int
	anyRegularStarted := false
	for i, cs := range st.InitContainerStatuses {
		last := cs.LastTerminationState.Terminated
		if IsSidecar(&pod.Spec.InitContainers[i]) {
			switch {
			case cs.State.Running != nil:
				running++
				if cs.Started == nil || !*cs.Started {
					pendingInit++
				}
			case cs.State.Terminated != nil:
				// A sidecar's exit never decides the phase.
			case last == nil:
				pendingInit++
				waiting++
			}
			continue
		}
		switch {
		case cs.State.Terminated != nil:
			if cs.State.Terminated.ExitCode != 0 {
				failedInit++
			}
		case cs.State.Waiting != nil && last != nil:
			if last.ExitCode != 0 {
				failedInit++
			}
		default:
			pendingInit++
		}
	}
	for _, cs := range st.ContainerStatuses {
		switch {
		case cs.State.Running != nil:
			running++
			anyRegularStarted = true
		case cs.State.Terminated != nil:
			stopped++
			anyRegularStarted = true
			if cs.State.Terminated.ExitCode == 0 {
				succeeded++
			}
		case cs.State.Waiting != nil && cs.LastTerminationState.Terminated != nil:
			stopped++
			anyRegularStarted = true
		default:
			waiting++
		}
	}
	switch {
	case failedInit > 0 && pod.Spec.RestartPolicy == corev1.RestartPolicyNever:
		return corev1.PodFailed
	case pendingInit > 0 && !anyRegularStarted, waiting > 0:
		return corev1.PodPending
	case running > 0:
		return corev1.PodRunning
	case stopped > 0:
		switch {
		case terminating:
		case pod.Spec.RestartPolicy == corev1.RestartPolicyAlways:
			return corev1.PodRunning
		case stopped != succeeded && pod.Spec.RestartPolicy == corev1.RestartPolicyOnFailure:
			return corev1.PodRunning
		}
		if stopped == succeeded {
			return corev1.PodSucceeded
		}
		return corev1.PodFailed
	}
	return corev1.PodPending
}

func conditions(pod *corev1.Pod, obs *Observed, st *corev1.PodStatus, sandboxReady bool) []corev1.PodCondition {
	cond := func(t corev1.PodConditionType, ok bool, reason, msg string) corev1.PodCondition {
		c := corev1.PodCondition{Type: t, Status: corev1.ConditionTrue}
		if !ok {
			c.Status, c.Reason, c.Message = corev1.ConditionFalse, reason, msg
		}
		return c
	}
	var unready []string
	for i, cs := range st.InitContainerStatuses {
		if IsSidecar(&pod.Spec.InitContainers[i]) && !cs.Ready {
			unready = append(unready, cs.Name)
		}
	}
	for _, c := range pod.Spec.Containers { // spec order, as the kubelet lists them
		for _, cs := range st.ContainerStatuses {
			if cs.Name == c.Name && !cs.Ready {
				unready = append(unready, cs.Name)
			}
		}
	}
	ready := len(unready) == 0
	reason, msg := "ContainersNotReady", fmt.Sprintf("containers with unready status: [%s]", strings.Join(unready, " "))
	switch st.Phase {
	case corev1.PodSucceeded:
		ready, reason, msg = false, "PodCompleted", ""
	case corev1.PodFailed:
		ready, reason, msg = false, "PodFailed", ""
	}
	incomplete := incompleteInit(pod, obs)
	initialized := cond(corev1.PodInitialized, len(incomplete) == 0 || Initialized(pod, obs),
		"ContainersNotInitialized", fmt.Sprintf("containers with incomplete status: [%s]", strings.Join(incomplete, " ")))
	if st.Phase == corev1.PodSucceeded {
		initialized = cond(corev1.PodInitialized, true, "", "")
		initialized.Reason = "PodCompleted"
	}
	return []corev1.PodCondition{
		cond(corev1.PodReadyToStartContainers, sandboxReady, "", ""),
		initialized,
		cond(corev1.PodReady, ready, reason, msg),
		cond(corev1.ContainersReady, ready, reason, msg),
		cond(corev1.PodScheduled, true, "", ""),
	}
}

// qosClass is the pod's QoS class from its containers' requests and limits.
func qosClass(pod *corev1.Pod) corev1.PodQOSClass {
	any, guaranteed := false, true
	all := append(append([]corev1.Container{}, pod.Spec.InitContainers...), pod.Spec.Containers...)
	for _, c := range all {
		r := c.Resources
		if len(r.Requests) > 0 || len(r.Limits) > 0 {
			any = true
		}
		for _, name := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
			l, ok := r.Limits[name]
			req, hasReq := r.Requests[name]
			if !ok || hasReq && req.Cmp(l) != 0 {
				guaranteed = false
			}
		}
	}
	switch {
	case !any:
		return corev1.PodQOSBestEffort
	case guaranteed:
		return corev1.PodQOSGuaranteed
	}
	return corev1.PodQOSBurstable
}
