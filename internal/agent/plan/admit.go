package plan

import (
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
)

// SafeSysctls are the kubelet's always-allowed namespaced sysctls (its
// sysctl allowlist without --allowed-unsafe-sysctls), as of 1.32.
var SafeSysctls = map[string]bool{
	"kernel.shm_rmid_forced":              true,
	"net.ipv4.ip_local_port_range":        true,
	"net.ipv4.tcp_syncookies":             true,
	"net.ipv4.ping_group_range":           true,
	"net.ipv4.ip_unprivileged_port_start": true,
	"net.ipv4.ip_local_reserved_ports":    true,
	"net.ipv4.tcp_keepalive_time":         true,
	"net.ipv4.tcp_fin_timeout":            true,
	"net.ipv4.tcp_keepalive_intvl":        true,
	"net.ipv4.tcp_keepalive_probes":       true,
}

// SysctlForbidden is the reason the kubelet fails a pod its sysctl
// admission refuses.
const SysctlForbidden = "SysctlForbidden"

// Admit is the kubelet's admission of a pod it is handed: nil, or why the
// pod fails before anything of it runs. The sysctl rule: only safe
// sysctls, and none of the network (IPC) ones in a pod that uses the
// host's network (IPC) namespace.
func Admit(pod *corev1.Pod) *Waiting {
	sc := pod.Spec.SecurityContext
	if sc == nil {
		return nil
	}
	for _, s := range sc.Sysctls {
		name := SysctlName(s.Name)
		switch {
		case !SafeSysctls[name]:
			return &Waiting{Reason: SysctlForbidden, Message: fmt.Sprintf("forbidden sysctl: %q not allowlisted", s.Name)}
		case strings.HasPrefix(name, "net.") && pod.Spec.HostNetwork:
			return &Waiting{Reason: SysctlForbidden, Message: fmt.Sprintf("forbidden sysctl: %q not allowed with host net enabled", s.Name)}
		case strings.HasPrefix(name, "kernel.shm") && pod.Spec.HostIPC:
			return &Waiting{Reason: SysctlForbidden, Message: fmt.Sprintf("forbidden sysctl: %q not allowed with host ipc enabled", s.Name)}
		}
	}
	return nil
}

// SysctlName is a sysctl's dotted name: the slash form
// ("net/ipv4/conf/eth0.100/rp_filter") swaps the roles of '/' and '.'.
func SysctlName(name string) string {
	if !strings.Contains(name, "/") {
		return name
	}
	return strings.Map(func(r rune) rune {
		switch r {
		case '/':
			return '.'
		case '.':
			return '/'
		}
		return r
	}, name)
}
