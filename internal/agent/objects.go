package agent

import (
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
)

// StaticObjects serves ConfigMaps and Secrets from a fixed list, as read
// from the files given to `peapod up`.
type StaticObjects struct {
	ConfigMaps []*corev1.ConfigMap
	Secrets    []*corev1.Secret
	Services   []*corev1.Service
}

// ServicesIn implements Objects.
func (s *StaticObjects) ServicesIn(namespace string) ([]*corev1.Service, error) {
	var out []*corev1.Service
	for _, svc := range s.Services {
		if namespaceOf(svc.Namespace) == namespace {
			out = append(out, svc)
		}
	}
	return out, nil
}

// ConfigMap implements Objects.
func (s *StaticObjects) ConfigMap(namespace, name string) (*corev1.ConfigMap, error) {
	for _, cm := range s.ConfigMaps {
		if cm.Name == name && namespaceOf(cm.Namespace) == namespace {
			return cm, nil
		}
	}
	return nil, apierrors.NewNotFound(corev1.Resource("configmaps"), name)
}

// Secret implements Objects.
func (s *StaticObjects) Secret(namespace, name string) (*corev1.Secret, error) {
	for _, sec := range s.Secrets {
		if sec.Name == name && namespaceOf(sec.Namespace) == namespace {
			return sec, nil
		}
	}
	return nil, apierrors.NewNotFound(corev1.Resource("secrets"), name)
}

func namespaceOf(ns string) string {
	if ns == "" {
		return corev1.NamespaceDefault
	}
	return ns
}
