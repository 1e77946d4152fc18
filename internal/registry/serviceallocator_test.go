package registry

import (
	"fmt"
	"net/netip"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func allocSvc(name string, typ corev1.ServiceType, ip string, nodePorts ...int32) corev1.Service {
	s := corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default"}, Spec: corev1.ServiceSpec{Type: typ, ClusterIP: ip}}
	if len(nodePorts) == 0 {
		s.Spec.Ports = []corev1.ServicePort{{Port: 80}}
	}
	for _, np := range nodePorts {
		s.Spec.Ports = append(s.Spec.Ports, corev1.ServicePort{Port: 80 + np%10, NodePort: np})
	}
	DefaultService(&s)
	return s
}

func TestServiceAllocator(t *testing.T) {
	a := DefaultServiceAllocator()
	existing := []corev1.Service{
		allocSvc("kubernetes", corev1.ServiceTypeClusterIP, "10.96.0.1"),
		allocSvc("taken", corev1.ServiceTypeNodePort, "10.96.12.34", 30080),
	}
	cases := []struct {
		name string
		svc  corev1.Service
		want string // error; "" for success
	}{
		{"dynamic ClusterIP", allocSvc("web", corev1.ServiceTypeClusterIP, ""), ""},
		{"requested free IP", allocSvc("web", corev1.ServiceTypeClusterIP, "10.96.0.10"), ""},
		{"requested taken IP", allocSvc("web", corev1.ServiceTypeClusterIP, "10.96.12.34"),
			`Service "web" is invalid: spec.clusterIPs: Invalid value: []string{"10.96.12.34"}: failed to allocate IP 10.96.12.34: provided IP is already allocated`},
		{"requested IP out of range", allocSvc("web", corev1.ServiceTypeClusterIP, "10.0.0.5"),
			`Service "web" is invalid: spec.clusterIPs: Invalid value: []string{"10.0.0.5"}: failed to allocate IP 10.0.0.5: the provided IP (10.0.0.5) is not in the valid range. The range of valid IPs is 10.96.0.0/12`},
		{"own IP on update", allocSvc("taken", corev1.ServiceTypeNodePort, "10.96.12.34", 30080), ""},
		{"headless", allocSvc("web", corev1.ServiceTypeClusterIP, "None"), ""},
		{"dynamic NodePort", allocSvc("web", corev1.ServiceTypeNodePort, ""), ""},
		{"requested taken NodePort", allocSvc("web", corev1.ServiceTypeNodePort, "", 30080),
			`Service "web" is invalid: spec.ports[0].nodePort: Invalid value: 30080: provided port is already allocated`},
		{"requested NodePort out of range", allocSvc("web", corev1.ServiceTypeNodePort, "", 8080),
			`Service "web" is invalid: spec.ports[0].nodePort: Invalid value: 8080: provided port is not in the valid range. The range of valid ports is 30000-32767`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			svc := tc.svc
			err := a.Allocate(&svc, existing)
			got := ""
			if err != nil {
				got = err.Error()
			}
			if got != tc.want {
				t.Fatalf("error:\n got %s\nwant %s", got, tc.want)
			}
			if err != nil {
				return
			}
			if svc.Spec.ClusterIP != "None" {
				ip, perr := netip.ParseAddr(svc.Spec.ClusterIP)
				if perr != nil || !a.CIDR.Contains(ip) || svc.Spec.ClusterIPs[0] != svc.Spec.ClusterIP {
					t.Errorf("clusterIP %q clusterIPs %v", svc.Spec.ClusterIP, svc.Spec.ClusterIPs)
				}
				if svc.Name != "kubernetes" && ip.String() == "10.96.0.1" {
					t.Errorf("took the kubernetes service's IP")
				}
			}
			for _, p := range svc.Spec.Ports {
				if svc.Spec.Type == corev1.ServiceTypeNodePort && (p.NodePort < 30000 || p.NodePort > 32767) {
					t.Errorf("nodePort %d", p.NodePort)
				}
				if svc.Spec.Type == corev1.ServiceTypeClusterIP && p.NodePort != 0 {
					t.Errorf("ClusterIP service got nodePort %d", p.NodePort)
				}
			}
			// Pure: the same inputs give the same answer.
			again := tc.svc
			if err := a.Allocate(&again, existing); err != nil || again.Spec.ClusterIP != svc.Spec.ClusterIP {
				t.Errorf("not deterministic: %q vs %q (%v)", again.Spec.ClusterIP, svc.Spec.ClusterIP, err)
			}
		})
	}
}

// TestServiceAllocator_Exhaustion: a /29 has 6 addresses, .1 reserved, so
// five services fit; a range of 3 node ports fits one 3-port service.
func TestServiceAllocator_Exhaustion(t *testing.T) {
	a := ServiceAllocator{CIDR: netip.MustParsePrefix("10.0.0.0/29"), NodePortBase: 30000, NodePortSize: 3}
	var existing []corev1.Service
	seen := map[string]bool{}
	for i := range 5 {
		s := allocSvc(fmt.Sprintf("s%d", i), corev1.ServiceTypeClusterIP, "")
		if err := a.Allocate(&s, existing); err != nil {
			t.Fatalf("service %d: %v", i, err)
		}
		if seen[s.Spec.ClusterIP] || s.Spec.ClusterIP == "10.0.0.1" || s.Spec.ClusterIP == "10.0.0.7" || s.Spec.ClusterIP == "10.0.0.0" {
			t.Fatalf("service %d got %s", i, s.Spec.ClusterIP)
		}
		seen[s.Spec.ClusterIP] = true
		existing = append(existing, s)
	}
	s := allocSvc("full", corev1.ServiceTypeClusterIP, "")
	err := a.Allocate(&s, existing)
	if !apierrors.IsInternalError(err) || err.Error() != "Internal error occurred: failed to allocate a serviceIP: range is full" {
		t.Fatalf("full range: %v", err)
	}

	np := allocSvc("np", corev1.ServiceTypeNodePort, "10.0.0.1")
	np.Spec.Ports = []corev1.ServicePort{{Name: "a", Port: 1}, {Name: "b", Port: 2}, {Name: "c", Port: 3}}
	if err := a.Allocate(&np, nil); err != nil {
		t.Fatal(err)
	}
	got := map[int32]bool{}
	for _, p := range np.Spec.Ports {
		got[p.NodePort] = true
	}
	if len(got) != 3 {
		t.Fatalf("node ports %v not distinct", np.Spec.Ports)
	}
	more := allocSvc("more", corev1.ServiceTypeNodePort, "10.0.0.2")
	err = a.Allocate(&more, []corev1.Service{np})
	if !apierrors.IsInternalError(err) || err.Error() != "Internal error occurred: failed to allocate a nodePort: range is full" {
		t.Fatalf("full ports: %v", err)
	}
}

func TestParseServiceAllocator(t *testing.T) {
	for _, tc := range []struct {
		name, cidr, ports string
		want              ServiceAllocator
		wantErr           string
	}{
		{"kube-apiserver defaults", "10.96.0.0/12", "30000-32767", DefaultServiceAllocator(), ""},
		{"base and size", "10.100.7.0/24", "30070+10", ServiceAllocator{CIDR: netip.MustParsePrefix("10.100.7.0/24"), NodePortBase: 30070, NodePortSize: 10}, ""},
		{"host bits are masked", "10.100.7.9/24", "30070-30079", ServiceAllocator{CIDR: netip.MustParsePrefix("10.100.7.0/24"), NodePortBase: 30070, NodePortSize: 10}, ""},
		{"not a CIDR", "10.100.7.0", "30000-32767", ServiceAllocator{}, `--service-cluster-ip-range: "10.100.7.0" is not an IPv4 CIDR`},
		{"IPv6", "fd00::/108", "30000-32767", ServiceAllocator{}, "not an IPv4 CIDR"},
		{"too small", "10.0.0.0/31", "30000-32767", ServiceAllocator{}, "too small"},
		{"no separator", "10.96.0.0/12", "30000", ServiceAllocator{}, `--service-node-port-range: "30000" is not a port range`},
		{"reversed", "10.96.0.0/12", "32767-30000", ServiceAllocator{}, "not a port range"},
		{"past 65535", "10.96.0.0/12", "65000-70000", ServiceAllocator{}, "not a port range"},
		{"not numbers", "10.96.0.0/12", "a-b", ServiceAllocator{}, "not a port range"},
	} {
		got, err := ParseServiceAllocator(tc.cidr, tc.ports)
		switch {
		case tc.wantErr == "" && (err != nil || got != tc.want):
			t.Errorf("%s: %+v, %v; want %+v", tc.name, got, err, tc.want)
		case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
			t.Errorf("%s: error %v, want %q", tc.name, err, tc.wantErr)
		}
	}
	if ip := DefaultServiceAllocator().KubernetesIP().String(); ip != "10.96.0.1" {
		t.Errorf("KubernetesIP = %s, want 10.96.0.1", ip)
	}
}
