// Package endpoints turns a Service and the pods it selects into the
// Endpoints object and the EndpointSlices the upstream endpoints and
// endpointslice controllers would write: Compute is the pure part, the
// Controller keeps them in the API for `peapod serve`, and `peapod up`
// calls Compute on its own pods.
package endpoints

import (
	"bytes"
	"fmt"
	"hash/fnv"
	"net"
	"slices"
	"sort"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// Labels the endpointslice controller puts on its slices.
const (
	ManagedBy  = "endpointslice-controller.k8s.io"
	headless   = "service.kubernetes.io/headless"
	serviceTag = discoveryv1.LabelServiceName
	managedTag = discoveryv1.LabelManagedBy
)

// Managed reports whether the controllers own svc's endpoints: only a
// Service with a selector has them computed (the others, default/kubernetes
// among them, are written by whoever made them).
func Managed(svc *corev1.Service) bool {
	return len(svc.Spec.Selector) > 0 && svc.Spec.Type != corev1.ServiceTypeExternalName
}

// Compute returns svc's Endpoints and EndpointSlices (one per distinct set
// of resolved ports, a single empty one when no pod is selected) given
// all pods of its namespace (others are ignored). svc must be Managed.
func Compute(svc *corev1.Service, pods []*corev1.Pod) (*corev1.Endpoints, []*discoveryv1.EndpointSlice) {
	sel := labels.SelectorFromSet(svc.Spec.Selector)
	var selected []*corev1.Pod
	for _, p := range pods {
		if p.Namespace == svc.Namespace && sel.Matches(labels.Set(p.Labels)) && p.Status.PodIP != "" && !terminal(p) {
			selected = append(selected, p)
		}
	}
	// Stable output whatever order the pods came in.
	sort.Slice(selected, func(i, j int) bool {
		return lessIP(selected[i].Status.PodIP, selected[j].Status.PodIP, selected[i].Name, selected[j].Name)
	})
	return computeEndpoints(svc, selected), computeSlices(svc, selected)
}

func terminal(p *corev1.Pod) bool {
	return p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed
}

func lessIP(a, b, na, nb string) bool {
	if c := bytes.Compare(net.ParseIP(a), net.ParseIP(b)); c != 0 {
		return c < 0
	}
	return na < nb
}

// Ready is the pod's Ready condition, as podutil.IsPodReady reads it.
func Ready(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// FindPort resolves a service targetPort on pod: a number as is, a name
// through the pod's container ports of the same name and protocol.
func FindPort(pod *corev1.Pod, sp *corev1.ServicePort) (int32, bool) {
	switch sp.TargetPort.Type {
	case intstr.String:
		for _, c := range pod.Spec.Containers {
			for _, cp := range c.Ports {
				if cp.Name == sp.TargetPort.StrVal && protocolOf(cp.Protocol) == protocolOf(sp.Protocol) {
					return cp.ContainerPort, true
				}
			}
		}
		return 0, false
	case intstr.Int:
		if sp.TargetPort.IntVal == 0 {
			return sp.Port, true
		}
		return sp.TargetPort.IntVal, true
	}
	return 0, false
}

func protocolOf(p corev1.Protocol) corev1.Protocol {
	if p == "" {
		return corev1.ProtocolTCP
	}
	return p
}

func targetRef(p *corev1.Pod) *corev1.ObjectReference {
	return &corev1.ObjectReference{Kind: "Pod", Namespace: p.Namespace, Name: p.Name, UID: p.UID}
}

// hostname is published only for a pod whose subdomain is the service.
func hostname(svc *corev1.Service, p *corev1.Pod) string {
	if p.Spec.Hostname != "" && p.Spec.Subdomain == svc.Name {
		return p.Spec.Hostname
	}
	return ""
}

func nodeName(p *corev1.Pod) *string {
	if p.Spec.NodeName == "" {
		return nil
	}
	n := p.Spec.NodeName
	return &n
}

// computeEndpoints follows the endpoints controller: terminating pods are
// left out unless publishNotReadyAddresses, unready ones go to
// notReadyAddresses, and addresses are packed into subsets by port set.
func computeEndpoints(svc *corev1.Service, pods []*corev1.Pod) *corev1.Endpoints {
	tolerate := svc.Spec.PublishNotReadyAddresses
	type group struct {
		ports           []corev1.EndpointPort
		ready, notReady []corev1.EndpointAddress
	}
	groups := map[string]*group{}
	var order []string
	for _, p := range pods {
		if !tolerate && p.DeletionTimestamp != nil {
			continue
		}
		addr := corev1.EndpointAddress{IP: p.Status.PodIP, Hostname: hostname(svc, p), NodeName: nodeName(p), TargetRef: targetRef(p)}
		var ports []corev1.EndpointPort
		for i := range svc.Spec.Ports {
			sp := &svc.Spec.Ports[i]
			if n, ok := FindPort(p, sp); ok {
				ports = append(ports, corev1.EndpointPort{Name: sp.Name, Port: n, Protocol: protocolOf(sp.Protocol), AppProtocol: sp.AppProtocol})
			}
		}
		// A service without ports still lists its pods (headless).
		if len(ports) == 0 && len(svc.Spec.Ports) > 0 {
			continue
		}
		key := endpointPortsKey(ports)
		g := groups[key]
		if g == nil {
			g = &group{ports: ports}
			groups[key] = g
			order = append(order, key)
		}
		if tolerate || Ready(p) {
			g.ready = append(g.ready, addr)
		} else {
			g.notReady = append(g.notReady, addr)
		}
	}
	sort.Strings(order)
	ep := &corev1.Endpoints{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Endpoints"},
		ObjectMeta: metav1.ObjectMeta{Name: svc.Name, Namespace: svc.Namespace, Labels: serviceLabels(svc)},
	}
	for _, k := range order {
		g := groups[k]
		ep.Subsets = append(ep.Subsets, corev1.EndpointSubset{Addresses: g.ready, NotReadyAddresses: g.notReady, Ports: g.ports})
	}
	return ep
}

func endpointPortsKey(ports []corev1.EndpointPort) string {
	var parts []string
	for _, p := range ports {
		parts = append(parts, fmt.Sprintf("%s/%s/%d", p.Name, p.Protocol, p.Port))
	}
	slices.Sort(parts)
	return strings.Join(parts, ",")
}

// serviceLabels are the service's labels plus the headless marker, as
// both controllers copy them.
func serviceLabels(svc *corev1.Service) map[string]string {
	out := map[string]string{}
	for k, v := range svc.Labels {
		out[k] = v
	}
	if svc.Spec.ClusterIP == corev1.ClusterIPNone {
		out[headless] = ""
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

// computeSlices follows the endpointslice controller: terminating pods
// stay, with ready false (unless publishNotReadyAddresses), serving from
// the Ready condition and terminating from the deletion timestamp.
func computeSlices(svc *corev1.Service, pods []*corev1.Pod) []*discoveryv1.EndpointSlice {
	type group struct {
		ports []discoveryv1.EndpointPort
		eps   []discoveryv1.Endpoint
	}
	groups := map[string]*group{}
	var order []string
	for _, p := range pods {
		var ports []discoveryv1.EndpointPort
		var key []string
		for i := range svc.Spec.Ports {
			sp := &svc.Spec.Ports[i]
			n, ok := FindPort(p, sp)
			if !ok {
				continue
			}
			name, proto := sp.Name, protocolOf(sp.Protocol)
			ports = append(ports, discoveryv1.EndpointPort{Name: &name, Port: &n, Protocol: &proto, AppProtocol: sp.AppProtocol})
			key = append(key, fmt.Sprintf("%s/%s/%d", name, proto, n))
		}
		if len(ports) == 0 && len(svc.Spec.Ports) > 0 {
			continue
		}
		serving := Ready(p)
		terminating := p.DeletionTimestamp != nil
		ready := svc.Spec.PublishNotReadyAddresses || serving && !terminating
		ep := discoveryv1.Endpoint{
			Addresses:  []string{p.Status.PodIP},
			Conditions: discoveryv1.EndpointConditions{Ready: &ready, Serving: &serving, Terminating: &terminating},
			TargetRef:  targetRef(p),
			NodeName:   nodeName(p),
		}
		if h := hostname(svc, p); h != "" {
			ep.Hostname = &h
		}
		slices.Sort(key)
		k := strings.Join(key, ",")
		g := groups[k]
		if g == nil {
			g = &group{ports: ports}
			groups[k] = g
			order = append(order, k)
		}
		g.eps = append(g.eps, ep)
	}
	if len(order) == 0 {
		// The controller's placeholder: a slice with no endpoints says
		// the service has none, rather than that nobody looked.
		groups[""] = &group{ports: []discoveryv1.EndpointPort{}}
		order = []string{""}
	}
	sort.Strings(order)
	var out []*discoveryv1.EndpointSlice
	for _, k := range order {
		g := groups[k]
		lbl := serviceLabels(svc)
		if lbl == nil {
			lbl = map[string]string{}
		}
		lbl[serviceTag] = svc.Name
		lbl[managedTag] = ManagedBy
		isTrue := true
		out = append(out, &discoveryv1.EndpointSlice{
			TypeMeta: metav1.TypeMeta{APIVersion: "discovery.k8s.io/v1", Kind: "EndpointSlice"},
			ObjectMeta: metav1.ObjectMeta{
				Name:      SliceName(svc.Name, k),
				Namespace: svc.Namespace,
				Labels:    lbl,
				OwnerReferences: []metav1.OwnerReference{{
					APIVersion: "v1", Kind: "Service", Name: svc.Name, UID: svc.UID,
					Controller: &isTrue, BlockOwnerDeletion: &isTrue,
				}},
			},
			AddressType: discoveryv1.AddressTypeIPv4,
			Endpoints:   g.eps,
			Ports:       g.ports,
		})
	}
	return out
}

// SliceName is a slice's name, stable for a port set so a resync updates
// rather than replaces it (the controller's generateName would not be).
func SliceName(service, portsKey string) string {
	h := fnv.New32a()
	_, _ = h.Write([]byte(portsKey))
	return service + "-" + strconv.FormatUint(uint64(h.Sum32())%(36*36*36*36*36), 36)
}
