package agent

import (
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/labels"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
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

// objectChanged pokes the workers of the pods that mount a ConfigMap or
// Secret that was added or changed.
func (n *Node) objectChanged(obj any) {
	if d, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = d.Obj
	}
	var ns, name string
	var configMap bool
	switch o := obj.(type) {
	case *corev1.ConfigMap:
		ns, name, configMap = o.Namespace, o.Name, true
	case *corev1.Secret:
		ns, name = o.Namespace, o.Name
	default:
		return
	}
	n.refreshVolumes(func(pod *corev1.Pod) bool {
		return pod.Namespace == ns && usesObject(pod, name, configMap)
	})
}

// refreshVolumes pokes the workers whose pods match.
func (n *Node) refreshVolumes(match func(*corev1.Pod) bool) {
	n.mu.Lock()
	defer n.mu.Unlock()
	for _, w := range n.workers {
		if match(w.pod) {
			w.poke()
		}
	}
}

// usesObject tells whether pod has a volume from the named ConfigMap (or
// Secret), directly or projected.
func usesObject(pod *corev1.Pod, name string, configMap bool) bool {
	for i := range pod.Spec.Volumes {
		v := &pod.Spec.Volumes[i]
		switch {
		case configMap && v.ConfigMap != nil && v.ConfigMap.Name == name,
			!configMap && v.Secret != nil && v.Secret.SecretName == name:
			return true
		case v.Projected != nil:
			for _, src := range v.Projected.Sources {
				if configMap && src.ConfigMap != nil && src.ConfigMap.Name == name ||
					!configMap && src.Secret != nil && src.Secret.Name == name {
					return true
				}
			}
		}
	}
	return false
}

// listerServices serves Services from the informer's cache.
type listerServices struct{ services corelisters.ServiceLister }

// ServicesIn implements Objects.
func (o listerServices) ServicesIn(namespace string) ([]*corev1.Service, error) {
	return o.services.Services(namespace).List(labels.Everything())
}

// listerObjects serves ConfigMaps and Secrets from the informers' caches.
type listerObjects struct {
	listerServices
	configMaps corelisters.ConfigMapLister
	secrets    corelisters.SecretLister
}

// ConfigMap implements Objects.
func (o listerObjects) ConfigMap(namespace, name string) (*corev1.ConfigMap, error) {
	return o.configMaps.ConfigMaps(namespace).Get(name)
}

// Secret implements Objects.
func (o listerObjects) Secret(namespace, name string) (*corev1.Secret, error) {
	return o.secrets.Secrets(namespace).Get(name)
}
