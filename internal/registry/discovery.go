package registry

import (
	appsv1 "k8s.io/api/apps/v1"
	authenticationv1 "k8s.io/api/authentication/v1"
	autoscalingv1 "k8s.io/api/autoscaling/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

// NewScheme knows the served kinds and the meta types: what the store
// keeps.
func NewScheme() *runtime.Scheme {
	s := runtime.NewScheme()
	if err := AddToScheme(s); err != nil {
		panic(err) // static registration of built-in types
	}
	if err := metav1.AddMetaToScheme(s); err != nil {
		panic(err)
	}
	metav1.AddToGroupVersion(s, metav1.SchemeGroupVersion)
	return s
}

// AddToScheme registers the API groups of the served kinds.
func AddToScheme(s *runtime.Scheme) error {
	for _, add := range []func(*runtime.Scheme) error{corev1.AddToScheme, discoveryv1.AddToScheme, appsv1.AddToScheme, batchv1.AddToScheme, autoscalingv1.AddToScheme, authenticationv1.AddToScheme} {
		if err := add(s); err != nil {
			return err
		}
	}
	return nil
}

// subresourceVerbs are the upstream verbs of the subresources kubectl
// knows.
var subresourceVerbs = map[string][]string{
	"status":              {"get", "patch", "update"},
	"log":                 {"get"},
	"exec":                {"create", "get"},
	"attach":              {"create", "get"},
	"portforward":         {"create", "get"},
	"proxy":               {"create", "delete", "get", "patch", "update"},
	"binding":             {"create"},
	"eviction":            {"create"},
	"ephemeralcontainers": {"get", "patch", "update"},
	"finalize":            {"update"},
	"token":               {"create"},
	"scale":               {"get", "patch", "update"},
}

var subresourceKinds = map[string]metav1.GroupVersionKind{
	"log":         {Version: "v1", Kind: "Pod"},
	"exec":        {Version: "v1", Kind: "PodExecOptions"},
	"attach":      {Version: "v1", Kind: "PodAttachOptions"},
	"portforward": {Version: "v1", Kind: "PodPortForwardOptions"},
	"binding":     {Version: "v1", Kind: "Binding"},
	"eviction":    {Group: "policy", Version: "v1", Kind: "Eviction"},
	"token":       {Group: "authentication.k8s.io", Version: "v1", Kind: "TokenRequest"},
	"scale":       {Group: "autoscaling", Version: "v1", Kind: "Scale"},
}

// Subresource describes a subresource for discovery: its verbs and, when
// it is not the parent's kind, the kind it answers with.
func Subresource(name string) (verbs []string, kind metav1.GroupVersionKind) {
	return subresourceVerbs[name], subresourceKinds[name]
}
