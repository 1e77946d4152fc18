package registry

import (
	"strconv"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/kubernetes/pkg/apis/core"
	"k8s.io/kubernetes/pkg/apis/discovery"
	_ "k8s.io/kubernetes/pkg/apis/discovery/install" // internal discovery types, defaults, conversions
	"k8s.io/kubernetes/pkg/registry/core/configmap"
	"k8s.io/kubernetes/pkg/registry/core/endpoint"
	"k8s.io/kubernetes/pkg/registry/core/node"
	"k8s.io/kubernetes/pkg/registry/core/secret"
	"k8s.io/kubernetes/pkg/registry/core/serviceaccount"
	"k8s.io/kubernetes/pkg/registry/discovery/endpointslice"
)

// The plain kinds: names, field selectors and kube-apiserver's own
// strategy, defaults, validation and printer.

func configMapResource() *Resource {
	r := &Resource{
		GroupVersion: corev1.SchemeGroupVersion, Resource: "configmaps", Kind: "ConfigMap", SingularName: "configmap",
		ShortNames: []string{"cm"}, Namespaced: true,
		New:     func() runtime.Object { return &corev1.ConfigMap{} },
		NewList: func() runtime.Object { return &corev1.ConfigMapList{} },
		Fields:  fielder[*corev1.ConfigMap](true, nil),
	}
	upstream{gvk: corev1.SchemeGroupVersion.WithKind("ConfigMap"), newInternal: func() runtime.Object { return &core.ConfigMap{} }, main: configmap.Strategy}.apply(r)
	return r
}

func secretResource() *Resource {
	r := &Resource{
		GroupVersion: corev1.SchemeGroupVersion, Resource: "secrets", Kind: "Secret", SingularName: "secret",
		Namespaced: true, Credentials: true,
		New:     func() runtime.Object { return &corev1.Secret{} },
		NewList: func() runtime.Object { return &corev1.SecretList{} },
		Fields: fielder(true, func(s *corev1.Secret, set fields.Set) {
			set["type"] = string(s.Type)
		}),
	}
	upstream{gvk: corev1.SchemeGroupVersion.WithKind("Secret"), newInternal: func() runtime.Object { return &core.Secret{} }, main: secret.Strategy}.apply(r)
	return r
}

func serviceAccountResource(tokens TokenIssuer) *Resource {
	r := &Resource{
		GroupVersion: corev1.SchemeGroupVersion, Resource: "serviceaccounts", Kind: "ServiceAccount", SingularName: "serviceaccount",
		ShortNames: []string{"sa"}, Namespaced: true,
		New:     func() runtime.Object { return &corev1.ServiceAccount{} },
		NewList: func() runtime.Object { return &corev1.ServiceAccountList{} },
		Fields:  fielder[*corev1.ServiceAccount](true, nil),
	}
	upstream{gvk: corev1.SchemeGroupVersion.WithKind("ServiceAccount"), newInternal: func() runtime.Object { return &core.ServiceAccount{} }, main: serviceaccount.Strategy}.apply(r)
	if tokens != nil {
		r.Subresources = []string{"token"}
		r.Requests = map[string]Request{"token": tokenRequest(tokens)}
	}
	return r
}

func endpointsResource() *Resource {
	r := &Resource{
		GroupVersion: corev1.SchemeGroupVersion, Resource: "endpoints", Kind: "Endpoints", SingularName: "endpoints",
		ShortNames: []string{"ep"}, Namespaced: true,
		New:     func() runtime.Object { return &corev1.Endpoints{} },
		NewList: func() runtime.Object { return &corev1.EndpointsList{} },
		Fields:  fielder[*corev1.Endpoints](true, nil),
	}
	upstream{gvk: corev1.SchemeGroupVersion.WithKind("Endpoints"), newInternal: func() runtime.Object { return &core.Endpoints{} }, main: endpoint.Strategy}.apply(r)
	return r
}

func endpointSliceResource() *Resource {
	r := &Resource{
		GroupVersion: discoveryv1.SchemeGroupVersion, Resource: "endpointslices", Kind: "EndpointSlice", SingularName: "endpointslice",
		Namespaced: true,
		New:        func() runtime.Object { return &discoveryv1.EndpointSlice{} },
		NewList:    func() runtime.Object { return &discoveryv1.EndpointSliceList{} },
		Fields:     fielder[*discoveryv1.EndpointSlice](true, nil),
	}
	upstream{gvk: discoveryv1.SchemeGroupVersion.WithKind("EndpointSlice"), newInternal: func() runtime.Object { return &discovery.EndpointSlice{} }, main: endpointslice.Strategy}.apply(r)
	return r
}

func nodeResource() *Resource {
	r := &Resource{
		GroupVersion: corev1.SchemeGroupVersion, Resource: "nodes", Kind: "Node", SingularName: "node",
		ShortNames: []string{"no"}, Subresources: []string{"status", "proxy"},
		New:     func() runtime.Object { return &corev1.Node{} },
		NewList: func() runtime.Object { return &corev1.NodeList{} },
		Fields: fielder(false, func(n *corev1.Node, set fields.Set) {
			set["spec.unschedulable"] = strconv.FormatBool(n.Spec.Unschedulable)
		}),
	}
	upstream{gvk: corev1.SchemeGroupVersion.WithKind("Node"), newInternal: func() runtime.Object { return &core.Node{} },
		main: node.Strategy, sub: map[string]subStrategy{"status": node.StatusStrategy}}.apply(r)
	return r
}
