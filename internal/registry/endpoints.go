package registry

import (
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apimachineryvalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

var supportedProtocols = []corev1.Protocol{corev1.ProtocolTCP, corev1.ProtocolUDP, corev1.ProtocolSCTP}

func endpointsResource() *Resource {
	gk := corev1.SchemeGroupVersion.WithKind("Endpoints").GroupKind()
	return &Resource{
		GroupVersion: corev1.SchemeGroupVersion,
		Resource:     "endpoints",
		Kind:         "Endpoints",
		SingularName: "endpoints",
		ShortNames:   []string{"ep"},
		Namespaced:   true,
		New:          func() runtime.Object { return &corev1.Endpoints{} },
		NewList:      func() runtime.Object { return &corev1.EndpointsList{} },
		Default:      defaulter(DefaultEndpoints),
		Validate:     validator(gk, ValidateEndpoints),
		ValidateUpdate: updateValidator(gk, func(ep, old *corev1.Endpoints) field.ErrorList {
			return append(validateMetaUpdate(&ep.ObjectMeta, &old.ObjectMeta), ValidateEndpoints(ep)...)
		}),
		Fields: fielder[*corev1.Endpoints](true, nil),
		Columns: []metav1.TableColumnDefinition{
			nameColumn,
			column("Endpoints", "string", corev1.Endpoints{}.SwaggerDoc()["subsets"]),
			ageColumn,
		},
		Row: rower(func(ep *corev1.Endpoints, now time.Time) []any {
			return []any{ep.Name, formatEndpoints(ep), age(ep.CreationTimestamp, now)}
		}),
	}
}

// DefaultEndpoints sets port protocols to TCP.
func DefaultEndpoints(ep *corev1.Endpoints) {
	for i := range ep.Subsets {
		for j := range ep.Subsets[i].Ports {
			if ep.Subsets[i].Ports[j].Protocol == "" {
				ep.Subsets[i].Ports[j].Protocol = corev1.ProtocolTCP
			}
		}
	}
}

// ValidateEndpoints checks addresses (IPs) and ports (names required
// when there are several, numbers, protocols) of every subset.
func ValidateEndpoints(ep *corev1.Endpoints) field.ErrorList {
	errs := validateMeta(&ep.ObjectMeta, true, apimachineryvalidation.NameIsDNSSubdomain)
	for i, ss := range ep.Subsets {
		sp := field.NewPath("subsets").Index(i)
		for j, a := range ss.Addresses {
			errs = append(errs, validation.IsValidIP(sp.Child("addresses").Index(j).Child("ip"), a.IP)...)
		}
		for j, a := range ss.NotReadyAddresses {
			errs = append(errs, validation.IsValidIP(sp.Child("notReadyAddresses").Index(j).Child("ip"), a.IP)...)
		}
		names := map[string]bool{}
		for j, port := range ss.Ports {
			errs = append(errs, validateNamedPort(port.Name, port.Port, port.Protocol, len(ss.Ports) > 1, names, sp.Child("ports").Index(j))...)
		}
	}
	return errs
}

// validateNamedPort checks a port of a list as Services and Endpoints
// have them: a name (required when there are several; a DNS label; unique
// among names), a port number and a protocol.
func validateNamedPort(name string, port int32, proto corev1.Protocol, several bool, names map[string]bool, pp *field.Path) field.ErrorList {
	var errs field.ErrorList
	switch {
	case name == "" && several:
		errs = append(errs, field.Required(pp.Child("name"), ""))
	case name != "":
		for _, msg := range validation.IsDNS1123Label(name) {
			errs = append(errs, field.Invalid(pp.Child("name"), name, msg))
		}
		if names[name] {
			errs = append(errs, field.Duplicate(pp.Child("name"), name))
		}
		names[name] = true
	}
	for _, msg := range validation.IsValidPortNum(int(port)) {
		errs = append(errs, field.Invalid(pp.Child("port"), port, msg))
	}
	return append(errs, validateProtocol(proto, pp.Child("protocol"))...)
}

func validateProtocol(p corev1.Protocol, path *field.Path) field.ErrorList {
	switch p {
	case "":
		return field.ErrorList{field.Required(path, "")}
	case corev1.ProtocolTCP, corev1.ProtocolUDP, corev1.ProtocolSCTP:
		return nil
	}
	return field.ErrorList{field.NotSupported(path, p, supportedProtocols)}
}

// formatEndpoints is the ENDPOINTS cell: ip:port for every port of every
// subset (bare IPs for a subset without ports), the first three and
// "+ N more...", "<none>" without subsets.
func formatEndpoints(ep *corev1.Endpoints) string {
	if len(ep.Subsets) == 0 {
		return "<none>"
	}
	const max = 3
	var list []string
	count := 0
	for _, ss := range ep.Subsets {
		if len(ss.Ports) == 0 {
			count += len(ss.Addresses)
			for _, a := range ss.Addresses {
				if len(list) < max {
					list = append(list, a.IP)
				}
			}
			continue
		}
		for _, port := range ss.Ports {
			count += len(ss.Addresses)
			for _, a := range ss.Addresses {
				if len(list) < max {
					list = append(list, net.JoinHostPort(a.IP, strconv.Itoa(int(port.Port))))
				}
			}
		}
	}
	ret := strings.Join(list, ",")
	if count > max {
		return fmt.Sprintf("%s + %d more...", ret, count-max)
	}
	return ret
}
