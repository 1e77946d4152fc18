package registry

import (
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime"
	schedulingv1 "k8s.io/kubernetes/pkg/apis/scheduling/v1"
)

// admitPriority is kube-apiserver's Priority admission on a pod's
// create: spec.priority and spec.preemptionPolicy come from the pod's
// PriorityClass (0 and PreemptLowerPriority without one, as no default
// class exists), and a pod may not state other values itself. The
// classes are the two every cluster has, system-node-critical and
// system-cluster-critical: peapod serves no PriorityClass objects.
func admitPriority(obj runtime.Object, _ Lookup) error {
	pod, ok := obj.(*corev1.Pod)
	if !ok {
		return wrongType("Pod", obj)
	}
	var priority int32
	if name := pod.Spec.PriorityClassName; name != "" {
		found := false
		for _, pc := range schedulingv1.SystemPriorityClasses() {
			if pc.Name == name {
				priority, found = pc.Value, true
			}
		}
		if !found {
			return forbidPod(pod, fmt.Errorf("no PriorityClass with name %v was found", name))
		}
	}
	if pod.Spec.Priority != nil && *pod.Spec.Priority != priority {
		return forbidPod(pod, fmt.Errorf("the integer value of priority (%d) must not be provided in pod spec; priority admission controller computed %d from the given PriorityClass name", *pod.Spec.Priority, priority))
	}
	pod.Spec.Priority = &priority
	policy := corev1.PreemptLowerPriority
	if pod.Spec.PreemptionPolicy != nil && *pod.Spec.PreemptionPolicy != policy {
		return forbidPod(pod, fmt.Errorf("the string value of PreemptionPolicy (%s) must not be provided in pod spec; priority admission controller computed %s from the given PriorityClass name", *pod.Spec.PreemptionPolicy, policy))
	}
	pod.Spec.PreemptionPolicy = &policy
	return nil
}

// forbidPod is an admission plugin's refusal of a pod.
func forbidPod(pod *corev1.Pod, err error) error {
	return apierrors.NewForbidden(podsGVR.GroupResource(), pod.Name, err)
}

// admitPod runs the pod admission plugins in kube-apiserver's order.
func admitPod(obj runtime.Object, lookup Lookup) error {
	for _, admit := range []func(runtime.Object, Lookup) error{admitServiceAccount, admitPriority} {
		if err := admit(obj, lookup); err != nil {
			return err
		}
	}
	return nil
}
