package registry

import (
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apimachineryvalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	metav1validation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

func nodeResource() *Resource {
	gk := corev1.SchemeGroupVersion.WithKind("Node").GroupKind()
	return &Resource{
		GroupVersion: corev1.SchemeGroupVersion,
		Resource:     "nodes",
		Kind:         "Node",
		SingularName: "node",
		ShortNames:   []string{"no"},
		Subresources: []string{"status", "proxy"},
		New:          func() runtime.Object { return &corev1.Node{} },
		NewList:      func() runtime.Object { return &corev1.NodeList{} },
		Default:      defaulter(DefaultNode),
		Validate:     validator(gk, ValidateNode),
		ValidateUpdate: updateValidator(gk, func(n, old *corev1.Node) field.ErrorList {
			return append(validateMetaUpdate(&n.ObjectMeta, &old.ObjectMeta), ValidateNode(n)...)
		}),
		// Nodes may be created with a status (the kubelet registers that
		// way), so there is no PrepareForCreate.
		PrepareForUpdate: updater(func(n, old *corev1.Node, subresource string) {
			switch subresource {
			case "":
				n.Status = old.Status
			case "status":
				n.Spec = old.Spec
			}
		}),
		Fields: fielder(false, func(n *corev1.Node, set fields.Set) {
			set["spec.unschedulable"] = strconv.FormatBool(n.Spec.Unschedulable)
		}),
		Columns: []metav1.TableColumnDefinition{
			nameColumn,
			column("Status", "string", "The status of the node"),
			column("Roles", "string", "The roles of the node"),
			ageColumn,
			column("Version", "string", corev1.NodeSystemInfo{}.SwaggerDoc()["kubeletVersion"]),
			wideColumn("Internal-IP", corev1.NodeStatus{}.SwaggerDoc()["addresses"]),
			wideColumn("External-IP", corev1.NodeStatus{}.SwaggerDoc()["addresses"]),
			wideColumn("OS-Image", corev1.NodeSystemInfo{}.SwaggerDoc()["osImage"]),
			wideColumn("Kernel-Version", corev1.NodeSystemInfo{}.SwaggerDoc()["kernelVersion"]),
			wideColumn("Container-Runtime", corev1.NodeSystemInfo{}.SwaggerDoc()["containerRuntimeVersion"]),
		},
		Row: rower(NodeRow),
	}
}

// DefaultNode copies capacity to allocatable when allocatable is unset,
// as SetDefaults_NodeStatus does.
func DefaultNode(n *corev1.Node) {
	if n.Status.Allocatable == nil && n.Status.Capacity != nil {
		n.Status.Allocatable = n.Status.Capacity.DeepCopy()
	}
}

// ValidateNode checks the name and taints.
func ValidateNode(n *corev1.Node) field.ErrorList {
	errs := validateMeta(&n.ObjectMeta, false, apimachineryvalidation.NameIsDNSSubdomain)
	effects := []corev1.TaintEffect{corev1.TaintEffectNoSchedule, corev1.TaintEffectPreferNoSchedule, corev1.TaintEffectNoExecute}
	for i, t := range n.Spec.Taints {
		p := field.NewPath("spec", "taints").Index(i)
		errs = append(errs, metav1validation.ValidateLabelName(t.Key, p.Child("key"))...)
		switch t.Effect {
		case "":
			errs = append(errs, field.Required(p.Child("effect"), ""))
		case corev1.TaintEffectNoSchedule, corev1.TaintEffectPreferNoSchedule, corev1.TaintEffectNoExecute:
		default:
			errs = append(errs, field.NotSupported(p.Child("effect"), t.Effect, effects))
		}
	}
	return errs
}

// NodeRow renders a node as printNode does: STATUS from the Ready
// condition (Unknown without one) plus SchedulingDisabled; ROLES from
// node-role.kubernetes.io/<role> labels and kubernetes.io/role.
func NodeRow(n *corev1.Node, now time.Time) []any {
	var status []string
	for _, c := range n.Status.Conditions {
		if c.Type == corev1.NodeReady {
			if c.Status == corev1.ConditionTrue {
				status = append(status, "Ready")
			} else {
				status = append(status, "NotReady")
			}
			break
		}
	}
	if len(status) == 0 {
		status = append(status, "Unknown")
	}
	if n.Spec.Unschedulable {
		status = append(status, "SchedulingDisabled")
	}
	roles := map[string]bool{}
	for k, v := range n.Labels {
		switch {
		case strings.HasPrefix(k, "node-role.kubernetes.io/"):
			if role := strings.TrimPrefix(k, "node-role.kubernetes.io/"); role != "" {
				roles[role] = true
			}
		case k == "kubernetes.io/role" && v != "":
			roles[v] = true
		}
	}
	roleList := sortedKeys(roles)
	rolesCell := strings.Join(roleList, ",")
	if rolesCell == "" {
		rolesCell = "<none>"
	}
	info := n.Status.NodeInfo
	return []any{
		n.Name, strings.Join(status, ","), rolesCell, age(n.CreationTimestamp, now), info.KubeletVersion,
		nodeAddress(n, corev1.NodeInternalIP), nodeAddress(n, corev1.NodeExternalIP),
		orUnknown(info.OSImage), orUnknown(info.KernelVersion), orUnknown(info.ContainerRuntimeVersion),
	}
}

func nodeAddress(n *corev1.Node, t corev1.NodeAddressType) string {
	for _, a := range n.Status.Addresses {
		if a.Type == t {
			return a.Address
		}
	}
	return "<none>"
}

func orUnknown(s string) string {
	if s == "" {
		return "<unknown>"
	}
	return s
}
