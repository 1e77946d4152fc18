package volume

import (
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
)

const configMapPlugin = "kubernetes.io~configmap"

// setUpConfigMap projects a ConfigMap's keys into the volume dir. A
// missing object is an error unless the volume is optional, in which case
// the volume is empty.
func setUpConfigMap(podDir string, pod *corev1.Pod, name string, src *corev1.ConfigMapVolumeSource, objs *Source) (string, error) {
	optional := src.Optional != nil && *src.Optional
	cm, err := objs.configMap(pod.Namespace, src.Name)
	if err != nil && !(optional && apierrors.IsNotFound(err)) {
		return "", err
	}
	files, err := configMapPayload(src.Items, cm, src.DefaultMode, optional)
	if err != nil {
		return "", err
	}
	return setUpAtomic(podDir, configMapPlugin, name, pod, files, false)
}

// configMapPayload is the kubelet's configmap.MakePayload: every key of data
// and binaryData without items; with items only those, a missing key being
// an error unless optional. cm may be nil (an optional missing object).
func configMapPayload(items []corev1.KeyToPath, cm *corev1.ConfigMap, defaultMode *int32, optional bool) (payload, error) {
	mode := modeOr(defaultMode, corev1.ConfigMapVolumeSourceDefaultMode)
	if cm == nil {
		cm = &corev1.ConfigMap{}
	}
	files := payload{}
	if len(items) == 0 {
		for k, v := range cm.Data {
			files[k] = file{data: []byte(v), mode: mode}
		}
		for k, v := range cm.BinaryData {
			files[k] = file{data: v, mode: mode}
		}
		return files, nil
	}
	for _, it := range items {
		var data []byte
		if v, ok := cm.Data[it.Key]; ok {
			data = []byte(v)
		} else if v, ok := cm.BinaryData[it.Key]; ok {
			data = v
		} else if optional {
			continue
		} else {
			return nil, fmt.Errorf("configmap %q references non-existent config key: %s", cm.Name, it.Key)
		}
		files[it.Path] = file{data: data, mode: modeOr(it.Mode, mode)}
	}
	return files, nil
}

// modeOr is *m, or def if m is unset.
func modeOr(m *int32, def int32) int32 {
	if m == nil {
		return def
	}
	return *m
}
