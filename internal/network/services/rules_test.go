package services

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/knftables"

	"peapod/internal/network/services/endpoints"
)

var update = flag.Bool("update", false, "rewrite the golden files")

func service(name, ip string, typ corev1.ServiceType, nodePort int32) *corev1.Service {
	return &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default"},
		Spec: corev1.ServiceSpec{
			Type: typ, ClusterIP: ip, Selector: map[string]string{"app": name},
			Ports: []corev1.ServicePort{{Name: "http", Port: 80, Protocol: corev1.ProtocolTCP, TargetPort: intstr.FromString("web"), NodePort: nodePort}},
		},
	}
}

func backend(name, app, ip string, ready bool) *corev1.Pod {
	st := corev1.ConditionTrue
	if !ready {
		st = corev1.ConditionFalse
	}
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default", Labels: map[string]string{"app": app}},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Ports: []corev1.ContainerPort{{Name: "web", ContainerPort: 8080}}}}},
		Status:     corev1.PodStatus{Phase: corev1.PodRunning, PodIP: ip, Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: st}}},
	}
}

// input is what the golden file shows: a ClusterIP service with two
// ready backends and an unready one, a NodePort service with one and
// ClientIP session affinity, a service with no ready endpoint, a
// headless one and one without a selector.
func input() Input {
	front := service("front", "10.96.0.20", corev1.ServiceTypeNodePort, 30080)
	timeout := int32(60)
	front.Spec.SessionAffinity = corev1.ServiceAffinityClientIP
	front.Spec.SessionAffinityConfig = &corev1.SessionAffinityConfig{ClientIP: &corev1.ClientIPConfig{TimeoutSeconds: &timeout}}
	svcs := []*corev1.Service{
		service("web", "10.96.0.10", corev1.ServiceTypeClusterIP, 0),
		front,
		service("empty", "10.96.0.30", corev1.ServiceTypeNodePort, 30090),
		service("headless", corev1.ClusterIPNone, corev1.ServiceTypeClusterIP, 0),
	}
	pods := []*corev1.Pod{
		backend("web-1", "web", "10.88.0.3", true),
		backend("web-2", "web", "10.88.0.2", true),
		backend("web-3", "web", "10.88.0.4", false),
		backend("front-1", "front", "10.88.0.5", true),
		backend("empty-1", "empty", "10.88.0.6", false),
	}
	var slices []*discoveryv1.EndpointSlice
	for _, s := range svcs {
		_, sl := endpoints.Compute(s, pods)
		slices = append(slices, sl...)
	}
	return Input{PodCIDR: "10.88.0.0/16", Services: svcs, Endpoints: slices}
}

func TestRulesGolden(t *testing.T) {
	nft := knftables.NewFake(knftables.IPv4Family, "peapod")
	tx := nft.NewTransaction()
	Rules(tx, input())
	got := tx.String()
	golden := filepath.Join("testdata", "rules.golden")
	if *update {
		if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if got != string(want) {
		t.Errorf("rules differ from %s (go test -update to rewrite):\n%s", golden, got)
	}
	// The fake checks references: every goto names a chain that exists.
	if err := nft.Run(context.Background(), tx); err != nil {
		t.Fatal(err)
	}
	// And a second full sync over the first works too.
	tx = nft.NewTransaction()
	Rules(tx, input())
	if err := nft.Run(context.Background(), tx); err != nil {
		t.Fatal(err)
	}
}

func TestRulesEndpointChoice(t *testing.T) {
	in := input()
	tx := knftables.NewFake(knftables.IPv4Family, "t").NewTransaction()
	Rules(tx, in)
	s := tx.String()
	for _, want := range []string{
		"numgen random mod 2 vmap", // web: two ready of three
		"dnat to 10.88.0.2:8080",
		"dnat to 10.88.0.3:8080",
		`10.96.0.30 . tcp . 80 comment "default/empty/tcp/http" : goto reject-chain`, // empty: no ready endpoint
		`tcp . 30090 comment "default/empty/tcp/http" : goto reject-chain`,
		`tcp . 30080 comment "default/front/tcp/http" : goto external-`,
	} {
		if !strings.Contains(s, want) {
			t.Errorf("rules lack %q", want)
		}
	}
	for _, bad := range []string{"10.88.0.4", "10.88.0.6", "None"} {
		if strings.Contains(s, bad) {
			t.Errorf("rules mention %q", bad)
		}
	}
}

// BenchmarkRules100 generates the rules for 100 services of 2 endpoints.
func BenchmarkRules100(b *testing.B) {
	in := manyServices(100)
	for b.Loop() {
		tx := knftables.NewFake(knftables.IPv4Family, "t").NewTransaction()
		Rules(tx, in)
		_ = tx.String()
	}
}

func manyServices(n int) Input {
	var in Input
	in.PodCIDR = "10.88.0.0/16"
	var pods []*corev1.Pod
	for i := range n {
		name := fmt.Sprintf("svc%d", i)
		in.Services = append(in.Services, service(name, fmt.Sprintf("10.96.%d.%d", i/250+1, i%250+1), corev1.ServiceTypeNodePort, int32(30000+i)))
		pods = append(pods, backend(name+"-a", name, fmt.Sprintf("10.88.%d.%d", i/125+1, 2*(i%125)+1), true),
			backend(name+"-b", name, fmt.Sprintf("10.88.%d.%d", i/125+1, 2*(i%125)+2), true))
	}
	for _, s := range in.Services {
		_, sl := endpoints.Compute(s, pods)
		in.Endpoints = append(in.Endpoints, sl...)
	}
	return in
}
