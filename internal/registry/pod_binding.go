package registry

import (
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// podGrace is the grace period of a pod deletion: the request's, else the
// pod's terminationGracePeriodSeconds; 0 for pods no node runs (unbound
// or finished), which the API server removes at once.
func podGrace(pod *corev1.Pod, opts *metav1.DeleteOptions) int64 {
	if pod.Spec.NodeName == "" || pod.Status.Phase == corev1.PodSucceeded || pod.Status.Phase == corev1.PodFailed {
		return 0
	}
	if opts != nil && opts.GracePeriodSeconds != nil {
		return *opts.GracePeriodSeconds
	}
	if pod.Spec.TerminationGracePeriodSeconds != nil {
		return *pod.Spec.TerminationGracePeriodSeconds
	}
	return DefaultGracePeriodSeconds
}

// bindingAction is pods/binding, a scheduler's write: it sets
// spec.nodeName of a pod that has none, as the API server's
// BindingREST does.
func bindingAction() Action {
	gr := schema.GroupResource{Resource: "pods/binding"}
	return Action{
		In: func() runtime.Object { return &corev1.Binding{} },
		Apply: func(cur, in runtime.Object) error {
			pod, ok := cur.(*corev1.Pod)
			if !ok {
				return wrongType("Pod", cur)
			}
			b, ok := in.(*corev1.Binding)
			if !ok {
				return wrongType("Binding", in)
			}
			if b.Target.Name == "" {
				return apierrors.NewInvalid(corev1.SchemeGroupVersion.WithKind("Binding").GroupKind(), pod.Name,
					field.ErrorList{field.Required(field.NewPath("target", "name"), "")})
			}
			if b.UID != "" && b.UID != pod.UID {
				return apierrors.NewConflict(gr, pod.Name, preconditionFailed(fmt.Sprintf("UID in precondition: %v, UID in object meta: %v", b.UID, pod.UID)))
			}
			if pod.DeletionTimestamp != nil {
				return apierrors.NewConflict(gr, pod.Name, fmt.Errorf("pod %s is being deleted, cannot be assigned to a host", pod.Name))
			}
			if pod.Spec.NodeName != "" {
				return apierrors.NewConflict(gr, pod.Name, fmt.Errorf("pod %s is already assigned to node %q", pod.Name, pod.Spec.NodeName))
			}
			pod.Spec.NodeName = b.Target.Name
			return nil
		},
	}
}

// preconditionFailed is the storage layer's precondition text, which
// starts with a capital as upstream's does.
type preconditionFailed string

func (e preconditionFailed) Error() string { return "Precondition failed: " + string(e) }
