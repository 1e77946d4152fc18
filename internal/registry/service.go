package registry

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"k8s.io/kubernetes/pkg/apis/core"
	"k8s.io/kubernetes/pkg/registry/core/service"

	corev1 "k8s.io/api/core/v1"
	apimachineryvalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	metav1validation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

func serviceResource(alloc ServiceAllocator) *Resource {
	gk := corev1.SchemeGroupVersion.WithKind("Service").GroupKind()
	return &Resource{
		GroupVersion:   corev1.SchemeGroupVersion,
		Resource:       "services",
		Kind:           "Service",
		SingularName:   "service",
		ShortNames:     []string{"svc"},
		Categories:     []string{"all"},
		Namespaced:     true,
		Subresources:   []string{"status", "proxy"},
		New:            func() runtime.Object { return &corev1.Service{} },
		NewList:        func() runtime.Object { return &corev1.ServiceList{} },
		Default:        defaulter(DefaultService),
		Validate:       validator(gk, ValidateService),
		ValidateUpdate: updateValidator(gk, ValidateServiceUpdate),
		PrepareForCreate: creator(func(svc *corev1.Service, _ time.Time) {
			svc.Status = corev1.ServiceStatus{}
		}),
		PrepareForUpdate: updater(func(svc, old *corev1.Service, subresource string) {
			switch subresource {
			case "":
				svc.Status = old.Status
				keepAllocated(svc, old)
				// kube-apiserver's own: a type change drops what the
				// new type does not use (a cluster IP, node ports,
				// externalTrafficPolicy) unless the client changed it.
				serviceUpstream.prepareForUpdate(svc, old, "")
			case "status":
				svc.Spec = old.Spec
			}
		}),
		Fields: fielder[*corev1.Service](true, nil),
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
		Columns: []metav1.TableColumnDefinition{
			nameColumn,
			column("Type", "string", corev1.ServiceSpec{}.SwaggerDoc()["type"]),
			column("Cluster-IP", "string", corev1.ServiceSpec{}.SwaggerDoc()["clusterIP"]),
			column("External-IP", "string", corev1.ServiceSpec{}.SwaggerDoc()["externalIPs"]),
			column("Port(s)", "string", corev1.ServiceSpec{}.SwaggerDoc()["ports"]),
			ageColumn,
			wideColumn("Selector", corev1.ServiceSpec{}.SwaggerDoc()["selector"]),
		},
		Row: rower(ServiceRow),
	}
}

// DefaultService fills what SetDefaults_Service and the service
// registry do before allocation: type ClusterIP, sessionAffinity None,
// port protocol TCP and targetPort = port, traffic policies Cluster,
// clusterIPs from clusterIP, and SingleStack IPv4 for services that get
// a cluster IP.
func DefaultService(svc *corev1.Service) {
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

// ValidateService checks a defaulted service as ValidateService does,
// for the fields peapod serves.
func ValidateService(svc *corev1.Service) field.ErrorList {
	errs := validateMeta(&svc.ObjectMeta, true, apimachineryvalidation.NameIsDNS1035Label)
	s := &svc.Spec
	sp := field.NewPath("spec")
	headless := s.ClusterIP == corev1.ClusterIPNone

	switch s.Type {
	case corev1.ServiceTypeClusterIP, corev1.ServiceTypeNodePort, corev1.ServiceTypeLoadBalancer:
	case corev1.ServiceTypeExternalName:
		if s.ExternalName == "" {
			errs = append(errs, field.Required(sp.Child("externalName"), ""))
		} else {
			for _, msg := range validation.IsDNS1123Subdomain(strings.TrimSuffix(s.ExternalName, ".")) {
				errs = append(errs, field.Invalid(sp.Child("externalName"), s.ExternalName, msg))
			}
		}
	default:
		errs = append(errs, field.NotSupported(sp.Child("type"), s.Type, []corev1.ServiceType{
			corev1.ServiceTypeClusterIP, corev1.ServiceTypeExternalName, corev1.ServiceTypeLoadBalancer, corev1.ServiceTypeNodePort}))
	}
	if len(s.Ports) == 0 && !headless && s.Type != corev1.ServiceTypeExternalName {
		errs = append(errs, field.Required(sp.Child("ports"), ""))
	}
	for i, ip := range s.ClusterIPs {
		p := sp.Child("clusterIPs").Index(i)
		if ip == corev1.ClusterIPNone {
			if s.Type == corev1.ServiceTypeNodePort || s.Type == corev1.ServiceTypeLoadBalancer {
				errs = append(errs, field.Invalid(p, ip, "may not be set to 'None' for LoadBalancer or NodePort services"))
			}
			continue
		}
		errs = append(errs, validation.IsValidIP(p, ip)...)
	}

	names, portKeys, nodePortKeys := map[string]bool{}, map[string]bool{}, map[string]bool{}
	for i, port := range s.Ports {
		pp := sp.Child("ports").Index(i)
		errs = append(errs, validateNamedPort(port.Name, port.Port, port.Protocol, len(s.Ports) > 1, names, pp)...)
		if port.TargetPort.Type == intstr.String {
			for _, msg := range validation.IsValidPortName(port.TargetPort.StrVal) {
				errs = append(errs, field.Invalid(pp.Child("targetPort"), port.TargetPort.StrVal, msg))
			}
		} else {
			for _, msg := range validation.IsValidPortNum(int(port.TargetPort.IntVal)) {
				errs = append(errs, field.Invalid(pp.Child("targetPort"), port.TargetPort.IntVal, msg))
			}
		}
		key := fmt.Sprintf("%d/%s", port.Port, port.Protocol)
		if portKeys[key] {
			errs = append(errs, field.Duplicate(pp, key))
		}
		portKeys[key] = true
		if port.NodePort != 0 {
			if s.Type == corev1.ServiceTypeClusterIP {
				errs = append(errs, field.Forbidden(pp.Child("nodePort"), "may not be used when `type` is 'ClusterIP'"))
			}
			nk := fmt.Sprintf("%d/%s", port.NodePort, port.Protocol)
			if nodePortKeys[nk] {
				errs = append(errs, field.Duplicate(pp.Child("nodePort"), port.NodePort))
			}
			nodePortKeys[nk] = true
		}
	}
	errs = append(errs, metav1validation.ValidateLabels(s.Selector, sp.Child("selector"))...)
	switch s.SessionAffinity {
	case corev1.ServiceAffinityNone, corev1.ServiceAffinityClientIP:
	default:
		errs = append(errs, field.NotSupported(sp.Child("sessionAffinity"), s.SessionAffinity,
			[]corev1.ServiceAffinity{corev1.ServiceAffinityClientIP, corev1.ServiceAffinityNone}))
	}
	external := s.Type == corev1.ServiceTypeNodePort || s.Type == corev1.ServiceTypeLoadBalancer
	switch {
	case s.ExternalTrafficPolicy == "":
	case !external:
		errs = append(errs, field.Invalid(sp.Child("externalTrafficPolicy"), s.ExternalTrafficPolicy, "may only be set for externally-accessible services"))
	case s.ExternalTrafficPolicy != corev1.ServiceExternalTrafficPolicyCluster && s.ExternalTrafficPolicy != corev1.ServiceExternalTrafficPolicyLocal:
		errs = append(errs, field.NotSupported(sp.Child("externalTrafficPolicy"), s.ExternalTrafficPolicy,
			[]corev1.ServiceExternalTrafficPolicy{corev1.ServiceExternalTrafficPolicyCluster, corev1.ServiceExternalTrafficPolicyLocal}))
	}
	if p := s.InternalTrafficPolicy; p != nil && *p != corev1.ServiceInternalTrafficPolicyCluster && *p != corev1.ServiceInternalTrafficPolicyLocal {
		errs = append(errs, field.NotSupported(sp.Child("internalTrafficPolicy"), *p,
			[]corev1.ServiceInternalTrafficPolicy{corev1.ServiceInternalTrafficPolicyCluster, corev1.ServiceInternalTrafficPolicyLocal}))
	}
	return errs
}

// ValidateServiceUpdate adds that allocated cluster IPs never change,
// unless the service becomes or stops being an ExternalName.
func ValidateServiceUpdate(svc, old *corev1.Service) field.ErrorList {
	errs := validateMetaUpdate(&svc.ObjectMeta, &old.ObjectMeta)
	if needsClusterIP(svc) && needsClusterIP(old) {
		for i, ip := range old.Spec.ClusterIPs {
			if i < len(svc.Spec.ClusterIPs) && ip != svc.Spec.ClusterIPs[i] {
				errs = append(errs, field.Invalid(field.NewPath("spec", "clusterIPs").Index(i), svc.Spec.ClusterIPs, "may not change once set"))
			}
		}
		if len(old.Spec.ClusterIPs) > 0 && len(svc.Spec.ClusterIPs) == 0 {
			errs = append(errs, field.Invalid(field.NewPath("spec", "clusterIPs").Index(0), svc.Spec.ClusterIPs, "primary clusterIP can not be unset"))
		}
	}
	return append(errs, ValidateService(svc)...)
}

// ServiceRow renders a service as printService does.
func ServiceRow(svc *corev1.Service, now time.Time) []any {
	clusterIP := "<none>"
	if len(svc.Spec.ClusterIPs) > 0 {
		clusterIP = svc.Spec.ClusterIPs[0]
	}
	ports := make([]string, len(svc.Spec.Ports))
	for i, p := range svc.Spec.Ports {
		ports[i] = fmt.Sprintf("%d/%s", p.Port, p.Protocol)
		if p.NodePort > 0 {
			ports[i] = fmt.Sprintf("%d:%d/%s", p.Port, p.NodePort, p.Protocol)
		}
	}
	portsCell := strings.Join(ports, ",")
	if portsCell == "" {
		portsCell = "<none>"
	}
	return []any{svc.Name, string(svc.Spec.Type), clusterIP, serviceExternalIP(svc), portsCell,
		age(svc.CreationTimestamp, now), labels.FormatLabels(svc.Spec.Selector)}
}

// serviceExternalIP is the EXTERNAL-IP cell. The API server renders it
// wide (Table rows are always wide), so load-balancer addresses are not
// clipped.
func serviceExternalIP(svc *corev1.Service) string {
	switch svc.Spec.Type {
	case corev1.ServiceTypeClusterIP, corev1.ServiceTypeNodePort:
		if len(svc.Spec.ExternalIPs) > 0 {
			return strings.Join(svc.Spec.ExternalIPs, ",")
		}
		return "<none>"
	case corev1.ServiceTypeLoadBalancer:
		seen := map[string]bool{}
		for _, in := range svc.Status.LoadBalancer.Ingress {
			if in.IP != "" {
				seen[in.IP] = true
			} else if in.Hostname != "" {
				seen[in.Hostname] = true
			}
		}
		lb := make([]string, 0, len(seen))
		for k := range seen {
			lb = append(lb, k)
		}
		sort.Strings(lb)
		all := append(lb, svc.Spec.ExternalIPs...)
		if len(all) == 0 {
			return "<pending>"
		}
		return strings.Join(all, ",")
	case corev1.ServiceTypeExternalName:
		return svc.Spec.ExternalName
	}
	return "<unknown>"
}

// serviceUpstream runs kube-apiserver's service strategy where peapod's
// own rules leave off.
var serviceUpstream = upstream{gvk: corev1.SchemeGroupVersion.WithKind("Service"), newInternal: func() runtime.Object { return &core.Service{} }, main: service.Strategy}
