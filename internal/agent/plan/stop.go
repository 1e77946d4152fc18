package plan

import (
	"slices"

	corev1 "k8s.io/api/core/v1"
)

// StopOrder is the order of a pod's stop, as the kubelet's killPod with
// native sidecars: every running container's preStop hook starts at once;
// the regular containers then get their stop signal, and a sidecar gets
// its own only once the regular containers and the sidecars after it (in
// spec order) have stopped, so sidecars go in reverse order, all within
// one grace period. It maps each of running to the containers it waits
// for before its stop signal (none: at once).
func StopOrder(pod *corev1.Pod, running []string) map[string][]string {
	order := make(map[string][]string, len(running))
	isRunning := func(name string) bool { return slices.Contains(running, name) }
	for _, name := range running {
		order[name] = nil
	}
	var later []string // running sidecars after the current one, in spec order
	for i := len(pod.Spec.InitContainers) - 1; i >= 0; i-- {
		ic := &pod.Spec.InitContainers[i]
		if !IsSidecar(ic) || !isRunning(ic.Name) {
			continue
		}
		var after []string
		for j := range pod.Spec.Containers {
			if n := pod.Spec.Containers[j].Name; isRunning(n) {
				after = append(after, n)
			}
		}
		order[ic.Name] = append(after, later...)
		later = append([]string{ic.Name}, later...)
	}
	return order
}
