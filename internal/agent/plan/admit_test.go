package plan

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
)

func TestAdmit_Sysctls(t *testing.T) {
	pod := func(host bool, names ...string) *corev1.Pod {
		p := basePod()
		p.Spec.HostNetwork = host
		p.Spec.SecurityContext = &corev1.PodSecurityContext{}
		for _, n := range names {
			p.Spec.SecurityContext.Sysctls = append(p.Spec.SecurityContext.Sysctls, corev1.Sysctl{Name: n, Value: "1"})
		}
		return p
	}
	for _, tc := range []struct {
		name string
		pod  *corev1.Pod
		want string // the message, "" for admitted
	}{
		{"no sysctls", basePod(), ""},
		{"safe ones", pod(false, "kernel.shm_rmid_forced", "net.ipv4.ip_local_port_range"), ""},
		{"slash notation is the same name", pod(false, "net/ipv4/tcp_syncookies"), ""},
		{"an unsafe one fails the pod", pod(false, "kernel.msgmax"), `forbidden sysctl: "kernel.msgmax" not allowlisted`},
		{"a net sysctl with the host's network", pod(true, "net.ipv4.tcp_syncookies"), `forbidden sysctl: "net.ipv4.tcp_syncookies" not allowed with host net enabled`},
	} {
		got := Admit(tc.pod)
		switch {
		case tc.want == "" && got != nil:
			t.Errorf("%s: refused: %+v", tc.name, got)
		case tc.want != "" && (got == nil || got.Reason != SysctlForbidden || got.Message != tc.want):
			t.Errorf("%s: %+v, want %q", tc.name, got, tc.want)
		}
	}
}
