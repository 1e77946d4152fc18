package registry

import (
	"errors"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	apimachineryvalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// undeletable are the namespaces the API server's NamespaceLifecycle
// admission keeps.
var undeletable = map[string]bool{"default": true, "kube-system": true, "kube-public": true}

func namespaceResource() *Resource {
	gk := corev1.SchemeGroupVersion.WithKind("Namespace").GroupKind()
	return &Resource{
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
		New:      func() runtime.Object { return &corev1.Namespace{} },
		NewList:  func() runtime.Object { return &corev1.NamespaceList{} },
		Default:  defaulter(DefaultNamespace),
		Validate: validator(gk, ValidateNamespace),
		ValidateUpdate: updateValidator(gk, func(ns, old *corev1.Namespace) field.ErrorList {
			return append(validateMetaUpdate(&ns.ObjectMeta, &old.ObjectMeta), ValidateNamespace(ns)...)
		}),
		PrepareForCreate: creator(func(ns *corev1.Namespace, _ time.Time) {
			// Every namespace starts Active and carries the "kubernetes"
			// finalizer, which the namespace controller removes (through
			// namespaces/finalize) once the contents are deleted.
			ns.Status = corev1.NamespaceStatus{Phase: corev1.NamespaceActive}
			if !slices.Contains(ns.Spec.Finalizers, corev1.FinalizerKubernetes) {
				ns.Spec.Finalizers = append(ns.Spec.Finalizers, corev1.FinalizerKubernetes)
			}
		}),
		PrepareForUpdate: updater(func(ns, old *corev1.Namespace, subresource string) {
			switch subresource {
			case "":
				ns.Spec.Finalizers = old.Spec.Finalizers
				ns.Status = old.Status
			case "status":
				ns.Spec = old.Spec
			case "finalize":
				ns.Status = old.Status
			}
		}),
		Fields: fielder(false, func(ns *corev1.Namespace, set fields.Set) {
			set["status.phase"] = string(ns.Status.Phase)
		}),
		Columns: []metav1.TableColumnDefinition{
			nameColumn,
			column("Status", "string", "The status of the namespace"),
			ageColumn,
		},
		Row: rower(func(ns *corev1.Namespace, now time.Time) []any {
			return []any{ns.Name, string(ns.Status.Phase), age(ns.CreationTimestamp, now)}
		}),
	}
}

// DefaultNamespace sets phase Active and the kubernetes.io/metadata.name
// label the API server keeps equal to the name.
func DefaultNamespace(ns *corev1.Namespace) {
	if ns.Status.Phase == "" {
		ns.Status.Phase = corev1.NamespaceActive
	}
	if ns.Name != "" {
		if ns.Labels == nil {
			ns.Labels = map[string]string{}
		}
		ns.Labels[corev1.LabelMetadataName] = ns.Name
	}
}

// ValidateNamespace checks the name (an RFC 1123 label) and the
// finalizers (qualified names; unqualified only if standard).
func ValidateNamespace(ns *corev1.Namespace) field.ErrorList {
	errs := validateMeta(&ns.ObjectMeta, false, apimachineryvalidation.ValidateNamespaceName)
	standard := []string{string(corev1.FinalizerKubernetes), metav1.FinalizerOrphanDependents, metav1.FinalizerDeleteDependents}
	for i, f := range ns.Spec.Finalizers {
		p := field.NewPath("spec", "finalizers").Index(i)
		name := string(f)
		errs = append(errs, apimachineryvalidation.ValidateFinalizerName(name, p)...)
		if !strings.Contains(name, "/") && !slices.Contains(standard, name) {
			errs = append(errs, field.Invalid(p, name, "name is neither a standard finalizer name nor is it fully qualified"))
		}
	}
	return errs
}
