package volume

import (
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
)

const secretPlugin = "kubernetes.io~secret"

// setUpSecret projects a Secret's keys into a tmpfs, so that secrets never
// reach the node's disk. A missing object is an error unless the volume is
// optional, in which case the volume is empty.
func setUpSecret(podDir string, pod *corev1.Pod, name string, src *corev1.SecretVolumeSource, objs *Source) (string, error) {
	optional := src.Optional != nil && *src.Optional
	sec, err := objs.secret(pod.Namespace, src.SecretName)
	if err != nil && !(optional && apierrors.IsNotFound(err)) {
		return "", err
	}
	files, err := secretPayload(src.Items, sec, src.DefaultMode, optional)
	if err != nil {
		return "", err
	}
	return setUpAtomic(podDir, secretPlugin, name, pod, files, true)
}

// secretPayload is the kubelet's secret.MakePayload. stringData, which the
// API server would have merged into data on write, is merged here since
// peapod reads Secrets straight from files. sec may be nil.
func secretPayload(items []corev1.KeyToPath, sec *corev1.Secret, defaultMode *int32, optional bool) (payload, error) {
	mode := modeOr(defaultMode, corev1.SecretVolumeSourceDefaultMode)
	if sec == nil {
		sec = &corev1.Secret{}
	}
	data := make(map[string][]byte, len(sec.Data)+len(sec.StringData))
	for k, v := range sec.Data {
		data[k] = v
	}
	for k, v := range sec.StringData {
		data[k] = []byte(v)
	}
	files := payload{}
	if len(items) == 0 {
		for k, v := range data {
			files[k] = file{data: v, mode: mode}
		}
		return files, nil
	}
	for _, it := range items {
		v, ok := data[it.Key]
		if !ok {
			if optional {
				continue
			}
			return nil, fmt.Errorf("secret %q references non-existent secret key: %s", sec.Name, it.Key)
		}
		files[it.Path] = file{data: v, mode: modeOr(it.Mode, mode)}
	}
	return files, nil
}
