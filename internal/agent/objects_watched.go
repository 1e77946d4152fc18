package agent

import (
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/kubernetes/pkg/kubelet/configmap"
	"k8s.io/kubernetes/pkg/kubelet/secret"
)

// watchedObjects serves ConfigMaps and Secrets through the kubelet's own
// watch-based managers: one watch per object that a pod on this node
// refers to, opened when the pod is registered and closed when the last
// such pod is unregistered. A cluster's node authorizer allows a node
// exactly those reads.
type watchedObjects struct {
	listerServices
	configMaps configmap.Manager
	secrets    secret.Manager
}

func newWatchedObjects(client kubernetes.Interface, resync time.Duration, services corelisters.ServiceLister) *watchedObjects {
	return &watchedObjects{
		configMaps:     configmap.NewWatchingConfigMapManager(client, resync),
		secrets:        secret.NewWatchingSecretManager(client, resync),
		listerServices: listerServices{services},
	}
}

// RegisterPod opens the watches of what pod refers to; it does not block.
func (o *watchedObjects) RegisterPod(pod *corev1.Pod) {
	o.configMaps.RegisterPod(pod)
	o.secrets.RegisterPod(pod)
}

// UnregisterPod closes the watches no other pod needs.
func (o *watchedObjects) UnregisterPod(pod *corev1.Pod) {
	o.configMaps.UnregisterPod(pod)
	o.secrets.UnregisterPod(pod)
}

// ConfigMap implements Objects.
func (o *watchedObjects) ConfigMap(namespace, name string) (*corev1.ConfigMap, error) {
	return o.configMaps.GetConfigMap(namespace, name)
}

// Secret implements Objects.
func (o *watchedObjects) Secret(namespace, name string) (*corev1.Secret, error) {
	return o.secrets.GetSecret(namespace, name)
}
