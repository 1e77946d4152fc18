package apiserver

import (
	"context"
	"net"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"peapod/internal/store"
)

// isServices tells the resource whose writes allocate cluster IPs and
// node ports.
func isServices(res *resource) bool {
	return res.Resource.Resource == "services" && res.GroupVersion.Group == ""
}

// allocateService gives a defaulted Service its cluster IP and node
// ports from what the other Services hold. The caller holds s.svcMu
// until the Service is written, so that two writes never pick the same
// values.
func (s *Server) allocateService(ctx context.Context, res *resource, obj runtime.Object) error {
	svc, ok := obj.(*corev1.Service)
	if !ok {
		return nil
	}
	list, err := s.store.List(ctx, res.prefix(""), store.ListOptions{})
	if err != nil {
		return apierrors.NewInternalError(err)
	}
	existing := make([]corev1.Service, 0, len(list.Items))
	for _, o := range list.Items {
		if other, ok := o.(*corev1.Service); ok {
			existing = append(existing, *other)
		}
	}
	return s.cfg.Services.Allocate(svc, existing)
}

// apiEndpoints writes the Endpoints and EndpointSlice of the
// default/kubernetes Service: the address and port the API listens on,
// as the API server's endpoint reconciler keeps them.
func (s *Server) apiEndpoints(ctx context.Context, host string, port int) error {
	if ip := net.ParseIP(host); ip == nil || ip.IsUnspecified() {
		host = "127.0.0.1"
	}
	tcp := corev1.ProtocolTCP
	name := "https"
	p := int32(port)
	ready := true
	labels := map[string]string{"endpointslice.kubernetes.io/skip-mirror": "true"}
	eps := &corev1.Endpoints{
		ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "kubernetes", Labels: labels},
		Subsets: []corev1.EndpointSubset{{
			Addresses: []corev1.EndpointAddress{{IP: host}},
			Ports:     []corev1.EndpointPort{{Name: name, Port: p, Protocol: tcp}},
		}},
	}
	slice := &discoveryv1.EndpointSlice{
		ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "kubernetes", Labels: map[string]string{
			discoveryv1.LabelServiceName: "kubernetes",
			discoveryv1.LabelManagedBy:   "kube-apiserver",
		}},
		AddressType: discoveryv1.AddressTypeIPv4,
		Endpoints:   []discoveryv1.Endpoint{{Addresses: []string{host}, Conditions: discoveryv1.EndpointConditions{Ready: &ready}}},
		Ports:       []discoveryv1.EndpointPort{{Name: &name, Port: &p, Protocol: &tcp}},
	}
	if err := s.upsert(ctx, "endpoints", eps, func(cur runtime.Object) bool {
		c, ok := cur.(*corev1.Endpoints)
		if !ok || equality.Semantic.DeepEqual(c.Subsets, eps.Subsets) {
			return false
		}
		c.Subsets = eps.Subsets
		return true
	}); err != nil {
		return err
	}
	return s.upsert(ctx, "endpointslices", slice, func(cur runtime.Object) bool {
		c, ok := cur.(*discoveryv1.EndpointSlice)
		if !ok || (equality.Semantic.DeepEqual(c.Endpoints, slice.Endpoints) && equality.Semantic.DeepEqual(c.Ports, slice.Ports)) {
			return false
		}
		c.Endpoints, c.Ports = slice.Endpoints, slice.Ports
		return true
	})
}

// upsert creates obj, or, when it exists, lets change bring the stored
// object up to date (the port changes when serve listens on port 0).
func (s *Server) upsert(ctx context.Context, resourceName string, obj runtime.Object, change func(cur runtime.Object) bool) error {
	if err := s.internalCreate(ctx, resourceName, obj); err != nil {
		return err
	}
	res := s.byName[resourceName]
	if res == nil {
		return nil
	}
	m, err := meta.Accessor(obj)
	if err != nil {
		return err
	}
	key := res.key(m.GetNamespace(), m.GetName())
	cur, err := s.store.Get(ctx, key)
	if err != nil {
		return storeErr(res, m.GetName(), err)
	}
	if !change(cur.DeepCopyObject()) {
		return nil
	}
	_, err = s.internalUpdate(ctx, res, key, func(cur runtime.Object) error {
		change(cur)
		return nil
	})
	return err
}
