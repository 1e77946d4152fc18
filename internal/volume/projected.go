package volume

import (
	"errors"
	"fmt"

	authenticationv1 "k8s.io/api/authentication/v1"
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
			part, err = tokenPayload(s.ServiceAccountToken, pod, objs.Tokens, mode)
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

// tokenPayload is a serviceAccountToken projection: a token of the pod's
// service account bound to the pod, as the kubelet requests it. With an
// fsGroup it is 0600 before the group's read bit is added, as upstream.
func tokenPayload(src *corev1.ServiceAccountTokenProjection, pod *corev1.Pod, tokens Tokens, mode int32) (payload, error) {
	if tokens == nil {
		return nil, errors.New("serviceAccountToken: no API server to issue tokens")
	}
	var auds []string
	if src.Audience != "" {
		auds = []string{src.Audience}
	}
	tr, err := tokens.GetServiceAccountToken(pod.Namespace, pod.Spec.ServiceAccountName, &authenticationv1.TokenRequest{
		Spec: authenticationv1.TokenRequestSpec{
			Audiences:         auds,
			ExpirationSeconds: src.ExpirationSeconds,
			BoundObjectRef:    &authenticationv1.BoundObjectReference{APIVersion: "v1", Kind: "Pod", Name: pod.Name, UID: pod.UID},
		},
	})
	if err != nil {
		return nil, err // the token manager says "failed to fetch token"
	}
	if sc := pod.Spec.SecurityContext; sc != nil && sc.FSGroup != nil {
		mode = 0o600
	}
	return payload{src.Path: {data: []byte(tr.Status.Token), mode: mode}}, nil
}
