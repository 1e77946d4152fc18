package schedule

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func node(mut func(*corev1.Node)) *corev1.Node {
	n := &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: "vm", Labels: map[string]string{"kubernetes.io/hostname": "vm", "disk": "ssd"}},
		Status: corev1.NodeStatus{Allocatable: corev1.ResourceList{
			corev1.ResourceCPU: resource.MustParse("2"), corev1.ResourceMemory: resource.MustParse("4Gi"), corev1.ResourcePods: resource.MustParse("3"),
		}},
	}
	if mut != nil {
		mut(n)
	}
	return n
}

func pod(mut func(*corev1.Pod)) *corev1.Pod {
	p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "ns"}, Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c"}}}}
	if mut != nil {
		mut(p)
	}
	return p
}

func requests(cpu, mem string) func(*corev1.Pod) {
	return func(p *corev1.Pod) {
		p.Spec.Containers[0].Resources.Requests = corev1.ResourceList{corev1.ResourceCPU: resource.MustParse(cpu), corev1.ResourceMemory: resource.MustParse(mem)}
	}
}

func hostPortOn(ip string, proto corev1.Protocol, port int32) func(*corev1.Pod) {
	return func(p *corev1.Pod) {
		p.Spec.Containers[0].Ports = append(p.Spec.Containers[0].Ports, corev1.ContainerPort{ContainerPort: 80, HostPort: port, HostIP: ip, Protocol: proto})
	}
}

const (
	notHelpful = " preemption: 0/1 nodes are available: 1 Preemption is not helpful for scheduling."
	noVictims  = " preemption: 0/1 nodes are available: 1 No preemption victims found for incoming pod."
)

func TestDecide(t *testing.T) {
	for _, tc := range []struct {
		name    string
		pod     *corev1.Pod
		node    *corev1.Node
		bound   []*corev1.Pod
		reason  string // "" fits
		message string
	}{
		{name: "a plain pod fits", pod: pod(nil), node: node(nil)},
		{name: "scheduling gates hold it", pod: pod(func(p *corev1.Pod) { p.Spec.SchedulingGates = []corev1.PodSchedulingGate{{Name: "example.com/wait"}} }),
			node: node(nil), reason: "SchedulingGated", message: "Scheduling is blocked due to non-empty scheduling gates"},
		{name: "a cordoned node", pod: pod(nil), node: node(func(n *corev1.Node) { n.Spec.Unschedulable = true }),
			reason: "Unschedulable", message: "0/1 nodes are available: 1 node(s) were unschedulable." + notHelpful},
		{name: "a cordoned node, tolerated", node: node(func(n *corev1.Node) { n.Spec.Unschedulable = true }),
			pod: pod(func(p *corev1.Pod) {
				p.Spec.Tolerations = []corev1.Toleration{{Key: corev1.TaintNodeUnschedulable, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule}}
			})},
		{name: "an untolerated NoSchedule taint", pod: pod(nil),
			node: node(func(n *corev1.Node) {
				n.Spec.Taints = []corev1.Taint{{Key: "dedicated", Value: "gpu", Effect: corev1.TaintEffectNoSchedule}}
			}),
			reason: "Unschedulable", message: "0/1 nodes are available: 1 node(s) had untolerated taint {dedicated: gpu}." + notHelpful},
		{name: "a PreferNoSchedule taint does not filter", pod: pod(nil),
			node: node(func(n *corev1.Node) {
				n.Spec.Taints = []corev1.Taint{{Key: "soft", Effect: corev1.TaintEffectPreferNoSchedule}}
			})},
		{name: "a tolerated taint", node: node(func(n *corev1.Node) {
			n.Spec.Taints = []corev1.Taint{{Key: "dedicated", Value: "gpu", Effect: corev1.TaintEffectNoExecute}}
		}),
			pod: pod(func(p *corev1.Pod) {
				p.Spec.Tolerations = []corev1.Toleration{{Key: "dedicated", Operator: corev1.TolerationOpEqual, Value: "gpu"}}
			})},
		{name: "a nodeSelector the node matches", pod: pod(func(p *corev1.Pod) { p.Spec.NodeSelector = map[string]string{"disk": "ssd"} }), node: node(nil)},
		{name: "a nodeSelector no node matches", pod: pod(func(p *corev1.Pod) { p.Spec.NodeSelector = map[string]string{"disk": "hdd"} }), node: node(nil),
			reason: "Unschedulable", message: "0/1 nodes are available: 1 node(s) didn't match Pod's node affinity/selector." + notHelpful},
		{name: "required node affinity no node matches", node: node(nil), pod: pod(func(p *corev1.Pod) {
			p.Spec.Affinity = &corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{RequiredDuringSchedulingIgnoredDuringExecution: &corev1.NodeSelector{
				NodeSelectorTerms: []corev1.NodeSelectorTerm{{MatchExpressions: []corev1.NodeSelectorRequirement{{Key: "zone", Operator: corev1.NodeSelectorOpIn, Values: []string{"a"}}}}},
			}}}
		}), reason: "Unschedulable", message: "0/1 nodes are available: 1 node(s) didn't match Pod's node affinity/selector." + notHelpful},
		{name: "required node affinity on the node's name field", node: node(nil), pod: pod(func(p *corev1.Pod) {
			p.Spec.Affinity = &corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{RequiredDuringSchedulingIgnoredDuringExecution: &corev1.NodeSelector{
				NodeSelectorTerms: []corev1.NodeSelectorTerm{{MatchFields: []corev1.NodeSelectorRequirement{{Key: "metadata.name", Operator: corev1.NodeSelectorOpIn, Values: []string{"vm"}}}}},
			}}}
		})},
		{name: "a host port taken", pod: pod(hostPortOn("", "", 8080)), node: node(nil), bound: []*corev1.Pod{pod(hostPortOn("", corev1.ProtocolTCP, 8080))},
			reason: "Unschedulable", message: "0/1 nodes are available: 1 node(s) didn't have free ports for the requested pod ports." + noVictims},
		{name: "the same host port on another IP", pod: pod(hostPortOn("127.0.0.1", corev1.ProtocolTCP, 8080)), node: node(nil),
			bound: []*corev1.Pod{pod(hostPortOn("10.0.0.2", corev1.ProtocolTCP, 8080))}},
		{name: "the same host port on another protocol", pod: pod(hostPortOn("", corev1.ProtocolUDP, 8080)), node: node(nil),
			bound: []*corev1.Pod{pod(hostPortOn("", corev1.ProtocolTCP, 8080))}},
		{name: "0.0.0.0 overlaps a bound IP", pod: pod(hostPortOn("0.0.0.0", corev1.ProtocolTCP, 8080)), node: node(nil),
			bound: []*corev1.Pod{pod(hostPortOn("127.0.0.1", corev1.ProtocolTCP, 8080))}, reason: "Unschedulable",
			message: "0/1 nodes are available: 1 node(s) didn't have free ports for the requested pod ports." + noVictims},
		{name: "requests that fit", pod: pod(requests("1", "1Gi")), node: node(nil), bound: []*corev1.Pod{pod(requests("1", "1Gi"))}},
		{name: "cpu and memory left are too little", pod: pod(requests("1500m", "3Gi")), node: node(nil), bound: []*corev1.Pod{pod(requests("1", "2Gi"))},
			reason: "Unschedulable", message: "0/1 nodes are available: 1 Insufficient cpu, 1 Insufficient memory." + noVictims},
		{name: "an init container's request counts when it is the largest", node: node(nil), pod: pod(func(p *corev1.Pod) {
			p.Spec.InitContainers = []corev1.Container{{Name: "init", Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("3")}}}}
		}), reason: "Unschedulable", message: "0/1 nodes are available: 1 Insufficient cpu." + noVictims},
		{name: "too many pods", pod: pod(nil), node: node(nil), bound: []*corev1.Pod{pod(nil), pod(nil), pod(nil)},
			reason: "Unschedulable", message: "0/1 nodes are available: 1 Too many pods." + noVictims},
		{name: "an extended resource the node lacks", node: node(nil), pod: pod(func(p *corev1.Pod) {
			p.Spec.Containers[0].Resources.Requests = corev1.ResourceList{"example.com/gpu": resource.MustParse("1")}
		}), reason: "Unschedulable", message: "0/1 nodes are available: 1 Insufficient example.com/gpu." + noVictims},
		{name: "the first failing filter decides (taint before selector)", node: node(func(n *corev1.Node) {
			n.Spec.Taints = []corev1.Taint{{Key: "k", Effect: corev1.TaintEffectNoSchedule}}
		}), pod: pod(func(p *corev1.Pod) { p.Spec.NodeSelector = map[string]string{"disk": "hdd"} }),
			reason: "Unschedulable", message: "0/1 nodes are available: 1 node(s) had untolerated taint {k: }." + notHelpful},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := Decide(tc.pod, tc.node, tc.bound)
			if d.Fit != (tc.reason == "") || d.Reason != tc.reason || d.Message != tc.message {
				t.Errorf("Decide = %+v\nwant reason %q message %q", d, tc.reason, tc.message)
			}
		})
	}
}
