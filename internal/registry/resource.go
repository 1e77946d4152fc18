package registry

import (
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// Resource is everything the API server needs to serve one kind: its
// names, how to make empty objects, and its rules. The server is generic
// over Resources; every kind-specific rule is here.
type Resource struct {
	GroupVersion schema.GroupVersion
	Resource     string // plural, lower case: "pods"
	Kind         string // "Pod"
	SingularName string // "pod"
	ShortNames   []string
	Categories   []string // "all" for kubectl get all
	Namespaced   bool
	// Subresources served besides the main resource ("status", "log",
	// "exec", ...).
	Subresources []string

	New     func() runtime.Object
	NewList func() runtime.Object

	// Default fills defaults before create and update (nil: none).
	Default func(obj runtime.Object)
	// Validate checks an object to create; ValidateUpdate an update of
	// old to obj. They return an apierrors Invalid error or nil (nil
	// funcs accept everything).
	Validate       func(obj runtime.Object) error
	ValidateUpdate func(obj, old runtime.Object) error

	// Columns and Row render `kubectl get` tables.
	Columns []metav1.TableColumnDefinition
	Row     func(obj runtime.Object, now time.Time) []any
}

// GroupVersionResource names the resource.
func (r *Resource) GroupVersionResource() schema.GroupVersionResource {
	return r.GroupVersion.WithResource(r.Resource)
}

// Resources are the kinds peapod serves.
func Resources() []*Resource {
	return []*Resource{podResource()}
}

func podResource() *Resource {
	return &Resource{
		GroupVersion: corev1.SchemeGroupVersion,
		Resource:     "pods",
		Kind:         "Pod",
		SingularName: "pod",
		ShortNames:   []string{"po"},
		Categories:   []string{"all"},
		Namespaced:   true,
		Subresources: []string{"status", "log", "exec", "attach", "portforward", "ephemeralcontainers", "binding", "eviction"},
		New:          func() runtime.Object { return &corev1.Pod{} },
		NewList:      func() runtime.Object { return &corev1.PodList{} },
		Default:      func(obj runtime.Object) { DefaultPod(obj.(*corev1.Pod)) },
		Validate:     func(obj runtime.Object) error { return ValidatePod(obj.(*corev1.Pod)) },
		ValidateUpdate: func(obj, old runtime.Object) error {
			pod, oldPod := obj.(*corev1.Pod), old.(*corev1.Pod)
			if err := ValidatePod(pod); err != nil {
				return err
			}
			// The spec of a pod is immutable but for a few fields (image,
			// activeDeadlineSeconds, tolerations additions).
			return validatePodSpecUpdate(pod, oldPod)
		},
		Columns: columns(PodColumns, "The name of the pod", "The number of ready containers", "The status of the pod", "The number of restarts", "The age of the pod"),
		Row: func(obj runtime.Object, now time.Time) []any {
			return anyRow(PodRow(obj.(*corev1.Pod), now))
		},
	}
}

// validatePodSpecUpdate allows only the pod spec changes the API server
// allows: container images and activeDeadlineSeconds.
func validatePodSpecUpdate(pod, old *corev1.Pod) error {
	a, b := pod.Spec.DeepCopy(), old.Spec.DeepCopy()
	for _, s := range []*corev1.PodSpec{a, b} {
		for i := range s.Containers {
			s.Containers[i].Image = ""
		}
		for i := range s.InitContainers {
			s.InitContainers[i].Image = ""
		}
		s.ActiveDeadlineSeconds = nil
		s.Tolerations = nil
		s.EphemeralContainers = nil
	}
	if equalSpec(a, b) {
		return nil
	}
	return apierrors.NewInvalid(corev1.SchemeGroupVersion.WithKind("Pod").GroupKind(), pod.Name, fieldForbiddenSpec())
}

func columns(names []string, descriptions ...string) []metav1.TableColumnDefinition {
	out := make([]metav1.TableColumnDefinition, len(names))
	for i, n := range names {
		out[i] = metav1.TableColumnDefinition{Name: titleCase(n), Type: "string", Description: descriptions[i]}
		if i == 0 {
			out[i].Format = "name"
		}
	}
	return out
}

func anyRow(cells []string) []any {
	out := make([]any, len(cells))
	for i, c := range cells {
		out[i] = c
	}
	return out
}
