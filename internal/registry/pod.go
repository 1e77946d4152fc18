// Package registry holds the per-resource rules of the API: defaulting,
// validation and table columns. It is pure: no I/O, no clock, no HTTP, so
// `peapod up` and the API server apply exactly the same rules.
package registry

import (
	"fmt"
	"strconv"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/kubernetes/pkg/api/legacyscheme"
	"k8s.io/kubernetes/pkg/apis/core"
	"k8s.io/kubernetes/pkg/registry/core/pod"
)

// DefaultGracePeriodSeconds is the API default of terminationGracePeriodSeconds.
const DefaultGracePeriodSeconds int64 = 30

func podResource() *Resource {
	r := &Resource{
		GroupVersion: corev1.SchemeGroupVersion,
		Resource:     "pods",
		Kind:         "Pod",
		SingularName: "pod",
		ShortNames:   []string{"po"},
		Categories:   []string{"all"},
		Namespaced:   true,
		Subresources: []string{"status", "log", "exec", "attach", "portforward", "proxy", "ephemeralcontainers", "binding", "eviction"},
		Views:        []string{"ephemeralcontainers"},
		Connect:      []string{"log", "exec", "attach", "portforward", "proxy"},
		Proxy:        []string{"proxy"},
		Actions:      map[string]Action{"binding": bindingAction()},
		Delete: func(obj runtime.Object, opts *metav1.DeleteOptions) (Deletion, error) {
			pod, ok := obj.(*corev1.Pod)
			if !ok {
				return Deletion{}, wrongType("Pod", obj)
			}
			return Deletion{Grace: podGrace(pod, opts)}, nil
		},
		ReturnDeleted: true,
		Admit:         admitPod,
		New:           func() runtime.Object { return &corev1.Pod{} },
		NewList:       func() runtime.Object { return &corev1.PodList{} },
		Fields: fielder(true, func(pod *corev1.Pod, set fields.Set) {
			podIP := ""
			if len(pod.Status.PodIPs) > 0 {
				podIP = pod.Status.PodIPs[0].IP
			}
			set["spec.nodeName"] = pod.Spec.NodeName
			set["spec.restartPolicy"] = string(pod.Spec.RestartPolicy)
			set["spec.schedulerName"] = pod.Spec.SchedulerName
			set["spec.serviceAccountName"] = pod.Spec.ServiceAccountName
			set["spec.hostNetwork"] = strconv.FormatBool(pod.Spec.HostNetwork)
			set["status.phase"] = string(pod.Status.Phase)
			set["status.podIP"] = podIP
			set["status.nominatedNodeName"] = pod.Status.NominatedNodeName
		}),
	}
	podUpstream.apply(r)
	return r
}

// podUpstream is kube-apiserver's pod strategy, with its status and
// ephemeralcontainers strategies for writes through those.
var podUpstream = upstream{
	gvk:         corev1.SchemeGroupVersion.WithKind("Pod"),
	newInternal: func() runtime.Object { return &core.Pod{} },
	main:        pod.Strategy,
	sub:         map[string]subStrategy{"status": pod.StatusStrategy, "ephemeralcontainers": pod.EphemeralContainersStrategy},
}

var pods = sync.OnceValue(podResource)

// DefaultPod fills the fields the API server defaults (the core/v1
// defaulting functions), and the namespace a request's URL would give.
func DefaultPod(p *corev1.Pod) {
	if p.Namespace == "" {
		p.Namespace = corev1.NamespaceDefault
	}
	legacyscheme.Scheme.Default(p)
}

// PodColumns are the columns `kubectl get pods` prints.
var PodColumns = []string{"NAME", "READY", "STATUS", "RESTARTS", "AGE"}

// PodRow is a pod's row as `kubectl get pods` prints it (kube-apiserver's
// printer), with its age at now.
func PodRow(p *corev1.Pod, now time.Time) []string {
	cells := pods().Row(p, now)
	out := make([]string, len(PodColumns))
	for i := range out {
		if i < len(cells) {
			out[i] = fmt.Sprint(cells[i])
		}
	}
	return out
}

// ValidatePod checks a defaulted pod as the API server does on create.
func ValidatePod(p *corev1.Pod) error { return pods().Validate(p) }
