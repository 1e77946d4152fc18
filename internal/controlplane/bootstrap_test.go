package controlplane

import (
	"context"
	"net/netip"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"
)

func TestBootstrap_FollowsTheAPI(t *testing.T) {
	ctx := context.Background()
	cs := fake.NewClientset()
	ip1, ip2 := netip.MustParseAddr("10.96.0.1"), netip.MustParseAddr("10.100.0.1")
	for _, tc := range []struct {
		name string
		api  API
	}{
		{"first start", API{Host: "10.88.0.1", Port: 6443, KubernetesIP: ip1}},
		{"same again", API{Host: "10.88.0.1", Port: 6443, KubernetesIP: ip1}},
		{"another port and pod network", API{Host: "10.89.0.1", Port: 7443, KubernetesIP: ip1}},
		{"another service range", API{Host: "10.89.0.1", Port: 7443, KubernetesIP: ip2}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := Bootstrap(ctx, cs, tc.api); err != nil {
				t.Fatal(err)
			}
			nss, _ := cs.CoreV1().Namespaces().List(ctx, metav1.ListOptions{})
			if len(nss.Items) != len(SystemNamespaces) {
				t.Errorf("%d namespaces, want %d", len(nss.Items), len(SystemNamespaces))
			}
			svc, err := cs.CoreV1().Services("default").Get(ctx, "kubernetes", metav1.GetOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if svc.Spec.ClusterIP != tc.api.KubernetesIP.String() || svc.Spec.Ports[0].TargetPort.IntValue() != tc.api.Port {
				t.Errorf("service %s -> %s", svc.Spec.ClusterIP, svc.Spec.Ports[0].TargetPort.String())
			}
			host := tc.api.Host
			eps, err := cs.CoreV1().Endpoints("default").Get(ctx, "kubernetes", metav1.GetOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if got := eps.Subsets[0]; got.Addresses[0].IP != host || int(got.Ports[0].Port) != tc.api.Port {
				t.Errorf("endpoints %+v", got)
			}
			slice, err := cs.DiscoveryV1().EndpointSlices("default").Get(ctx, "kubernetes", metav1.GetOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if slice.Endpoints[0].Addresses[0] != host || int(*slice.Ports[0].Port) != tc.api.Port {
				t.Errorf("slice %+v", slice)
			}
		})
	}
}

func TestAPIAt(t *testing.T) {
	ip, gw := netip.MustParseAddr("10.96.0.1"), netip.MustParseAddr("10.88.0.1")
	api, err := APIAt("https://127.0.0.1:6443", gw, ip)
	if err != nil || api.Host != "10.88.0.1" || api.Port != 6443 || api.KubernetesIP != ip {
		t.Fatalf("%+v %v", api, err)
	}
	if _, err := APIAt("https://127.0.0.1", gw, ip); err == nil {
		t.Fatal("a URL without a port is accepted")
	}
}
