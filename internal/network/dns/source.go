package dns

import (
	"sync"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/labels"
	corelisters "k8s.io/client-go/listers/core/v1"
	discoverylisters "k8s.io/client-go/listers/discovery/v1"

	"peapod/internal/network/services/endpoints"
)

// Listers is the Source of `peapod serve`: informer caches, so the
// EndpointSlices are whatever the endpoints controller wrote.
type Listers struct {
	ServiceLister       corelisters.ServiceLister
	EndpointSliceLister discoverylisters.EndpointSliceLister
	PodLister           corelisters.PodLister
}

var _ Source = Listers{}

// Service implements Source.
func (l Listers) Service(namespace, name string) *corev1.Service {
	svc, err := l.ServiceLister.Services(namespace).Get(name)
	if err != nil {
		return nil
	}
	return svc
}

// Services implements Source.
func (l Listers) Services() []*corev1.Service {
	svcs, _ := l.ServiceLister.List(labels.Everything())
	return svcs
}

// EndpointSlices implements Source.
func (l Listers) EndpointSlices(namespace, service string) []*discoveryv1.EndpointSlice {
	sel := labels.SelectorFromSet(labels.Set{discoveryv1.LabelServiceName: service})
	slices, _ := l.EndpointSliceLister.EndpointSlices(namespace).List(sel)
	return slices
}

// PodIP implements Source.
func (l Listers) PodIP(namespace, ip string) bool {
	pods, _ := l.PodLister.Pods(namespace).List(labels.Everything())
	for _, p := range pods {
		if hasIP(p, ip) {
			return true
		}
	}
	return false
}

func hasIP(p *corev1.Pod, ip string) bool {
	if p.Status.PodIP == ip {
		return true
	}
	for _, a := range p.Status.PodIPs {
		if a.IP == ip {
			return true
		}
	}
	return false
}

// Static is the Source of `peapod up`: the Services of its files and its
// pods as their workers report them, from which it computes the
// endpoints, there being no controller to write them.
type Static struct {
	services []*corev1.Service
	mu       sync.Mutex
	pods     map[string]*corev1.Pod // by namespace/name
}

var _ Source = (*Static)(nil)

// NewStatic serves services (their cluster IPs already allocated).
func NewStatic(services []*corev1.Service) *Static {
	return &Static{services: services, pods: map[string]*corev1.Pod{}}
}

// SetPod records a pod's latest status (a worker's Reporter.Status).
func (s *Static) SetPod(pod *corev1.Pod) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.pods[namespaceOf(pod.Namespace)+"/"+pod.Name] = pod.DeepCopy()
}

func namespaceOf(ns string) string {
	if ns == "" {
		return corev1.NamespaceDefault
	}
	return ns
}

// Service implements Source.
func (s *Static) Service(namespace, name string) *corev1.Service {
	for _, svc := range s.services {
		if svc.Name == name && namespaceOf(svc.Namespace) == namespace {
			return svc
		}
	}
	return nil
}

// Services implements Source.
func (s *Static) Services() []*corev1.Service { return s.services }

// EndpointSlices implements Source: those the EndpointSlice controller
// would write for the pods reported so far.
func (s *Static) EndpointSlices(namespace, service string) []*discoveryv1.EndpointSlice {
	svc := s.Service(namespace, service)
	if svc == nil || !endpoints.Managed(svc) {
		return nil
	}
	s.mu.Lock()
	pods := make([]*corev1.Pod, 0, len(s.pods))
	for _, p := range s.pods {
		pods = append(pods, p)
	}
	s.mu.Unlock()
	_, slices := endpoints.Compute(svc, pods)
	return slices
}

// PodIP implements Source.
func (s *Static) PodIP(namespace, ip string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, p := range s.pods {
		if namespaceOf(p.Namespace) == namespace && hasIP(p, ip) {
			return true
		}
	}
	return false
}
