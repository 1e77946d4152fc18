package registry

import (
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/duration"
)

// PodColumns are the columns `kubectl get pods` prints.
var PodColumns = []string{"NAME", "READY", "STATUS", "RESTARTS", "AGE"}

// PodRow renders a pod the way kubectl's printer (printPod) does.
func PodRow(pod *corev1.Pod, now time.Time) []string {
	restarts, lastRestart := 0, time.Time{}
	total := len(pod.Spec.Containers)
	ready := 0
	reason := string(pod.Status.Phase)
	if pod.Status.Reason != "" {
		reason = pod.Status.Reason
	}
	sidecars := map[string]bool{}
	for _, c := range pod.Spec.InitContainers {
		if c.RestartPolicy != nil && *c.RestartPolicy == corev1.ContainerRestartPolicyAlways {
			sidecars[c.Name] = true
			total++
		}
	}
	noteRestart := func(cs corev1.ContainerStatus) {
		restarts += int(cs.RestartCount)
		if t := cs.LastTerminationState.Terminated; t != nil && t.FinishedAt.Time.After(lastRestart) {
			lastRestart = t.FinishedAt.Time
		}
	}

	initializing := false
	sidecarRestarts, sidecarLast := 0, time.Time{}
	for i, cs := range pod.Status.InitContainerStatuses {
		noteRestart(cs)
		if sidecars[cs.Name] {
			sidecarRestarts += int(cs.RestartCount)
			if t := cs.LastTerminationState.Terminated; t != nil && t.FinishedAt.Time.After(sidecarLast) {
				sidecarLast = t.FinishedAt.Time
			}
		}
		switch {
		case cs.State.Terminated != nil && cs.State.Terminated.ExitCode == 0:
			continue
		case sidecars[cs.Name] && cs.Started != nil && *cs.Started:
			if cs.Ready {
				ready++
			}
			continue
		case cs.State.Terminated != nil:
			reason = "Init:" + terminatedReason(cs.State.Terminated)
		case cs.State.Waiting != nil && cs.State.Waiting.Reason != "" && cs.State.Waiting.Reason != "PodInitializing":
			reason = "Init:" + cs.State.Waiting.Reason
		default:
			reason = fmt.Sprintf("Init:%d/%d", i, len(pod.Spec.InitContainers))
		}
		initializing = true
		break
	}

	if !initializing || podInitialized(pod) {
		restarts, lastRestart = sidecarRestarts, sidecarLast
		hasRunning := false
		for i := len(pod.Status.ContainerStatuses) - 1; i >= 0; i-- {
			cs := pod.Status.ContainerStatuses[i]
			noteRestart(cs)
			switch {
			case cs.State.Waiting != nil && cs.State.Waiting.Reason != "":
				reason = cs.State.Waiting.Reason
			case cs.State.Terminated != nil:
				reason = terminatedReason(cs.State.Terminated)
			case cs.State.Running != nil && cs.Ready:
				// kubectl counts only ready running containers, also for
				// the NotReady/Running override below.
				hasRunning = true
				ready++
			}
		}
		if reason == "Completed" && hasRunning {
			reason = "NotReady"
			if podReady(pod) {
				reason = "Running"
			}
		}
	}
	if pod.DeletionTimestamp != nil && pod.Status.Phase != corev1.PodSucceeded && pod.Status.Phase != corev1.PodFailed {
		reason = "Terminating"
	}

	restartCol := fmt.Sprint(restarts)
	if restarts > 0 && !lastRestart.IsZero() {
		restartCol = fmt.Sprintf("%d (%s ago)", restarts, duration.HumanDuration(now.Sub(lastRestart)))
	}
	age := "<unknown>"
	if !pod.CreationTimestamp.IsZero() {
		age = duration.HumanDuration(now.Sub(pod.CreationTimestamp.Time))
	}
	return []string{pod.Name, fmt.Sprintf("%d/%d", ready, total), reason, restartCol, age}
}

func terminatedReason(t *corev1.ContainerStateTerminated) string {
	switch {
	case t.Reason != "":
		return t.Reason
	case t.Signal != 0:
		return fmt.Sprintf("Signal:%d", t.Signal)
	}
	return fmt.Sprintf("ExitCode:%d", t.ExitCode)
}

func podInitialized(pod *corev1.Pod) bool {
	return conditionTrue(pod, corev1.PodInitialized)
}

func podReady(pod *corev1.Pod) bool {
	return conditionTrue(pod, corev1.PodReady)
}

func conditionTrue(pod *corev1.Pod, t corev1.PodConditionType) bool {
	for _, c := range pod.Status.Conditions {
		if c.Type == t {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// podWideCells are the `-o wide` cells: IP, NODE, NOMINATED NODE,
// READINESS GATES (ready gates over all gates).
func podWideCells(pod *corev1.Pod) []string {
	ip, node, nominated, gates := "<none>", "<none>", "<none>", "<none>"
	if len(pod.Status.PodIPs) > 0 && pod.Status.PodIPs[0].IP != "" {
		ip = pod.Status.PodIPs[0].IP
	}
	if pod.Spec.NodeName != "" {
		node = pod.Spec.NodeName
	}
	if pod.Status.NominatedNodeName != "" {
		nominated = pod.Status.NominatedNodeName
	}
	if n := len(pod.Spec.ReadinessGates); n > 0 {
		ready := 0
		for _, g := range pod.Spec.ReadinessGates {
			if conditionTrue(pod, g.ConditionType) {
				ready++
			}
		}
		gates = fmt.Sprintf("%d/%d", ready, n)
	}
	return []string{ip, node, nominated, gates}
}
