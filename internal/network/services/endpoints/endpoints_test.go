package endpoints

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
)

func svc(target intstr.IntOrString) *corev1.Service {
	return &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default", UID: "svc-uid", Labels: map[string]string{"tier": "front"}},
		Spec: corev1.ServiceSpec{
			Selector:  map[string]string{"app": "web"},
			ClusterIP: "10.96.0.10",
			Ports:     []corev1.ServicePort{{Name: "http", Port: 80, Protocol: corev1.ProtocolTCP, TargetPort: target}},
		},
	}
}

type podOpt func(*corev1.Pod)

func pod(name, ip string, opts ...podOpt) *corev1.Pod {
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default", UID: types.UID(name + "-uid"), Labels: map[string]string{"app": "web"}},
		Spec: corev1.PodSpec{NodeName: "node", Containers: []corev1.Container{{
			Name: "c", Ports: []corev1.ContainerPort{{Name: "web", ContainerPort: 8080, Protocol: corev1.ProtocolTCP}},
		}}},
		Status: corev1.PodStatus{Phase: corev1.PodRunning, PodIP: ip, Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}}},
	}
	for _, o := range opts {
		o(p)
	}
	return p
}

func unready(p *corev1.Pod)     { p.Status.Conditions[0].Status = corev1.ConditionFalse }
func terminating(p *corev1.Pod) { now := metav1.Now(); p.DeletionTimestamp = &now }

func addr(p *corev1.Pod) corev1.EndpointAddress {
	node := "node"
	return corev1.EndpointAddress{IP: p.Status.PodIP, NodeName: &node, TargetRef: &corev1.ObjectReference{Kind: "Pod", Namespace: "default", Name: p.Name, UID: p.UID}}
}

func sliceEP(p *corev1.Pod, ready, serving, term bool) discoveryv1.Endpoint {
	node := "node"
	return discoveryv1.Endpoint{
		Addresses:  []string{p.Status.PodIP},
		Conditions: discoveryv1.EndpointConditions{Ready: &ready, Serving: &serving, Terminating: &term},
		TargetRef:  &corev1.ObjectReference{Kind: "Pod", Namespace: "default", Name: p.Name, UID: p.UID},
		NodeName:   &node,
	}
}

func TestCompute(t *testing.T) {
	a := pod("a", "10.88.0.5")
	b := pod("b", "10.88.0.3")
	c := pod("c", "10.88.0.4", unready)
	d := pod("d", "10.88.0.6", terminating)
	noIP := pod("noip", "")
	done := pod("done", "10.88.0.7", func(p *corev1.Pod) { p.Status.Phase = corev1.PodSucceeded })
	other := pod("other", "10.88.0.8", func(p *corev1.Pod) { p.Labels = map[string]string{"app": "db"} })
	elsewhere := pod("elsewhere", "10.88.0.9", func(p *corev1.Pod) { p.Namespace = "kube-system" })
	noPortName := pod("noport", "10.88.0.10", func(p *corev1.Pod) { p.Spec.Containers[0].Ports = nil })

	http, tcp := "http", corev1.ProtocolTCP
	port := func(n int32) []discoveryv1.EndpointPort {
		return []discoveryv1.EndpointPort{{Name: &http, Port: &n, Protocol: &tcp}}
	}
	for _, tc := range []struct {
		name       string
		target     intstr.IntOrString
		pods       []*corev1.Pod
		subsets    []corev1.EndpointSubset
		sliceEPs   []discoveryv1.Endpoint
		slicePorts []discoveryv1.EndpointPort
	}{{
		name:       "by number, sorted by IP",
		target:     intstr.FromInt32(8080),
		pods:       []*corev1.Pod{a, b, other, elsewhere, noIP, done},
		subsets:    []corev1.EndpointSubset{{Addresses: []corev1.EndpointAddress{addr(b), addr(a)}, Ports: []corev1.EndpointPort{{Name: "http", Port: 8080, Protocol: tcp}}}},
		sliceEPs:   []discoveryv1.Endpoint{sliceEP(b, true, true, false), sliceEP(a, true, true, false)},
		slicePorts: port(8080),
	}, {
		name:       "by container port name; a pod without it is left out",
		target:     intstr.FromString("web"),
		pods:       []*corev1.Pod{a, noPortName},
		subsets:    []corev1.EndpointSubset{{Addresses: []corev1.EndpointAddress{addr(a)}, Ports: []corev1.EndpointPort{{Name: "http", Port: 8080, Protocol: tcp}}}},
		sliceEPs:   []discoveryv1.Endpoint{sliceEP(a, true, true, false)},
		slicePorts: port(8080),
	}, {
		name:   "unready is notReady; terminating is only in the slice",
		target: intstr.FromInt32(8080),
		pods:   []*corev1.Pod{a, c, d},
		subsets: []corev1.EndpointSubset{{
			Addresses:         []corev1.EndpointAddress{addr(a)},
			NotReadyAddresses: []corev1.EndpointAddress{addr(c)},
			Ports:             []corev1.EndpointPort{{Name: "http", Port: 8080, Protocol: tcp}},
		}},
		sliceEPs:   []discoveryv1.Endpoint{sliceEP(c, false, false, false), sliceEP(a, true, true, false), sliceEP(d, false, true, true)},
		slicePorts: port(8080),
	}, {
		name:       "nothing selected: an empty placeholder slice",
		target:     intstr.FromInt32(8080),
		pods:       []*corev1.Pod{other},
		slicePorts: []discoveryv1.EndpointPort{},
	}} {
		t.Run(tc.name, func(t *testing.T) {
			s := svc(tc.target)
			ep, slices := Compute(s, tc.pods)
			if ep.Name != "web" || ep.Namespace != "default" || ep.Labels["tier"] != "front" {
				t.Errorf("endpoints meta = %+v", ep.ObjectMeta)
			}
			if diff := cmp.Diff(tc.subsets, ep.Subsets); diff != "" {
				t.Errorf("subsets (-want +got):\n%s", diff)
			}
			if len(slices) != 1 {
				t.Fatalf("%d slices, want 1", len(slices))
			}
			sl := slices[0]
			if sl.AddressType != discoveryv1.AddressTypeIPv4 || sl.Labels[discoveryv1.LabelServiceName] != "web" ||
				sl.Labels[discoveryv1.LabelManagedBy] != ManagedBy || sl.Labels["tier"] != "front" {
				t.Errorf("slice meta = %+v, type %s", sl.ObjectMeta, sl.AddressType)
			}
			if len(sl.OwnerReferences) != 1 || sl.OwnerReferences[0].UID != "svc-uid" || sl.OwnerReferences[0].Kind != "Service" {
				t.Errorf("owner = %+v", sl.OwnerReferences)
			}
			if diff := cmp.Diff(tc.sliceEPs, sl.Endpoints); diff != "" {
				t.Errorf("slice endpoints (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tc.slicePorts, sl.Ports); diff != "" {
				t.Errorf("slice ports (-want +got):\n%s", diff)
			}
		})
	}
}

func TestComputePublishNotReady(t *testing.T) {
	s := svc(intstr.FromInt32(80))
	s.Spec.PublishNotReadyAddresses = true
	c := pod("c", "10.88.0.4", unready)
	ep, slices := Compute(s, []*corev1.Pod{c})
	if len(ep.Subsets) != 1 || len(ep.Subsets[0].Addresses) != 1 || len(ep.Subsets[0].NotReadyAddresses) != 0 {
		t.Errorf("subsets = %+v", ep.Subsets)
	}
	if r := slices[0].Endpoints[0].Conditions.Ready; r == nil || !*r {
		t.Errorf("ready = %v", r)
	}
}

func TestComputeSplitsByPorts(t *testing.T) {
	s := svc(intstr.FromString("web"))
	a := pod("a", "10.88.0.5")
	b := pod("b", "10.88.0.6", func(p *corev1.Pod) { p.Spec.Containers[0].Ports[0].ContainerPort = 9090 })
	ep, slices := Compute(s, []*corev1.Pod{a, b})
	if len(ep.Subsets) != 2 || len(slices) != 2 || slices[0].Name == slices[1].Name {
		t.Errorf("subsets %+v, slices %d", ep.Subsets, len(slices))
	}
}
