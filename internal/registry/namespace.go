package registry

import (
	"errors"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/kubernetes/pkg/apis/core"
	"k8s.io/kubernetes/pkg/registry/core/namespace"
)

// undeletable are the namespaces the API server's NamespaceLifecycle
// admission keeps.
var undeletable = map[string]bool{"default": true, "kube-system": true, "kube-public": true}

func namespaceResource() *Resource {
	r := &Resource{
		GroupVersion: corev1.SchemeGroupVersion,
		Resource:     "namespaces",
		Kind:         "Namespace",
		SingularName: "namespace",
		ShortNames:   []string{"ns"},
		Subresources: []string{"status", "finalize"},
		Scope:        true,
		Views:        []string{"finalize"},
		Delete: func(obj runtime.Object, _ *metav1.DeleteOptions) (Deletion, error) {
			ns, ok := obj.(*corev1.Namespace)
			if !ok {
				return Deletion{}, wrongType("Namespace", obj)
			}
			if undeletable[ns.Name] {
				return Deletion{}, apierrors.NewForbidden(corev1.Resource("namespaces"), ns.Name, errors.New("this namespace may not be deleted"))
			}
			// Once finalized (its controller emptied it and dropped the
			// kubernetes finalizer), a terminating namespace goes.
			if ns.DeletionTimestamp != nil && len(ns.Spec.Finalizers) == 0 {
				return Deletion{}, nil
			}
			return Deletion{Terminate: true}, nil
		},
		Terminate: func(obj runtime.Object) {
			if ns, ok := obj.(*corev1.Namespace); ok {
				ns.Status.Phase = corev1.NamespaceTerminating
			}
		},
		New:     func() runtime.Object { return &corev1.Namespace{} },
		NewList: func() runtime.Object { return &corev1.NamespaceList{} },
		Fields: fielder(false, func(ns *corev1.Namespace, set fields.Set) {
			set["status.phase"] = string(ns.Status.Phase)
		}),
	}
	// kube-apiserver's namespace strategies: a new namespace is Active
	// with the kubernetes finalizer; status and finalize write only theirs.
	upstream{gvk: corev1.SchemeGroupVersion.WithKind("Namespace"), newInternal: func() runtime.Object { return &core.Namespace{} },
		main: namespace.Strategy, sub: map[string]subStrategy{"status": namespace.StatusStrategy, "finalize": namespace.FinalizeStrategy}}.apply(r)
	return r
}
