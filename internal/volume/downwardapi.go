package volume

import (
	"errors"
	"fmt"
	"math"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
)

const downwardAPIPlugin = "kubernetes.io~downward-api"

// setUpDownwardAPI writes the pod's metadata and resources into the volume
// dir; Update rewrites it when labels or annotations change.
func setUpDownwardAPI(podDir string, pod *corev1.Pod, name string, src *corev1.DownwardAPIVolumeSource, objs *Source) (string, error) {
	files, err := downwardAPIPayload(src.Items, pod, objs.Allocatable, modeOr(src.DefaultMode, corev1.DownwardAPIVolumeSourceDefaultMode))
	if err != nil {
		return "", err
	}
	return setUpAtomic(podDir, downwardAPIPlugin, name, pod, files, false)
}

// downwardAPIPayload is the kubelet's downwardapi.CollectData: one file per
// item, from a fieldRef or a resourceFieldRef. All item errors are reported.
func downwardAPIPayload(items []corev1.DownwardAPIVolumeFile, pod *corev1.Pod, allocatable corev1.ResourceList, defaultMode int32) (payload, error) {
	files := payload{}
	var errs []error
	for _, it := range items {
		var (
			value string
			err   error
		)
		switch {
		case it.FieldRef != nil:
			value, err = podField(pod, it.FieldRef.FieldPath)
		case it.ResourceFieldRef != nil:
			value, err = containerResource(pod, it.ResourceFieldRef, allocatable)
		default:
			err = errors.New("neither fieldRef nor resourceFieldRef set")
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("downwardAPI item %q: %w", it.Path, err))
			continue
		}
		files[filepath.Clean(it.Path)] = file{data: []byte(value), mode: modeOr(it.Mode, defaultMode)}
	}
	return files, errors.Join(errs...)
}

// podField is the kubelet's fieldpath.ExtractFieldPathAsString, the fields
// a downwardAPI volume may show (spec.nodeName, status.podIP and the like
// are env-only).
func podField(pod *corev1.Pod, fieldPath string) (string, error) {
	if p, key, ok := strings.Cut(fieldPath, "['"); ok && strings.HasSuffix(key, "']") {
		key = strings.TrimSuffix(key, "']")
		switch p {
		case "metadata.labels":
			return pod.Labels[key], nil
		case "metadata.annotations":
			return pod.Annotations[key], nil
		}
		return "", fmt.Errorf("fieldPath %q does not support subscript", p)
	}
	switch fieldPath {
	case "metadata.name":
		return pod.Name, nil
	case "metadata.namespace":
		return pod.Namespace, nil
	case "metadata.uid":
		return string(pod.UID), nil
	case "metadata.labels":
		return formatMap(pod.Labels), nil
	case "metadata.annotations":
		return formatMap(pod.Annotations), nil
	}
	return "", fmt.Errorf("unsupported fieldPath: %v", fieldPath)
}

// formatMap is the kubelet's fieldpath.FormatMap: `key="value"` lines sorted
// by key, Go-quoted, without a final newline.
func formatMap(m map[string]string) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for i, k := range keys {
		if i > 0 {
			b.WriteByte('\n')
		}
		fmt.Fprintf(&b, "%v=%q", k, m[k])
	}
	return b.String()
}

// containerResource is the kubelet's
// ExtractResourceValueByContainerNameAndNodeAllocatable: the container's
// limit or request divided by divisor (default 1) and rounded up, an unset
// or zero cpu, memory or ephemeral-storage limit being the node's
// allocatable.
func containerResource(pod *corev1.Pod, ref *corev1.ResourceFieldSelector, allocatable corev1.ResourceList) (string, error) {
	var c *corev1.Container
	for _, list := range [][]corev1.Container{pod.Spec.Containers, pod.Spec.InitContainers} {
		for i := range list {
			if c == nil && list[i].Name == ref.ContainerName {
				c = &list[i]
			}
		}
	}
	if c == nil {
		return "", fmt.Errorf("container %q not found", ref.ContainerName)
	}
	limits := c.Resources.Limits.DeepCopy()
	if limits == nil {
		limits = corev1.ResourceList{}
	}
	for _, r := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory, corev1.ResourceEphemeralStorage} {
		if q, ok := limits[r]; !ok || q.IsZero() {
			if a, ok := allocatable[r]; ok {
				limits[r] = a.DeepCopy()
			}
		}
	}
	divisor := ref.Divisor
	if divisor.IsZero() {
		divisor = resource.MustParse("1")
	}
	if divisor.Sign() < 0 {
		return "", fmt.Errorf("divisor %s must be positive", divisor.String())
	}
	kind, name, _ := strings.Cut(ref.Resource, ".")
	var list corev1.ResourceList
	switch kind {
	case "limits":
		list = limits
	case "requests":
		list = c.Resources.Requests
	default:
		return "", fmt.Errorf("unsupported container resource : %v", ref.Resource)
	}
	q := list[corev1.ResourceName(name)]
	switch {
	case name == "cpu":
		return strconv.FormatInt(int64(math.Ceil(float64(q.MilliValue())/float64(divisor.MilliValue()))), 10), nil
	case name == "memory" || name == "ephemeral-storage" || strings.HasPrefix(name, corev1.ResourceHugePagesPrefix):
		return strconv.FormatInt(int64(math.Ceil(float64(q.Value())/float64(divisor.Value()))), 10), nil
	}
	return "", fmt.Errorf("unsupported container resource : %v", ref.Resource)
}
