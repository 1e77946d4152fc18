// Package controlplane holds what a cluster's control plane keeps besides
// the API itself: the objects every cluster has (system namespaces, the
// default/kubernetes Service and its endpoints, as kube-apiserver's
// bootstrap controllers write them) and the namespace controller
// (kube-controller-manager's namespace, serviceaccount and
// root-ca-cert-publisher loops). It is a client of the API like any other.
package controlplane

import (
	"context"
	"fmt"
	"net/netip"
	"net/url"
	"strconv"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes"
)

// SystemNamespaces are the namespaces every cluster has.
var SystemNamespaces = []string{"default", "kube-system", "kube-public", "kube-node-lease"}

// API is where the API server listens and the address of the Service
// that fronts it.
type API struct {
	Host         string // the address clients in pods reach
	Port         int
	KubernetesIP netip.Addr
}

// Bootstrap creates the system namespaces and brings the default/kubernetes
// Service, Endpoints and EndpointSlice up to date with api (serve may
// listen on another port, or have another service range, than last time).
func Bootstrap(ctx context.Context, client kubernetes.Interface, api API) error {
	for _, ns := range SystemNamespaces {
		_, err := client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{})
		if err != nil && !apierrors.IsAlreadyExists(err) {
			return err
		}
	}
	if err := apiEndpoints(ctx, client, api); err != nil {
		return err
	}
	return kubernetesService(ctx, client, api)
}

func kubernetesService(ctx context.Context, client kubernetes.Interface, api API) error {
	single := corev1.IPFamilyPolicySingleStack
	target := intstr.FromInt32(int32(api.Port))
	ip := api.KubernetesIP.String()
	want := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "kubernetes", Labels: map[string]string{"component": "apiserver", "provider": "kubernetes"}},
		Spec: corev1.ServiceSpec{
			Type:            corev1.ServiceTypeClusterIP,
			ClusterIP:       ip,
			ClusterIPs:      []string{ip},
			IPFamilies:      []corev1.IPFamily{corev1.IPv4Protocol},
			IPFamilyPolicy:  &single,
			SessionAffinity: corev1.ServiceAffinityNone,
			Ports:           []corev1.ServicePort{{Name: "https", Protocol: corev1.ProtocolTCP, Port: 443, TargetPort: target}},
		},
	}
	svcs := client.CoreV1().Services("default")
	cur, err := svcs.Get(ctx, want.Name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		_, err = svcs.Create(ctx, want, metav1.CreateOptions{})
		return err
	}
	if err != nil {
		return err
	}
	if len(cur.Spec.Ports) == 1 && cur.Spec.Ports[0].TargetPort == target && cur.Spec.ClusterIP == ip {
		return nil
	}
	// A cluster IP is immutable: a new range means a new Service.
	if cur.Spec.ClusterIP != ip {
		if err := svcs.Delete(ctx, want.Name, metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &cur.UID}}); err != nil {
			return err
		}
		_, err = svcs.Create(ctx, want, metav1.CreateOptions{})
		return err
	}
	cur.Spec.Ports = want.Spec.Ports
	_, err = svcs.Update(ctx, cur, metav1.UpdateOptions{})
	return err
}

// apiEndpoints writes the address and port the API listens on, as the API
// server's endpoint reconciler keeps them.
func apiEndpoints(ctx context.Context, client kubernetes.Interface, api API) error {
	host := api.Host
	tcp := corev1.ProtocolTCP
	name := "https"
	p := int32(api.Port)
	ready := true
	subsets := []corev1.EndpointSubset{{
		Addresses: []corev1.EndpointAddress{{IP: host}},
		Ports:     []corev1.EndpointPort{{Name: name, Port: p, Protocol: tcp}},
	}}
	eps := client.CoreV1().Endpoints("default")
	cur, err := eps.Get(ctx, "kubernetes", metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		_, err = eps.Create(ctx, &corev1.Endpoints{
			ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "kubernetes", Labels: map[string]string{"endpointslice.kubernetes.io/skip-mirror": "true"}},
			Subsets:    subsets,
		}, metav1.CreateOptions{})
	case err == nil && !equality.Semantic.DeepEqual(cur.Subsets, subsets):
		cur.Subsets = subsets
		_, err = eps.Update(ctx, cur, metav1.UpdateOptions{})
	}
	if err != nil {
		return err
	}
	endpoints := []discoveryv1.Endpoint{{Addresses: []string{host}, Conditions: discoveryv1.EndpointConditions{Ready: &ready}}}
	ports := []discoveryv1.EndpointPort{{Name: &name, Port: &p, Protocol: &tcp}}
	slices := client.DiscoveryV1().EndpointSlices("default")
	slice, err := slices.Get(ctx, "kubernetes", metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		_, err = slices.Create(ctx, &discoveryv1.EndpointSlice{
			ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "kubernetes", Labels: map[string]string{
				discoveryv1.LabelServiceName: "kubernetes",
				discoveryv1.LabelManagedBy:   "kube-apiserver",
			}},
			AddressType: discoveryv1.AddressTypeIPv4,
			Endpoints:   endpoints,
			Ports:       ports,
		}, metav1.CreateOptions{})
	case err == nil && !(equality.Semantic.DeepEqual(slice.Endpoints, endpoints) && equality.Semantic.DeepEqual(slice.Ports, ports)):
		slice.Endpoints, slice.Ports = endpoints, ports
		_, err = slices.Update(ctx, slice, metav1.UpdateOptions{})
	}
	return err
}

// APIAt describes the API server listening at rawURL (https://host:port)
// that pods reach at advertise, on the same port.
func APIAt(rawURL string, advertise, kubernetesIP netip.Addr) (API, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return API{}, err
	}
	port, err := strconv.Atoi(u.Port())
	if err != nil {
		return API{}, fmt.Errorf("API URL %q: no port", rawURL)
	}
	return API{Host: advertise.String(), Port: port, KubernetesIP: kubernetesIP}, nil
}
