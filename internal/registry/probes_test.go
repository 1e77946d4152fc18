package registry

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

func TestDefaultPod_Probes(t *testing.T) {
	pod := validPod()
	c := &pod.Spec.Containers[0]
	c.ReadinessProbe = &corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Port: intstr.FromInt32(80)}}}
	c.Lifecycle = &corev1.Lifecycle{PreStop: &corev1.LifecycleHandler{HTTPGet: &corev1.HTTPGetAction{Port: intstr.FromInt32(80)}}}
	DefaultPod(pod)
	p := c.ReadinessProbe
	if p.TimeoutSeconds != 1 || p.PeriodSeconds != 10 || p.SuccessThreshold != 1 || p.FailureThreshold != 3 || p.InitialDelaySeconds != 0 {
		t.Errorf("probe defaults: %+v", p)
	}
	if p.HTTPGet.Path != "/" || p.HTTPGet.Scheme != corev1.URISchemeHTTP {
		t.Errorf("httpGet defaults: %+v", p.HTTPGet)
	}
	if h := c.Lifecycle.PreStop.HTTPGet; h.Path != "/" || h.Scheme != corev1.URISchemeHTTP {
		t.Errorf("hook httpGet defaults: %+v", h)
	}
}

func TestValidatePod_ProbesAndHooks(t *testing.T) {
	exec := corev1.ProbeHandler{Exec: &corev1.ExecAction{Command: []string{"true"}}}
	grace := int64(5)
	cases := []struct {
		name   string
		mutate func(c *corev1.Container)
		want   string
	}{
		{name: "valid probes and hooks", mutate: func(c *corev1.Container) {
			c.LivenessProbe = &corev1.Probe{ProbeHandler: exec, TerminationGracePeriodSeconds: &grace}
			c.ReadinessProbe = &corev1.Probe{ProbeHandler: corev1.ProbeHandler{GRPC: &corev1.GRPCAction{Port: 9090}}, SuccessThreshold: 3}
			c.Lifecycle = &corev1.Lifecycle{PreStop: &corev1.LifecycleHandler{Sleep: &corev1.SleepAction{Seconds: 30}}}
		}},
		{
			name:   "no handler",
			mutate: func(c *corev1.Container) { c.LivenessProbe = &corev1.Probe{} },
			want:   `spec.containers[0].livenessProbe: Required value: must specify a handler type`,
		},
		{
			name: "two handlers",
			mutate: func(c *corev1.Container) {
				c.ReadinessProbe = &corev1.Probe{ProbeHandler: corev1.ProbeHandler{Exec: exec.Exec, TCPSocket: &corev1.TCPSocketAction{Port: intstr.FromInt32(80)}}}
			},
			want: `spec.containers[0].readinessProbe.tcpSocket: Forbidden: may not specify more than 1 handler type`,
		},
		{
			name:   "liveness successThreshold",
			mutate: func(c *corev1.Container) { c.LivenessProbe = &corev1.Probe{ProbeHandler: exec, SuccessThreshold: 2} },
			want:   `spec.containers[0].livenessProbe.successThreshold: Invalid value: 2: must be 1`,
		},
		{
			name:   "startup successThreshold",
			mutate: func(c *corev1.Container) { c.StartupProbe = &corev1.Probe{ProbeHandler: exec, SuccessThreshold: 2} },
			want:   `spec.containers[0].startupProbe.successThreshold: Invalid value: 2: must be 1`,
		},
		{
			name:   "negative period",
			mutate: func(c *corev1.Container) { c.ReadinessProbe = &corev1.Probe{ProbeHandler: exec, PeriodSeconds: -1} },
			want:   `spec.containers[0].readinessProbe.periodSeconds: Invalid value: -1: must be greater than or equal to 0`,
		},
		{
			name: "readiness terminationGracePeriodSeconds",
			mutate: func(c *corev1.Container) {
				c.ReadinessProbe = &corev1.Probe{ProbeHandler: exec, TerminationGracePeriodSeconds: &grace}
			},
			want: `spec.containers[0].readinessProbe.terminationGracePeriodSeconds: Invalid value: 5: must not be set for readinessProbes`,
		},
		{
			name: "port out of range",
			mutate: func(c *corev1.Container) {
				c.LivenessProbe = &corev1.Probe{ProbeHandler: corev1.ProbeHandler{TCPSocket: &corev1.TCPSocketAction{Port: intstr.FromInt32(70000)}}}
			},
			want: `spec.containers[0].livenessProbe.tcpSocket.port: Invalid value: 70000: must be between 1 and 65535, inclusive`,
		},
		{
			name: "grpc port out of range",
			mutate: func(c *corev1.Container) {
				c.LivenessProbe = &corev1.Probe{ProbeHandler: corev1.ProbeHandler{GRPC: &corev1.GRPCAction{Port: 0}}}
			},
			want: `spec.containers[0].livenessProbe.grpc.port: Invalid value: 0: must be between 1 and 65535, inclusive`,
		},
		{
			name: "sleep beyond the grace period",
			mutate: func(c *corev1.Container) {
				c.Lifecycle = &corev1.Lifecycle{PreStop: &corev1.LifecycleHandler{Sleep: &corev1.SleepAction{Seconds: 31}}}
			},
			want: `spec.containers[0].lifecycle.preStop.sleep: Invalid value: 31: must be greater than 0 and less than terminationGracePeriodSeconds (30). Enable AllowPodLifecycleSleepActionZeroValue feature gate for zero sleep.`,
		},
		{
			name: "a tcpSocket hook is accepted",
			mutate: func(c *corev1.Container) {
				c.Lifecycle = &corev1.Lifecycle{PostStart: &corev1.LifecycleHandler{TCPSocket: &corev1.TCPSocketAction{Port: intstr.FromInt32(80)}}}
			},
			// kube-apiserver keeps accepting it (deprecated, for old clients); the
			// kubelet fails the hook when it runs.
		},
		{
			name: "exec hook without a command",
			mutate: func(c *corev1.Container) {
				c.Lifecycle = &corev1.Lifecycle{PostStart: &corev1.LifecycleHandler{Exec: &corev1.ExecAction{}}}
			},
			want: `spec.containers[0].lifecycle.postStart.exec.command: Required value`,
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			pod := validPod()
			tc.mutate(&pod.Spec.Containers[0])
			DefaultPod(pod)
			err := ValidatePod(pod)
			switch {
			case tc.want == "" && err != nil:
				t.Errorf("ValidatePod: %v", err)
			case tc.want != "" && (err == nil || err.Error() != `Pod "web" is invalid: `+tc.want):
				t.Errorf("ValidatePod:\n got %v\nwant %s", err, tc.want)
			}
		})
	}

	pod := validPod()
	pod.Spec.InitContainers = []corev1.Container{{Name: "init", Image: "busybox", Lifecycle: &corev1.Lifecycle{}}}
	DefaultPod(pod)
	if err := ValidatePod(pod); err == nil || err.Error() != `Pod "web" is invalid: spec.initContainers[0].lifecycle: Forbidden: may not be set for init containers without restartPolicy=Always` {
		t.Errorf("lifecycle on an init container: %v", err)
	}
}
