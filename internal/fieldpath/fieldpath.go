// Package fieldpath is the downward API's reading of a pod, the one the
// kubelet's pkg/fieldpath and resource helpers give both of its users: env
// (internal/agent) and downwardAPI and projected volumes (internal/volume).
// Each caller keeps what only it allows and its own error wording; the
// values and the rules for them are here.
package fieldpath

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/util/validation"
)

// Extract is the kubelet's ExtractFieldPathAsString for a pod: the
// metadata fields both env and volumes allow (name, namespace as written,
// uid, labels, annotations) and a single label or annotation by subscript,
// whose key must be a qualified name.
func Extract(pod *corev1.Pod, path string) (string, error) {
	if field, key, ok := SplitSubscript(path); ok {
		switch field {
		case "metadata.annotations":
			if errs := validation.IsQualifiedName(strings.ToLower(key)); len(errs) != 0 {
				return "", fmt.Errorf("invalid key subscript in %s: %s", path, strings.Join(errs, ";"))
			}
			return pod.Annotations[key], nil
		case "metadata.labels":
			if errs := validation.IsQualifiedName(key); len(errs) != 0 {
				return "", fmt.Errorf("invalid key subscript in %s: %s", path, strings.Join(errs, ";"))
			}
			return pod.Labels[key], nil
		}
		return "", fmt.Errorf("fieldPath %q does not support subscript", path)
	}
	switch path {
	case "metadata.name":
		return pod.Name, nil
	case "metadata.namespace":
		return pod.Namespace, nil
	case "metadata.uid":
		return string(pod.UID), nil
	case "metadata.labels":
		return FormatMap(pod.Labels), nil
	case "metadata.annotations":
		return FormatMap(pod.Annotations), nil
	}
	return "", fmt.Errorf("unsupported fieldPath: %v", path)
}

// SplitSubscript splits "metadata.labels['key']" into its field and key,
// as the kubelet's SplitMaybeSubscriptedPath: ok is false unless the path
// ends in "']" and has a non-empty field before the first "['".
func SplitSubscript(path string) (field, key string, ok bool) {
	s, found := strings.CutSuffix(path, "']")
	if !found {
		return "", "", false
	}
	field, key, found = strings.Cut(s, "['")
	if !found || field == "" {
		return "", "", false
	}
	return field, key, true
}

// FormatMap is the kubelet's FormatMap, the rendering of labels or
// annotations: `key="value"` lines sorted by key, Go-quoted, without a
// final newline.
func FormatMap(m map[string]string) string {
	var b strings.Builder
	for i, k := range slices.Sorted(maps.Keys(m)) {
		if i > 0 {
			b.WriteByte('\n')
		}
		fmt.Fprintf(&b, "%s=%q", k, m[k])
	}
	return b.String()
}

// Container is the kubelet's findContainerInPod: the regular container
// called name, else the init container (init true); nil when neither is.
func Container(pod *corev1.Pod, name string) (c *corev1.Container, init bool) {
	for i := range pod.Spec.Containers {
		if pod.Spec.Containers[i].Name == name {
			return &pod.Spec.Containers[i], false
		}
	}
	for i := range pod.Spec.InitContainers {
		if pod.Spec.InitContainers[i].Name == name {
			return &pod.Spec.InitContainers[i], true
		}
	}
	return nil, false
}

// PodLimitsOver puts the pod-level limits (PodLevelResources) in place of
// the node's allocatable for cpu and memory, the resources they support,
// as the kubelet's defaultPodLimitsForDownwardAPI does for env. Its
// downwardAPI volumes read the node's allocatable as it is. allocatable is
// not modified.
func PodLimitsOver(allocatable corev1.ResourceList, pod *corev1.Pod) corev1.ResourceList {
	if pod.Spec.Resources == nil || len(pod.Spec.Resources.Limits) == 0 {
		return allocatable
	}
	out := allocatable.DeepCopy()
	for _, r := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
		if v, ok := pod.Spec.Resources.Limits[r]; ok && !v.IsZero() {
			if _, ok := out[r]; ok {
				out[r] = v.DeepCopy()
			}
		}
	}
	return out
}

// ContainerResource is the kubelet's ExtractContainerResourceValue over
// MergeContainerResourceLimits: the limit or request fs selects from res,
// divided by the divisor (default 1) and rounded up. An unset or zero cpu,
// memory or ephemeral-storage limit reads as its amount in limitsFrom (the
// node's allocatable, or what stands for it); a nil limitsFrom defaults
// none. Hugepages are never defaulted: they always have a limit.
func ContainerResource(fs *corev1.ResourceFieldSelector, res corev1.ResourceRequirements, limitsFrom corev1.ResourceList) (string, error) {
	res = withDefaultLimits(res, limitsFrom)
	divisor := fs.Divisor
	if divisor.IsZero() {
		divisor = resource.MustParse("1")
	}
	var list corev1.ResourceList
	kind, rest, _ := strings.Cut(fs.Resource, ".")
	switch kind {
	case "limits":
		list = res.Limits
	case "requests":
		list = res.Requests
	default:
		return "", fmt.Errorf("unsupported container resource : %s", fs.Resource)
	}
	q := list[corev1.ResourceName(rest)]
	switch {
	case rest == string(corev1.ResourceCPU):
		return ceilDiv(q.MilliValue(), divisor.MilliValue())
	case rest == string(corev1.ResourceMemory), rest == string(corev1.ResourceEphemeralStorage),
		strings.HasPrefix(rest, corev1.ResourceHugePagesPrefix):
		return ceilDiv(q.Value(), divisor.Value())
	}
	return "", fmt.Errorf("unsupported container resource : %s", fs.Resource)
}

// withDefaultLimits is MergeContainerResourceLimits on a copy.
func withDefaultLimits(r corev1.ResourceRequirements, allocatable corev1.ResourceList) corev1.ResourceRequirements {
	out := corev1.ResourceRequirements{Requests: r.Requests, Limits: r.Limits.DeepCopy()}
	if out.Limits == nil {
		out.Limits = corev1.ResourceList{}
	}
	for _, name := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory, corev1.ResourceEphemeralStorage} {
		if q, ok := out.Limits[name]; !ok || q.IsZero() {
			if a, ok := allocatable[name]; ok {
				out.Limits[name] = a.DeepCopy()
			}
		}
	}
	return out
}

// ceilDiv divides rounding up, as the kubelet's math.Ceil of the float
// quotient does, without its loss of precision for huge values.
func ceilDiv(a, b int64) (string, error) {
	if b <= 0 {
		return "", errors.New("invalid resource divisor: must be positive")
	}
	q := a / b
	if a%b != 0 && a > 0 {
		q++
	}
	return strconv.FormatInt(q, 10), nil
}
