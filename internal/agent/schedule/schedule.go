// Package schedule decides whether an unbound pod may be bound to the one
// node, as kube-scheduler's default filters decide it for a cluster of
// one: scheduling gates, an unschedulable node, taints, node selector and
// required node affinity, host ports, and the resources the node has
// left. It is pure: the node agent gives it the node and the pods bound
// to it, and executes the decision (bind, or PodScheduled=False with the
// scheduler's reason and message).
package schedule

import (
	"fmt"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	resourcehelper "k8s.io/component-helpers/resource"
	corev1helpers "k8s.io/component-helpers/scheduling/corev1"
	"k8s.io/component-helpers/scheduling/corev1/nodeaffinity"
)

// The PodScheduled=False reasons kube-scheduler gives.
const (
	ReasonGated         = "SchedulingGated"
	ReasonUnschedulable = corev1.PodReasonUnschedulable
)

// Decision is whether the pod fits, and if not the PodScheduled
// condition's reason and message.
type Decision struct {
	Fit     bool
	Reason  string
	Message string
}

// Decide filters node for pod, bound being the pods already bound to it.
// The filters run in the default profile's order and the first that
// fails decides, as for one node the scheduler's framework does.
func Decide(pod *corev1.Pod, node *corev1.Node, bound []*corev1.Pod) Decision {
	if len(pod.Spec.SchedulingGates) > 0 {
		return Decision{Reason: ReasonGated, Message: "Scheduling is blocked due to non-empty scheduling gates"}
	}
	if node == nil {
		return unschedulable([]string{"node(s) not found"}, false)
	}
	if reason := unschedulableNode(pod, node); reason != "" {
		return unschedulable([]string{reason}, false)
	}
	if reason := untoleratedTaint(pod, node); reason != "" {
		return unschedulable([]string{reason}, false)
	}
	if ok, _ := nodeaffinity.GetRequiredNodeAffinity(pod).Match(node); !ok {
		return unschedulable([]string{"node(s) didn't match Pod's node affinity/selector"}, false)
	}
	if portsConflict(pod, bound) {
		return unschedulable([]string{"node(s) didn't have free ports for the requested pod ports"}, true)
	}
	if reasons := insufficient(pod, node, bound); len(reasons) > 0 {
		return unschedulable(reasons, true)
	}
	return Decision{Fit: true}
}

// unschedulable is the scheduler's FitError message for one node that
// failed for reasons; preemption could help only resolvable failures
// (ports, resources), and finds no victims here as peapod does not
// preempt.
func unschedulable(reasons []string, resolvable bool) Decision {
	sort.Strings(reasons)
	parts := make([]string, len(reasons))
	for i, r := range reasons {
		parts[i] = "1 " + r
	}
	preemption := "1 Preemption is not helpful for scheduling."
	if resolvable {
		preemption = "1 No preemption victims found for incoming pod."
	}
	return Decision{Reason: ReasonUnschedulable,
		Message: fmt.Sprintf("0/1 nodes are available: %s. preemption: 0/1 nodes are available: %s", strings.Join(parts, ", "), preemption)}
}

// unschedulableNode is the NodeUnschedulable filter: a cordoned node
// takes only pods that tolerate its unschedulable taint.
func unschedulableNode(pod *corev1.Pod, node *corev1.Node) string {
	if !node.Spec.Unschedulable {
		return ""
	}
	taint := corev1.Taint{Key: corev1.TaintNodeUnschedulable, Effect: corev1.TaintEffectNoSchedule}
	if corev1helpers.TolerationsTolerateTaint(pod.Spec.Tolerations, &taint) {
		return ""
	}
	return "node(s) were unschedulable"
}

// untoleratedTaint is the TaintToleration filter: a NoSchedule or
// NoExecute taint the pod does not tolerate.
func untoleratedTaint(pod *corev1.Pod, node *corev1.Node) string {
	taint, found := corev1helpers.FindMatchingUntoleratedTaint(node.Spec.Taints, pod.Spec.Tolerations, func(t *corev1.Taint) bool {
		return t.Effect == corev1.TaintEffectNoSchedule || t.Effect == corev1.TaintEffectNoExecute
	})
	if !found {
		return ""
	}
	return fmt.Sprintf("node(s) had untolerated taint {%s: %s}", taint.Key, taint.Value)
}

type hostPort struct {
	ip       string
	protocol corev1.Protocol
	port     int32
}

func hostPorts(pod *corev1.Pod) []hostPort {
	var out []hostPort
	for _, cs := range [][]corev1.Container{pod.Spec.InitContainers, pod.Spec.Containers} {
		for _, c := range cs {
			for _, p := range c.Ports {
				if p.HostPort <= 0 {
					continue
				}
				hp := hostPort{ip: p.HostIP, protocol: p.Protocol, port: p.HostPort}
				if hp.ip == "" {
					hp.ip = "0.0.0.0"
				}
				if hp.protocol == "" {
					hp.protocol = corev1.ProtocolTCP
				}
				out = append(out, hp)
			}
		}
	}
	return out
}

// portsConflict is the NodePorts filter: a host port (protocol, port)
// already taken on the same host IP, 0.0.0.0 overlapping every IP.
func portsConflict(pod *corev1.Pod, bound []*corev1.Pod) bool {
	want := hostPorts(pod)
	if len(want) == 0 {
		return false
	}
	for _, other := range bound {
		for _, used := range hostPorts(other) {
			for _, w := range want {
				if w.port == used.port && w.protocol == used.protocol && (w.ip == used.ip || w.ip == "0.0.0.0" || used.ip == "0.0.0.0") {
					return true
				}
			}
		}
	}
	return false
}

// insufficient is the NodeResourcesFit filter: the pod count, and each
// resource the pod requests (its effective requests: init containers,
// sidecars, overhead) against what the node's allocatable leaves after
// the bound pods' requests.
func insufficient(pod *corev1.Pod, node *corev1.Node, bound []*corev1.Pod) []string {
	alloc := node.Status.Allocatable
	var reasons []string
	if pods, ok := alloc[corev1.ResourcePods]; ok && int64(len(bound)+1) > pods.Value() {
		reasons = append(reasons, "Too many pods")
	}
	used := corev1.ResourceList{}
	for _, p := range bound {
		for name, q := range resourcehelper.PodRequests(p, resourcehelper.PodResourcesOptions{}) {
			sum := used[name]
			sum.Add(q)
			used[name] = sum
		}
	}
	for name, q := range resourcehelper.PodRequests(pod, resourcehelper.PodResourcesOptions{}) {
		if q.IsZero() {
			continue
		}
		free, ok := alloc[name]
		if !ok {
			free = resource.Quantity{}
		}
		free = free.DeepCopy()
		u := used[name]
		free.Sub(u)
		if q.Cmp(free) > 0 {
			reasons = append(reasons, "Insufficient "+string(name))
		}
	}
	return reasons
}
