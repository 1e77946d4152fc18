package registry

import (
	"time"

	corev1 "k8s.io/api/core/v1"
	apimachineryvalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

func serviceAccountResource() *Resource {
	gk := corev1.SchemeGroupVersion.WithKind("ServiceAccount").GroupKind()
	return &Resource{
		GroupVersion: corev1.SchemeGroupVersion,
		Resource:     "serviceaccounts",
		Kind:         "ServiceAccount",
		SingularName: "serviceaccount",
		ShortNames:   []string{"sa"},
		Namespaced:   true,
		Subresources: []string{"token"},
		New:          func() runtime.Object { return &corev1.ServiceAccount{} },
		NewList:      func() runtime.Object { return &corev1.ServiceAccountList{} },
		Validate: validator(gk, func(sa *corev1.ServiceAccount) field.ErrorList {
			return validateMeta(&sa.ObjectMeta, true, apimachineryvalidation.NameIsDNSSubdomain)
		}),
		ValidateUpdate: updateValidator(gk, func(sa, old *corev1.ServiceAccount) field.ErrorList {
			return append(validateMetaUpdate(&sa.ObjectMeta, &old.ObjectMeta),
				validateMeta(&sa.ObjectMeta, true, apimachineryvalidation.NameIsDNSSubdomain)...)
		}),
		Fields: fielder[*corev1.ServiceAccount](true, nil),
		Columns: []metav1.TableColumnDefinition{
			nameColumn,
			column("Secrets", "string", corev1.ServiceAccount{}.SwaggerDoc()["secrets"]),
			ageColumn,
		},
		Row: rower(func(sa *corev1.ServiceAccount, now time.Time) []any {
			return []any{sa.Name, int64(len(sa.Secrets)), age(sa.CreationTimestamp, now)}
		}),
	}
}
