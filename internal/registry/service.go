package registry

import (
	"sync"

	"k8s.io/kubernetes/pkg/api/legacyscheme"
	"k8s.io/kubernetes/pkg/apis/core"
	"k8s.io/kubernetes/pkg/registry/core/service"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"
)

func serviceResource(alloc ServiceAllocator) *Resource {
	r := &Resource{
		GroupVersion: corev1.SchemeGroupVersion,
		Resource:     "services",
		Kind:         "Service",
		SingularName: "service",
		ShortNames:   []string{"svc"},
		Categories:   []string{"all"},
		Namespaced:   true,
		Subresources: []string{"status", "proxy"},
		New:          func() runtime.Object { return &corev1.Service{} },
		NewList:      func() runtime.Object { return &corev1.ServiceList{} },
		Fields:       fielder[*corev1.Service](true, nil),
		Allocate: func(obj runtime.Object, others []runtime.Object) error {
			svc, ok := obj.(*corev1.Service)
			if !ok {
				return wrongType("Service", obj)
			}
			existing := make([]corev1.Service, 0, len(others))
			for _, o := range others {
				if other, ok := o.(*corev1.Service); ok {
					existing = append(existing, *other)
				}
			}
			return alloc.Allocate(svc, existing)
		},
	}
	serviceUpstream.apply(r)
	// Defaults: the v1 defaulting, then what kube-apiserver's service
	// storage fills before it allocates (IP families and policy).
	r.Default = defaulter(DefaultService)
	r.PrepareForUpdate = updater(func(svc, old *corev1.Service, subresource string) {
		switch subresource {
		case "":
			// The allocated values a client left out stay (the service
			// storage's patchAllocatedValues), then kube-apiserver's
			// strategy drops what a new type does not use (a cluster IP,
			// node ports, externalTrafficPolicy) unless the client
			// changed it.
			keepAllocated(svc, old)
			serviceUpstream.prepareForUpdate(svc, old, "")
		case "status":
			svc.Spec = old.Spec
		}
	})
	return r
}

// DefaultService fills what SetDefaults_Service and the service
// registry do before allocation: type ClusterIP, sessionAffinity None,
// port protocol TCP and targetPort = port, traffic policies Cluster,
// clusterIPs from clusterIP, and SingleStack IPv4 for services that get
// a cluster IP.
func DefaultService(svc *corev1.Service) {
	legacyscheme.Scheme.Default(svc)
	s := &svc.Spec
	if s.Type == "" {
		s.Type = corev1.ServiceTypeClusterIP
	}
	if s.SessionAffinity == "" {
		s.SessionAffinity = corev1.ServiceAffinityNone
	}
	if s.SessionAffinity == corev1.ServiceAffinityNone {
		s.SessionAffinityConfig = nil
	}
	if s.SessionAffinity == corev1.ServiceAffinityClientIP && (s.SessionAffinityConfig == nil || s.SessionAffinityConfig.ClientIP == nil || s.SessionAffinityConfig.ClientIP.TimeoutSeconds == nil) {
		timeout := corev1.DefaultClientIPServiceAffinitySeconds
		s.SessionAffinityConfig = &corev1.SessionAffinityConfig{ClientIP: &corev1.ClientIPConfig{TimeoutSeconds: &timeout}}
	}
	for i := range s.Ports {
		p := &s.Ports[i]
		if p.Protocol == "" {
			p.Protocol = corev1.ProtocolTCP
		}
		if (p.TargetPort.Type == intstr.Int && p.TargetPort.IntVal == 0) || (p.TargetPort.Type == intstr.String && p.TargetPort.StrVal == "") {
			p.TargetPort = intstr.FromInt32(p.Port)
		}
	}
	if (s.Type == corev1.ServiceTypeNodePort || s.Type == corev1.ServiceTypeLoadBalancer) && s.ExternalTrafficPolicy == "" {
		s.ExternalTrafficPolicy = corev1.ServiceExternalTrafficPolicyCluster
	}
	if s.Type != corev1.ServiceTypeExternalName && s.InternalTrafficPolicy == nil {
		cluster := corev1.ServiceInternalTrafficPolicyCluster
		s.InternalTrafficPolicy = &cluster
	}
	if s.Type == corev1.ServiceTypeLoadBalancer && s.AllocateLoadBalancerNodePorts == nil {
		t := true
		s.AllocateLoadBalancerNodePorts = &t
	}
	if s.ClusterIP != "" && len(s.ClusterIPs) == 0 {
		s.ClusterIPs = []string{s.ClusterIP}
	} else if s.ClusterIP == "" && len(s.ClusterIPs) > 0 {
		s.ClusterIP = s.ClusterIPs[0]
	}
	if s.Type != corev1.ServiceTypeExternalName {
		if s.IPFamilyPolicy == nil {
			single := corev1.IPFamilyPolicySingleStack
			s.IPFamilyPolicy = &single
		}
		if len(s.IPFamilies) == 0 {
			s.IPFamilies = []corev1.IPFamily{corev1.IPv4Protocol}
		}
	}
}

// keepAllocated carries the allocated clusterIP and nodePorts over an
// update that leaves them empty (a PUT of a manifest without them), as
// the service registry's patchAllocatedValues does.
func keepAllocated(svc, old *corev1.Service) {
	if needsClusterIP(old) && needsClusterIP(svc) && svc.Spec.ClusterIP == "" && len(svc.Spec.ClusterIPs) == 0 {
		svc.Spec.ClusterIP = old.Spec.ClusterIP
		svc.Spec.ClusterIPs = old.Spec.ClusterIPs
	}
	if needsNodePorts(old) && needsNodePorts(svc) {
		for i := range svc.Spec.Ports {
			p := &svc.Spec.Ports[i]
			if p.NodePort != 0 {
				continue
			}
			for _, o := range old.Spec.Ports {
				if o.Port == p.Port && o.Protocol == p.Protocol {
					p.NodePort = o.NodePort
					break
				}
			}
		}
	}
}

func needsClusterIP(svc *corev1.Service) bool {
	return svc.Spec.Type != corev1.ServiceTypeExternalName
}

func needsNodePorts(svc *corev1.Service) bool {
	switch svc.Spec.Type {
	case corev1.ServiceTypeNodePort:
		return true
	case corev1.ServiceTypeLoadBalancer:
		return svc.Spec.AllocateLoadBalancerNodePorts == nil || *svc.Spec.AllocateLoadBalancerNodePorts
	}
	return false
}

// ValidateService checks a defaulted, allocated service as
// kube-apiserver does on create.
func ValidateService(svc *corev1.Service) error { return services().Validate(svc) }

var services = sync.OnceValue(func() *Resource { return serviceResource(DefaultServiceAllocator()) })

// serviceUpstream is kube-apiserver's service strategy, printer and
// validation.
var serviceUpstream = upstream{gvk: corev1.SchemeGroupVersion.WithKind("Service"), newInternal: func() runtime.Object { return &core.Service{} }, main: service.Strategy}
