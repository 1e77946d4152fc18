package registry

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apimachineryvalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

func endpointSliceResource() *Resource {
	gk := discoveryv1.SchemeGroupVersion.WithKind("EndpointSlice").GroupKind()
	return &Resource{
		GroupVersion:   discoveryv1.SchemeGroupVersion,
		Resource:       "endpointslices",
		Kind:           "EndpointSlice",
		SingularName:   "endpointslice",
		Namespaced:     true,
		New:            func() runtime.Object { return &discoveryv1.EndpointSlice{} },
		NewList:        func() runtime.Object { return &discoveryv1.EndpointSliceList{} },
		Default:        defaulter(DefaultEndpointSlice),
		Validate:       validator(gk, ValidateEndpointSlice),
		ValidateUpdate: updateValidator(gk, ValidateEndpointSliceUpdate),
		Fields:         fielder[*discoveryv1.EndpointSlice](true, nil),
		Columns: []metav1.TableColumnDefinition{
			nameColumn,
			column("AddressType", "string", discoveryv1.EndpointSlice{}.SwaggerDoc()["addressType"]),
			column("Ports", "string", discoveryv1.EndpointSlice{}.SwaggerDoc()["ports"]),
			column("Endpoints", "string", discoveryv1.EndpointSlice{}.SwaggerDoc()["endpoints"]),
			ageColumn,
		},
		Row: rower(func(s *discoveryv1.EndpointSlice, now time.Time) []any {
			return []any{s.Name, string(s.AddressType), formatSlicePorts(s.Ports), formatSliceEndpoints(s.Endpoints), age(s.CreationTimestamp, now)}
		}),
	}
}

// DefaultEndpointSlice sets port names to "" and protocols to TCP, as
// SetDefaults_EndpointPort does.
func DefaultEndpointSlice(s *discoveryv1.EndpointSlice) {
	for i := range s.Ports {
		if s.Ports[i].Name == nil {
			s.Ports[i].Name = new(string)
		}
		if s.Ports[i].Protocol == nil {
			tcp := corev1.ProtocolTCP
			s.Ports[i].Protocol = &tcp
		}
	}
}

// ValidateEndpointSlice checks the address type, each endpoint's
// addresses (of that type) and the ports.
func ValidateEndpointSlice(s *discoveryv1.EndpointSlice) field.ErrorList {
	errs := validateMeta(&s.ObjectMeta, true, apimachineryvalidation.NameIsDNSSubdomain)
	types := []discoveryv1.AddressType{discoveryv1.AddressTypeIPv4, discoveryv1.AddressTypeIPv6, discoveryv1.AddressTypeFQDN}
	switch s.AddressType {
	case "":
		errs = append(errs, field.Required(field.NewPath("addressType"), ""))
	case discoveryv1.AddressTypeIPv4, discoveryv1.AddressTypeIPv6, discoveryv1.AddressTypeFQDN:
	default:
		errs = append(errs, field.NotSupported(field.NewPath("addressType"), s.AddressType, types))
	}
	for i, ep := range s.Endpoints {
		ap := field.NewPath("endpoints").Index(i).Child("addresses")
		if len(ep.Addresses) == 0 {
			errs = append(errs, field.Required(ap, "must contain at least 1 address"))
		}
		for j, a := range ep.Addresses {
			switch s.AddressType {
			case discoveryv1.AddressTypeIPv4:
				errs = append(errs, validation.IsValidIPv4Address(ap.Index(j), a)...)
			case discoveryv1.AddressTypeIPv6:
				errs = append(errs, validation.IsValidIPv6Address(ap.Index(j), a)...)
			case discoveryv1.AddressTypeFQDN:
				errs = append(errs, validation.IsFullyQualifiedDomainName(ap.Index(j), a)...)
			}
		}
	}
	names := map[string]bool{}
	for i, port := range s.Ports {
		pp := field.NewPath("ports").Index(i)
		if port.Name != nil {
			if *port.Name != "" {
				for _, msg := range validation.IsDNS1123Label(*port.Name) {
					errs = append(errs, field.Invalid(pp.Child("name"), *port.Name, msg))
				}
			}
			if names[*port.Name] {
				errs = append(errs, field.Duplicate(pp.Child("name"), *port.Name))
			}
			names[*port.Name] = true
		}
		if port.Protocol == nil {
			errs = append(errs, field.Required(pp.Child("protocol"), ""))
		} else if *port.Protocol != corev1.ProtocolTCP && *port.Protocol != corev1.ProtocolUDP && *port.Protocol != corev1.ProtocolSCTP {
			errs = append(errs, field.NotSupported(pp.Child("protocol"), *port.Protocol, supportedProtocols))
		}
		if port.Port != nil {
			for _, msg := range validation.IsInRange(int(*port.Port), 0, 65535) {
				errs = append(errs, field.Invalid(pp.Child("port"), *port.Port, msg))
			}
		}
	}
	return errs
}

// ValidateEndpointSliceUpdate adds that addressType never changes.
func ValidateEndpointSliceUpdate(s, old *discoveryv1.EndpointSlice) field.ErrorList {
	errs := validateMetaUpdate(&s.ObjectMeta, &old.ObjectMeta)
	errs = append(errs, ValidateEndpointSlice(s)...)
	return append(errs, apimachineryvalidation.ValidateImmutableField(s.AddressType, old.AddressType, field.NewPath("addressType"))...)
}

// formatSlicePorts is the PORTS cell: numbers (the name when unset, "*"
// without either), the first three and "+ N more...", "<unset>" if none.
func formatSlicePorts(ports []discoveryv1.EndpointPort) string {
	var list []string
	for _, p := range ports {
		n := "*"
		if p.Port != nil {
			n = strconv.Itoa(int(*p.Port))
		} else if p.Name != nil {
			n = *p.Name
		}
		list = append(list, n)
	}
	return listWithMore(list)
}

// formatSliceEndpoints is the ENDPOINTS cell: every address, as above.
func formatSliceEndpoints(eps []discoveryv1.Endpoint) string {
	var list []string
	for _, ep := range eps {
		list = append(list, ep.Addresses...)
	}
	return listWithMore(list)
}

func listWithMore(list []string) string {
	const max = 3
	if len(list) > max {
		return fmt.Sprintf("%s + %d more...", strings.Join(list[:max], ","), len(list)-max)
	}
	if len(list) == 0 {
		return "<unset>"
	}
	return strings.Join(list, ",")
}
