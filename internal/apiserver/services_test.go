package apiserver

import (
	"context"
	"fmt"
	"net/url"
	"sync"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestServer_ServiceAllocationAndAPIEndpoints(t *testing.T) {
	srv, cs := startServer(t)
	ctx := context.Background()
	svcs := cs.CoreV1().Services("default")

	// Concurrent creates never share an address or a node port.
	const n = 8
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i] = svcs.Create(ctx, &corev1.Service{
				ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("s%d", i)},
				Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeNodePort, Selector: map[string]string{"app": "x"},
					Ports: []corev1.ServicePort{{Port: 80}}},
			}, metav1.CreateOptions{})
		}()
	}
	wg.Wait()
	ips, ports := map[string]bool{"10.96.0.1": true}, map[int32]bool{}
	for i, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
		got, err := svcs.Get(ctx, fmt.Sprintf("s%d", i), metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		ip, np := got.Spec.ClusterIP, got.Spec.Ports[0].NodePort
		if ip == "" || ips[ip] || np < 30000 || np > 32767 || ports[np] {
			t.Fatalf("s%d: clusterIP %q nodePort %d (taken: %v %v)", i, ip, np, ips, ports)
		}
		ips[ip], ports[np] = true, true
	}

	// An update without the allocated values keeps them.
	got, _ := svcs.Get(ctx, "s0", metav1.GetOptions{})
	before := got.Spec.ClusterIP
	got.Spec.ClusterIP, got.Spec.ClusterIPs = "", nil
	got.Spec.Ports[0].NodePort = 0
	upd, err := svcs.Update(ctx, got, metav1.UpdateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if upd.Spec.ClusterIP != before || upd.Spec.Ports[0].NodePort == 0 {
		t.Fatalf("update lost the allocation: %+v", upd.Spec)
	}

	// A requested address that is taken is refused.
	_, err = svcs.Create(ctx, &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "dup"},
		Spec: corev1.ServiceSpec{ClusterIP: before, Ports: []corev1.ServicePort{{Port: 80}}}}, metav1.CreateOptions{})
	if !apierrors.IsInvalid(err) {
		t.Fatalf("duplicate clusterIP: %v", err)
	}

	u, _ := url.Parse(srv.URL())
	ep, err := cs.CoreV1().Endpoints("default").Get(ctx, "kubernetes", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(ep.Subsets) != 1 || ep.Subsets[0].Addresses[0].IP != "10.88.0.1" || fmt.Sprint(ep.Subsets[0].Ports[0].Port) != u.Port() {
		t.Fatalf("kubernetes endpoints: %+v, want 10.88.0.1:%s", ep.Subsets, u.Port())
	}
	sl, err := cs.DiscoveryV1().EndpointSlices("default").List(ctx, metav1.ListOptions{LabelSelector: "kubernetes.io/service-name=kubernetes"})
	if err != nil {
		t.Fatal(err)
	}
	if len(sl.Items) != 1 || sl.Items[0].Endpoints[0].Addresses[0] != "10.88.0.1" || fmt.Sprint(*sl.Items[0].Ports[0].Port) != u.Port() {
		t.Fatalf("kubernetes endpointslices: %+v", sl.Items)
	}
}
