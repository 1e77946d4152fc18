package registry

import (
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv1 "k8s.io/api/autoscaling/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/kubernetes/pkg/apis/apps"
	"k8s.io/kubernetes/pkg/apis/batch"
	"k8s.io/kubernetes/pkg/apis/core"
	"k8s.io/kubernetes/pkg/registry/apps/deployment"
	"k8s.io/kubernetes/pkg/registry/apps/replicaset"
	"k8s.io/kubernetes/pkg/registry/batch/job"
	"k8s.io/kubernetes/pkg/registry/core/replicationcontroller"
)

// The workload kinds run on kube-apiserver's own strategies, defaults
// and printers; kube-controller-manager's controllers act on them.

func replicationControllerResource() *Resource {
	r := &Resource{
		GroupVersion: corev1.SchemeGroupVersion,
		Resource:     "replicationcontrollers",
		// rcStrategy.DefaultGarbageCollectionPolicy for core/v1.
		OrphanByDefault: true,
		Kind:            "ReplicationController",
		SingularName:    "replicationcontroller",
		ShortNames:      []string{"rc"},
		Categories:      []string{"all"},
		Namespaced:      true,
		Subresources:    []string{"status", "scale"},
		New:             func() runtime.Object { return &corev1.ReplicationController{} },
		NewList:         func() runtime.Object { return &corev1.ReplicationControllerList{} },
		Fields: fielder(true, func(rc *corev1.ReplicationController, set fields.Set) {
			set["status.replicas"] = itoa(rc.Status.Replicas)
		}),
		Projections: map[string]Projection{"scale": scaleProjection(func(obj runtime.Object) (*int32, int32, string, bool) {
			rc, ok := obj.(*corev1.ReplicationController)
			if !ok {
				return nil, 0, "", false
			}
			return rc.Spec.Replicas, rc.Status.Replicas, labels.SelectorFromSet(rc.Spec.Selector).String(), true
		}, func(obj runtime.Object, n int32) { obj.(*corev1.ReplicationController).Spec.Replicas = &n })},
	}
	upstream{gvk: corev1.SchemeGroupVersion.WithKind("ReplicationController"), newInternal: func() runtime.Object { return &core.ReplicationController{} },
		main: replicationcontroller.Strategy, sub: map[string]subStrategy{"status": replicationcontroller.StatusStrategy}}.apply(r)
	return r
}

func replicaSetResource() *Resource {
	r := &Resource{
		GroupVersion: appsv1.SchemeGroupVersion,
		Resource:     "replicasets",
		Kind:         "ReplicaSet",
		SingularName: "replicaset",
		ShortNames:   []string{"rs"},
		Categories:   []string{"all"},
		Namespaced:   true,
		Subresources: []string{"status", "scale"},
		New:          func() runtime.Object { return &appsv1.ReplicaSet{} },
		NewList:      func() runtime.Object { return &appsv1.ReplicaSetList{} },
		Fields: fielder(true, func(rs *appsv1.ReplicaSet, set fields.Set) {
			set["status.replicas"] = itoa(rs.Status.Replicas)
		}),
		Projections: map[string]Projection{"scale": scaleProjection(func(obj runtime.Object) (*int32, int32, string, bool) {
			rs, ok := obj.(*appsv1.ReplicaSet)
			if !ok {
				return nil, 0, "", false
			}
			return rs.Spec.Replicas, rs.Status.Replicas, formatSelector(rs.Spec.Selector), true
		}, func(obj runtime.Object, n int32) { obj.(*appsv1.ReplicaSet).Spec.Replicas = &n })},
	}
	upstream{gvk: appsv1.SchemeGroupVersion.WithKind("ReplicaSet"), newInternal: func() runtime.Object { return &apps.ReplicaSet{} },
		main: replicaset.Strategy, sub: map[string]subStrategy{"status": replicaset.StatusStrategy}}.apply(r)
	return r
}

func deploymentResource() *Resource {
	r := &Resource{
		GroupVersion: appsv1.SchemeGroupVersion,
		Resource:     "deployments",
		Kind:         "Deployment",
		SingularName: "deployment",
		ShortNames:   []string{"deploy"},
		Categories:   []string{"all"},
		Namespaced:   true,
		Subresources: []string{"status", "scale"},
		New:          func() runtime.Object { return &appsv1.Deployment{} },
		NewList:      func() runtime.Object { return &appsv1.DeploymentList{} },
		Fields:       fielder[*appsv1.Deployment](true, nil),
		Projections: map[string]Projection{"scale": scaleProjection(func(obj runtime.Object) (*int32, int32, string, bool) {
			d, ok := obj.(*appsv1.Deployment)
			if !ok {
				return nil, 0, "", false
			}
			return d.Spec.Replicas, d.Status.Replicas, formatSelector(d.Spec.Selector), true
		}, func(obj runtime.Object, n int32) { obj.(*appsv1.Deployment).Spec.Replicas = &n })},
	}
	upstream{gvk: appsv1.SchemeGroupVersion.WithKind("Deployment"), newInternal: func() runtime.Object { return &apps.Deployment{} },
		main: deployment.Strategy, sub: map[string]subStrategy{"status": deployment.StatusStrategy}}.apply(r)
	return r
}

func jobResource() *Resource {
	r := &Resource{
		GroupVersion: batchv1.SchemeGroupVersion,
		Resource:     "jobs",
		// jobStrategy.DefaultGarbageCollectionPolicy for batch/v1.
		OrphanByDefault: true,
		Kind:            "Job",
		SingularName:    "job",
		Categories:      []string{"all"},
		Namespaced:      true,
		Subresources:    []string{"status"},
		New:             func() runtime.Object { return &batchv1.Job{} },
		NewList:         func() runtime.Object { return &batchv1.JobList{} },
		Fields: fielder(true, func(j *batchv1.Job, set fields.Set) {
			set["status.successful"] = itoa(j.Status.Succeeded)
		}),
	}
	upstream{gvk: batchv1.SchemeGroupVersion.WithKind("Job"), newInternal: func() runtime.Object { return &batch.Job{} },
		main: job.Strategy, sub: map[string]subStrategy{"status": job.StatusStrategy}}.apply(r)
	return r
}

// scaleProjection is a workload's scale subresource (autoscaling/v1
// Scale): get reads spec.replicas, status.replicas and the selector;
// set writes spec.replicas.
func scaleProjection(get func(runtime.Object) (spec *int32, status int32, selector string, ok bool), set func(runtime.Object, int32)) Projection {
	return Projection{
		New: func() runtime.Object { return &autoscalingv1.Scale{} },
		Get: func(obj runtime.Object) (runtime.Object, error) {
			spec, status, selector, ok := get(obj)
			if !ok {
				return nil, wrongType("workload", obj)
			}
			m := obj.(metav1.Object)
			s := &autoscalingv1.Scale{
				TypeMeta: metav1.TypeMeta{APIVersion: "autoscaling/v1", Kind: "Scale"},
				ObjectMeta: metav1.ObjectMeta{Name: m.GetName(), Namespace: m.GetNamespace(), UID: m.GetUID(),
					ResourceVersion: m.GetResourceVersion(), CreationTimestamp: m.GetCreationTimestamp()},
				Status: autoscalingv1.ScaleStatus{Replicas: status, Selector: selector},
			}
			if spec != nil {
				s.Spec.Replicas = *spec
			}
			return s, nil
		},
		Put: func(obj, proj runtime.Object) error {
			s, ok := proj.(*autoscalingv1.Scale)
			if !ok {
				return wrongType("Scale", proj)
			}
			if _, _, _, ok := get(obj); !ok {
				return wrongType("workload", obj)
			}
			set(obj, s.Spec.Replicas)
			// The scale's resourceVersion is a precondition on the object.
			obj.(metav1.Object).SetResourceVersion(s.ResourceVersion)
			return nil
		},
	}
}

func formatSelector(s *metav1.LabelSelector) string {
	sel, err := metav1.LabelSelectorAsSelector(s)
	if err != nil {
		return ""
	}
	return sel.String()
}
