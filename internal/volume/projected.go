package volume

import (
	"errors"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
)

const projectedPlugin = "kubernetes.io~projected"

// setUpProjected merges configMap, secret and downwardAPI sources into one
// tmpfs-backed dir (it may hold secrets), later sources winning on a path
// clash. Every failing source is reported.
func setUpProjected(podDir string, pod *corev1.Pod, name string, src *corev1.ProjectedVolumeSource, objs *Source) (string, error) {
	mode := modeOr(src.DefaultMode, corev1.ProjectedVolumeSourceDefaultMode)
	files := payload{}
	var errs []error
	for i, s := range src.Sources {
		var (
			part payload
			err  error
		)
		switch {
		case s.ConfigMap != nil:
			optional := s.ConfigMap.Optional != nil && *s.ConfigMap.Optional
			var cm *corev1.ConfigMap
			cm, err = objs.configMap(pod.Namespace, s.ConfigMap.Name)
			if err == nil || (optional && apierrors.IsNotFound(err)) {
				part, err = configMapPayload(s.ConfigMap.Items, cm, &mode, optional)
			}
		case s.Secret != nil:
			optional := s.Secret.Optional != nil && *s.Secret.Optional
			var sec *corev1.Secret
			sec, err = objs.secret(pod.Namespace, s.Secret.Name)
			if err == nil || (optional && apierrors.IsNotFound(err)) {
				part, err = secretPayload(s.Secret.Items, sec, &mode, optional)
			}
		case s.DownwardAPI != nil:
			part, err = downwardAPIPayload(s.DownwardAPI.Items, pod, objs.Allocatable, mode)
		case s.ServiceAccountToken != nil:
			// Tokens need an API server to issue them.
			err = errors.New("serviceAccountToken projection not supported yet")
		case s.ClusterTrustBundle != nil:
			if s.ClusterTrustBundle.Optional == nil || !*s.ClusterTrustBundle.Optional {
				err = errors.New("clusterTrustBundle projection not supported yet")
			}
		default:
			err = errors.New("no source set")
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("sources[%d]: %w", i, err))
			continue
		}
		for p, f := range part {
			files[p] = f
		}
	}
	if err := errors.Join(errs...); err != nil {
		return "", err
	}
	return setUpAtomic(podDir, projectedPlugin, name, pod, files, true)
}
