package agent

import (
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestResolvConf(t *testing.T) {
	host := []byte("# generated\nnameserver 192.0.2.53\nnameserver 192.0.2.54\nsearch corp.example\noptions edns0\n")
	two := "2"
	cases := []struct {
		name       string
		policy     corev1.DNSPolicy
		hostNet    bool
		clusterDNS []string
		config     *corev1.PodDNSConfig
		want       string
	}{
		{name: "ClusterFirst with cluster DNS", policy: corev1.DNSClusterFirst, clusterDNS: []string{"10.96.0.10"},
			want: "search prod.svc.cluster.local svc.cluster.local cluster.local corp.example\nnameserver 10.96.0.10\noptions ndots:5\n"},
		{name: "ClusterFirst without cluster DNS falls back to Default", policy: corev1.DNSClusterFirst,
			want: "search corp.example\nnameserver 192.0.2.53\nnameserver 192.0.2.54\noptions edns0\n"},
		{name: "unset policy is ClusterFirst", clusterDNS: []string{"10.96.0.10"},
			want: "search prod.svc.cluster.local svc.cluster.local cluster.local corp.example\nnameserver 10.96.0.10\noptions ndots:5\n"},
		{name: "ClusterFirst with hostNetwork is Default", policy: corev1.DNSClusterFirst, hostNet: true, clusterDNS: []string{"10.96.0.10"},
			want: "search corp.example\nnameserver 192.0.2.53\nnameserver 192.0.2.54\noptions edns0\n"},
		{name: "ClusterFirstWithHostNet keeps cluster DNS", policy: corev1.DNSClusterFirstWithHostNet, hostNet: true, clusterDNS: []string{"10.96.0.10"},
			want: "search prod.svc.cluster.local svc.cluster.local cluster.local corp.example\nnameserver 10.96.0.10\noptions ndots:5\n"},
		{name: "Default", policy: corev1.DNSDefault, clusterDNS: []string{"10.96.0.10"},
			want: "search corp.example\nnameserver 192.0.2.53\nnameserver 192.0.2.54\noptions edns0\n"},
		{name: "None is empty", policy: corev1.DNSNone, want: ""},
		{name: "None with dnsConfig", policy: corev1.DNSNone, config: &corev1.PodDNSConfig{
			Nameservers: []string{"1.2.3.4"}, Searches: []string{"a.example"},
			Options: []corev1.PodDNSConfigOption{{Name: "ndots", Value: &two}, {Name: "rotate"}}},
			want: "search a.example\nnameserver 1.2.3.4\noptions ndots:2 rotate\n"},
		{name: "dnsConfig merges: duplicates dropped, the pod's option value wins, 3 nameservers at most", policy: corev1.DNSClusterFirst,
			clusterDNS: []string{"10.96.0.10"}, config: &corev1.PodDNSConfig{
				Nameservers: []string{"10.96.0.10", "1.1.1.1", "2.2.2.2", "3.3.3.3"}, Searches: []string{"svc.cluster.local", "extra.example"},
				Options: []corev1.PodDNSConfigOption{{Name: "ndots", Value: &two}}},
			want: "search prod.svc.cluster.local svc.cluster.local cluster.local corp.example extra.example\nnameserver 10.96.0.10\nnameserver 1.1.1.1\nnameserver 2.2.2.2\noptions ndots:2\n"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "prod"},
				Spec: corev1.PodSpec{DNSPolicy: tc.policy, HostNetwork: tc.hostNet, DNSConfig: tc.config}}
			if got := string(resolvConf(pod, host, tc.clusterDNS, "cluster.local")); got != tc.want {
				t.Errorf("got:\n%s\nwant:\n%s", got, tc.want)
			}
		})
	}
}

func TestLimitSearches(t *testing.T) {
	var many []string
	for i := 0; i < 40; i++ {
		many = append(many, strings.Repeat("x", 10)+string(rune('a'+i%26))+".example")
	}
	if got := limitSearches(many); len(got) != maxSearches {
		t.Errorf("kept %d search domains, want %d", len(got), maxSearches)
	}
	long := []string{strings.Repeat("y", 254), "ok.example"}
	if got := limitSearches(long); len(got) != 1 || got[0] != "ok.example" {
		t.Errorf("got %v, want the over-long domain dropped", got)
	}
	big := []string{strings.Repeat("a", 250), strings.Repeat("b", 250), strings.Repeat("c", 250), strings.Repeat("d", 250),
		strings.Repeat("e", 250), strings.Repeat("f", 250), strings.Repeat("g", 250), strings.Repeat("h", 250), strings.Repeat("i", 250)}
	got := limitSearches(big)
	if n := len(strings.Join(got, " ")); n > maxSearchListLen || len(got) != 8 {
		t.Errorf("kept %d domains, %d chars; want 8 within %d", len(got), n, maxSearchListLen)
	}
}
