package volume

import (
	"errors"
	"fmt"
	"path/filepath"

	corev1 "k8s.io/api/core/v1"

	"peapod/internal/fieldpath"
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
			value, err = fieldpath.Extract(pod, it.FieldRef.FieldPath)
		case it.ResourceFieldRef != nil:
			value, err = downwardAPIResource(pod, it.ResourceFieldRef, allocatable)
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

// downwardAPIResource is the kubelet's
// ExtractResourceValueByContainerNameAndNodeAllocatable: the named
// container's (a regular one, else an init one) limit or request, an unset
// or zero cpu, memory or ephemeral-storage limit being the node's
// allocatable. Unlike env, pod-level limits do not stand in for it: the
// kubelet's volume host hands the node's allocatable as it is.
func downwardAPIResource(pod *corev1.Pod, ref *corev1.ResourceFieldSelector, allocatable corev1.ResourceList) (string, error) {
	c, _ := fieldpath.Container(pod, ref.ContainerName)
	if c == nil {
		return "", fmt.Errorf("container %q not found", ref.ContainerName)
	}
	return fieldpath.ContainerResource(ref, c.Resources, allocatable)
}
